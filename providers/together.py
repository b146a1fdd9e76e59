"""Together AI: a different shape from OpenAI (shared/api/together-finetuning.md).

Its JSON is read by providers/together_parsing.py. Loss values come from
`/fine-tunes/{id}/metrics`, never from event text; chat has OpenAI's shape (providers/openai_chat.py).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx

from providers.base import (
    ChatReply,
    ChatStreamItem,
    MetricPoint,
    PriceQuote,
    Provider,
    ProviderCheckpoint,
    ProviderEvent,
    ProviderFile,
    ProviderJob,
    ProviderModel,
)
from providers.errors import MalformedResponse, ProviderError
from providers.http import ProviderHTTP, RetryPolicy
from providers.openai_chat import chat_completion
from providers.parsing import as_dict, as_int, as_list, as_str, as_time, data_list
from providers.prices import together_training_price
from providers.together_parsing import (
    build_job_body,
    parse_events,
    parse_job,
    parse_metrics,
    parse_price_quote,
)

TOGETHER_BASE_URL = "https://api.together.ai/v1"


class TogetherProvider(Provider):
    kind = "together"

    def __init__(
        self,
        *,
        client: httpx.Client,
        api_key: str,
        base_url: str = "",
        retry: RetryPolicy | None = None,
        clock: Callable[[], float] = time.monotonic,
        now: Callable[[], datetime] = lambda: datetime.now(UTC),
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
        seed: int | None = None,
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
            seed=seed,
            subject=f"the model {model}",
            include_usage=False,
        )

    def test_connection(self) -> str:
        jobs = self._all_jobs()
        return (
            f"Connected to Together AI at {self.base_url}. The key works: "
            f"{len(jobs)} fine-tuning job{'s' if len(jobs) != 1 else ''} on this account."
        )

    def estimate_price(
        self,
        *,
        model: str,
        training_file_id: str,
        validation_file_id: str | None = None,
        method: str = "supervised",
        hyperparameters: dict[str, Any],
    ) -> PriceQuote | None:
        """POST /fine-tunes/estimate-price (shared/api/together-finetuning.md 4.10): USD, whether the
        account's limit allows the job. A refusal of the endpoint itself (an old key, a plan without
        it) gives None: the table's estimate stands."""
        job = build_job_body(
            model=model,
            training_file_id=training_file_id,
            validation_file_id=validation_file_id,
            method=method,
            hyperparameters=hyperparameters or {},
            suffix=None,
            seed=None,
        )
        body: dict[str, Any] = {
            k: job[k] for k in ("model", "training_file", "training_type", "training_method") if k in job
        }
        body["n_epochs"] = job.get("n_epochs", 1)
        if validation_file_id:
            body["validation_file"] = validation_file_id
            body["n_evals"] = job.get("n_evals", 1)
        try:
            data = self.http.request_object(
                "POST", "/fine-tunes/estimate-price", subject="the price estimate", json=body
            )
        except ProviderError as exc:
            if exc.retryable:
                raise
            return None
        if data.get("estimation_available") is False:
            return None
        return parse_price_quote(data)

    def price_per_million_training_tokens(self, model: str) -> Decimal | None:
        return together_training_price(model)

    def parse_job(self, item: dict) -> ProviderJob:
        return parse_job(item, now=self.now)
