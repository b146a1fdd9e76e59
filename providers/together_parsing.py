"""Together AI's fine-tuning JSON read into providers/base.py's dataclasses, and our job in its shape.

Where its spec and SDKs disagree we read both (shared/api/together-finetuning.md): event types
and levels in any case, capitalised file keys, ISO job times and unix file times, statuses beyond
the spec's enum (`user_error`). Events have no ids, so a stable one is made from their content.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from providers import base
from providers.base import MetricPoint, ProviderEvent, ProviderJob, merge_points
from providers.errors import MalformedResponse
from providers.parsing import as_dict, as_float, as_int, as_list, as_opt_str, as_str, as_time

DEFAULT_LEARNING_RATE = 1e-5  # Together's default; an OpenAI-style multiplier scales it

# Together's job statuses in ours (providers/base.py); anything else is base.UNKNOWN.
STATUSES = {
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

# Keys of our hyperparameters dict that build_job_body turns into Together's own fields.
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
    return STATUSES.get(raw.strip().lower(), base.UNKNOWN)


def _price_usd(value) -> Decimal | None:
    """`total_price` in USD: the SDK (sdk1) divides it by 1e9, so it is in nanodollars
    (shared/api/together-finetuning.md, "Units"). 0 or missing: not billed yet, None."""
    if isinstance(value, bool) or not isinstance(value, int | float) or value <= 0:
        return None
    return (Decimal(str(value)) / Decimal(1_000_000_000)).quantize(Decimal("0.0001"))


def parse_job(item: dict, *, now: Callable[[], datetime]) -> ProviderJob:
    """A Together job; `now` dates the finish estimate, which Together gives in seconds from now."""
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
    estimated = now() + timedelta(seconds=seconds) if progress.get("estimate_available") and seconds else None
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
        billed_usd=_price_usd(item.get("total_price")),
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


def parse_price_quote(data: dict) -> base.PriceQuote:
    """`{"estimated_total_price": USD, "allowed_to_proceed": bool, "user_limit": USD,
    "estimated_train_token_count": n, ...}` (§4.10; every field treated as optional)."""

    def usd(value) -> Decimal | None:
        if isinstance(value, bool) or not isinstance(value, int | float) or value < 0:
            return None
        return Decimal(str(value)).quantize(Decimal("0.0001"))

    allowed = data.get("allowed_to_proceed")
    return base.PriceQuote(
        usd=usd(data.get("estimated_total_price")),
        allowed=allowed is not False,
        user_limit_usd=usd(data.get("user_limit")),
        train_tokens=as_int(data.get("estimated_train_token_count")),
    )
