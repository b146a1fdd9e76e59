"""Server time of the loss-curve page for a job with 100,000 metric points: the LTTB-downsampled
figure (at most 5,000 points per series, what the pages send) against a plain figure with every
point. Prints times, JSON payload sizes and ratios. Never fails: numbers only.

    python benchmarks/bench_loss_curve.py [--points 100000] [--repeat 5]

Runs on a throwaway SQLite database under a temporary folder (or DATABASE_URL's test database).
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "fineweb.settings")
os.environ.setdefault("FINEWEB_DATA_DIR", str(Path(tempfile.gettempdir()) / "fineweb-bench"))
os.environ.setdefault("CELERY_TASK_ALWAYS_EAGER", "false")


def _values(array):
    """Plotly sends numpy data as typed arrays ({"dtype", "bdata"}); lists stay lists."""
    import base64

    import numpy as np

    if isinstance(array, dict):
        return np.frombuffer(base64.b64decode(array["bdata"]), dtype=array["dtype"])
    return np.asarray(array)


def timed(fn, repeat: int) -> tuple[float, Any]:
    times, result = [], None
    for _ in range(repeat):
        start = time.perf_counter()
        result = fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times), result


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--points", type=int, default=100_000)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()

    import django

    django.setup()
    import numpy as np
    from django.db import connection
    from django.test import Client
    from django.test.utils import setup_test_environment

    setup_test_environment()
    old_name = connection.creation.create_test_db(verbosity=0, autoclobber=True)
    try:
        from datasets_app.models import Blob, Dataset, DatasetVersion
        from fineweb.accounts.services import user_create
        from jobs import selectors
        from jobs.models import Job, MetricPoint
        from onboarding.services import team_create
        from providers.models import Connection

        user = user_create(username="bench", password="bench-password-123")
        team = team_create(name="Bench", owner=user)
        blob = Blob.objects.create(sha256="0" * 64, size=0)
        dataset = Dataset.objects.create(team=team, name="bench")
        version = DatasetVersion.objects.create(dataset=dataset, number=1, blob=blob, status="valid")
        conn = Connection.objects.filter(team=team).first() or Connection.objects.create(
            team=team, kind="local", name="local"
        )
        job = Job.objects.create(
            team=team, dataset_version=version, connection=conn, base_model="m", status="succeeded"
        )
        rng = np.random.default_rng(0)
        n = args.points
        steps = np.arange(1, n + 1)
        train = 2.5 * np.exp(-steps / (n / 6)) + 0.3 + rng.normal(0, 0.05, n)
        train[n // 3] += 3  # a loss spike a good downsampler keeps
        acc = 1 - train / 4
        start = time.perf_counter()
        MetricPoint.objects.bulk_create(
            [
                MetricPoint(
                    job=job,
                    step=int(s),
                    train_loss=float(t),
                    train_accuracy=float(a),
                    valid_loss=float(t + 0.1) if s % 10 == 0 else None,
                    valid_accuracy=float(a - 0.02) if s % 10 == 0 else None,
                )
                for s, t, a in zip(steps, train, acc, strict=True)
            ],
            batch_size=5000,
        )
        print(
            f"stored {n:,} metric points in {time.perf_counter() - start:.1f}s "
            f"({connection.vendor}); median of {args.repeat} runs below"
        )

        t_down, fig_down = timed(lambda: selectors.figure_json(selectors.curves_figure([job])), args.repeat)
        t_full, fig_full = timed(
            lambda: selectors.figure_json(selectors.curves_figure([job], max_points=None)), args.repeat
        )
        client = Client()
        client.force_login(user)
        t_page, response = timed(lambda: client.get(f"/jobs/curves/?ids={job.id}"), args.repeat)
        t_job, _ = timed(lambda: client.get(f"/jobs/{job.id}/", headers={"HX-Request": "true"}), args.repeat)
        print(
            f"figure, LTTB <=5,000 points/series : {t_down * 1000:8.1f} ms  JSON {len(fig_down) / 1e6:6.2f} MB"
        )
        print(
            f"figure, all {n:,} points/series  : {t_full * 1000:8.1f} ms  JSON {len(fig_full) / 1e6:6.2f} MB"
        )
        print(
            f"curves page (LTTB), whole request  : {t_page * 1000:8.1f} ms  HTML {len(response.content) / 1e6:6.2f} MB"
        )
        print(f"job page live fragment (LTTB)      : {t_job * 1000:8.1f} ms")
        print(
            f"ratio all-points / LTTB: time {t_full / t_down:.1f}x, payload {len(fig_full) / len(fig_down):.1f}x"
        )
        figure = selectors.curves_figure([job])
        kept = max(float(np.max(_values(t["y"]))) for t in figure["data"] if t["name"] == "train loss")
        print(
            f"loss spike of {train[n // 3]:.3f} at step {n // 3 + 1:,} kept by LTTB: {'yes' if kept == train[n // 3] else 'no'}"
        )
    finally:
        connection.creation.destroy_test_db(old_name, verbosity=0)
    return 0


if __name__ == "__main__":
    sys.exit(main())
