"""Running a local fine-tuning job in a Celery worker: validate, queue, train, publish.

`job_train` is idempotent and safe to call any number of times for the same job: it claims the job
with a compare-and-swap on its lease, so two workers never train one job, and a job whose worker
died (stale heartbeat, or a dead process on this host) is taken over and resumed from the engine's
last saved state. Every event carries a key, every metric a step and every checkpoint a step, with
unique constraints, so a re-run never stores anything twice.
"""

from __future__ import annotations

import hashlib
import logging
import math
import time
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

from celery.exceptions import SoftTimeLimitExceeded
from django.conf import settings
from django.db import transaction
from django.db.models import F
from django.utils import timezone

from localtuner.lease import Heartbeat, lease_is_dead, owner_id
from localtuner.models import LocalCheckpoint, LocalFile, LocalJob, local_root
from localtuner.services import RESULTS, event_add, file_store_bytes

log = logging.getLogger(__name__)
Status = LocalJob.Status


@dataclass
class JobFailure(Exception):
    code: str
    message: str
    param: str | None = None

    def as_error(self) -> dict:
        return {"code": self.code, "message": self.message, "param": self.param}


def _claim(job: LocalJob) -> str | None:
    """Take the job's lease if it is free or dead; returns the new owner id, or None."""
    if job.is_finished or not lease_is_dead(job):
        return None
    owner = owner_id()
    claimed = LocalJob.objects.filter(
        pk=job.pk, status=job.status, lease_owner=job.lease_owner, attempts=job.attempts
    ).update(lease_owner=owner, heartbeat_at=timezone.now(), attempts=F("attempts") + 1)
    return owner if claimed else None


def _move(job: LocalJob, owner: str, old: str, new: str, **fields) -> bool:
    """Conditional status change: only if the job is still `old` and still ours."""
    changed = LocalJob.objects.filter(pk=job.pk, status=old, lease_owner=owner).update(status=new, **fields)
    job.refresh_from_db()
    return bool(changed)


# --------------------------------------------------------------------------- the flow


def job_train(*, job_id: int) -> None:
    """Claim the job and run it from wherever it stands to succeeded, failed or cancelled."""
    job = LocalJob.objects.filter(pk=job_id).first()
    if job is None:
        return
    owner = _claim(job)
    if owner is None:
        return
    job.refresh_from_db()
    try:
        with Heartbeat(job.pk, owner):
            _run(job, owner)
    except JobFailure as failure:
        _fail(job, owner, failure)
    except SoftTimeLimitExceeded:
        limit = settings.FINEWEB_LOCAL_TRAIN_TIME_LIMIT
        _fail(
            job,
            owner,
            JobFailure(
                "timeout",
                f"Training took longer than the limit of {limit} s (FINEWEB_LOCAL_TRAIN_TIME_LIMIT).",
            ),
        )
    except Exception as exc:
        log.exception("local job %s failed", job.public_id)
        _fail(job, owner, JobFailure("training_error", f"Training stopped on an internal error: {exc}"))
    finally:
        LocalJob.objects.filter(pk=job.pk, lease_owner=owner).exclude(status__in=LocalJob.ACTIVE).update(
            lease_owner=""
        )


def _run(job: LocalJob, owner: str) -> None:
    if job.status == Status.VALIDATING_FILES:
        files = f"training file: {job.training_file}"
        if job.validation_file:
            files += f", validation file: {job.validation_file}"
        event_add(job=job, key="validating", message=f"Validating {files}")
        resolved = _validate(job)
        if not _move(job, owner, Status.VALIDATING_FILES, Status.QUEUED, hyperparameters=resolved):
            return
        event_add(job=job, key="validated", message="Files validated, moving job to queued state")
    if job.status == Status.QUEUED:
        if not _move(job, owner, Status.QUEUED, Status.RUNNING, started_at=timezone.now()):
            return
        event_add(job=job, key="started", message="Fine-tuning job started")
    elif job.status == Status.RUNNING:
        event_add(
            job=job,
            key=f"resumed:{job.attempts}",
            level="warn",
            message="The previous worker stopped; resuming from the last saved training state",
        )
    else:
        return
    _train(job, owner)


def _file_path(file_id: str, param: str) -> Path:
    # No scope filter: job_create only takes files of the job's own scope.
    file = LocalFile.objects.filter(public_id=file_id).first()
    if file is None or not file.path.is_file():
        raise JobFailure("file_not_found", f"The {param.replace('_', ' ')} {file_id} was deleted.", param)
    return file.path


def _validate(job: LocalJob) -> dict:
    """Read the files with the trainer's own loader; returns the concrete hyperparameters."""
    from localtuner.engine.basemodels import load_tokenizer, pick_device
    from localtuner.engine.data import DataError, load_preference, load_supervised
    from localtuner.engine.hyper import auto_batch_size, auto_epochs

    loader = load_preference if job.method == LocalJob.Method.DPO else load_supervised
    tokenizer = load_tokenizer(job.model, cache_dir=Path(settings.FINEWEB_MODEL_CACHE_DIR))
    checks = [("training_file", job.training_file)]
    if job.validation_file:
        checks.append(("validation_file", job.validation_file))
    n_examples = 0
    for param, file_id in checks:
        path = _file_path(file_id, param)
        _check_utf8(path, param)
        try:
            items = loader(path, tokenizer, 1 << 30)
        except DataError as exc:
            raise JobFailure(f"invalid_{param}", str(exc), param) from exc
        if param == "training_file":
            n_examples = len(items)
    hyper = dict(job.hyperparameters)
    device = pick_device()
    if hyper.get("n_epochs", "auto") == "auto":
        hyper["n_epochs"] = auto_epochs(n_examples, device)
    if hyper.get("batch_size", "auto") == "auto":
        hyper["batch_size"] = auto_batch_size(n_examples)
    hyper["batch_size"] = min(hyper["batch_size"], n_examples)
    if hyper.get("learning_rate_multiplier", "auto") == "auto":
        hyper["learning_rate_multiplier"] = 1.0
    if job.method == LocalJob.Method.DPO and hyper.get("beta", "auto") == "auto":
        hyper["beta"] = 0.1
    return hyper


def _check_utf8(path: Path, param: str) -> None:
    """Name the exact line that is not UTF-8 (a text-mode reader decodes in blocks and cannot)."""
    with path.open("rb") as handle:
        for line_no, line in enumerate(handle, start=1):
            try:
                line.decode("utf-8")
            except UnicodeDecodeError as exc:
                raise JobFailure(
                    f"invalid_{param}", f"line {line_no}: not valid UTF-8 ({exc.reason})", param
                ) from exc


def _finite(value: float | None) -> float | None:
    return value if value is not None and math.isfinite(value) else None


def _train(job: LocalJob, owner: str) -> None:
    from localtuner.engine import TrainSpec, train
    from localtuner.engine.data import DataError

    hyper = job.hyperparameters
    spec = TrainSpec(
        base_model=job.model,
        method=job.method,
        training_path=_file_path(job.training_file, "training_file"),
        validation_path=_file_path(job.validation_file, "validation_file") if job.validation_file else None,
        output_dir=job.output_dir,
        cache_dir=Path(settings.FINEWEB_MODEL_CACHE_DIR),
        n_epochs=hyper["n_epochs"],
        batch_size=hyper["batch_size"],
        learning_rate_multiplier=hyper["learning_rate_multiplier"],
        seed=job.seed,
        dpo_beta=hyper.get("beta", 0.1),
        torch_threads=settings.FINEWEB_TORCH_THREADS or None,
    )
    still_ours = LocalJob.objects.filter(pk=job.pk, status=Status.RUNNING, lease_owner=owner)
    last_estimate = [0.0]

    def on_metrics(m) -> None:
        data = {
            "step": m.step,
            "train_loss": _finite(m.train_loss),
            "train_mean_token_accuracy": _finite(m.train_mean_token_accuracy),
            "total_steps": m.total_steps,
        }
        message = f"Step {m.step}/{m.total_steps}: training loss={m.train_loss:.4f}"
        if m.valid_loss is not None:
            data["valid_loss"] = _finite(m.valid_loss)
            data["valid_mean_token_accuracy"] = _finite(m.valid_mean_token_accuracy)
            message += f", validation loss={m.valid_loss:.4f}"
        event_add(job=job, key=f"metrics:{m.step}", type="metrics", message=message, data=data, step=m.step)
        if time.monotonic() - last_estimate[0] >= 2.0:  # an estimate, not worth a write every step
            last_estimate[0] = time.monotonic()
            seconds_left = m.elapsed_s / max(1, m.step) * (m.total_steps - m.step)
            still_ours.update(estimated_finish=timezone.now() + timedelta(seconds=seconds_left))

    def on_checkpoint(c) -> None:
        m = c.metrics
        metrics = {
            "step": c.step,
            "train_loss": _finite(m.train_loss),
            "train_mean_token_accuracy": _finite(m.train_mean_token_accuracy),
        }
        if m.valid_loss is not None:
            metrics.update(
                valid_loss=_finite(m.valid_loss),
                valid_mean_token_accuracy=_finite(m.valid_mean_token_accuracy),
                full_valid_loss=_finite(m.valid_loss),
                full_valid_mean_token_accuracy=_finite(m.valid_mean_token_accuracy),
            )
        name = f"{job.model_name}:ckpt-step-{c.step}"
        LocalCheckpoint.objects.get_or_create(
            job=job,
            step=c.step,
            defaults={
                "name": name,
                "metrics": metrics,
                "adapter_dir": str(Path(c.path).relative_to(local_root())),
            },
        )
        event_add(
            job=job,
            key=f"checkpoint:{c.step}",
            data={"step": c.step, "fine_tuned_model_checkpoint": name},
            message=f"Checkpoint created at step {c.step} with Snapshot ID: {name}",
        )

    def on_event(level: str, message: str) -> None:
        level = {"warning": "warn"}.get(level, level)
        level = level if level in ("info", "warn", "error") else "info"
        event_add(job=job, key=f"engine:{_digest(message)}", level=level, message=message)

    try:
        result = train(
            spec,
            on_metrics=on_metrics,
            on_checkpoint=on_checkpoint,
            should_cancel=lambda: not still_ours.exists(),
            on_event=on_event,
        )
    except DataError as exc:
        param = "validation_file" if "validation file" in exc.message else "training_file"
        raise JobFailure(f"invalid_{param}", str(exc), param) from exc
    if result.status == "succeeded":
        _succeed(job, owner, result)


def _digest(text: str) -> str:
    return hashlib.sha1(text.encode()).hexdigest()[:20]


def _succeed(job: LocalJob, owner: str, result) -> None:
    """Publish the model, the result file and the last events in one transaction."""
    name = job.model_name
    hyper = dict(
        job.hyperparameters,
        n_epochs=result.n_epochs,
        batch_size=result.batch_size,
        learning_rate_multiplier=result.learning_rate_multiplier,
    )
    with transaction.atomic():
        results = file_store_bytes(
            team_id=job.team_id,
            content=result.result_csv.encode(),
            filename="step_metrics.csv",
            purpose=RESULTS,
        )
        if not _move(
            job,
            owner,
            Status.RUNNING,
            Status.SUCCEEDED,
            fine_tuned_model=name,
            trained_tokens=result.trained_tokens,
            finished_at=timezone.now(),
            estimated_finish=None,
            result_files=[results.public_id],
            hyperparameters=hyper,
        ):
            transaction.set_rollback(True)  # cancelled at the last moment: publish nothing
            return
        event_add(
            job=job,
            key="model_created",
            message=f"New fine-tuned model created: {name}",
            data={"fine_tuned_model": name},
        )
        event_add(job=job, key="succeeded", message="The job has successfully completed")


def _fail(job: LocalJob, owner: str, failure: JobFailure) -> None:
    changed = LocalJob.objects.filter(pk=job.pk, status__in=LocalJob.ACTIVE, lease_owner=owner).update(
        status=Status.FAILED, error=failure.as_error(), finished_at=timezone.now(), estimated_finish=None
    )
    if changed:
        event_add(
            job=job,
            key="failed",
            level="error",
            message=f"Fine-tuning job failed: {failure.message}",
            data=failure.as_error(),
        )


# --------------------------------------------------------------------------- the sweep


def jobs_sweep_stale(*, include_unclaimed: bool = False) -> list[int]:
    """Re-enqueue jobs whose worker is gone; returns their primary keys.

    Beat runs it every minute; a training worker runs it with `include_unclaimed` as it starts, which
    also re-sends jobs nobody has claimed yet (their message may have been lost with a broker that
    does not redeliver). A duplicate message is harmless: the claim lets one worker through.
    """
    from localtuner.tasks import train_job

    sent = []
    for job in LocalJob.objects.filter(status__in=LocalJob.ACTIVE):
        watched = job.lease_owner or job.status == Status.RUNNING or include_unclaimed
        if watched and lease_is_dead(job):
            train_job.delay(job.pk)
            sent.append(job.pk)
    return sent
