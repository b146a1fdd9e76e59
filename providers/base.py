"""The one small interface every provider adapter implements, in fineweb's own terms.

Nothing outside `providers/` sees a provider's HTTP shapes or field names: jobs and compare speak
in these dataclasses (`raw` is kept for debugging, never read outside the adapter). Adapters
parse loosely: unknown fields are ignored, unknown statuses become "unknown" (the raw value is
kept), missing optional fields become None. What only some providers can do is declared here
with a default (`find_job_by_idempotency_key`, `has_job_history`, `metrics_in_events`), so
callers never probe an adapter for a method.
"""

from __future__ import annotations

import abc
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

# Our job statuses. "unknown" means: the provider said something we don't know; keep polling
# and show `raw_status` to the user.
VALIDATING_FILES = "validating_files"
QUEUED = "queued"
RUNNING = "running"
SUCCEEDED = "succeeded"
FAILED = "failed"
CANCELLED = "cancelled"
UNKNOWN = "unknown"
JOB_STATUSES = (VALIDATING_FILES, QUEUED, RUNNING, SUCCEEDED, FAILED, CANCELLED, UNKNOWN)
TERMINAL_STATUSES = frozenset({SUCCEEDED, FAILED, CANCELLED})


@dataclass(frozen=True)
class ProviderFile:
    id: str
    bytes: int | None = None
    filename: str = ""
    status: str = ""  # "uploaded", "processed", "error" or whatever the provider said


@dataclass(frozen=True)
class ProviderJob:
    id: str
    status: str  # one of JOB_STATUSES
    raw_status: str = ""
    model: str = ""
    fine_tuned_model: str | None = None
    created_at: datetime | None = None
    finished_at: datetime | None = None
    trained_tokens: int | None = None
    error_message: str = ""
    hyperparameters: dict[str, Any] = field(default_factory=dict)
    result_file_ids: list[str] = field(default_factory=list)
    estimated_finish: datetime | None = None
    raw: dict[str, Any] = field(default_factory=dict)
    # Extras some providers give (None when they don't).
    method: str = "supervised"
    training_file_id: str = ""
    validation_file_id: str | None = None
    suffix: str | None = None
    steps_completed: int | None = None
    total_steps: int | None = None
    seed: int | None = None
    # The idempotency key fineweb created the job with, where the provider hands it back
    # (OpenAI: in the job's metadata); None for a job fineweb did not create or cannot tell.
    idempotency_key: str | None = None
    # What the provider says it billed for the job, in USD (Together's `total_price`); None when it
    # does not say (OpenAI reports only `trained_tokens`: the price comes from the catalogue).
    billed_usd: Decimal | None = None

    @property
    def is_terminal(self) -> bool:
        return self.status in TERMINAL_STATUSES


@dataclass(frozen=True)
class ProviderEvent:
    id: str  # unique within the job; synthesised (stable) where the provider gives none
    created_at: datetime | None
    level: str  # "info", "warning" or "error"
    message: str
    type: str = "message"  # "message", "metrics", or the provider's lifecycle type in lower case
    data: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class MetricPoint:
    step: int
    train_loss: float | None = None
    train_accuracy: float | None = None
    valid_loss: float | None = None
    valid_accuracy: float | None = None
    total_steps: int | None = None


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


@dataclass(frozen=True)
class ProviderCheckpoint:
    id: str
    step: int | None
    model_name: str  # what to pass as `model` to chat (where the provider serves checkpoints)
    metrics: dict[str, float] = field(default_factory=dict)
    created_at: datetime | None = None


@dataclass(frozen=True)
class ProviderModel:
    id: str
    fine_tunable: bool
    owned_by: str = ""
    shutdown_on: date | None = None  # the day the provider says the model shuts down, if it says


@dataclass(frozen=True)
class ChatReply:
    text: str
    prompt_tokens: int | None = None
    completion_tokens: int | None = None
    latency_s: float = 0.0
    finish_reason: str | None = None
    first_token_s: float | None = None  # streaming only: time until the first text piece


@dataclass(frozen=True)
class ProviderJobHistory:
    """Everything a provider still holds about one job: what "import history" copies into fineweb."""

    job: ProviderJob
    events: list[ProviderEvent]
    checkpoints: list[ProviderCheckpoint]
    metrics: list[MetricPoint]  # every point the provider reports (its events' included), one per step
    training_file: ProviderFile | None = None  # name and size, to match a dataset version in fineweb


# A streamed chat yields text pieces (str) as they arrive, then exactly one final ChatReply
# holding the whole text, token counts and timings.
ChatStreamItem = str | ChatReply


@dataclass(frozen=True)
class PriceQuote:
    """The provider's own estimate of a job's price, for files it already holds."""

    usd: Decimal | None
    allowed: bool = True  # False: the account's limit does not allow the job
    user_limit_usd: Decimal | None = None
    train_tokens: int | None = None


class Provider(abc.ABC):
    """A fine-tuning provider reached over HTTP. Every method may raise a ProviderError subclass."""

    kind: str = ""
    display_name: str = ""
    # Optional capabilities, declared rather than discovered:
    # - metric points arrive in events while a job runs (`metrics_from_events`), and a finished
    #   job's complete set from `metrics()`; False: `metrics()` is the only source, read by step.
    metrics_in_events: bool = False
    # - `job_history()` can read a whole job back (for "import history").
    has_job_history: bool = False

    @abc.abstractmethod
    def upload_file(
        self, *, path: Path | str, purpose: str = "fine-tune", filename: str | None = None
    ) -> ProviderFile: ...

    @abc.abstractmethod
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
    ) -> ProviderJob: ...

    def estimate_price(
        self,
        *,
        model: str,
        training_file_id: str,
        validation_file_id: str | None = None,
        method: str = "supervised",
        hyperparameters: dict[str, Any],
    ) -> PriceQuote | None:
        """The provider's own price for this job on uploaded files; None where it has no such
        endpoint or the key may not use it (the catalogue's price then stands)."""
        return None

    def find_job_by_idempotency_key(self, idempotency_key: str) -> ProviderJob | None:
        """The job created with this key, where the provider can look it up; None otherwise."""
        return None

    @abc.abstractmethod
    def get_job(self, job_id: str) -> ProviderJob: ...

    @abc.abstractmethod
    def list_jobs(self, *, limit: int = 20, after: str | None = None) -> list[ProviderJob]:
        """One page of jobs, newest first; pass the last id as `after` for the next page."""

    def iter_jobs(self, *, page_size: int = 50) -> Iterator[ProviderJob]:
        """Every job on the account, newest first, fetching page after page."""
        after = None
        while True:
            page = self.list_jobs(limit=page_size, after=after)
            yield from page
            if len(page) < page_size:
                return
            after = page[-1].id

    @abc.abstractmethod
    def list_events(self, job_id: str, *, after: str | None = None, limit: int = 100) -> list[ProviderEvent]:
        """All events newer than the event `after` (all events when None), oldest first.

        Pages through the provider's list as needed; `limit` is the page size asked for.
        """

    @abc.abstractmethod
    def metrics(self, job_id: str, *, after_step: int = 0) -> list[MetricPoint]:
        """Metric points with step > after_step, in step order, one per step."""

    def metrics_from_events(self, events: list[ProviderEvent]) -> list[MetricPoint]:
        """Metric points carried by events (OpenAI's `metrics` events); [] where events carry none."""
        return []

    def job_history(self, job: ProviderJob) -> ProviderJobHistory:
        """The job with all its events, checkpoints, metric points and training file (for import).

        Only adapters with `has_job_history` implement it.
        """
        raise NotImplementedError(f"{self.display_name or type(self).__name__} has no job history to read")

    @abc.abstractmethod
    def list_checkpoints(self, job_id: str) -> list[ProviderCheckpoint]: ...

    @abc.abstractmethod
    def cancel_job(self, job_id: str) -> ProviderJob: ...

    @abc.abstractmethod
    def list_models(self, *, include_all: bool = False) -> list[ProviderModel]:
        """Base models that can be fine-tuned (every model the key can use with include_all)."""

    @abc.abstractmethod
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
        """stream=False returns a ChatReply; stream=True returns an iterator of str pieces then a ChatReply.

        `seed` asks for reproducible sampling where the provider supports it (OpenAI's "best
        effort"; the local provider's sampling is exactly reproducible).
        A stream that ends before the provider said it was finished raises ProviderUnavailable."""

    @abc.abstractmethod
    def download_file(self, file_id: str) -> bytes: ...

    @abc.abstractmethod
    def test_connection(self) -> str:
        """Make one cheap authenticated call; return a sentence for the user saying what worked."""

    def price_per_million_training_tokens(self, model: str) -> Decimal | None:
        """USD per million trained tokens where the provider publishes a price; None otherwise."""
        return None
