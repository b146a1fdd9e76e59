"""Server time of the review queue at 1,000 and 100,000 examples: the first queue page (focus
view), the first list page, a filtered list page, a text search, a bulk action's confirmation
page and its post, through Django's test client in-process, on SQLite and on PostgreSQL. Prints
each time at both sizes and the ratio 100k / 1k (the target: every page under 100 ms at 100,000
and within 2x of its time at 1,000). The bulk approve of every waiting example (90,000) is a
worker's job: the request's time is printed, and the task's (`review_bulk_run`, run here).
Never fails: numbers only.

    python benchmarks/bench_review.py [--sizes 1000,100000] [--repeat 5] [--db sqlite,postgresql]

Each database runs in a child process on a throwaway database: SQLite under a temporary folder,
PostgreSQL as the test database of DATABASE_URL when it is PostgreSQL, else of the local one
`make services` starts (skipped when it cannot be reached). The rows are built by the real path
(`review_examples_build` over an uploaded file), and that time is printed too.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "fineweb.settings")
os.environ.setdefault("FINEWEB_DATA_DIR", str(Path(tempfile.gettempdir()) / "fineweb-bench-review"))
os.environ.setdefault("FINEWEB_LOG_LEVEL", "WARNING")
os.environ.setdefault("CELERY_TASK_ALWAYS_EAGER", "false")

COLORS = ["red", "yellow", "green", "purple", "orange"]


def lines(n: int) -> bytes:
    out = []
    for i in range(n):
        user = f"Name a {COLORS[i % 5]} food, number {i}."
        if i % 50 == 7:
            user += f" Write to me at person{i}@example.com."  # personal data: a warning
        answer = f"A {COLORS[i % 5]} food is number {i % 97}."
        if i % 100 == 3:
            i = 2  # the same line as example 3: a duplicate
            user, answer = f"Name a {COLORS[2]} food, number 2.", f"A {COLORS[2]} food is number 2."
        out.append(
            json.dumps(
                {
                    "messages": [
                        {"role": "system", "content": "You name foods by their color."},
                        {"role": "user", "content": user},
                        {"role": "assistant", "content": answer},
                    ]
                }
            )
        )
    return ("\n".join(out) + "\n").encode()


SHOW_QUERIES = False  # --queries: print each page's slowest SQL statements


def timed(fn, repeat: int) -> float:
    if SHOW_QUERIES:
        from django.db import connection
        from django.test.utils import CaptureQueriesContext

        with CaptureQueriesContext(connection) as queries:
            fn()
        slow = sorted(queries.captured_queries, key=lambda q: -float(q["time"]))[:3]
        print(f"  {len(queries.captured_queries)} queries; slowest:", file=sys.stderr)
        for q in slow:
            print(f"    {float(q['time']) * 1000:6.1f} ms {q['sql'][:400]}", file=sys.stderr)
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        response = fn()
        times.append(time.perf_counter() - start)
        status = getattr(response, "status_code", 200)
        if status >= 400:
            raise SystemExit(f"page answered {status}")
    return statistics.median(times)


def measure(n: int, repeat: int, user, team) -> dict[str, float]:
    from django.core.files.uploadedfile import SimpleUploadedFile
    from django.test import Client

    from datasets_app.services import dataset_upload
    from review.models import Decision, Example, VersionReview
    from review.services import review_examples_build

    content = lines(n)
    version = dataset_upload(
        team=team,
        user=user,
        name=f"bench {n}",
        uploaded_file=SimpleUploadedFile(f"bench-{n}.jsonl", content),
    )
    while version.status == "validating":  # a large file is validated here, not by a worker
        from datasets_app.services import dataset_validate

        version = dataset_validate(version=version)
    review = VersionReview.objects.create(version=version, started_by=user)
    start = time.perf_counter()
    review_examples_build(review=review)
    build = time.perf_counter() - start
    # A realistic state: the first 10% reviewed by someone.
    chosen = Example.objects.filter(version=version, index__lt=n // 10)
    from review.services import examples_bulk_decide

    examples_bulk_decide(
        review=review, user=user, examples=chosen, verdict="approve", expected=chosen.count()
    )
    client = Client()
    client.force_login(user)
    base = f"/review/v/{version.id}/"
    times = {"rows built (s)": build}
    times["first queue page"] = timed(lambda: client.get(base), repeat)
    times["first list page"] = timed(lambda: client.get(base + "?view=list"), repeat)
    times["filtered list page (waiting, warnings)"] = timed(
        lambda: client.get(base + "?view=list&status=pending&warning=any"), repeat
    )
    times["filtered focus page (waiting, 20-40 tokens)"] = timed(
        lambda: client.get(base + "?status=pending&min_tokens=20&max_tokens=40"), repeat
    )
    times["text search page, a rare text ('number 42.')"] = timed(
        lambda: client.get(base + "?view=list&q=number+42."), repeat
    )
    times["text search page, a common text ('red food')"] = timed(
        lambda: client.get(base + "?view=list&q=red+food"), repeat
    )
    from review import selectors

    for q in ("number 42.", "red food", "42"):  # the indexes find what a plain LIKE finds
        found = selectors.selection_count(review, selectors.Filters.from_query({"q": q}))
        assert found == Example.objects.filter(version=version, search_text__contains=q).count(), q
    times["deep list page (after 90%)"] = timed(
        lambda: client.get(base + f"?view=list&after={n * 9 // 10}"), repeat
    )

    times["bulk confirmation page (waiting, warnings)"] = timed(
        lambda: client.get(base + "bulk/?verdict=reject&status=pending&warning=any"), repeat
    )
    times["bulk confirmation page (every waiting)"] = timed(
        lambda: client.get(base + "bulk/?verdict=approve&status=pending"), repeat
    )

    from datetime import timedelta

    from django.utils import timezone

    from review.models import BulkDecision
    from review.services import review_bulk_recover, review_bulk_run

    def handed_over_job_dropped() -> bool:
        """Over the inline limit a post hands the set to the worker: stop that job as a lost
        worker's is (its lease run out), so that the next post is taken. True if there was one."""
        job = BulkDecision.objects.filter(review=review, state="queued").first()
        if job is None:
            return False
        BulkDecision.objects.filter(id=job.id).update(heartbeat=timezone.now() - timedelta(days=1))
        review_bulk_recover(review=VersionReview.objects.get(id=review.id))
        return True

    def bulk():
        Decision.objects.filter(example__version=version, reviewer=user, verdict="reject").delete()
        url = base + "bulk/"
        data = {"verdict": "reject", "reason": "bench", "warning": "any"}
        count = client.get(url, data).context["count"]
        start = time.perf_counter()
        response = client.post(url, {**data, "expected": count})
        elapsed = time.perf_counter() - start
        assert response.status_code == 302, response.status_code
        return count, elapsed, handed_over_job_dropped()

    runs = [bulk() for _ in range(max(3, repeat // 2))]
    how = "handed to the worker" if runs[0][2] else "in the request"
    times[f"bulk reject of the filtered set ({runs[0][0]:,} with warnings, {how})"] = statistics.median(
        r[1] for r in runs
    )

    url = base + "bulk/"
    data = {"verdict": "approve", "status": "pending"}

    def post() -> tuple[float, BulkDecision | None, int]:
        count = client.get(url, data).context["count"]
        start = time.perf_counter()
        response = client.post(url, {**data, "expected": count})
        elapsed = time.perf_counter() - start
        assert response.status_code == 302, response.status_code
        return elapsed, BulkDecision.objects.filter(review=review, state="queued").first(), count

    # Over the inline limit the post only hands the set to the worker: post it again three times,
    # each job stopped as a lost worker's is (its lease run out), after one untimed post that
    # opens the process's broker connection (a web process keeps it). Under it, one post decides.
    elapsed, job, count = post()
    runs = [elapsed]
    if job is not None:
        runs = []
        for _ in range(3):
            assert job is not None
            BulkDecision.objects.filter(id=job.id).update(heartbeat=timezone.now() - timedelta(days=1))
            review_bulk_recover(review=VersionReview.objects.get(id=review.id))
            elapsed, job, count = post()
            runs.append(elapsed)
    times[f"bulk approve of every waiting example ({count:,}): the request"] = statistics.median(runs)
    if job is None:  # at or under REVIEW_BULK_INLINE_EXAMPLES: it was decided in the request
        times["bulk approve: the worker's task (s)"] = 0.0
    else:
        start = time.perf_counter()
        job = review_bulk_run(job_id=job.id)  # the body of the task review.bulk_decide
        times["bulk approve: the worker's task (s)"] = time.perf_counter() - start
        assert job is not None and job.state == "done" and job.done == count, job
    return times


PG_DEFAULT = "postgres://fineweb:fineweb@127.0.0.1:5432/fineweb"  # what `make services` starts


def run_one(args: argparse.Namespace) -> int:
    """This process: one database (the one its settings name)."""
    global SHOW_QUERIES
    SHOW_QUERIES = args.queries
    sizes = [int(s) for s in args.sizes.split(",")]

    import django

    django.setup()
    from django.conf import settings
    from django.db import connection
    from django.test.utils import setup_test_environment

    settings.DATASET_INLINE_VALIDATE_BYTES = 1 << 40  # validate in this process: no worker here
    settings.DATASET_MAX_UPLOAD_BYTES = 1 << 40
    setup_test_environment()
    old_name = connection.creation.create_test_db(verbosity=0, autoclobber=True)
    try:
        from fineweb.accounts.services import user_create
        from onboarding.services import team_create

        user = user_create(username="bench", password="bench-password-123")
        team = team_create(name="Bench", owner=user)
        results = {n: measure(n, args.repeat, user, team) for n in sizes}
        print(
            f"review queue, server time in-process ({connection.vendor}), median of {args.repeat} runs, "
            f"load average {' '.join(f'{x:.1f}' for x in os.getloadavg())}"
        )
        small, large = sizes[0], sizes[-1]
        names = list(results[small])
        print(f"{'':60} {small:>10,} {large:>10,}   ratio")
        for name, name_large in zip(names, list(results[large]), strict=True):
            a, b = results[small][name], results[large][name_large]
            unit = "s " if name.endswith("(s)") else "ms"
            scale = 1 if unit == "s " else 1000
            label = name if name == name_large else name.split(" (")[0] + name[name.rfind(")") + 1 :]
            ratio = f"{b / a:5.2f}x" if a else "    -"
            print(f"{label:60} {a * scale:8.1f}{unit} {b * scale:8.1f}{unit}   {ratio}", flush=True)
    finally:
        connection.creation.destroy_test_db(old_name, verbosity=0)
    return 0


def _reachable(url: str) -> bool:
    import psycopg

    try:
        psycopg.connect(url.replace("postgres://", "postgresql://", 1), connect_timeout=3).close()
    except Exception:
        return False
    return True


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--sizes", default="1000,100000")
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--db", default="sqlite,postgresql", help="which databases, in turn")
    parser.add_argument("--one", action="store_true", help=argparse.SUPPRESS)  # a child: this database
    parser.add_argument("--queries", action="store_true", help="print each page's slowest queries")
    args = parser.parse_args()
    if args.one:
        return run_one(args)
    import subprocess

    base_env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "DJANGO_SETTINGS_MODULE")}
    url = os.environ.get("DATABASE_URL", "")
    pg_url = url if url.startswith(("postgres://", "postgresql://")) else PG_DEFAULT
    for db in args.db.split(","):
        env = dict(base_env)
        env["FINEWEB_DATA_DIR"] = tempfile.mkdtemp(prefix=f"fineweb-bench-review-{db}-")
        if db == "postgresql":
            if not _reachable(pg_url):
                print("postgresql: skipped (no PostgreSQL at DATABASE_URL or at the local default)")
                continue
            env["DATABASE_URL"] = pg_url
        child = [sys.executable, __file__, "--one", "--sizes", args.sizes, "--repeat", str(args.repeat)]
        subprocess.run(child + (["--queries"] if args.queries else []), env=env, check=False)
    return 0


if __name__ == "__main__":
    sys.exit(main())
