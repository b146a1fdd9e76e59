"""Server time of the job page and the loss-curves page for jobs of 1,000 to 1,000,000 metric
points (issue 13, point 8), with the M4-downsampled series kept (jobs/series.py). The points are
written straight to the table, so the first request builds the kept series from every row (a sync
builds it in the worker as points arrive); later ones read only what is new (nothing, or the 10
points a running job's poll finds). Prints, per size: the first request, the kept-series
requests, and their ratio to the 1,000-point job; and, as the peer in the same run, the figure
built from every point (up to 100,000 points; more makes a figure no browser draws). Never fails:
numbers only. Each round times every size's requests in turn, so a shared machine's changing load
falls on all sizes alike and the ratios stay fair.

    python benchmarks/bench_loss_curve.py [--points 1000,10000,100000,1000000] [--repeat 7]

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


def timed(fn, repeat: int) -> tuple[float, float, Any]:
    """(median seconds, fastest seconds, last result). On a shared machine the median carries the
    other processes' load; the fastest run is the one they disturbed least. Both are printed."""
    times, result = [], None
    for _ in range(repeat):
        start = time.perf_counter()
        result = fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times), min(times), result


def store_points(job, n: int, rng) -> None:
    """n metric points of a noisy falling loss with one spike; COPY on PostgreSQL (a million rows
    through the ORM take minutes), bulk_create elsewhere."""
    import numpy as np
    from django.db import connection

    from jobs.models import MetricPoint

    steps = np.arange(1, n + 1)
    train = 2.5 * np.exp(-steps / (n / 6)) + 0.3 + rng.normal(0, 0.05, n)
    train[n // 3] += 3  # a loss spike a good downsampler keeps
    acc = 1 - train / 4
    table = MetricPoint._meta.db_table
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            raw = cursor.cursor
            columns = "(job_id, step, train_loss, train_accuracy, valid_loss, valid_accuracy)"
            with raw.copy(f"COPY {table} {columns} FROM STDIN") as copy:
                for s, t, a in zip(steps.tolist(), train.tolist(), acc.tolist(), strict=True):
                    valid = s % 10 == 0
                    copy.write_row((job.id, s, t, a, t + 0.1 if valid else None, a - 0.02 if valid else None))
            # What autovacuum does after a bulk load: the planner learns the table's new size.
            cursor.execute(f"ANALYZE {table}")
        return
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


def running_poll(client, job, first: int) -> float:
    """One job-page poll of a running job right after 10 new points (steps `first`.. on) were
    stored, the store not timed: the page folds them into the kept series, reading only those."""
    from jobs.metrics import metric_points_store

    metric_points_store(job=job, points={s: {"train_loss": 0.3} for s in range(first, first + 10)})
    start = time.perf_counter()
    client.get(f"/jobs/{job.id}/", headers={"HX-Request": "true"})
    return time.perf_counter() - start


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--points", default="1000,10000,100000,1000000")
    parser.add_argument("--repeat", type=int, default=7)
    parser.add_argument("--peer-max", type=int, default=100_000, help="largest job for the all-points figure")
    args = parser.parse_args()
    sizes = [int(p) for p in args.points.split(",") if p.strip()]

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
        from jobs.models import Job
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
        client = Client()
        client.force_login(user)
        rng = np.random.default_rng(0)
        rows = []
        client.get("/jobs/")  # the first request of a process pays for imports and template loading
        print(
            f"database: {connection.vendor}; {args.repeat} rounds, each timing every size's requests in turn "
            "(a shared machine's load then falls on all sizes alike; Django test client)"
        )
        jobs = []
        for n in sizes:
            job = Job.objects.create(
                team=team,
                dataset_version=version,
                connection=conn,
                base_model="m",
                status="succeeded",
                total_steps=n,
            )
            start = time.perf_counter()
            store_points(job, n, rng)
            # What jobs.metrics records with every stored point: the job's highest step.
            Job.objects.filter(id=job.id).update(metrics_last_step=n)
            stored = time.perf_counter() - start
            t_first, _, _ = timed(lambda job=job: client.get(f"/jobs/curves/?ids={job.id}"), 1)
            t_all = None
            if n <= args.peer_max:
                t_all = timed(
                    lambda job=job: selectors.curves_figure([job], max_points=None), max(1, args.repeat // 2)
                )[0]
            jobs.append((n, job, stored, t_first, t_all))
        samples: dict[int, dict[str, list[float]]] = {n: {} for n in sizes}
        for round_ in range(args.repeat):
            for n, job, *_ in jobs:
                requests = {
                    "curves": lambda job=job: client.get(f"/jobs/curves/?ids={job.id}"),
                    "page": lambda job=job: client.get(f"/jobs/{job.id}/"),
                    "live": lambda job=job: client.get(f"/jobs/{job.id}/", headers={"HX-Request": "true"}),
                }
                for name, request in requests.items():
                    samples[n].setdefault(name, []).append(timed(request, 1)[0])
                samples[n].setdefault("grow", []).append(running_poll(client, job, n + 1 + 10 * round_))
        for n, job, stored, t_first, t_all in jobs:
            figure = selectors.curves_figure([job])
            kept = max(float(np.max(_values(t["y"]))) for t in figure["data"] if t["name"] == "train loss")
            sent = max(len(_values(t["y"])) for t in figure["data"])
            got = {name: (statistics.median(v), min(v)) for name, v in samples[n].items()}
            rows.append(
                (
                    n,
                    stored,
                    t_first,
                    got["curves"],
                    got["page"],
                    got["live"],
                    got["grow"][1],
                    t_all,
                    kept,
                    sent,
                )
            )
        base = rows[0]
        ms = 1000
        print(
            f"{'points':>10} {'store s':>7} {'first ms':>8} | {'curves ms med/best':>18} {'x1k':>5} |"
            f" {'job page ms med/best':>20} {'x1k':>5} | {'poll ms':>7} | {'+10 poll':>8} | {'sent/series':>11} |"
            f" {'all-points figure ms':>20} | spike kept"
        )
        for n, stored, first, curves, page, live, growing, t_all, kept, sent in rows:
            peer = f"{t_all * ms:20.1f}" if t_all is not None else f"{'(not run)':>20}"
            print(
                f"{n:>10,} {stored:7.1f} {first * ms:8.1f} | {curves[0] * ms:9.1f}/{curves[1] * ms:8.1f}"
                f" {curves[1] / base[3][1]:4.2f}x | {page[0] * ms:10.1f}/{page[1] * ms:9.1f}"
                f" {page[1] / base[4][1]:4.2f}x | {live[1] * ms:7.1f} | {growing * ms:8.1f} |"
                f" {sent:>11,} | {peer} |"
                f" {'yes' if kept >= 3 else 'no'}"
            )
        print(
            "first: the first curves request of a finished job, which builds the kept series from every row. "
            "curves / job page / poll (best): later requests, reading the kept series. x1k: fastest time over "
            "the 1,000-point job's fastest. +10 poll: a running job's poll after 10 new points were stored "
            "(best; it folds them into the kept series). all-points figure: the peer, every point read and sent "
            "(median)."
        )
    finally:
        connection.creation.destroy_test_db(old_name, verbosity=0)
    return 0


if __name__ == "__main__":
    sys.exit(main())
