"""Jobs: launch, submit to the provider, sync what it reports, cancel.

Submitting is safe against double clicks, task retries and workers killed mid-call:
- the idempotency key is stored with the row, before any provider call, and sent with the create;
- a submit claims the row with a conditional update, so two tasks never submit it together;
- uploaded file ids are stored as soon as each upload returns, so a retry doesn't upload again;
- a retry after a crash first asks the provider for a job carrying our key before creating one.
"""

from __future__ import annotations

import hashlib
import logging
from dataclasses import dataclass, field
from datetime import timedelta
from decimal import Decimal

from django.conf import settings
from django.core.cache import cache
from django.db import IntegrityError, transaction
from django.db.models import F, Q, Sum
from django.utils import timezone

from datasets_app.services import DatasetError, version_training_blobs
from fineweb.lib import catalogue
from jobs.models import Job
from jobs.reports import job_reports_store
from jobs.statuses import job_status_from_provider, job_status_log
from providers.base import Provider, ProviderJob
from providers.errors import ProviderError
from providers.services import connection_get_provider

logger = logging.getLogger(__name__)

# A submit that held its claim this long without finishing was cut off (worker killed): retry it.
SUBMIT_LEASE = timedelta(seconds=settings.FINEWEB_JOB_SUBMIT_LEASE_SECONDS)
# A sync claims its job for this long; the sync itself sets the next time when it ends.
SYNC_LEASE = timedelta(seconds=60)


class LaunchError(Exception):
    """A launch the form must refuse, with a sentence for the user."""


def _provider(job: Job, client=None) -> Provider:
    return connection_get_provider(connection=job.connection, client=client)


def _provider_job_find(provider: Provider, job: Job) -> ProviderJob | None:
    """The provider job an earlier, cut-off attempt created for `job`, or None.

    The create call carries our idempotency key (OpenAI replays the first answer for a key), and
    the training file we uploaded for this job is used by no other job: a recent provider job
    with that file, or with our key in its metadata, is ours.
    """
    found = provider.find_job_by_idempotency_key(job.idempotency_key)
    if found is not None:
        return found
    for index, remote in enumerate(provider.iter_jobs(page_size=50)):
        if (
            remote.training_file_id == job.provider_training_file_id
            or remote.idempotency_key == job.idempotency_key
        ):
            return remote
        if index >= 200:
            break
    return None


# --- launch ---------------------------------------------------------------------------------


def connection_fine_tunable_models(*, connection, client=None) -> tuple[list[str], str]:
    """(model ids the connection can fine-tune, "" ) or ([], a sentence saying why there are none).

    Cached per connection, for a minute (a failure for 30 s): the launch form asks on every change
    of a field, and a provider that does not answer must cost the page its few seconds once, not
    on every change. Pages call it, so the call has the page budget (providers/http.py).
    """
    # A new key or URL is a new list: the key's part changes with them.
    raw = f"{connection.base_url}|{connection.api_key_encrypted}"
    version = hashlib.sha256(raw.encode()).hexdigest()[:16]
    key = f"jobs:models:{connection.id}:{version}"
    cached = cache.get(key)
    if cached is not None:
        return cached
    try:
        provider = connection_get_provider(connection=connection, client=client)
        # Never offer a model the provider no longer fine-tunes (the catalogue's dated table, or
        # the shutdown date the provider's own list reports).
        models = sorted(
            m.id
            for m in provider.list_models()
            if m.fine_tunable
            and catalogue.can_fine_tune(connection.kind, m.id)
            and (m.shutdown_on is None or m.shutdown_on > catalogue.today())
        )
    except ProviderError as exc:
        result: tuple[list[str], str] = ([], f"fineweb could not reach {connection.name}: {exc.user_message}")
        cache.set(key, result, 30)
        return result
    if not models:
        return [], f"{connection.name} offers no model that can be fine-tuned with this key."
    cache.set(key, (models, ""), 60)
    return models, ""


@dataclass(frozen=True)
class MonthSpend:
    """This month's spend of a team: what providers billed for finished jobs, and estimates for
    the jobs still running (and finished ones whose bill fineweb does not know)."""

    billed: Decimal
    estimated: Decimal

    @property
    def total(self) -> Decimal:
        return self.billed + self.estimated


def team_month_spend_parts(*, team) -> MonthSpend:
    start = timezone.now().replace(day=1, hour=0, minute=0, second=0, microsecond=0)
    jobs = Job.objects.filter(team=team, created__gte=start).exclude(
        status=Job.Status.CANCELLED, provider_job_id__isnull=True
    )
    billed = jobs.filter(status__in=Job.FINISHED, billed_cost_usd__isnull=False).aggregate(
        total=Sum("billed_cost_usd")
    )["total"]
    estimated = jobs.exclude(status__in=Job.FINISHED, billed_cost_usd__isnull=False).aggregate(
        total=Sum("estimated_cost_usd")
    )["total"]
    return MonthSpend(billed=Decimal(billed or 0), estimated=Decimal(estimated or 0))


def team_month_spend(*, team) -> float:
    """This month's spend: billed for finished jobs, estimated for the others (not counting
    drafts that never left)."""
    return float(team_month_spend_parts(team=team).total)


def job_launch(
    *,
    team,
    user,
    membership,
    dataset_version,
    connection,
    base_model: str,
    hyperparameters: dict,
    suffix: str = "",
    seed: int | None = None,
    estimate: dict,
    owner_confirmed: bool = False,
    idempotency_key: str | None = None,
) -> Job:
    """Create the job row (its idempotency key included) and start the submit after commit.

    The same `idempotency_key` posted twice (a double click on Launch) returns the first job.
    """
    if not membership.can_launch:
        raise LaunchError("Only owners and launchers can launch jobs. Ask an owner of your team.")
    if not dataset_version.is_frozen:
        raise LaunchError("This dataset version is not frozen yet: freeze it after review, then launch.")
    refusal = catalogue.cutoff_refusal(connection.kind, base_model)
    if refusal:
        raise LaunchError(refusal)
    if idempotency_key:
        existing = Job.objects.filter(team=team, idempotency_key=idempotency_key).first()
        if existing is not None:
            return existing
    cost = estimate.get("cost_usd")
    budget = float(team.monthly_budget_usd)
    if cost is not None and team_month_spend(team=team) + float(cost) > budget:
        if not membership.is_owner:
            raise LaunchError(
                f"This launch would take the team over its monthly budget of ${budget:,.2f}. "
                "Ask an owner of your team to confirm it."
            )
        if not owner_confirmed:
            raise LaunchError(
                f"This launch would take the team over its monthly budget of ${budget:,.2f}: "
                "tick the confirmation box to launch anyway."
            )
    fields = {
        "team": team,
        "created_by": user,
        "dataset_version": dataset_version,
        "connection": connection,
        "base_model": base_model,
        "method": dataset_version.dataset.method,
        "hyperparameters": hyperparameters,
        "suffix": suffix,
        "seed": seed,
        "estimated_cost_usd": cost,
        "estimated_tokens": estimate.get("billed_tokens"),
        "estimated_seconds": estimate.get("seconds"),
        "estimated_epochs": estimate.get("n_epochs"),
        "estimated_steps": estimate.get("steps"),
        "status": Job.Status.DRAFT,
    }
    if idempotency_key:
        fields["idempotency_key"] = idempotency_key
    try:
        with transaction.atomic():
            job = Job.objects.create(**fields)
    except IntegrityError:
        # Two posts of the same form raced and the other one won; or the key is another team's
        # (keys are unique across teams, as they are sent to providers): say so, don't 500.
        existing = Job.objects.filter(team=team, idempotency_key=idempotency_key).first()
        if existing is None:
            raise LaunchError(
                "This launch form was already used. Reload the page to get a fresh form and launch again."
            ) from None
        return existing
    from jobs.tasks import job_submit_task

    transaction.on_commit(lambda: job_submit_task.delay(job.id))
    return job


# --- submit ---------------------------------------------------------------------------------


def job_claim_for_submit(*, job_id: int) -> bool:
    """Take the job for submitting: a draft, or a submit whose worker vanished (lease over)."""
    now = timezone.now()
    return bool(
        Job.objects.filter(id=job_id)
        .filter(
            Q(status=Job.Status.DRAFT)
            | Q(status=Job.Status.SUBMITTING, submit_claimed_at__lt=now - SUBMIT_LEASE)
        )
        .update(status=Job.Status.SUBMITTING, submit_claimed_at=now, submit_attempts=F("submit_attempts") + 1)
    )


def job_submit(*, job_id: int, client=None) -> Job | None:
    """Upload the files and create the provider job, once. Returns None if someone else has it.

    A retryable provider error (429, 5xx, timeout) releases the claim and re-raises, so the task
    retries; any other provider error fails the job with the provider's explanation.
    """
    if not job_claim_for_submit(job_id=job_id):
        return None
    job = Job.objects.select_related("connection", "dataset_version__dataset").get(id=job_id)
    # Only launched jobs are submitted, and a check constraint gives every one of them a version.
    assert job.dataset_version is not None
    if job.submit_attempts == 1:
        job_status_log(job_id=job.id, old=Job.Status.DRAFT, new=job.status)
    try:
        train_blob, validation_blob = version_training_blobs(version=job.dataset_version)
    except DatasetError as exc:
        job.mark_failed(message=str(exc))
        job_status_log(job_id=job.id, old=Job.Status.SUBMITTING, new=job.status)
        return job
    try:
        provider = _provider(job, client)
        if not job.provider_training_file_id:
            uploaded = provider.upload_file(
                path=train_blob.path, filename=f"fineweb-{job.idempotency_key}-train.jsonl"
            )
            job.provider_training_file_id = uploaded.id
            job.save(update_fields=["provider_training_file_id"])
        if validation_blob is not None and not job.provider_validation_file_id:
            uploaded = provider.upload_file(
                path=validation_blob.path, filename=f"fineweb-{job.idempotency_key}-validation.jsonl"
            )
            job.provider_validation_file_id = uploaded.id
            job.save(update_fields=["provider_validation_file_id"])
        if job.submit_attempts == 1:
            refusal = _provider_quote(job, provider)
            if refusal:
                job.mark_failed(message=refusal)
                job_status_log(job_id=job.id, old=Job.Status.SUBMITTING, new=job.status)
                return job
        found = None
        if job.submit_attempts > 1:
            # An earlier attempt may have created the job and died before storing its id.
            found = _provider_job_find(provider, job)
        provider_job = found or provider.create_job(
            model=job.base_model,
            training_file_id=job.provider_training_file_id,
            validation_file_id=job.provider_validation_file_id or None,
            method=job.method,
            hyperparameters=job.hyperparameters,
            suffix=job.suffix or None,
            seed=job.seed,
            idempotency_key=job.idempotency_key,
        )
    except ProviderError as exc:
        if exc.retryable:
            Job.objects.filter(id=job.id, status=Job.Status.SUBMITTING).update(
                status=Job.Status.DRAFT, error_message=exc.user_message
            )
            raise
        job.mark_failed(message=exc.user_message)
        job_status_log(job_id=job.id, old=Job.Status.SUBMITTING, new=job.status)
        return job
    # A cancel pressed meanwhile wins: the job then gets cancelled at the provider by the sync.
    updated = Job.objects.filter(id=job.id, status=Job.Status.SUBMITTING).update(
        provider_job_id=provider_job.id,
        # An unknown status keeps the job polled as queued.
        status=job_status_from_provider(provider_job.status) or Job.Status.QUEUED,
        error_message="",
        next_sync_at=timezone.now(),
    )
    if not updated:
        Job.objects.filter(id=job.id).update(provider_job_id=provider_job.id, next_sync_at=timezone.now())
    job.refresh_from_db()
    job_status_log(job_id=job.id, old=Job.Status.SUBMITTING, new=job.status)
    return job


def _provider_quote(job: Job, provider: Provider) -> str:
    """Ask the provider for its own price of the job on the uploaded files (Together's estimate
    endpoint), where it has one and the key may use it: the job's estimate becomes that figure.
    Returns a sentence when the provider says the account's limit does not allow the job."""
    quote = provider.estimate_price(
        model=job.base_model,
        training_file_id=job.provider_training_file_id,
        validation_file_id=job.provider_validation_file_id or None,
        method=job.method,
        hyperparameters=job.hyperparameters,
    )
    if quote is None:
        return ""
    if quote.usd is not None:
        job.estimated_cost_usd = quote.usd
        job.estimate_note = (
            f"{job.connection.name}'s own estimate for the uploaded files, before the job started."
        )
        job.save(update_fields=["estimated_cost_usd", "estimate_note"])
    if not quote.allowed:
        limit = f" (${quote.user_limit_usd:,.2f})" if quote.user_limit_usd is not None else ""
        price = f"${quote.usd:,.2f}" if quote.usd is not None else "this job"
        return (
            f"{job.connection.name} estimates {price} and says your account's limit{limit} does not allow it: "
            "nothing was started. Add credit or raise the limit at the provider, then relaunch."
        )
    return ""


def job_submit_give_up(*, job_id: int, message: str) -> None:
    """The submit task ran out of retries: say so on the page."""
    if Job.objects.filter(id=job_id, status__in=[Job.Status.DRAFT, Job.Status.SUBMITTING]).update(
        status=Job.Status.FAILED, error_message=message, finished_at=timezone.now()
    ):
        job_status_log(job_id=job_id, old=Job.Status.SUBMITTING, new=Job.Status.FAILED)


# --- sync -----------------------------------------------------------------------------------


def jobs_due_for_sync(*, now=None) -> list[int]:
    """Claim the jobs whose next sync is due and return their ids (one claim per job)."""
    now = now or timezone.now()
    claimed = []
    due = Job.objects.filter(
        status__in=Job.ACTIVE_AT_PROVIDER, provider_job_id__isnull=False, next_sync_at__lte=now
    ).values_list("id", "next_sync_at")[:200]
    for job_id, due_at in due:
        if Job.objects.filter(id=job_id, next_sync_at=due_at).update(next_sync_at=now + SYNC_LEASE):
            claimed.append(job_id)
    return claimed


def jobs_stalled_submits() -> list[int]:
    """Jobs left in submitting by a worker that died: their lease is over, submit them again."""
    cutoff = timezone.now() - SUBMIT_LEASE
    return list(
        Job.objects.filter(status=Job.Status.SUBMITTING, submit_claimed_at__lt=cutoff).values_list(
            "id", flat=True
        )
    )


def job_sync(*, job_id: int, client=None) -> Job:
    """Bring the job up to date with its provider; each event, point and checkpoint stored once."""
    job = Job.objects.select_related("connection").get(id=job_id)
    if not job.provider_job_id:
        return job
    try:
        provider = _provider(job, client)
        remote = provider.get_job(job.provider_job_id)
        last = job.events.order_by("-created_at", "-id").values_list("provider_event_id", flat=True).first()
        events = provider.list_events(job.provider_job_id, after=last)
        checkpoints = provider.list_checkpoints(job.provider_job_id)
        points = provider.metrics_from_events(events)
        if not provider.metrics_in_events or remote.is_terminal:
            # Together reports metrics only through its metrics endpoint; OpenAI's finished jobs
            # have the result CSV with validation numbers the events may lack (read it once).
            last_step = job.metric_points.order_by("-step").values_list("step", flat=True).first() or 0
            after = 0 if provider.metrics_in_events else last_step
            points = points + provider.metrics(job.provider_job_id, after_step=after)
        if job.status == Job.Status.CANCELLING and not remote.is_terminal:
            remote = provider.cancel_job(job.provider_job_id)
    except ProviderError as exc:
        logger.info("sync of job %s failed: %s", job.id, exc.user_message)
        job.mark_sync_failed(message=exc.user_message, retry_after=exc.retry_after)
        return job

    with transaction.atomic():
        total_steps = job_reports_store(job=job, events=events, points=points, checkpoints=checkpoints)
        _job_apply_remote(job, remote, total_steps=total_steps)
    job.mark_sync_ok()
    return job


def _job_apply_remote(job: Job, remote: ProviderJob, *, total_steps: int | None) -> None:
    status = job_status_from_provider(remote.status) or job.status  # an unknown status changes nothing
    if job.status == Job.Status.CANCELLING and status not in Job.FINISHED:
        status = Job.Status.CANCELLING
    job_status_log(job_id=job.id, old=job.status, new=status)
    job.status = status
    job.provider_status = (remote.raw_status or remote.status)[:50]
    job.fine_tuned_model = remote.fine_tuned_model or job.fine_tuned_model
    job.trained_tokens = remote.trained_tokens or job.trained_tokens
    epochs = (remote.hyperparameters or {}).get("n_epochs")
    if isinstance(epochs, int) and not isinstance(epochs, bool) and epochs > 0:
        job.trained_epochs = epochs
    job.total_steps = remote.total_steps or total_steps or job.total_steps
    cost, note = _billing(job, remote)
    if cost is not None:
        job.billed_cost_usd, job.billed_note = cost, note[:300]
    if status == Job.Status.RUNNING and job.started_at is None:
        job.started_at = timezone.now()
    if status in Job.FINISHED:
        job.finished_at = job.finished_at or remote.finished_at or timezone.now()
        job.next_sync_at = None
    if status == Job.Status.FAILED:
        job.error_message = (
            remote.error_message
            or job.error_message
            or ("The provider reports that the job failed without saying why.")
        )
    job.save(
        update_fields=[
            "status",
            "provider_status",
            "fine_tuned_model",
            "trained_tokens",
            "trained_epochs",
            "total_steps",
            "billed_cost_usd",
            "billed_note",
            "started_at",
            "finished_at",
            "next_sync_at",
            "error_message",
        ]
    )


def _billing(job: Job, remote: ProviderJob) -> tuple[Decimal | None, str]:
    """What the provider billed for the job, and how fineweb knows it; (None, "") while unknown."""
    kind = job.connection.kind
    if remote.billed_usd is not None:
        tokens = f" for {remote.trained_tokens:,} tokens" if remote.trained_tokens else ""
        return remote.billed_usd, f"As {job.connection.name} reports it (the job's price{tokens})."
    if kind == "local":
        return Decimal("0"), "The built-in local provider trains on this machine: nothing is billed."
    if kind == "openai" and remote.trained_tokens:
        price = catalogue.model_spec(job.base_model).training
        if price is not None:
            cost = (Decimal(remote.trained_tokens) * price.usd_per_million / Decimal(1_000_000)).quantize(
                Decimal("0.0001")
            )
            return cost, (
                f"{remote.trained_tokens:,} trained tokens as OpenAI reports them, at "
                f"${price.usd_per_million} per million ({price.source})."
            )
    return None, ""


# --- cancel ---------------------------------------------------------------------------------


def job_cancel(*, job: Job, client=None) -> Job:
    """Cancel at the provider (or locally if it never got there). Raises ProviderError on failure."""
    old = job.status
    if job.status == Job.Status.DRAFT and Job.objects.filter(id=job.id, status=Job.Status.DRAFT).update(
        status=Job.Status.CANCELLED, finished_at=timezone.now()
    ):
        job.refresh_from_db()
    elif job.is_finished:
        return job
    elif not job.provider_job_id:
        # Submitting right now: mark it; the submit keeps the provider id and the sync cancels it.
        job.mark_cancelling()
    else:
        remote = _provider(job, client).cancel_job(job.provider_job_id)
        if job_status_from_provider(remote.status) == Job.Status.CANCELLED:
            job.mark_cancelled()
        else:
            job.mark_cancelling()
    job_status_log(job_id=job.id, old=old, new=job.status)
    return job


# --- moving jobs off a provider that stops ---------------------------------------------------

# The settings every provider takes in our (OpenAI's) names; the adapters map them on.
MOVABLE_HYPERPARAMETERS = ("n_epochs", "batch_size", "learning_rate_multiplier", "beta")


@dataclass
class MoveResult:
    """What moving one job did: the new job (or None), what was mapped and what could not be."""

    source: Job
    job: Job | None = None
    mapped: list[str] = field(default_factory=list)
    unmapped: list[str] = field(default_factory=list)
    error: str = ""


def job_move(*, job: Job, target, team, user, membership, client=None) -> MoveResult:
    """Relaunch `job`'s frozen version with its settings on the `target` connection, the base
    model and hyperparameters mapped where a mapping exists. Moving the same job to the same
    connection twice gives the first new job back (its idempotency key is made of both ids)."""
    from jobs.selectors import launch_estimate

    result = MoveResult(source=job)
    version = job.dataset_version
    if version is None:
        result.error = (
            "Its training data is not in fineweb (an imported job): upload the same file under Datasets, "
            "freeze it, then relaunch it."
        )
        return result
    if not version.is_frozen:
        result.error = f"Its dataset version {version} is not frozen: freeze it, then relaunch."
        return result
    models, models_error = connection_fine_tunable_models(connection=target, client=client)
    if models_error:
        result.error = models_error
        return result
    base_model = catalogue.mapped_model(job.base_model, target.kind, models)
    if base_model is None:
        result.unmapped.append(
            f"Base model {job.base_model}: fineweb knows no equivalent among the models {target.name} "
            "fine-tunes. Relaunch it from the launch form and pick one."
        )
        return result
    if base_model != job.base_model:
        result.mapped.append(f"Base model {job.base_model} becomes {base_model} on {target.name}.")
    hyperparameters = {}
    for key, value in (job.hyperparameters or {}).items():
        if key in MOVABLE_HYPERPARAMETERS and (key != "beta" or job.method == Job.Method.DPO):
            hyperparameters[key] = value
            result.mapped.append(f"{key} = {value} (kept).")
        else:
            result.unmapped.append(f"{key} = {value}: {target.name} has no such setting, so it is left out.")
    for key in ("n_epochs", "batch_size", "learning_rate_multiplier"):
        hyperparameters.setdefault(key, "auto")
    estimate = launch_estimate(
        version=version,
        connection=target,
        base_model=base_model,
        n_epochs=hyperparameters["n_epochs"],
        hyperparameters=hyperparameters,
    )
    try:
        result.job = job_launch(
            team=team,
            user=user,
            membership=membership,
            dataset_version=version,
            connection=target,
            base_model=base_model,
            hyperparameters=hyperparameters,
            suffix=job.suffix,
            seed=job.seed,
            estimate=estimate.as_dict(),
            idempotency_key=f"fineweb-move-{job.id}-to-{target.id}",
        )
    except LaunchError as exc:
        result.error = str(exc)
    return result
