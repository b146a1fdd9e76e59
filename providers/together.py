"""Together AI: a different shape from OpenAI (shared/api/together-finetuning.md).

Where its spec and SDKs disagree we read both: event types and levels in any case, capitalised
file keys, ISO job times and unix file times, statuses beyond the spec's enum (`user_error`).
Events have no ids, so a stable one is made from their content. Loss values come from
`/fine-tunes/{id}/metrics`, never from event text.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx

from providers import base
from providers.base import (
    ChatReply,
    ChatStreamItem,
    MetricPoint,
    Provider,
    ProviderCheckpoint,
    ProviderEvent,
    ProviderFile,
    ProviderJob,
    ProviderModel,
)
from providers.errors import MalformedResponse
from providers.http import ProviderHTTP, RetryPolicy
from providers.openai import chat_completion, merge_points
from providers.parsing import as_dict, as_float, as_int, as_list, as_opt_str, as_str, as_time, data_list
from providers.prices import together_training_price

TOGETHER_BASE_URL = "https://api.together.ai/v1"
DEFAULT_LEARNING_RATE = 1e-5  # Together's default; an OpenAI-style multiplier scales it

_STATUSES = {
    "pending": base.QUEUED,
    "queued": base.QUEUED,
    "running": base.RUNNING,
    "compressing": base.RUNNING,
    "uploading": base.RUNNING,
    "cancel_requested": base.RUNNING,  # still running until Together says cancelled
    "cancelled": base.CANCELLED,
    "completed": base.SUCCEEDED,
    "error": base.FAILED,
    "user_error": base.FAILED,
}

# Keys of our hyperparameters dict that the adapter turns into Together's own fields.
_CONSUMED = {
    "n_epochs",
    "batch_size",
    "learning_rate",
    "learning_rate_multiplier",
    "lr_scheduler_type",
    "lora",
    "lora_r",
    "lora_alpha",
    "lora_dropout",
    "lora_trainable_modules",
    "train_on_inputs",
    "beta",
    "dpo_beta",
}


def normalise_status(raw: str) -> str:
    return _STATUSES.get(raw.strip().lower(), base.UNKNOWN)


class TogetherProvider(Provider):
    kind = "together"

    def __init__(
        self,
        *,
        client: httpx.Client,
        api_key: str,
        base_url: str = "",
        retry: RetryPolicy | None = None,
        clock=time.monotonic,
        now=lambda: datetime.now(UTC),
    ):
        self.base_url = (base_url or TOGETHER_BASE_URL).rstrip("/")
        self.display_name = "Together AI"
        self.http = ProviderHTTP(
            client=client,
            base_url=self.base_url,
            api_key=api_key,
            provider_name=self.display_name,
            retry=retry,
        )
        self.clock = clock
        self.now = now

    # --- files ----------------------------------------------------------------------------
    def upload_file(
        self, *, path: Path | str, purpose: str = "fine-tune", filename: str | None = None
    ) -> ProviderFile:
        path = Path(path)
        name = filename or path.name
        body = self.http.upload_object(
            "/files/upload",
            file_path=path,
            filename=name,
            content_type="application/octet-stream",
            data={
                "purpose": purpose,
                "file_name": name,
                "file_type": path.suffix.lstrip(".").lower() or "jsonl",
            },
            subject="the file",
        )
        body = as_dict(body.get("file")) or body  # sdk: a bare FileResponse or {"file": FileResponse}
        fid = as_str(body.get("id"))
        if not fid:
            raise MalformedResponse("Together AI answered the upload without a file id.")
        processed = body.get("Processed", body.get("processed"))
        return ProviderFile(
            id=fid,
            bytes=as_int(body.get("bytes")),
            filename=as_str(body.get("filename")) or name,
            status="processed" if processed is True else "uploaded",
        )

    def download_file(self, file_id: str) -> bytes:
        return self.http.request(
            "GET",
            f"/files/{file_id}/content",
            subject=f"the file {file_id}",
            headers={"Accept": "application/binary"},
        ).content

    # --- jobs -----------------------------------------------------------------------------
    def create_job(
        self,
        *,
        model: str,
        training_file_id: str,
        validation_file_id: str | None = None,
        method: str = "supervised",
        hyperparameters: dict[str, Any],
        suffix: str | None = None,
        seed: int | None = None,
        idempotency_key: str,
    ) -> ProviderJob:
        body = build_job_body(
            model=model,
            training_file_id=training_file_id,
            validation_file_id=validation_file_id,
            method=method,
            hyperparameters=hyperparameters or {},
            suffix=suffix,
            seed=seed,
        )
        # Together documents no idempotency; the header is harmless and costs nothing if it learns one.
        data = self.http.request_object(
            "POST", "/fine-tunes", subject="the job", json=body, headers={"Idempotency-Key": idempotency_key}
        )
        return self.parse_job(data)

    def get_job(self, job_id: str) -> ProviderJob:
        return self.parse_job(
            self.http.request_object("GET", f"/fine-tunes/{job_id}", subject=f"the job {job_id}")
        )

    def _all_jobs(self) -> list[ProviderJob]:
        body = self.http.request_json("GET", "/fine-tunes")
        jobs = [self.parse_job(item) for item in data_list(body) if item.get("id")]
        epoch = datetime.fromtimestamp(0, UTC)
        jobs.sort(key=lambda j: j.created_at or epoch, reverse=True)
        return jobs

    def list_jobs(self, *, limit: int = 20, after: str | None = None) -> list[ProviderJob]:
        jobs = self._all_jobs()  # Together has no pagination: page on our side
        if after:
            ids = [j.id for j in jobs]
            jobs = jobs[ids.index(after) + 1 :] if after in ids else []
        return jobs[:limit]

    def iter_jobs(self, *, page_size: int = 50) -> Iterator[ProviderJob]:
        yield from self._all_jobs()

    def cancel_job(self, job_id: str) -> ProviderJob:
        return self.parse_job(
            self.http.request_object("POST", f"/fine-tunes/{job_id}/cancel", subject=f"the job {job_id}")
        )

    def list_events(self, job_id: str, *, after: str | None = None, limit: int = 100) -> list[ProviderEvent]:
        body = self.http.request_json("GET", f"/fine-tunes/{job_id}/events", subject=f"the job {job_id}")
        events = parse_events(data_list(body))
        if after is not None:
            ids = [e.id for e in events]
            if after in ids:
                events = events[ids.index(after) + 1 :]
        return events

    def metrics(self, job_id: str, *, after_step: int = 0) -> list[MetricPoint]:
        # A GET with a JSON body, as Together documents; servers that ignore it send everything.
        body = self.http.request_object(
            "GET",
            f"/fine-tunes/{job_id}/metrics",
            subject=f"the job {job_id}",
            json={"global_step_from": after_step + 1} if after_step else {},
        )
        return [p for p in parse_metrics(as_list(body.get("metrics"))) if p.step > after_step]

    def list_checkpoints(self, job_id: str) -> list[ProviderCheckpoint]:
        body = self.http.request_json("GET", f"/fine-tunes/{job_id}/checkpoints", subject=f"the job {job_id}")
        checkpoints = []
        for item in data_list(body):
            step = as_int(item.get("step"))
            kind = as_str(item.get("checkpoint_type"))
            # The SDK's naming: intermediate checkpoints are "job:step", the final one is the job.
            name = f"{job_id}:{step}" if "intermediate" in kind.lower() or not kind else job_id
            checkpoints.append(
                ProviderCheckpoint(
                    id=f"{job_id}:{step}:{kind or 'checkpoint'}",
                    step=step,
                    model_name=name,
                    metrics={},
                    created_at=as_time(item.get("created_at")),
                )
            )
        checkpoints.sort(key=lambda c: c.step if c.step is not None else -1)
        return checkpoints

    # --- models and chat ------------------------------------------------------------------
    def list_models(self, *, include_all: bool = False) -> list[ProviderModel]:
        body = self.http.request_object("GET", "/fine-tunes/models/supported")
        tunable = [m for m in as_list(body.get("models")) if isinstance(m, str) and m]
        models = [ProviderModel(id=m, fine_tunable=True, owned_by="together") for m in tunable]
        if include_all:
            seen = set(tunable)
            for item in data_list(self.http.request_json("GET", "/models")):
                mid = as_str(item.get("id"))
                if mid and mid not in seen:
                    models.append(
                        ProviderModel(id=mid, fine_tunable=False, owned_by=as_str(item.get("organization")))
                    )
        return models

    def chat(
        self,
        *,
        model: str,
        messages: list[dict[str, Any]],
        max_tokens: int | None = None,
        temperature: float | None = None,
        stream: bool = False,
    ) -> ChatReply | Iterator[ChatStreamItem]:
        # Together's chat endpoint has OpenAI's shape; it is not asked for usage while streaming.
        return chat_completion(
            self.http,
            clock=self.clock,
            model=model,
            messages=messages,
            max_tokens=max_tokens,
            temperature=temperature,
            stream=stream,
            subject=f"the model {model}",
            include_usage=False,
        )

    def test_connection(self) -> str:
        jobs = self._all_jobs()
        return (
            f"Connected to Together AI at {self.base_url}. The key works: "
            f"{len(jobs)} fine-tuning job{'s' if len(jobs) != 1 else ''} on this account."
        )

    def price_per_million_training_tokens(self, model: str) -> Decimal | None:
        return together_training_price(model)

    # --- parsing --------------------------------------------------------------------------
    def parse_job(self, item: dict) -> ProviderJob:
        jid = as_str(item.get("id"))
        if not jid:
            raise MalformedResponse("Together AI sent a fine-tuning job without an id.")
        raw_status = as_str(item.get("status"))
        status = normalise_status(raw_status)
        events = parse_events([e for e in as_list(item.get("events")) if isinstance(e, dict)])
        error_message = ""
        if status == base.FAILED:
            errors = [e for e in events if e.level == "error" or e.type in ("job_error", "job_user_error")]
            error_message = (
                (errors[-1].message if errors else "") or as_str(item.get("error")) or "The job failed."
            )
        method_block = as_dict(item.get("training_method"))
        method = {"dpo": "dpo"}.get(as_str(method_block.get("method")).lower(), "supervised")
        training_type = as_dict(item.get("training_type"))
        hp: dict[str, Any] = {
            key: item[key]
            for key in (
                "n_epochs",
                "batch_size",
                "learning_rate",
                "n_checkpoints",
                "n_evals",
                "warmup_ratio",
                "weight_decay",
                "max_grad_norm",
                "lr_scheduler",
                "packing",
                "max_seq_length",
            )
            if item.get(key) is not None
        }
        if training_type:
            hp["lora"] = as_str(training_type.get("type")).lower() == "lora"
            for key in ("lora_r", "lora_alpha", "lora_dropout", "lora_trainable_modules"):
                if training_type.get(key) is not None:
                    hp[key] = training_type[key]
        progress = as_dict(item.get("progress"))
        seconds = as_float(progress.get("seconds_remaining"))
        estimated = (
            self.now() + timedelta(seconds=seconds)
            if progress.get("estimate_available") and seconds
            else None
        )
        output = as_opt_str(item.get("model_output_name") or item.get("output_name"))
        return ProviderJob(
            id=jid,
            status=status,
            raw_status=raw_status,
            model=as_str(item.get("model")),
            # The name may appear before the model exists; hand it out only once it does.
            fine_tuned_model=output if status == base.SUCCEEDED else None,
            created_at=as_time(item.get("created_at")),
            finished_at=as_time(item.get("updated_at")) if status in base.TERMINAL_STATUSES else None,
            trained_tokens=as_int(item.get("token_count")),
            error_message=error_message,
            hyperparameters=hp,
            result_file_ids=[],
            estimated_finish=estimated,
            raw=item,
            method=method,
            training_file_id=as_str(item.get("training_file")),
            validation_file_id=as_opt_str(item.get("validation_file")),
            suffix=as_opt_str(item.get("suffix")),
            steps_completed=as_int(item.get("steps_completed")),
            total_steps=as_int(item.get("total_steps")),
        )


def build_job_body(
    *,
    model: str,
    training_file_id: str,
    validation_file_id: str | None,
    method: str,
    hyperparameters: dict,
    suffix: str | None,
    seed: int | None,
) -> dict[str, Any]:
    """Our hyperparameters in Together's shape. Keys we don't map are passed through as they are."""
    hp = {k: v for k, v in hyperparameters.items() if v is not None}
    body: dict[str, Any] = {"model": model, "training_file": training_file_id}
    if isinstance(hp.get("n_epochs"), int):
        body["n_epochs"] = hp["n_epochs"]
    batch = hp.get("batch_size")
    if batch is not None:
        body["batch_size"] = "max" if batch in ("auto", "max") else batch
    if isinstance(hp.get("learning_rate"), int | float):
        body["learning_rate"] = hp["learning_rate"]
    elif isinstance(hp.get("learning_rate_multiplier"), int | float):
        body["learning_rate"] = DEFAULT_LEARNING_RATE * hp["learning_rate_multiplier"]
    if hp.get("lr_scheduler_type") in ("linear", "cosine"):
        args: dict[str, float] = {"min_lr_ratio": 0.0}
        if hp["lr_scheduler_type"] == "cosine":
            args["num_cycles"] = 0.5
        body["lr_scheduler"] = {"lr_scheduler_type": hp["lr_scheduler_type"], "lr_scheduler_args": args}
    if hp.get("lora", True):
        rank = int(hp.get("lora_r", 16))
        body["training_type"] = {
            "type": "Lora",
            "lora_r": rank,
            "lora_alpha": int(hp.get("lora_alpha", rank * 2)),
            "lora_dropout": float(hp.get("lora_dropout", 0.0)),
            "lora_trainable_modules": hp.get("lora_trainable_modules", "all-linear"),
        }
    else:
        body["training_type"] = {"type": "Full"}
    if method == "dpo":
        body["training_method"] = {
            "method": "dpo",
            "dpo_beta": float(hp.get("dpo_beta", hp.get("beta", 0.1))),
        }
    else:
        body["training_method"] = {"method": "sft", "train_on_inputs": hp.get("train_on_inputs", "auto")}
    if validation_file_id:
        body["validation_file"] = validation_file_id
        body.setdefault("n_evals", 1)
    if suffix:
        body["suffix"] = suffix[:40]
    if seed is not None:
        body["random_seed"] = seed
    for key, value in hp.items():
        if key not in _CONSUMED:
            body[key] = value
    return body


def parse_events(items: list[dict]) -> list[ProviderEvent]:
    """Together's events, given stable ids made from their content (they carry none)."""
    events = []
    seen: dict[str, int] = {}
    for item in items:
        created = as_str(item.get("created_at"))
        etype = as_str(item.get("type")).lower() or "message"
        message = as_str(item.get("message"))
        step = as_int(item.get("step"))
        digest = hashlib.sha1(f"{created}|{etype}|{message}|{step}".encode()).hexdigest()[:20]
        seen[digest] = seen.get(digest, 0) + 1
        eid = f"tgev-{digest}" + (f"-{seen[digest]}" if seen[digest] > 1 else "")
        level = as_str(item.get("level")).lower().removeprefix("legacy_").replace("iwarning", "warning")
        level = level.replace("ierror", "error")
        data = {
            key: item[key]
            for key in (
                "step",
                "total_steps",
                "token_count",
                "param_count",
                "training_offset",
                "checkpoint_path",
                "model_path",
                "wandb_url",
                "hash",
            )
            if item.get(key) not in (None, "")
        }
        events.append(
            ProviderEvent(
                id=eid,
                created_at=as_time(item.get("created_at")),
                level={"": "info", "warn": "warning"}.get(level, level),
                message=message,
                type=etype,
                data=data,
            )
        )
    return events


def _step_of(entry: dict) -> int | None:
    for key in ("train/global_step", "eval/global_step", "global_step", "step", "train/step", "eval/step"):
        step = as_int(entry.get(key))
        if step is not None:
            return step
    return None


def parse_metrics(entries: list) -> list[MetricPoint]:
    """`{"metrics": [...]}`: train entries (`train/loss` at `train/global_step`) and eval entries
    (`eval/loss`, stepped by their own key or, lacking one, by the training step before them)."""
    points = []
    last_step: int | None = None
    for entry in entries:
        if not isinstance(entry, dict):
            continue
        step = _step_of(entry)
        is_eval = any(k.startswith("eval/") for k in entry) and not any(
            k.startswith("train/loss") for k in entry
        )
        if step is None:
            if not is_eval or last_step is None:
                continue
            step = last_step
        else:
            last_step = step
        points.append(
            MetricPoint(
                step=step,
                train_loss=as_float(entry.get("train/loss")),
                train_accuracy=as_float(entry.get("train/accuracy", entry.get("train/mean_token_accuracy"))),
                valid_loss=as_float(entry.get("eval/loss")),
                valid_accuracy=as_float(entry.get("eval/accuracy", entry.get("eval/mean_token_accuracy"))),
            )
        )
    return merge_points(points)
