"""OpenAI and any OpenAI-compatible server (the built-in local provider is one).

Contract: shared/api/openai-finetuning.yaml. Events come newest first with an `after` cursor that
walks back in time, so "everything since event X" pages from the newest until X turns up.
The JSON is read by providers/openai_parsing.py; chat goes through providers/openai_chat.py.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from datetime import date
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx

from fineweb.lib import catalogue
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
    merge_points,
)
from providers.errors import ProviderError
from providers.http import ProviderHTTP, RetryPolicy
from providers.openai_chat import chat_completion
from providers.openai_parsing import (
    IDEMPOTENCY_KEY_MAX,
    IDEMPOTENCY_METADATA_KEY,
    checkpoint_metrics,
    metrics_from_events,
    parse_event,
    parse_file,
    parse_job,
    parse_result_csv,
)
from providers.parsing import as_dict, as_int, as_str, as_time, data_list
from providers.prices import openai_is_fine_tunable, openai_training_price


def _shutdown_date(item: dict) -> date | None:
    """The model object's `shutdown_date` ("YYYY-MM-DD" or null; a few servers send a Unix time)."""
    value = item.get("shutdown_date", item.get("deprecation_date"))
    if isinstance(value, str):
        try:
            return date.fromisoformat(value[:10])
        except ValueError:
            return None
    moment = as_time(value) if isinstance(value, int | float) and not isinstance(value, bool) else None
    return moment.date() if moment else None


OPENAI_BASE_URL = "https://api.openai.com/v1"
MAX_EVENT_PAGES = 1000


class OpenAIProvider(Provider):
    """OpenAI's fine-tuning API, or the same shapes at another base URL (kind "openai_compatible")."""

    metrics_in_events = True
    has_job_history = True

    def __init__(
        self,
        *,
        client: httpx.Client,
        api_key: str,
        base_url: str = "",
        kind: str = "openai",
        display_name: str = "",
        retry: RetryPolicy | None = None,
        clock: Callable[[], float] = time.monotonic,
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
            "metadata": {IDEMPOTENCY_METADATA_KEY: idempotency_key[:IDEMPOTENCY_KEY_MAX]},
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
        key = idempotency_key[:IDEMPOTENCY_KEY_MAX]
        body = self.http.request_json(
            "GET",
            "/fine_tuning/jobs",
            params={f"metadata[{IDEMPOTENCY_METADATA_KEY}]": key, "limit": 10},
        )
        for item in data_list(body):
            job = parse_job(item)
            if job.idempotency_key == key:
                return job
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
        return metrics_from_events(events)

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
        # The events' points first, the result file's (complete, with validation numbers) over them.
        metrics = merge_points(self.metrics_from_events(events) + self.metrics_for(job, events=events))
        return ProviderJobHistory(
            job=job,
            events=events,
            checkpoints=self.list_checkpoints(job.id),
            metrics=metrics,
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
                raw_metrics = as_dict(item.get("metrics"))
                metrics = checkpoint_metrics(raw_metrics)
                checkpoints.append(
                    ProviderCheckpoint(
                        id=cid,
                        step=as_int(item.get("step_number")) or as_int(raw_metrics.get("step")),
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
            shutdown = _shutdown_date(item)
            if self.is_openai:
                # The provider's own date wins over the catalogue's table from now on.
                catalogue.shutdown_reported(
                    catalogue.OPENAI, mid, shutdown, source="OpenAI's model list (GET /v1/models)"
                )
            model = ProviderModel(
                id=mid,
                fine_tunable=self._fine_tunable(item),
                owned_by=as_str(item.get("owned_by")),
                shutdown_on=shutdown,
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
        seed: int | None = None,
    ) -> ChatReply | Iterator[ChatStreamItem]:
        return chat_completion(
            self.http,
            clock=self.clock,
            model=model,
            messages=messages,
            max_tokens=max_tokens,
            temperature=temperature,
            stream=stream,
            seed=seed,
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
