"""Rows and data the tests stand on: people, dataset lines and files, versions, connections, jobs.

Fixtures that hand these out live in the conftest files; these are the plain functions behind them.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from decimal import Decimal

from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from django.utils import timezone

from datasets_app.models import Blob, Dataset, DatasetVersion
from datasets_app.services import dataset_upload, version_freeze
from jobs.models import Job, MetricPoint
from providers.services import connection_create
from tests.fakes.openai import OPENAI_KEY

PASSWORD = "correct horse battery staple"


def client_for(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


# --- dataset lines and files -----------------------------------------------------------------
def chat(
    i: int = 0,
    *,
    system: str | None = "Answer in German.",
    user: str | None = None,
    answer: str | None = None,
) -> dict:
    messages = []
    if system is not None:
        messages.append({"role": "system", "content": system})
    messages.append({"role": "user", "content": user or f"Question number {i}?"})
    messages.append({"role": "assistant", "content": answer or f"Antwort Nummer {i}."})
    return {"messages": messages}


def jsonl(examples) -> bytes:
    lines = []
    for ex in examples:
        lines.append(ex if isinstance(ex, str) else json.dumps(ex, ensure_ascii=False))
    return ("\n".join(lines) + "\n").encode("utf-8")


def good_lines(n: int = 12) -> list[dict]:
    return [chat(i) for i in range(n)]


def upload_file(content, name: str = "data.jsonl") -> SimpleUploadedFile:
    return SimpleUploadedFile(
        name, content if isinstance(content, bytes) else jsonl(content), content_type="application/jsonl"
    )


COLORS = {"red": "apple", "yellow": "banana", "green": "lime", "purple": "grape", "orange": "carrot"}


def food_lines(n: int) -> str:
    """`n` lines of "name a food of the given color", as JSONL text (the local provider learns it)."""
    colors = list(COLORS)
    return "".join(
        json.dumps(
            {
                "messages": [
                    {"role": "system", "content": "Name a food of the given color."},
                    {"role": "user", "content": colors[i % 5]},
                    {"role": "assistant", "content": COLORS[colors[i % 5]]},
                ]
            }
        )
        + "\n"
        for i in range(n)
    )


# --- versions, connections, jobs -------------------------------------------------------------
CHAT_LINES = [
    {
        "messages": [
            {"role": "user", "content": f"What is {i} + {i}?"},
            {"role": "assistant", "content": str(2 * i)},
        ]
    }
    for i in range(12)
]


def blob_from_lines(lines: list[dict]) -> Blob:
    content = "".join(json.dumps(line) + "\n" for line in lines).encode()
    sha = hashlib.sha256(content).hexdigest()
    blob, _ = Blob.objects.get_or_create(sha256=sha, defaults={"size": len(content)})
    blob.path.parent.mkdir(parents=True, exist_ok=True)
    blob.path.write_bytes(content)
    return blob


def make_version(
    team,
    *,
    name="support-bot",
    method="supervised",
    frozen=True,
    split=False,
    n_examples=12,
    tokens=1200,
    lines=CHAT_LINES,
    target_model="gpt-4o-mini-2024-07-18",
):
    dataset = Dataset.objects.create(team=team, name=name, method=method, target_model=target_model)
    blob = blob_from_lines(lines)
    version = DatasetVersion.objects.create(
        dataset=dataset,
        number=1,
        blob=blob,
        status=DatasetVersion.Status.VALID,
        report={
            "errors": [],
            "warnings": [],
            "stats": {"n_examples": n_examples, "total_tokens": tokens, "tokens_capped_total": tokens},
        },
        frozen_at=timezone.now() if frozen else None,
    )
    if split:
        version.train_blob = blob_from_lines(lines[:-2])
        version.validation_blob = blob_from_lines(lines[-2:])
        version.save()
    return version


def make_connection(team, *, kind="openai", name="OpenAI", api_key=OPENAI_KEY, base_url=""):
    return connection_create(team=team, user=None, kind=kind, name=name, api_key=api_key, base_url=base_url)


def make_job(team, version, connection, **fields) -> Job:
    defaults = {
        "base_model": "gpt-4o-mini-2024-07-18",
        "hyperparameters": {"n_epochs": "auto"},
        "status": Job.Status.DRAFT,
        "estimated_cost_usd": Decimal("1.00"),
    }
    defaults.update(fields)
    return Job.objects.create(team=team, dataset_version=version, connection=connection, **defaults)


# --- one of everything (the URL crawl of tests/test_team_isolation.py) --------------------------
def build_world(team, user) -> dict:
    """One of everything, in alice's team: the objects whose ids the URLs take."""
    version = dataset_upload(team=team, user=user, name="world", uploaded_file=upload_file(good_lines(12)))
    version_freeze(version=version, user=user)
    connection = connection_create(team=team, user=user, kind="openai", name="world", api_key="sk-world-1234")
    job = Job.objects.create(
        team=team,
        dataset_version=version,
        connection=connection,
        base_model="gpt-4o-mini-2024-07-18",
        status=Job.Status.RUNNING,
        provider_job_id="ftjob-world",
        fine_tuned_model="ft:world",
    )
    MetricPoint.objects.create(job=job, step=1, train_loss=1.0)
    conversation = _world_conversation(team, user, connection, job)
    run = eval_run(team, user, job)
    from review.models import Example
    from review.services import review_start

    review_start(version=version, user=user)
    example = Example.objects.get(version=version, index=0)
    return {
        "membership": team.memberships.get(user=user),
        "dataset": version.dataset,
        "version": version,
        "connection": connection,
        "job": job,
        "conversation": conversation,
        "reply": conversation.turns.get().replies.first(),
        "example": example,
        "run": run,
    }


def _world_conversation(team, user, connection, job):
    """A blind comparison whose replies are complete (its stream answers from the database)."""
    from compare.models import Reply
    from compare.services import ColumnSpec, conversation_create

    conversation = conversation_create(
        team=team,
        user=user,
        columns=[
            ColumnSpec(connection=connection, model=job.base_model),
            ColumnSpec(connection=connection, model="ft:world"),
        ],
        message="Hello",
        blind=True,
        job=job,
    )
    Reply.objects.filter(turn__conversation=conversation).update(status=Reply.Status.COMPLETE, text="Hi")
    return conversation


def eval_run(team, user, job: Job, *, status: str = "succeeded"):
    """A finished evaluation run of `job` on its whole file (two replies per example, no calls)."""
    from evaluation.models import Example, Result, Run, RunModel

    assert job.dataset_version is not None
    run = Run.objects.create(
        team=team,
        name="world run",
        job=job,
        dataset_version=job.dataset_version,
        split="all",
        scorers=[{"kind": "exact"}],
        status=status,
        n_examples=1,
        calls_total=2,
        calls_done=2,
        created_by=user,
    )
    base = RunModel.objects.create(
        run=run, position=0, connection=job.connection, model=job.base_model, label="Base"
    )
    tuned = RunModel.objects.create(
        run=run, position=1, connection=job.connection, model=job.fine_tuned_model or "ft", label="Fine-tune"
    )
    example = Example.objects.create(
        run=run, index=0, messages=[{"role": "user", "content": "Hi"}], prompt="Hi", reference="Hallo"
    )
    Result.objects.create(run=run, example=example, model=base, reply="Hello", scores={"exact": False})
    Result.objects.create(run=run, example=example, model=tuned, reply="Hallo", scores={"exact": True})
    return run


# parameter name -> callable(world) returning the value for an object of alice's team.
FACTORIES: dict[str, Callable] = {
    "dataset_id": lambda w: w["dataset"].id,
    "number": lambda w: w["version"].number,
    "which": lambda w: "original",
    "fmt": lambda w: "openai-chat",
    "version_id": lambda w: w["version"].id,
    "job_id": lambda w: w["job"].id,
    "connection_id": lambda w: w["connection"].id,
    "conversation_id": lambda w: w["conversation"].id,
    "reply_id": lambda w: w["reply"].id,
    "example_id": lambda w: w["example"].id,
    "run_id": lambda w: w["run"].id,
    "extension": lambda w: "csv",
    "membership_id": lambda w: w["membership"].id,
}


# --- review ---------------------------------------------------------------------------------------
def review_version(*, team, user, lines: list | None = None, method: str = "supervised"):
    """Upload `lines` (12 good chats by default) and start their review; returns the VersionReview."""
    from review.services import review_start

    version = dataset_upload(
        team=team,
        user=user,
        name="to review",
        method=method,
        uploaded_file=upload_file(lines if lines is not None else good_lines(12)),
    )
    return review_start(version=version, user=user)
