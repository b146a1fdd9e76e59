"""Reads that build something for a page: the launch estimate, job progress, loss-curve figures."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import timedelta
from decimal import Decimal
from functools import cached_property
from urllib.parse import quote

import numpy as np
from django.db import connection
from django.http import Http404
from django.utils import timezone

from datasets_app import costs
from fineweb.lib import catalogue, figures
from jobs.models import Checkpoint, Job, JobEvent
from jobs.series import MAX_POINTS_PER_SERIES, KeptSeries, Series, job_series, rows_after

SVG_MAX_POINTS = 2500  # per series, above the kept series' budget: longer (all points) use WebGL

# Rough training throughput (tokens per second) for the duration estimate. Hosted providers add
# queueing time we can't know; we say "about" and show it as a range in the sentence.
_TOKENS_PER_SECOND = {"openai": 4000, "together": 6000}
_QUEUE_SECONDS = {"openai": 600, "together": 300}


@dataclass(frozen=True)
class LaunchEstimate:
    n_examples: int
    tokens: int
    n_epochs: int
    billed_tokens: int
    cost_usd: Decimal | None
    seconds: int
    price_note: str
    batch_size: int | None = None  # None: the provider picks it and does not say how
    steps: int | None = None
    seconds_high: int | None = None  # a range "about X to Y" when the duration is a first guess
    duration_note: str = ""
    first_run_note: str = ""  # the local provider converts a base model on its first use

    def as_dict(self) -> dict:
        return {
            "cost_usd": self.cost_usd,
            "billed_tokens": self.billed_tokens,
            "seconds": self.seconds,
            "n_epochs": self.n_epochs,
            "steps": self.steps,
        }


# The local provider's speed before any job on a base model has finished here: a first guess,
# shown as a range (tokens per second, the dataset's count, on two CPU cores).
_LOCAL_FIRST_GUESS = {"fineweb-tiny": 4000, "SmolLM2-135M-Instruct": 300}
LOCAL_SPEED_JOBS = 5  # the measured speed is over this many latest finished jobs


def local_speed(base_model: str) -> tuple[float, float, int] | None:
    """(tokens per second, seconds from launch to the first step, jobs) measured on this machine
    over the latest local jobs on `base_model` that succeeded; None before the first one.

    Tokens are the dataset's count (the launch estimate's), over the time from the first reported
    step to the end, so a faster trainer shows in the next estimate by itself."""
    found = list(
        Job.objects.filter(
            connection__kind="local",
            base_model=base_model,
            status=Job.Status.SUCCEEDED,
            estimated_tokens__gt=0,
            started_at__isnull=False,
            finished_at__isnull=False,
        )
        .order_by("-finished_at")
        .values_list("estimated_tokens", "created", "started_at", "finished_at")[:LOCAL_SPEED_JOBS]
    )
    # The filter excludes NULLs; the stubs cannot know it.
    rows = [(t, c, s, f) for t, c, s, f in found if t is not None and s is not None and f is not None]
    seconds = sum(float((finished - started).total_seconds()) for _, _, started, finished in rows)
    if not rows or seconds <= 0:
        return None
    tokens = sum(int(t) for t, _, _, _ in rows)
    start_up = min((started - created).total_seconds() for _, created, started, _ in rows)
    return tokens / seconds, max(0.0, start_up), len(rows)


def _training_examples(version) -> int:
    """Examples in the training file the provider gets: the train part of a split version
    (datasets_app.services.dataset_version_split holds out max(1, round(n x share)))."""
    n = version.n_examples
    if version.validation_blob_id and version.split_fraction:
        return max(1, n - max(1, round(n * version.split_fraction)))
    return n


def _local_estimate(*, version, base_model: str, hyperparameters: dict, tokens: int) -> LaunchEstimate:
    from providers.services import local_launch_plan

    n_train = _training_examples(version)
    plan = local_launch_plan(n_examples=n_train, hyperparameters=hyperparameters, base_model=base_model)
    train_tokens = round(tokens * n_train / version.n_examples) if version.n_examples else tokens
    billed = train_tokens * plan["n_epochs"]
    measured = local_speed(base_model)
    high = None
    if measured is not None:
        speed, start_up, n_jobs = measured
        seconds = int(start_up + billed / speed)
        note = (
            f"From this machine's measured speed on {base_model}: {speed:,.0f} tokens per second "
            f"over its last {n_jobs} job{'s' if n_jobs > 1 else ''}."
        )
    else:
        guess = _LOCAL_FIRST_GUESS.get(base_model, 1000)
        seconds, high = int(10 + billed / guess), int(10 + 4 * billed / guess)
        note = (
            f"A first guess: no job on {base_model} has finished on this machine yet. Later estimates "
            "use the speed measured on the jobs that did."
        )
    first_run = ""
    if not plan["converted"]:
        took = plan["conversion_seconds"]
        if took is not None:
            seconds += int(took)
            high = high + int(took) if high is not None else None
            first_run = (
                f"The first run on {base_model} converts the model first: that took "
                f"{duration_words(took)} last time, counted in the duration."
            )
        else:
            first_run = (
                f"The first run on {base_model} converts the model first (once; it can take a few "
                "minutes), before the first training step."
            )
    return LaunchEstimate(
        n_examples=version.n_examples,
        tokens=tokens,
        n_epochs=plan["n_epochs"],
        billed_tokens=billed,
        cost_usd=Decimal("0.00"),
        seconds=seconds,
        price_note="The local provider trains on this machine: nothing is billed.",
        batch_size=plan["batch_size"],
        steps=plan["total_steps"],
        seconds_high=high,
        duration_note=note,
        first_run_note=first_run,
    )


def launch_estimate(
    *, version, connection, base_model: str, n_epochs, hyperparameters: dict | None = None
) -> LaunchEstimate:
    """Examples, tokens, epochs, billed tokens, cost and a duration estimate for the launch form.

    The built-in local provider is asked for its own plan (its "auto" rule, its steps) and its
    duration comes from this machine's measured speed; the others use OpenAI's epochs rule."""
    tokens = version.tokens_capped_total or version.total_tokens
    kind = connection.kind if connection else ""
    if kind == "local":
        settings = {"n_epochs": n_epochs, **(hyperparameters or {})}
        return _local_estimate(
            version=version, base_model=base_model, hyperparameters=settings, tokens=tokens
        )
    epochs = int(n_epochs) if str(n_epochs).isdigit() and int(n_epochs) > 0 else None
    estimate = costs.estimate(
        n_examples=version.n_examples,
        tokens_per_example_capped_total=tokens,
        model=base_model,
        n_epochs=epochs,
    )
    cost = estimate.cost_usd
    if cost is None:
        note = f"fineweb does not know the price of {base_model}: check the provider's pricing page."
    else:
        note = f"${estimate.price_per_million} per million training tokens ({costs.PRICE_SOURCE})."
    speed = _TOKENS_PER_SECOND.get(kind, 4000)
    seconds = _QUEUE_SECONDS.get(kind, 600) + int(estimate.billed_tokens / speed)
    return LaunchEstimate(
        n_examples=version.n_examples,
        tokens=tokens,
        n_epochs=estimate.n_epochs,
        billed_tokens=estimate.billed_tokens,
        cost_usd=cost,
        seconds=seconds,
        price_note=note,
        duration_note="A rough guess: hosted providers may queue the job first.",
    )


def duration_words(seconds: int | float | None) -> str:
    if seconds is None:
        return "unknown"
    seconds = int(seconds)
    if seconds < 90:
        return f"{max(seconds, 1)} seconds"
    if seconds < 90 * 60:
        return f"{round(seconds / 60)} minutes"
    return f"{seconds / 3600:.1f} hours"


@dataclass(frozen=True)
class Progress:
    step: int | None
    total: int | None
    percent: int | None
    eta: str | None


def job_progress(job: Job, *, step: int | None) -> Progress:
    """Step / total steps, the bar's percent, and an ETA from the pace so far; `step` is the
    highest stored step (the kept series knows it: no query)."""
    total = job.total_steps
    if job.status == Job.Status.SUCCEEDED:
        return Progress(step, total, 100, None)
    if not step or not total:
        return Progress(step, total, None, None)
    percent = max(0, min(100, round(100 * step / total)))
    eta = None
    if job.is_active and job.started_at and step < total:
        elapsed = (timezone.now() - job.started_at).total_seconds()
        if elapsed > 0:
            eta = duration_words(elapsed / step * (total - step))
    return Progress(step, total, percent, eta)


def sync_note(job: Job) -> str:
    """A sentence for the page when syncing with the provider is failing and backing off."""
    if not job.sync_failures or not job.is_active:
        return ""
    wait = ""
    if job.next_sync_at:
        wait = f" fineweb tries again in {duration_words(max((job.next_sync_at - timezone.now()).total_seconds(), 1))}."
    return (
        f"fineweb could not reach the provider ({job.sync_failures} tries in a row): {job.sync_error}{wait}"
    )


# --- loss curves ---------------------------------------------------------------------------

_SERIES = (
    ("train_loss", "train loss", 1, "solid"),
    ("valid_loss", "validation loss", 1, "dash"),
    ("train_accuracy", "train token accuracy", 2, "solid"),
    ("valid_accuracy", "validation token accuracy", 2, "dash"),
)
_COLORS = ("#2f6fde", "#e4572e", "#2e8b57", "#8e44ad", "#b7791f", "#17becf", "#7f7f7f", "#d62728")


def curve_axes(job: Job) -> dict:
    """What the page needs to put a run's steps on another x-axis: steps per epoch and training
    tokens per step (None when the job does not tell). Sent with each trace as `meta`, so that
    static/js/figures.js can line up runs of different providers and batch sizes."""
    total = job.total_steps
    tokens = job.trained_tokens or job.estimated_tokens
    epochs = (job.hyperparameters or {}).get("n_epochs")
    if not isinstance(epochs, int | float) or isinstance(epochs, bool) or epochs <= 0:
        epochs = None
        version = job.dataset_version
        dataset_tokens = (version.tokens_capped_total or version.total_tokens) if version else None
        if tokens and dataset_tokens:
            epochs = max(1, round(tokens / dataset_tokens))  # billed tokens are the data x epochs
    return {
        "steps_per_epoch": total / epochs if total and epochs else None,
        "tokens_per_step": tokens / total if total and tokens else None,
    }


def curves_figure(
    jobs: list[Job],
    *,
    max_points: int | None = MAX_POINTS_PER_SERIES,
    kept: dict[int, KeptSeries] | None = None,
) -> dict:
    """A plotly figure in plain JSON types (arrays already typed), ready for `json_script`: loss above, token accuracy below, one colour per run.

    Each series is reduced with M4 to at most `max_points` and kept (jobs/series.py), so a
    100k-step run stays quick to build, send and draw; None reads and sends every point (the
    benchmark's baseline). `kept`: series the caller already read, by job id.
    """
    data: list[dict] = []
    several = len(jobs) > 1
    for index, job in enumerate(jobs):
        series: Series
        if max_points is None:
            series = rows_after(job.id, None)
        elif kept and job.id in kept:
            series = kept[job.id].series
        else:
            series = job_series(job, max_points=max_points).series
        axes = curve_axes(job)
        for series_index, (field, label, row, dash) in enumerate(_SERIES):
            # One run: a colour per series. Several: a colour per run, dashes for validation.
            color = _COLORS[index % len(_COLORS)] if several else _COLORS[series_index]
            x, y = series[field]
            mask = ~np.isnan(y)
            if not mask.any():
                continue
            x, y = x[mask], y[mask]
            name = f"#{job.id} {label}" if several else label
            # SVG draws a few thousand points crisply and anywhere (no WebGL needed); WebGL
            # keeps long runs, overlaid, quick to pan and zoom.
            data.append(
                {
                    "legendgroup": str(job.id),
                    "meta": {"field": field, "job": job.id, **axes},
                    "line": {"color": color, "dash": dash, "width": 1.5},
                    "marker": {"size": 4},
                    "mode": "lines+markers" if len(x) <= 100 else "lines",
                    "name": name,
                    "x": figures.typed(x),
                    "y": figures.typed(y),
                    "type": "scatter" if len(x) <= SVG_MAX_POINTS else "scattergl",
                    "xaxis": "x" if row == 1 else "x2",
                    "yaxis": "y" if row == 1 else "y2",
                }
            )
    layout = figures.two_rows(("Loss (lower is better)", "Token accuracy (higher is better)"))
    layout["xaxis2"].update(title={"text": "step"}, gridcolor="#eef1f5")
    layout["yaxis"]["gridcolor"] = layout["yaxis2"]["gridcolor"] = "#eef1f5"
    layout.update(
        height=520,
        margin={"l": 50, "r": 20, "t": 40, "b": 40},
        legend={"orientation": "h", "y": -0.12},
        plot_bgcolor="#fff",
        paper_bgcolor="#fff",
        uirevision="keep",
    )
    return figures.figure(data, layout)


def figure_json(figure: dict) -> str:
    """The figure as JSON for a <script type="application/json"> block (numpy arrays included)."""
    import plotly.io

    text = plotly.io.json.to_json_plotly(figure)
    # Safe inside <script>: no "</script>" or "<!--" can appear in it.
    return text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")


def since(moment) -> timedelta | None:
    return timezone.now() - moment if moment else None


# --- page contexts ---------------------------------------------------------------------------


def ids_from_params(params) -> list[int]:
    """Job ids from `?ids=1,2,3` and/or repeated `?ids=1&ids=2`; anything not a number is ignored."""
    ids: list[int] = []
    for value in params.getlist("ids"):
        for part in value.split(","):
            if part.strip().isdigit():
                ids.append(int(part))
    return list(dict.fromkeys(ids))[:20]


def jobs_filtered(*, team, params) -> tuple[list[Job], dict]:
    """The team's jobs, filtered by status, connection and dataset (GET parameters)."""
    from datasets_app.models import Dataset
    from providers.models import Connection

    qs = Job.objects.filter(team=team).select_related("connection", "dataset_version__dataset", "created_by")
    status = params.get("status", "")
    connection = params.get("connection", "")
    dataset = params.get("dataset", "")
    if status in Job.Status.values:
        qs = qs.filter(status=status)
    if connection.isdigit():
        qs = qs.filter(connection_id=int(connection))
    if dataset.isdigit():
        qs = qs.filter(dataset_version__dataset_id=int(dataset))
    elif dataset == "none":  # imported jobs whose training data isn't in fineweb
        qs = qs.filter(dataset_version__isnull=True)
    filters = {
        "status": status,
        "connection": connection,
        "dataset": dataset,
        "connections": Connection.objects.filter(team=team).order_by("name"),
        "datasets": Dataset.objects.filter(team=team).order_by("name"),
    }
    return list(qs[:500]), filters


def _frozen_versions(team):
    from datasets_app.models import DatasetVersion

    return DatasetVersion.objects.filter(dataset__team=team, frozen_at__isnull=False).select_related(
        "dataset"
    )


def launch_initial(*, team, params) -> dict:
    """Initial values of the launch form: from ?version=, or from ?from=<job> for a relaunch."""
    from providers.models import Connection

    data: dict = {
        "n_epochs": "auto",
        "batch_size": "auto",
        "learning_rate_multiplier": "auto",
        "beta": "auto",
        "launch_token": uuid.uuid4().hex,
    }
    connections = list(Connection.objects.filter(team=team).order_by("name"))
    version_id = params.get("version", "")
    source_id = params.get("from", "")
    if source_id:
        source = Job.objects.filter(team=team, id=int(source_id)).first() if source_id.isdigit() else None
        if source is None:
            raise Http404  # another team's job (or none): nothing to relaunch
        if source is not None:
            # An imported job may have no version in fineweb: the form then asks for one.
            version_id = str(source.dataset_version_id or "")
            for key, value in (source.hyperparameters or {}).items():
                data[key] = str(value)
            data["suffix"] = source.suffix
            data["seed"] = "" if source.seed is None else str(source.seed)
            data["from"] = str(source.id)
            # Relaunch "on another provider": start on a connection other than the original one.
            others = [c for c in connections if c.id != source.connection_id]
            wanted = params.get("connection", "")
            if wanted in [str(c.id) for c in connections]:
                data["connection"] = wanted  # "Move these jobs" names the connection to go to
            elif others:
                data["connection"] = str(others[0].id)
    if version_id:
        from datasets_app.models import DatasetVersion

        if not (
            version_id.isdigit()
            and DatasetVersion.objects.filter(dataset__team=team, id=int(version_id)).exists()
        ):
            raise Http404
        if _frozen_versions(team).filter(id=int(version_id)).exists():
            data["version"] = version_id
    if "connection" not in data:
        wanted = params.get("connection", "")
        ids = [str(c.id) for c in connections]
        data["connection"] = wanted if wanted in ids else (ids[0] if ids else "")
    return data


def _pick(queryset, value):
    value = str(value or "")
    return queryset.filter(id=int(value)).first() if value.isdigit() else None


def launch_context(*, team, membership, data) -> dict:
    """Everything the launch page shows around the form: models, the estimate, the budget."""
    from jobs.services import connection_fine_tunable_models, team_month_spend_parts
    from providers.models import Connection

    versions = _frozen_versions(team)
    version = _pick(versions, data.get("version"))
    connection = _pick(Connection.objects.filter(team=team), data.get("connection"))
    models, models_error = connection_fine_tunable_models(connection=connection) if connection else ([], "")
    base_model = data.get("base_model") or ""
    if base_model not in models:
        target = version.dataset.target_model if version else ""
        base_model = target if target in models else (models[0] if models else "")
    estimate = None
    if version is not None and base_model:
        estimate = launch_estimate(
            version=version,
            connection=connection,
            base_model=base_model,
            n_epochs=data.get("n_epochs"),
            hyperparameters={k: data.get(k) for k in ("batch_size", "learning_rate_multiplier")},
        )
    parts = team_month_spend_parts(team=team)
    spend = float(parts.total)
    budget = float(team.monthly_budget_usd)
    over_budget = bool(
        estimate and estimate.cost_usd is not None and spend + float(estimate.cost_usd) > budget
    )
    from datasets_app.models import DatasetVersion

    unfrozen = DatasetVersion.objects.filter(dataset__team=team, frozen_at__isnull=True).count()
    return {
        "lifecycle_notice": lifecycle_notice(connection),
        "version": version,
        "connection": connection,
        "models": models,
        "models_error": models_error,
        "base_model": base_model,
        "estimate": estimate,
        "duration": duration_words(estimate.seconds) if estimate else "",
        "duration_high": duration_words(estimate.seconds_high) if estimate and estimate.seconds_high else "",
        "spend": spend,
        "spend_billed": float(parts.billed),
        "spend_estimated": float(parts.estimated),
        "budget": budget,
        "over_budget": over_budget,
        "is_owner": membership.is_owner,
        "unfrozen_count": unfrozen,
        "has_versions": versions.exists(),
        "method": version.dataset.method if version else "",
        "relaunch_from": data.get("from", "") if str(data.get("from", "")).isdigit() else "",
        "relaunch_job": _pick(
            Job.objects.filter(team=team).select_related("dataset_version__dataset", "connection"),
            data.get("from"),
        ),
        "confirm_checked": data.get("confirm_over_budget") in ("on", "true", "1"),
    }


EVENTS_ON_PAGE = 50  # the latest ones; "Show all" lists up to EVENTS_ALL
EVENTS_ALL = 2000


def job_events_for_page(job: Job, limit: int = EVENTS_ON_PAGE) -> list[dict]:
    """The job's latest events as rows for the page, their time already formatted: model
    instances and a `|date` filter per row were a third of the job page's server time."""
    fmt = "%Y-%m-%d %H:%M:%S" if job.imported else "%H:%M:%S"
    localtime = timezone.localtime
    return [
        {"when": localtime(created).strftime(fmt), "level": level, "message": message}
        for created, level, message in job.events.values_list("created_at", "level", "message")[:limit]
    ]


class JobActivity:
    """The job page's checkpoints and events, read only when their rendering is not cached.

    Events and checkpoints are only ever added (jobs/reports.py: bulk_create, ignoring what is
    stored already), so their counts and highest ids, read in one small query, change whenever
    what the fragment shows does: `key` names them with the job and how many events the page lists,
    and the template caches the rendered fragment under it (`{% cache %}`, CACHES in settings)."""

    def __init__(self, job: Job, *, all_events: bool = False) -> None:
        self.job = job
        self.limit = EVENTS_ALL if all_events else EVENTS_ON_PAGE
        self.events_total, last_event, n_checkpoints, last_checkpoint = _activity_counts(job.id)
        created = job.created.timestamp() if job.created else ""
        self.key = (
            f"{job.id}:{created}:{job.source}:{self.limit}:"
            f"{self.events_total}:{last_event}:{n_checkpoints}:{last_checkpoint}"
        )

    @cached_property
    def events(self) -> list[dict]:
        return job_events_for_page(self.job, self.limit)

    @property
    def events_hidden(self) -> int:
        return max(0, self.events_total - len(self.events))

    @cached_property
    def checkpoints(self) -> list[Checkpoint]:
        return list(self.job.checkpoints.all())


def _activity_counts(job_id: int) -> tuple[int, int | None, int, int | None]:
    """(events, highest event id, checkpoints, highest checkpoint id) of a job, in one query
    written out: building it through the ORM cost more than running it."""
    quote = connection.ops.quote_name
    events, checkpoints = quote(JobEvent._meta.db_table), quote(Checkpoint._meta.db_table)
    sql = (
        f"SELECT (SELECT COUNT(*) FROM {events} WHERE job_id = %s), (SELECT MAX(id) FROM {events} WHERE job_id = %s), "
        f"(SELECT COUNT(*) FROM {checkpoints} WHERE job_id = %s), (SELECT MAX(id) FROM {checkpoints} WHERE job_id = %s)"
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, [job_id] * 4)
        n_events, last_event, n_checkpoints, last_checkpoint = cursor.fetchone()
    return int(n_events), last_event, int(n_checkpoints), last_checkpoint


class JobCurve:
    """The job page's loss curve and the step its progress bar shows.

    A finished job's figure is cached rendered (`key`, empty while the job runs): its points are
    the kept series of one `metrics_revision` up to `metrics_last_step` (jobs/series.py; any
    change to a stored step raises the revision), and its axes come from the job's row, so the key
    names them all. Only a cache miss reads the series and builds the figure."""

    def __init__(self, job: Job) -> None:
        self.job = job
        self.key = ""
        if job.is_finished and job.metrics_last_step is not None:
            axes = curve_axes(job)
            self.key = (
                f"{job.id}:{job.created.timestamp() if job.created else ''}:{job.metrics_revision}:"
                f"{job.metrics_last_step}:{MAX_POINTS_PER_SERIES}:{axes['steps_per_epoch']}:{axes['tokens_per_step']}"
            )

    @cached_property
    def kept(self) -> KeptSeries:
        return job_series(self.job, max_points=MAX_POINTS_PER_SERIES)

    @property
    def last_step(self) -> int | None:
        # The kept series reaches the job's highest stored step (no query when cached).
        return self.job.metrics_last_step if self.key else self.kept.last_step

    @cached_property
    def figure(self) -> dict | None:
        return curves_figure([self.job], kept={self.job.id: self.kept}) if self.kept.has_points else None


def job_page_context(*, job: Job, all_events: bool = False, membership, part: str = "") -> dict:
    """The job page's context; `part` "live" (the status and the curve, polled) or "activity"
    (checkpoints and events, polled) builds only what that fragment shows."""
    ctx: dict = {}
    if part != "activity":
        curve = JobCurve(job)
        ctx["curve"] = curve
        ctx["progress"] = job_progress(job, step=curve.last_step)
    if part != "live":
        ctx["activity"] = JobActivity(job, all_events=all_events)
    compare_url = (
        f"/compare/?model={quote(job.fine_tuned_model)}&job={job.id}" if job.fine_tuned_model else ""
    )
    return {
        **ctx,
        "job": job,
        "sync_note": sync_note(job),
        "can_cancel": membership.can_launch and job.can_cancel,
        "can_launch": membership.can_launch,
        "compare_url": compare_url,
        "estimated_duration": duration_words(job.estimated_seconds) if job.estimated_seconds else "",
        "version_lineage": job.dataset_version.lineage if job.dataset_version else [],
        "lifecycle": job_lifecycle(job),
        "actual_duration": (
            duration_words((job.finished_at - job.created).total_seconds()) if job.finished_at else ""
        ),
    }


# --- provider lifecycle -------------------------------------------------------------------------


def lifecycle_notice(connection) -> str:
    """The notice a page shows for a connection whose provider winds fine-tuning down ("" if none)."""
    if connection is None:
        return ""
    return catalogue.provider_notice(connection.kind)


def job_lifecycle(job: Job) -> dict:
    """The job page's notice: when its provider stops, and when its fine-tuned model stops answering."""
    notice = lifecycle_notice(job.connection)
    model = job.fine_tuned_model or job.base_model
    retired = (
        catalogue.retirement_sentence(job.connection.kind, model) if job.connection.kind == "openai" else ""
    )
    return {"notice": notice, "retired": retired, "show": bool(notice or retired)}


def move_context(*, team, params) -> dict:
    """The "Move these jobs" page: the team's jobs on connections whose provider stops (OpenAI),
    and the connections they can move to."""
    from providers.models import Connection

    stopping = [c for c in Connection.objects.filter(team=team).order_by("name") if lifecycle_notice(c)]
    jobs = list(
        Job.objects.filter(team=team, connection__in=stopping)
        .exclude(status__in=[Job.Status.FAILED, Job.Status.CANCELLED])
        .select_related("connection", "dataset_version__dataset")
        .order_by("-created")[:200]
    )
    targets = list(
        Connection.objects.filter(team=team).exclude(id__in=[c.id for c in stopping]).order_by("name")
    )
    target = _pick(Connection.objects.filter(id__in=[c.id for c in targets]), params.get("target"))
    return {
        "jobs": jobs,
        "targets": targets,
        "target": target,
        "notices": sorted({lifecycle_notice(c) for c in stopping}),
        "chosen": ids_from_params(params),
    }


def jobs_for_version(*, team, version) -> list[Job]:
    """Every job of the team that trained on `version` (launched or imported and matched), newest first."""
    return list(
        Job.objects.filter(team=team, dataset_version=version)
        .select_related("connection", "created_by")
        .order_by("-created")[:200]
    )
