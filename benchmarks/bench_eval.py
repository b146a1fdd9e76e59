"""Evaluation runs: concurrency against a slow provider, and the results page of a big run.

1. A run of 200 examples x 2 models against an OpenAI-shaped server on loopback that answers each
   chat call after 200 ms (tests/fakes/chat.py behind a threaded HTTP server, reached over real
   HTTP through the OpenAI adapter), at 1, 4 and 16 requests at once. The peer is the same 400
   calls done one after another: 400 x 200 ms = 80 s in theory, and the measured run at
   concurrency 1. The speed-up should be close to the concurrency.
2. The server time of the results page (first page, and the regressions filter) of a run of
   10,000 examples x 2 models, against the database time of the same rows alone (the floor).
   Target: under 200 ms.
3. A regression's "similar training examples" (the htmx partial) over 20,000 training prompts:
   the index rebuilt per request (as before the per-file cache) against the cached index.

    python benchmarks/bench_eval.py [--examples 200] [--delay 0.2] [--big 10000] [--train 20000] [--skip-concurrency]

Runs on a throwaway test database (DATABASE_URL's, or SQLite under a temporary folder).
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "fineweb.settings")
os.environ.setdefault("FINEWEB_DATA_DIR", str(Path(tempfile.gettempdir()) / "fineweb-bench"))
os.environ.setdefault("CELERY_TASK_ALWAYS_EAGER", "false")
# The loopback server stands in for a provider: allow loopback as an operator allows a LAN server.
os.environ["FINEWEB_PROVIDER_ALLOWED_NETWORKS"] = "127.0.0.0/8"


def median_ms(fn, repeat: int) -> float:
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times) * 1000


def lines(n: int) -> list[dict]:
    return [
        {
            "messages": [
                {"role": "system", "content": "Answer in German."},
                {"role": "user", "content": f"Question number {i}: what is {i} + {i}?"},
                {"role": "assistant", "content": f"Die Antwort ist {2 * i}."},
            ]
        }
        for i in range(n)
    ]


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--examples", type=int, default=200)
    parser.add_argument("--delay", type=float, default=0.2)
    parser.add_argument("--big", type=int, default=10_000)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--train", type=int, default=20_000)
    parser.add_argument("--skip-concurrency", action="store_true")
    args = parser.parse_args()

    import django

    django.setup()
    from django.db import connection
    from django.test import Client
    from django.test.utils import setup_test_environment

    setup_test_environment()
    old_name = connection.creation.create_test_db(verbosity=0, autoclobber=True)
    try:
        from django.db import transaction

        from evaluation import services
        from evaluation.models import Example, Result, Run, RunModel
        from fineweb.accounts.services import user_create
        from jobs.models import Job
        from onboarding.services import team_create
        from providers.services import connection_create, connection_limits_set
        from tests.factories import blob_from_lines, make_job, make_version
        from tests.fakes.chat import ChatFake
        from tests.fakes.http_server import FakeHTTPServer
        from tests.fakes.openai import OPENAI_KEY

        user = user_create(username="bench", password="bench-password-123")
        team = team_create(name="Bench", owner=user)

        # --- 1. concurrency ---------------------------------------------------------------
        if not args.skip_concurrency:
            version = make_version(team, name="bench", lines=lines(args.examples), n_examples=args.examples)
            version.validation_blob = blob_from_lines(lines(args.examples))
            version.save()
            fake = ChatFake(delay_s=args.delay)
            fake.key = OPENAI_KEY
            n_calls = 2 * args.examples
            ideal = n_calls * args.delay
            with FakeHTTPServer(fake) as server:
                conn = connection_create(
                    team=team,
                    user=user,
                    kind="openai_compatible",
                    name="loopback",
                    base_url=server.base_url,
                    api_key=OPENAI_KEY,
                )
                print(
                    f"{args.examples} examples x 2 models = {n_calls} calls, each answered after {args.delay * 1000:.0f} ms"
                )
                print(f"one after another, in theory: {n_calls} x {args.delay * 1000:.0f} ms = {ideal:.1f} s")
                walls: dict[int, float] = {}
                for concurrency in (1, 4, 16):
                    # The limits are the connection's settings (its page's "Requests at once").
                    connection_limits_set(connection=conn, max_concurrent=concurrency, per_minute=100_000)
                    with transaction.atomic():
                        run = services.run_create(
                            team=team,
                            user=user,
                            name=f"c{concurrency}",
                            dataset_version=version,
                            split="validation",
                            models=[
                                services.ModelChoice(connection=conn, model="base-model", label="Base"),
                                services.ModelChoice(connection=conn, model="tuned-model", label="Tuned"),
                            ],
                            scorers=[{"kind": "contains"}, {"kind": "length"}],
                        )
                    start = time.perf_counter()
                    done = services.run_execute(run_id=run.id)
                    walls[concurrency] = time.perf_counter() - start
                    stored = Result.objects.filter(run=run, error="").count()
                    assert done is not None and done.status == Run.Status.SUCCEEDED and stored == n_calls
                    print(
                        f"concurrency {concurrency:2d}: {walls[concurrency]:6.1f} s wall, "
                        f"speed-up {ideal / walls[concurrency]:5.2f}x vs {ideal:.0f} s sequential in theory, "
                        f"{walls[1] / walls[concurrency]:5.2f}x vs the measured concurrency 1 "
                        f"({stored} replies stored, {fake.max_in_flight} at once at most)"
                    )
                    fake.max_in_flight = 0

        # --- 2. the results page of a big run ---------------------------------------------
        version = make_version(team, name="big", lines=lines(20), n_examples=20)
        conn = connection_create(team=team, user=user, kind="openai", name="big", api_key="sk-bench-1234")
        run = Run.objects.create(
            team=team,
            name="big",
            dataset_version=version,
            split="all",
            status=Run.Status.SUCCEEDED,
            scorers=[
                {"kind": "exact"},
                {"kind": "contains"},
                {"kind": "language", "expected": "de"},
                {"kind": "length"},
            ],
            n_examples=args.big,
            calls_total=2 * args.big,
            calls_done=2 * args.big,
            created_by=user,
        )
        base = RunModel.objects.create(
            run=run, position=0, connection=conn, model="gpt-4o-mini", label="Base"
        )
        tuned = RunModel.objects.create(
            run=run, position=1, connection=conn, model="ft:gpt-4o-mini:x::y", label="Tuned"
        )
        Example.objects.bulk_create(
            (
                Example(
                    run=run,
                    index=i,
                    messages=[{"role": "user", "content": f"Question {i}?"}],
                    prompt=f"Question {i}?",
                    reference=f"Antwort {i}.",
                    drop=(i % 7 == 0) * (1 + i % 3),
                )
                for i in range(args.big)
            ),
            batch_size=2000,
        )
        ids = list(Example.objects.filter(run=run).order_by("index").values_list("id", flat=True))
        reply_a = "The answer is {} and that is a long enough reply to diff against the other one."
        reply_b = "Die Antwort ist {} und das ist eine ausreichend lange Antwort zum Vergleichen."
        Result.objects.bulk_create(
            (
                Result(
                    run=run,
                    example_id=e,
                    model=m,
                    reply=(reply_a if m is base else reply_b).format(i),
                    prompt_tokens=20,
                    completion_tokens=18,
                    latency_s=0.3,
                    scores={
                        "exact": False,
                        "contains": (m is tuned) != (i % 7 == 0),
                        "language": m is tuned,
                        "length": 18,
                    },
                )
                for i, e in enumerate(ids)
                for m in (base, tuned)
            ),
            batch_size=2000,
        )
        services.run_summarize(run=run)
        client = Client()
        client.force_login(user)
        url = f"/evaluation/{run.id}/"
        assert client.get(url).status_code == 200
        page = median_ms(lambda: client.get(url), args.repeat)
        regressions = median_ms(lambda: client.get(url + "?filter=regressions"), args.repeat)

        def floor() -> None:
            first = list(Example.objects.filter(run=run).order_by("index")[:50].values_list("id", flat=True))
            list(Result.objects.filter(example_id__in=first).values("reply", "scores"))
            Example.objects.filter(run=run).count()

        db = median_ms(floor, args.repeat)
        print(f"results page of a {args.big:,}-example x 2-model run (median of {args.repeat}):")
        print(f"  first page                 : {page:7.1f} ms server time (target < 200 ms)")
        print(f"  regressions, biggest first : {regressions:7.1f} ms")
        print(f"  the same rows from the database alone: {db:6.1f} ms (page / floor = {page / db:4.1f}x)")

        # --- 3. a regression's similar training examples ------------------------------------
        train = lines(args.train)
        train_version = make_version(team, name="train", lines=train[:20], n_examples=args.train)
        train_version.train_blob = blob_from_lines(train)
        train_version.save()
        run.job = make_job(team, train_version, conn, status=Job.Status.SUCCEEDED, fine_tuned_model="ft:x")
        run.save(update_fields=["job"])
        similar_url = url + "similar/?example=7"
        assert "Question number 7:" in client.get(similar_url).content.decode()

        def rebuilt() -> None:  # the page as it was: the file read and the index built per request
            services._training_index.cache_clear()
            client.get(similar_url)

        cold = median_ms(rebuilt, args.repeat)
        client.get(similar_url)
        warm = median_ms(lambda: client.get(similar_url), args.repeat)
        print(
            f"similar training examples of a regression, {args.train:,} training prompts (median of {args.repeat}):"
        )
        print(f"  index rebuilt per request (before): {cold:7.1f} ms")
        print(f"  index cached per file (after)     : {warm:7.1f} ms ({cold / warm:5.1f}x faster)")
    finally:
        connection.creation.destroy_test_db(old_name, verbosity=0)
    return 0


if __name__ == "__main__":
    sys.exit(main())
