"""OpenAI and any OpenAI-compatible server (the built-in local provider is one).

Contract: shared/api/openai-finetuning.yaml. Events come newest first with an `after` cursor that
walks back in time, so "everything since event X" pages from the newest until X turns up.
"""

from __future__ import annotations

import base64
import binascii
import csv
import io
import json
import time
from collections.abc import Iterator
from dataclasses import replace
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
    ProviderJobHistory,
    ProviderModel,
)
from providers.errors import MalformedResponse, ProviderError
from providers.http import ProviderHTTP, RetryPolicy
from providers.parsing import as_dict, as_float, as_int, as_list, as_opt_str, as_str, as_time, data_list
from providers.prices import openai_is_fine_tunable, openai_training_price

OPENAI_BASE_URL = "https://api.openai.com/v1"
MAX_EVENT_PAGES = 1000

_STATUSES = {
    "validating_files": base.VALIDATING_FILES,
    "queued": base.QUEUED,
    "running": base.RUNNING,
    "succeeded": base.SUCCEEDED,
    "failed": base.FAILED,
    "cancelled": base.CANCELLED,
}


def normalise_status(raw: str) -> str:
    return _STATUSES.get(raw.strip().lower(), base.UNKNOWN)


class OpenAIProvider(Provider):
    """OpenAI's fine-tuning API, or the same shapes at another base URL (kind "openai_compatible")."""

    def __init__(
        self,
        *,
        client: httpx.Client,
        api_key: str,
        base_url: str = "",
        kind: str = "openai",
        display_name: str = "",
        retry: RetryPolicy | None = None,
        clock=time.monotonic,
    ):
        self.kind = kind
        self.base_url = (base_url or OPENAI_BASE_URL).rstrip("/")
        self.is_openai = self.base_url == OPENAI_BASE_URL
        self.display_name = display_name or ("OpenAI" if self.is_openai else "the OpenAI-compatible server")
        self.http = ProviderHTTP(
            client=client,
            base_url=self.base_url,
            api_key=api_key,
            provider_name=self.display_name,
            retry=retry,
        )
        self.clock = clock

    # --- files ----------------------------------------------------------------------------
    def upload_file(
        self, *, path: Path | str, purpose: str = "fine-tune", filename: str | None = None
    ) -> ProviderFile:
        path = Path(path)
        body = self.http.upload_object(
            "/files",
            file_path=path,
            filename=filename or path.name,
            content_type="application/jsonl",
            data={"purpose": purpose},
            subject="the file",
        )
        return parse_file(body)

    def download_file(self, file_id: str) -> bytes:
        return self.http.request("GET", f"/files/{file_id}/content", subject=f"the file {file_id}").content

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
        hp = {k: v for k, v in (hyperparameters or {}).items() if v is not None}
        body: dict[str, Any] = {
            "model": model,
            "training_file": training_file_id,
            "method": {"type": method, method: {"hyperparameters": hp}},
            # Lets a crashed submit find the job it may have created (see find_job_by_idempotency_key).
            "metadata": {"fineweb_idempotency_key": idempotency_key[:512]},
        }
        if validation_file_id:
            body["validation_file"] = validation_file_id
        if suffix:
            body["suffix"] = suffix[:64]
        if seed is not None:
            body["seed"] = seed
        data = self.http.request_object(
            "POST",
            "/fine_tuning/jobs",
            subject="the job",
            json=body,
            headers={"Idempotency-Key": idempotency_key},
        )
        return parse_job(data)

    def find_job_by_idempotency_key(self, idempotency_key: str) -> ProviderJob | None:
        """The job created with this key, if the server filters on metadata (OpenAI does)."""
        body = self.http.request_json(
            "GET",
            "/fine_tuning/jobs",
            params={"metadata[fineweb_idempotency_key]": idempotency_key[:512], "limit": 10},
        )
        for item in data_list(body):
            if as_dict(item.get("metadata")).get("fineweb_idempotency_key") == idempotency_key[:512]:
                return parse_job(item)
        return None

    def get_job(self, job_id: str) -> ProviderJob:
        return parse_job(
            self.http.request_object("GET", f"/fine_tuning/jobs/{job_id}", subject=f"the job {job_id}")
        )

    def list_jobs(self, *, limit: int = 20, after: str | None = None) -> list[ProviderJob]:
        params: dict[str, Any] = {"limit": limit}
        if after:
            params["after"] = after
        body = self.http.request_json("GET", "/fine_tuning/jobs", params=params)
        return [parse_job(item) for item in data_list(body) if item.get("id")]

    def iter_jobs(self, *, page_size: int = 50) -> Iterator[ProviderJob]:
        after = None
        for _ in range(MAX_EVENT_PAGES):
            params: dict[str, Any] = {"limit": page_size}
            if after:
                params["after"] = after
            body = self.http.request_json("GET", "/fine_tuning/jobs", params=params)
            page = [parse_job(item) for item in data_list(body) if item.get("id")]
            yield from page
            if not page or not as_dict(body).get("has_more"):
                return
            after = page[-1].id

    def cancel_job(self, job_id: str) -> ProviderJob:
        return parse_job(
            self.http.request_object(
                "POST", f"/fine_tuning/jobs/{job_id}/cancel", subject=f"the job {job_id}"
            )
        )

    def list_events(self, job_id: str, *, after: str | None = None, limit: int = 100) -> list[ProviderEvent]:
        collected: list[ProviderEvent] = []
        cursor: str | None = None
        for _ in range(MAX_EVENT_PAGES):
            params: dict[str, Any] = {"limit": limit}
            if cursor:
                params["after"] = cursor
            body = self.http.request_json(
                "GET", f"/fine_tuning/jobs/{job_id}/events", params=params, subject=f"the job {job_id}"
            )
            items = data_list(body)
            reached = False
            for item in items:
                event = parse_event(item)
                if event is None:
                    continue
                if after is not None and event.id == after:
                    reached = True
                    break
                collected.append(event)
            if reached or not items or not as_dict(body).get("has_more"):
                break
            cursor = as_str(items[-1].get("id")) or None
            if cursor is None:
                break
        collected.reverse()  # newest first on the wire; we hand them out oldest first
        # A server that lists oldest first would come out reversed: put them back in time order.
        if any(
            a.created_at and b.created_at and a.created_at > b.created_at
            for a, b in zip(collected, collected[1:], strict=False)
        ):
            collected.sort(key=lambda e: e.created_at.timestamp() if e.created_at else 0)
        return collected

    def metrics_from_events(self, events: list[ProviderEvent]) -> list[MetricPoint]:
        points = []
        for event in events:
            if event.type != "metrics":
                continue
            point = metric_point_from_data(event.data)
            if point is not None:
                points.append(point)
        return merge_points(points)

    def metrics(self, job_id: str, *, after_step: int = 0) -> list[MetricPoint]:
        job = self.get_job(job_id)
        points = self.metrics_for(job, events=None)
        return [p for p in points if p.step > after_step]

    def metrics_for(self, job: ProviderJob, *, events: list[ProviderEvent] | None) -> list[MetricPoint]:
        """The result-file CSV when the job has one (complete), else the `metrics` events."""
        for file_id in job.result_file_ids[:1]:
            try:
                points = parse_result_csv(self.download_file(file_id))
            except ProviderError:
                points = []
            if points:
                return points
        return self.metrics_from_events(events if events is not None else self.list_events(job.id))

    def get_file(self, file_id: str) -> ProviderFile:
        return parse_file(self.http.request_object("GET", f"/files/{file_id}", subject=f"the file {file_id}"))

    def job_history(self, job: ProviderJob) -> ProviderJobHistory:
        """The job with all its events, checkpoints, metric points and training file (for import)."""
        events = self.list_events(job.id)
        try:
            training_file = self.get_file(job.training_file_id) if job.training_file_id else None
        except ProviderError:  # deleted since: the history is still worth keeping
            training_file = None
        return ProviderJobHistory(
            job=job,
            events=events,
            checkpoints=self.list_checkpoints(job.id),
            metrics=self.metrics_for(job, events=events),
            training_file=training_file,
        )

    def list_checkpoints(self, job_id: str) -> list[ProviderCheckpoint]:
        checkpoints: list[ProviderCheckpoint] = []
        cursor = None
        for _ in range(MAX_EVENT_PAGES):
            params: dict[str, Any] = {"limit": 100}
            if cursor:
                params["after"] = cursor
            body = self.http.request_json(
                "GET", f"/fine_tuning/jobs/{job_id}/checkpoints", params=params, subject=f"the job {job_id}"
            )
            items = data_list(body)
            for item in items:
                cid = as_str(item.get("id"))
                if not cid:
                    continue
                metrics = {
                    k: f for k, v in as_dict(item.get("metrics")).items() if (f := as_float(v)) is not None
                }
                checkpoints.append(
                    ProviderCheckpoint(
                        id=cid,
                        step=as_int(item.get("step_number")) or as_int(metrics.get("step")),
                        model_name=as_str(item.get("fine_tuned_model_checkpoint")),
                        metrics=metrics,
                        created_at=as_time(item.get("created_at")),
                    )
                )
            if not items or not as_dict(body).get("has_more"):
                break
            cursor = as_str(items[-1].get("id")) or None
            if cursor is None:
                break
        checkpoints.sort(key=lambda c: c.step if c.step is not None else -1)
        return checkpoints

    # --- models and chat ------------------------------------------------------------------
    def list_models(self, *, include_all: bool = False) -> list[ProviderModel]:
        body = self.http.request_json("GET", "/models")
        models = []
        for item in data_list(body):
            mid = as_str(item.get("id"))
            if not mid:
                continue
            model = ProviderModel(
                id=mid, fine_tunable=self._fine_tunable(item), owned_by=as_str(item.get("owned_by"))
            )
            if include_all or model.fine_tunable:
                models.append(model)
        return models

    def _fine_tunable(self, item: dict) -> bool:
        flag = item.get("fine_tunable", item.get("fine_tuneable"))
        if isinstance(flag, bool):
            return flag
        mid = as_str(item.get("id"))
        if mid.startswith("ft:"):
            return False
        if self.is_openai:
            return openai_is_fine_tunable(mid)
        return True  # a compatible server that doesn't say: let the user try

    def chat(
        self,
        *,
        model: str,
        messages: list[dict[str, Any]],
        max_tokens: int | None = None,
        temperature: float | None = None,
        stream: bool = False,
    ) -> ChatReply | Iterator[ChatStreamItem]:
        return chat_completion(
            self.http,
            clock=self.clock,
            model=model,
            messages=messages,
            max_tokens=max_tokens,
            temperature=temperature,
            stream=stream,
            subject="the chat request",
            include_usage=True,
        )

    def test_connection(self) -> str:
        models = self.list_models(include_all=True)
        tunable = sum(1 for m in models if m.fine_tunable)
        return (
            f"Connected to {self.display_name} at {self.base_url}. The key works: "
            f"{len(models)} models are visible, {tunable} of them can be fine-tuned."
        )

    def price_per_million_training_tokens(self, model: str) -> Decimal | None:
        if self.kind == "local":
            return Decimal("0")
        return openai_training_price(model) if self.is_openai else None


def chat_completion(
    http: ProviderHTTP,
    *,
    clock,
    model: str,
    messages: list[dict[str, Any]],
    max_tokens: int | None,
    temperature: float | None,
    stream: bool,
    subject: str,
    include_usage: bool,
) -> ChatReply | Iterator[ChatStreamItem]:
    """POST /chat/completions, the OpenAI shape that OpenAI-compatible servers and Together share."""
    body: dict[str, Any] = {"model": model, "messages": messages}
    if max_tokens is not None:
        body["max_tokens"] = max_tokens
    if temperature is not None:
        body["temperature"] = temperature
    if stream:
        body["stream"] = True
        if include_usage:
            body["stream_options"] = {"include_usage": True}
        return _chat_stream(http, body, clock=clock, subject=subject)
    started = clock()
    data = http.request_object("POST", "/chat/completions", subject=subject, json=body)
    return parse_chat_reply(data, latency_s=clock() - started)


def _chat_stream(http: ProviderHTTP, body: dict, *, clock, subject: str) -> Iterator[ChatStreamItem]:
    started = clock()
    response = http.request(
        "POST",
        "/chat/completions",
        subject=subject,
        json=body,
        stream=True,
        headers={"Accept": "text/event-stream"},
    )
    yield from stream_chat(http, response, started=started, clock=clock)


# --- parsing (module level so the import and the tests can use them) --------------------------
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


def metric_point_from_data(data: dict) -> MetricPoint | None:
    step = as_int(data.get("step"))
    if step is None:
        return None
    valid_loss = as_float(data.get("valid_loss"))
    if valid_loss is None:
        valid_loss = as_float(data.get("full_valid_loss"))
    valid_acc = as_float(data.get("valid_mean_token_accuracy"))
    if valid_acc is None:
        valid_acc = as_float(data.get("valid_accuracy"))
    if valid_acc is None:
        valid_acc = as_float(data.get("full_valid_mean_token_accuracy"))
    train_acc = as_float(data.get("train_mean_token_accuracy"))
    if train_acc is None:
        train_acc = as_float(data.get("train_accuracy"))
    return MetricPoint(
        step=step,
        train_loss=as_float(data.get("train_loss")),
        train_accuracy=train_acc,
        valid_loss=valid_loss,
        valid_accuracy=valid_acc,
        total_steps=as_int(data.get("total_steps")),
    )


def merge_points(points: list[MetricPoint]) -> list[MetricPoint]:
    """One point per step (later values fill gaps, never erase), sorted by step."""
    by_step: dict[int, MetricPoint] = {}
    for point in points:
        old = by_step.get(point.step)
        if old is None:
            by_step[point.step] = point
            continue
        by_step[point.step] = MetricPoint(
            step=point.step,
            **{
                name: getattr(point, name) if getattr(point, name) is not None else getattr(old, name)
                for name in ("train_loss", "train_accuracy", "valid_loss", "valid_accuracy", "total_steps")
            },
        )
    return [by_step[s] for s in sorted(by_step)]


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


def parse_chat_reply(data: dict, *, latency_s: float) -> ChatReply:
    choices = [c for c in as_list(data.get("choices")) if isinstance(c, dict)]
    if not choices:
        raise MalformedResponse("The provider's chat answer had no choices.")
    choice = choices[0]
    message = as_dict(choice.get("message"))
    content = message.get("content")
    if isinstance(content, list):  # content parts
        content = "".join(as_str(as_dict(part).get("text")) for part in content)
    usage = as_dict(data.get("usage"))
    return ChatReply(
        text=as_str(content),
        prompt_tokens=as_int(usage.get("prompt_tokens")),
        completion_tokens=as_int(usage.get("completion_tokens")),
        latency_s=latency_s,
        finish_reason=as_opt_str(choice.get("finish_reason")),
    )


def stream_chat(
    http: ProviderHTTP, response: httpx.Response, *, started: float, clock
) -> Iterator[ChatStreamItem]:
    """Server-sent `data: {chunk}` lines until `data: [DONE]`: yield text pieces, then the ChatReply."""
    pieces: list[str] = []
    first_token_s = None
    finish_reason = None
    usage: dict = {}
    for line in http.stream_lines(response):
        if not line.startswith("data:"):
            continue
        payload = line[5:].strip()
        if payload.upper() == "[DONE]":
            break
        try:
            chunk = json.loads(payload)
        except json.JSONDecodeError as exc:
            raise MalformedResponse(
                "The provider's streamed answer contained a line that is not JSON."
            ) from exc
        if not isinstance(chunk, dict):
            continue
        if "error" in chunk:
            err = chunk["error"]
            message = as_str(as_dict(err).get("message")) or as_str(err)
            raise ProviderError(
                f"{http.provider_name} stopped the answer with an error: {http.scrub(message)}"
            )
        usage = as_dict(chunk.get("usage")) or usage
        for choice in as_list(chunk.get("choices"))[:1]:
            choice = as_dict(choice)
            text = as_str(as_dict(choice.get("delta")).get("content"))
            if text:
                if first_token_s is None:
                    first_token_s = clock() - started
                pieces.append(text)
                yield text
            finish_reason = as_opt_str(choice.get("finish_reason")) or finish_reason
    yield ChatReply(
        text="".join(pieces),
        prompt_tokens=as_int(usage.get("prompt_tokens")),
        completion_tokens=as_int(usage.get("completion_tokens")),
        latency_s=clock() - started,
        finish_reason=finish_reason,
        first_token_s=first_token_s,
    )
