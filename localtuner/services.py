"""Services of the local provider: files, fine-tuning jobs and models.

Training itself (the Celery side) lives in `localtuner.training`, chat in `localtuner.chat`.
"""

from __future__ import annotations

import logging
import os
import random
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import cast

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from datasets_app import sniff
from datasets_app.checker import DPO, SUPERVISED, format_problem
from datasets_app.validation import validate_file
from fineweb.lib.blobs import BlobTooLarge
from localtuner.api import ApiError, bad_request, not_found
from localtuner.keys import Scope
from localtuner.models import FILES, LocalEvent, LocalFile, LocalJob
from localtuner.objects import ORGANIZATION_ID, model_object, unix

log = logging.getLogger(__name__)
FINE_TUNE = "fine-tune"
RESULTS = "fine-tune-results"
# Base models have no upload date of their own: SmolLM2's release (2024-11-01).
BASE_MODEL_CREATED = 1730419200


# --------------------------------------------------------------------------- files


def _store_chunks(chunks: Iterable[bytes], *, limit: int | None = None) -> tuple[str, int]:
    """Write bytes to the content-addressed store; returns (sha256, size). Same bytes, same blob.

    Past `limit` bytes it stops, removes what it wrote and raises a 413.
    """
    try:
        return FILES.write(chunks, limit=limit)
    except BlobTooLarge as exc:
        raise ApiError(
            413,
            f"The file is larger than the limit of {exc.limit} bytes (FINEWEB_LOCAL_MAX_FILE_BYTES).",
            param="file",
            code="file_too_large",
        ) from None


def file_create(
    *,
    team_id: int | None,
    chunks: Iterable[bytes],
    filename: str,
    purpose: str,
    check_format: bool = False,
) -> LocalFile:
    """Store an upload (given as byte chunks) in a team's scope (None: the server's) and return its row.

    `check_format` (the API's uploads) refuses, as OpenAI's upload does, a file that is not JSONL
    training data at all or has a malformed line, with the datasets app's validator, the rules of
    the upload page; how many examples there are and how long they are is the job's to check."""
    if purpose != FINE_TUNE:
        raise bad_request(
            f'purpose must be "{FINE_TUNE}": the local provider stores fine-tuning files only.',
            param="purpose",
        )
    name = os.path.basename(filename or "").strip() or "upload.jsonl"
    if not name.lower().endswith(".jsonl"):
        raise bad_request(f"{name} is not a .jsonl file; fine-tuning files are JSON Lines.", param="file")
    sha, size = _store_chunks(chunks, limit=settings.FINEWEB_LOCAL_MAX_FILE_BYTES)
    if size == 0:
        if not LocalFile.objects.filter(sha256=sha).exists():
            FILES.discard(sha)
        raise bad_request(f"{name} is empty.", param="file")
    problem = training_file_problem(FILES.path(sha)) if check_format else None
    if problem:
        if not LocalFile.objects.filter(sha256=sha).exists():
            FILES.discard(sha)
        raise bad_request(problem, param="file")
    return LocalFile.objects.create(
        team_id=team_id, filename=name[:255], purpose=purpose, bytes=size, sha256=sha
    )


# Not about the format: the job checks the count (OpenAI's minimum of 10) and the token lengths.
_NOT_FORMAT = {"too_few", "too_long"}


def training_file_problem(path: Path) -> str | None:
    """Why this file cannot be fine-tuning data, in OpenAI's words plus `line N: ...`, or None."""
    with path.open("rb") as f:
        head = f.read(sniff.HEAD_BYTES)
    problem = sniff.file_problem(head, path.stat().st_size)
    if problem:
        return f"Invalid file format for Fine-Tuning API. {problem}"
    report = validate_file(path, method=SUPERVISED, workers=1)
    codes = set(report.error_summary)
    if "wrong_method" in codes:  # preference pairs: check them as such
        report = validate_file(path, method=DPO, workers=1)
        codes = set(report.error_summary)
    blocking = [c for c in report.error_summary if c not in _NOT_FORMAT]
    if not blocking:
        return None
    first = {}
    for error in report.errors:
        for code in blocking:
            if code not in first and error["message"] == report.summary_text[code] and error["line"]:
                first[code] = error
    shown = "; ".join(format_problem(first[c]) for c in blocking if c in first)
    count = sum(report.error_summary[c] for c in blocking)
    return (
        f"Invalid file format for Fine-Tuning API: {count} line{'s' if count != 1 else ''} "
        f"cannot be used. {shown or report.summary_text[blocking[0]]}"
    )


def file_store_bytes(*, team_id: int | None, content: bytes, filename: str, purpose: str) -> LocalFile:
    """Store bytes the provider made itself (a job's result file, in the job's scope)."""
    sha, size = _store_chunks([content])
    return LocalFile.objects.create(
        team_id=team_id, filename=filename, purpose=purpose, bytes=size, sha256=sha
    )


def file_delete(*, file: LocalFile) -> None:
    """Delete a file's row, and its bytes when no other file has the same content."""
    sha = file.sha256
    file.delete()
    if not LocalFile.objects.filter(sha256=sha).exists():
        FILES.discard(sha)


# --------------------------------------------------------------------------- jobs


def event_add(
    *,
    job: LocalJob,
    key: str,
    message: str,
    level: str = "info",
    type: str = "message",
    data: dict | None = None,
    step: int | None = None,
) -> LocalEvent:
    """Record an event once: a second call with the same key (a re-run after a lost worker) is a no-op."""
    event, _ = LocalEvent.objects.get_or_create(
        job=job,
        key=key,
        defaults={"message": message, "level": level, "type": type, "data": data, "step": step},
    )
    return event


def _base_models() -> list[str]:
    from localtuner.engine.basemodels import list_base_models

    return list_base_models()


def _training_file(scope: Scope, file_id: str | None, param: str) -> str | None:
    """The id of a fine-tuning file of this scope; another scope's file is as missing as an unknown id."""
    if file_id is None:
        return None
    file = scope.files().filter(public_id=file_id).first()
    if file is None:
        raise bad_request(f"No such File object: {file_id}.", param=param, code="file_not_found")
    if file.purpose != FINE_TUNE:
        raise bad_request(
            f'File {file_id} has purpose "{file.purpose}"; {param} needs a file uploaded with '
            f'purpose "{FINE_TUNE}".',
            param=param,
            code="invalid_file_purpose",
        )
    return file.public_id


def job_create(
    *,
    team_id: int | None,
    model: str,
    training_file: str,
    validation_file: str | None = None,
    suffix: str | None = None,
    seed: int | None = None,
    method: str = "supervised",
    hyperparameters: dict | None = None,
    metadata: dict | None = None,
) -> LocalJob:
    """Create a job in a team's scope (None: the server's) in `validating_files`, and start its
    training task once the row is committed. Its files must be of the same scope."""
    if model not in _base_models():
        if model.startswith("ft:"):
            raise bad_request(
                f"{model} is a fine-tuned model; the local provider fine-tunes base models only "
                f"({', '.join(_base_models())}).",
                param="model",
                code="model_not_available",
            )
        raise not_found(
            f"The model `{model}` does not exist. Local base models: {', '.join(_base_models())}.",
            param="model",
            code="model_not_found",
        )
    scope = Scope(team_id=team_id)
    training = _training_file(scope, training_file, "training_file")
    assert training is not None  # training_file is a str, so this is its id
    validation = _training_file(scope, validation_file, "validation_file")
    hyper: dict = dict.fromkeys(("n_epochs", "batch_size", "learning_rate_multiplier"), "auto")
    if method == LocalJob.Method.DPO:
        hyper["beta"] = "auto"
    hyper.update(hyperparameters or {})
    job = LocalJob.objects.create(
        team_id=team_id,
        model=model,
        training_file=training,
        validation_file=validation or "",
        suffix=suffix or "",
        seed=seed if seed is not None else random.randint(0, 2147483647),
        method=method,
        hyperparameters=hyper,
        metadata=metadata,
    )
    event_add(job=job, key="created", message=f"Created fine-tuning job: {job.public_id}")
    transaction.on_commit(lambda: _enqueue(job.pk))
    return job


def _enqueue(job_pk: int) -> None:
    """Send the training task. The job is saved either way: if the broker is unreachable now, the
    sweep a training worker runs when it starts sends it again."""
    from localtuner.tasks import train_job

    try:
        train_job.delay(job_pk)
    except Exception:
        log.warning(
            "could not send local job %s to the training queue; a starting worker will", job_pk, exc_info=True
        )


def job_cancel(*, job: LocalJob) -> LocalJob:
    """Cancel an unfinished job; its trainer notices before its next step and stops."""
    now = timezone.now()
    changed = LocalJob.objects.filter(pk=job.pk, status__in=LocalJob.ACTIVE).update(
        status=LocalJob.Status.CANCELLED, finished_at=now, estimated_finish=None
    )
    job.refresh_from_db()
    if not changed:
        raise bad_request(
            f"Job {job.public_id} has already finished ({job.status}); only jobs that are "
            f"validating_files, queued or running can be cancelled.",
            code="job_not_cancellable",
        )
    event_add(job=job, key="cancelled", message="Fine-tuning job cancelled")
    return job


# --------------------------------------------------------------------------- models


@dataclass(frozen=True)
class ResolvedModel:
    name: str
    base_model: str
    adapter_path: Path | None


def model_resolve(*, name: str, team_id: int | None) -> ResolvedModel:
    """A model name (base, fine-tuned `ft:...` or checkpoint `ft:...:ckpt-step-N`) as base + adapter.

    Base models are everyone's; fine-tuned models and checkpoints only their scope's (any other
    is the same 404 as an unknown name).
    """
    if name in _base_models():
        return ResolvedModel(name, name, None)
    scope = Scope(team_id=team_id)
    job = scope.jobs().filter(fine_tuned_model=name, status=LocalJob.Status.SUCCEEDED).first()
    if job is not None and (job.output_dir / "adapter" / "adapter_config.json").is_file():
        return ResolvedModel(name, job.model, job.output_dir / "adapter")
    checkpoint = scope.checkpoints().select_related("job").filter(name=name).first()
    if checkpoint is not None and (checkpoint.adapter_path / "adapter_config.json").is_file():
        return ResolvedModel(name, checkpoint.job.model, checkpoint.adapter_path)
    raise not_found(
        f"The model `{name}` does not exist or you do not have access to it.",
        param="model",
        code="model_not_found",
    )


def models_list(*, team_id: int | None) -> list[dict]:
    """Base models, then the scope's fine-tuned models newest first."""
    data = [model_object(name, created=BASE_MODEL_CREATED, owned_by="fineweb") for name in _base_models()]
    jobs = (
        Scope(team_id=team_id).jobs().filter(status=LocalJob.Status.SUCCEEDED, fine_tuned_model__isnull=False)
    )
    for job in jobs.order_by("-finished_at", "-pk"):
        # fine_tuned_model is filtered on isnull=False above.
        data.append(
            model_object(
                cast(str, job.fine_tuned_model), created=unix(job.finished_at) or 0, owned_by=ORGANIZATION_ID
            )
        )
    return data


def model_get(*, name: str, team_id: int | None) -> dict:
    resolved = model_resolve(name=name, team_id=team_id)
    if resolved.adapter_path is None:
        return model_object(name, created=BASE_MODEL_CREATED, owned_by="fineweb")
    scope = Scope(team_id=team_id)
    job = scope.jobs().filter(fine_tuned_model=name).first()
    moment = job.finished_at if job else scope.checkpoints().get(name=name).created_at
    return model_object(name, created=unix(moment) or 0, owned_by=ORGANIZATION_ID)
