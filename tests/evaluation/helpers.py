"""Runs for the evaluation tests: a dataset with a validation split, a job, replies by model."""

from __future__ import annotations

from evaluation import services
from evaluation.calls import Limit
from jobs.models import Job
from providers.services import connection_limits_set
from tests.factories import blob_from_lines, make_connection, make_job, make_version

BASE = "gpt-4o-mini-2024-07-18"
TUNED = "ft:gpt-4o-mini-2024-07-18:acme::AbC123"
CITIES = [
    "Berlin",
    "Hamburg",
    "Munich",
    "Cologne",
    "Frankfurt",
    "Stuttgart",
    "Dresden",
    "Leipzig",
    "Bremen",
    "Hanover",
]


def lines(n: int = 20) -> list[dict]:
    return [
        {
            "messages": [
                {
                    "role": "system",
                    "content": "You are the city guide. Always answer in German, in one sentence.",
                },
                {"role": "user", "content": f"Tell me about {CITIES[i % len(CITIES)]} number {i}."},
                {
                    "role": "assistant",
                    "content": f"{CITIES[i % len(CITIES)]} ist eine schöne Stadt in Deutschland.",
                },
            ]
        }
        for i in range(n)
    ]


def german_tune(model: str, messages: list[dict]) -> str:
    """The base answers in English; the fine-tune in German, except for prompts about Bremen."""
    city = next(c for c in CITIES if c in messages[-1]["content"])
    if model == TUNED and city != "Bremen":
        return f"{city} ist eine schöne Stadt in Deutschland."
    return f"{city} is a lovely city in Germany with a long history and many museums."


def job_with_split(team, *, connection=None, n: int = 20, validation: int = 10):
    all_lines = lines(n)
    version = make_version(team, name="city-guide", lines=all_lines, n_examples=n)
    version.train_blob = blob_from_lines(all_lines[: n - validation])
    version.validation_blob = blob_from_lines(all_lines[n - validation :])
    version.save()
    connection = connection or make_connection(team)
    job = make_job(
        team, version, connection, status=Job.Status.SUCCEEDED, fine_tuned_model=TUNED, base_model=BASE
    )
    return job


def start_run(
    team, user, job, *, scorers=None, judge=None, limit: Limit | None = None, short_prompt: str = "", **kw
):
    """A run of the job's base and fine-tune; `limit` is set on the job's connection first (as a
    team owner does on the connection's page)."""
    limit = limit or Limit(4, 6000)
    connection_limits_set(
        connection=job.connection, max_concurrent=limit.max_concurrent, per_minute=limit.per_minute
    )
    return services.run_create(
        team=team,
        user=user,
        name="",
        dataset_version=job.dataset_version,
        split="validation",
        models=[
            services.ModelChoice(connection=job.connection, model=job.base_model, label="Base"),
            services.ModelChoice(
                connection=job.connection,
                model=job.fine_tuned_model,
                label="Fine-tune",
                system_prompt=short_prompt,
            ),
        ],
        scorers=scorers
        if scorers is not None
        else [{"kind": "language", "expected": "de"}, {"kind": "contains"}, {"kind": "length"}],
        judge=judge,
        job=job,
        **kw,
    )


def read_validation(job) -> list[tuple[list[dict], str]]:
    return services.read_examples(services.split_blob(job.dataset_version, "validation"))
