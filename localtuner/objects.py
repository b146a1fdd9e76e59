"""Rows as OpenAI objects (the shapes of ../shared/api/openai-finetuning.yaml)."""

from __future__ import annotations

from datetime import datetime

from localtuner.models import LocalCheckpoint, LocalEvent, LocalFile, LocalJob

ORGANIZATION_ID = "org-fineweb-local"
HYPERPARAMETER_NAMES = ("n_epochs", "batch_size", "learning_rate_multiplier")


def unix(moment: datetime | None) -> int | None:
    return int(moment.timestamp()) if moment is not None else None


def file_object(file: LocalFile) -> dict:
    return {
        "id": file.public_id,
        "object": "file",
        "bytes": file.bytes,
        "created_at": unix(file.created_at),
        "expires_at": None,
        "filename": file.filename,
        "purpose": file.purpose,
        "status": "processed",
        "status_details": None,
    }


def job_object(job: LocalJob) -> dict:
    hyper = dict(job.hyperparameters)
    common = {name: hyper.get(name, "auto") for name in HYPERPARAMETER_NAMES}
    method_hyper = dict(common)
    if job.method == LocalJob.Method.DPO:
        method_hyper["beta"] = hyper.get("beta", "auto")
    return {
        "object": "fine_tuning.job",
        "id": job.public_id,
        "model": job.model,
        "created_at": unix(job.created_at),
        "finished_at": unix(job.finished_at),
        "fine_tuned_model": job.fine_tuned_model,
        "organization_id": ORGANIZATION_ID,
        "result_files": list(job.result_files),
        "status": job.status,
        "validation_file": job.validation_file or None,
        "training_file": job.training_file,
        "hyperparameters": common,
        "method": {"type": job.method, job.method: {"hyperparameters": method_hyper}},
        "trained_tokens": job.trained_tokens,
        "error": job.error,
        "user_provided_suffix": job.suffix or None,
        "seed": job.seed,
        "estimated_finish": unix(job.estimated_finish) if job.status in LocalJob.ACTIVE else None,
        "integrations": [],
        "metadata": job.metadata,
    }


def event_object(event: LocalEvent) -> dict:
    return {
        "object": "fine_tuning.job.event",
        "id": event.public_id,
        "created_at": unix(event.created_at),
        "level": event.level,
        "message": event.message,
        "data": event.data,
        "type": event.type,
    }


def checkpoint_object(checkpoint: LocalCheckpoint, job: LocalJob) -> dict:
    return {
        "object": "fine_tuning.job.checkpoint",
        "id": checkpoint.public_id,
        "created_at": unix(checkpoint.created_at),
        "fine_tuned_model_checkpoint": checkpoint.name,
        "fine_tuning_job_id": job.public_id,
        "metrics": checkpoint.metrics,
        "step_number": checkpoint.step,
    }


def model_object(model_id: str, *, created: int, owned_by: str) -> dict:
    return {"id": model_id, "object": "model", "created": created, "owned_by": owned_by}
