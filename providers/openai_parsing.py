"""OpenAI's fine-tuning JSON (and the result-file CSV) read into providers/base.py's dataclasses.

Parse loosely (shared/api/openai-finetuning.yaml is not the whole truth): unknown fields are
ignored, unknown statuses become "unknown" with the raw value kept, a missing optional field is
None. The built-in local provider and other OpenAI-compatible servers send the same shapes.
"""

from __future__ import annotations

import base64
import binascii
import csv
import io
from dataclasses import replace

from providers import base
from providers.base import MetricPoint, ProviderEvent, ProviderFile, ProviderJob, merge_points
from providers.errors import MalformedResponse
from providers.parsing import as_dict, as_float, as_int, as_list, as_opt_str, as_str, as_time

# OpenAI's job statuses in ours (providers/base.py); anything else is base.UNKNOWN.
STATUSES = {
    "validating_files": base.VALIDATING_FILES,
    "queued": base.QUEUED,
    "running": base.RUNNING,
    "succeeded": base.SUCCEEDED,
    "failed": base.FAILED,
    "cancelled": base.CANCELLED,
}

# The metadata key create_job stores our idempotency key under (OpenAI filters jobs on it).
IDEMPOTENCY_METADATA_KEY = "fineweb_idempotency_key"
IDEMPOTENCY_KEY_MAX = 512  # OpenAI's limit on a metadata value

# The names under which OpenAI-shaped servers report each of our metric values, first match
# wins: OpenAI's `metrics` events and result CSV, its checkpoints (`full_valid_*`), and names
# other compatible servers use.
_STEP_KEYS = ("step", "train/global_step", "eval/global_step", "global_step", "step_number")
_VALUE_KEYS = {
    "train_loss": ("train_loss", "train/loss", "loss"),
    "train_accuracy": (
        "train_mean_token_accuracy",
        "train_accuracy",
        "train/accuracy",
        "train/token_accuracy",
    ),
    "valid_loss": ("valid_loss", "full_valid_loss", "eval/loss", "validation_loss", "val_loss"),
    "valid_accuracy": (
        "valid_mean_token_accuracy",
        "valid_accuracy",
        "full_valid_mean_token_accuracy",
        "eval/accuracy",
        "eval/token_accuracy",
    ),
}


def normalise_status(raw: str) -> str:
    return STATUSES.get(raw.strip().lower(), base.UNKNOWN)


def parse_file(item: dict) -> ProviderFile:
    fid = as_str(item.get("id"))
    if not fid:
        raise MalformedResponse("The provider answered the upload without a file id.")
    return ProviderFile(
        id=fid,
        bytes=as_int(item.get("bytes")),
        filename=as_str(item.get("filename")),
        status=as_str(item.get("status")),
    )


def parse_job(item: dict) -> ProviderJob:
    jid = as_str(item.get("id"))
    if not jid:
        raise MalformedResponse("The provider sent a fine-tuning job without an id.")
    raw_status = as_str(item.get("status"))
    method = as_dict(item.get("method"))
    method_type = as_str(method.get("type")) or "supervised"
    hp = as_dict(as_dict(method.get(method_type)).get("hyperparameters")) or as_dict(
        item.get("hyperparameters")
    )
    error = item.get("error")
    error_message = as_str(error.get("message")) if isinstance(error, dict) else as_str(error)
    seed = item.get("seed")
    return ProviderJob(
        id=jid,
        status=normalise_status(raw_status),
        raw_status=raw_status,
        model=as_str(item.get("model")),
        fine_tuned_model=as_opt_str(item.get("fine_tuned_model")),
        created_at=as_time(item.get("created_at")),
        finished_at=as_time(item.get("finished_at")),
        trained_tokens=as_int(item.get("trained_tokens")),
        error_message=error_message,
        hyperparameters=dict(hp),
        result_file_ids=[f for f in as_list(item.get("result_files")) if isinstance(f, str) and f],
        estimated_finish=as_time(item.get("estimated_finish")) if item.get("estimated_finish") else None,
        raw=item,
        method=method_type,
        training_file_id=as_str(item.get("training_file")),
        validation_file_id=as_opt_str(item.get("validation_file")),
        suffix=as_opt_str(item.get("user_provided_suffix") or item.get("suffix")),
        seed=seed if isinstance(seed, int) and not isinstance(seed, bool) else None,
        idempotency_key=as_opt_str(as_dict(item.get("metadata")).get(IDEMPOTENCY_METADATA_KEY)),
    )


def parse_event(item: dict) -> ProviderEvent | None:
    eid = as_str(item.get("id"))
    if not eid:
        return None
    level = as_str(item.get("level"), "info").lower()
    return ProviderEvent(
        id=eid,
        created_at=as_time(item.get("created_at")),
        level={"warn": "warning", "": "info"}.get(level, level),
        message=as_str(item.get("message")),
        type=as_str(item.get("type"), "message").lower() or "message",
        data=as_dict(item.get("data")),
    )


def _first(data: dict, keys: tuple[str, ...], read):
    for key in keys:
        value = read(data.get(key))
        if value is not None:
            return value
    return None


def metric_point_from_data(data: dict) -> MetricPoint | None:
    """A metric point from a `metrics` event's data or a result-CSV row; None without a step."""
    step = _first(data, _STEP_KEYS, as_int)
    if step is None:
        return None
    values = {name: _first(data, keys, as_float) for name, keys in _VALUE_KEYS.items()}
    return MetricPoint(step=step, total_steps=as_int(data.get("total_steps")), **values)


def checkpoint_metrics(raw) -> dict[str, float]:
    """A checkpoint's metrics in our names (`train_loss`, `valid_loss`, ...; OpenAI reports
    `full_valid_loss` and the like), only those the provider gave."""
    data = as_dict(raw)
    values = {name: _first(data, keys, as_float) for name, keys in _VALUE_KEYS.items()}
    return {name: value for name, value in values.items() if value is not None}


def carries_metrics(event: ProviderEvent) -> bool:
    """OpenAI's `metrics` events, and events of compatible servers whose data has a training loss."""
    return event.type == "metrics" or "train_loss" in event.data


def metrics_from_events(events: list[ProviderEvent]) -> list[MetricPoint]:
    points = []
    for event in events:
        if not carries_metrics(event):
            continue
        point = metric_point_from_data(event.data)
        if point is not None:
            points.append(point)
    return merge_points(points)


def decode_result_csv(content: bytes) -> str:
    """The result file as CSV text, whether sent plain or base64-encoded."""
    text = content.decode("utf-8-sig", errors="replace").strip()
    if text.lower().startswith("step"):
        return text
    try:
        decoded = base64.b64decode("".join(text.split()), validate=True).decode("utf-8-sig").strip()
    except (binascii.Error, UnicodeDecodeError, ValueError) as exc:
        raise MalformedResponse("The job's result file is neither CSV nor base64-encoded CSV.") from exc
    if not decoded.lower().startswith("step"):
        raise MalformedResponse("The job's result file does not start with a `step` column.")
    return decoded


def parse_result_csv(content: bytes) -> list[MetricPoint]:
    """Points from the result file: `step,train_loss,train_accuracy,valid_loss,valid_mean_token_accuracy`."""
    text = decode_result_csv(content)
    points = []
    rows = list(csv.DictReader(io.StringIO(text)))
    for row in rows:
        clean = {(k or "").strip(): (v.strip() if isinstance(v, str) else v) for k, v in row.items()}
        point = metric_point_from_data(clean)
        if point is not None:
            points.append(point)
    points = merge_points(points)
    if points:
        last = points[-1].step  # the file is written when the job ends: its last step is the total
        points = [p if p.total_steps else replace(p, total_steps=last) for p in points]
    return points
