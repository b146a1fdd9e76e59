from __future__ import annotations

from django.contrib import messages
from django.http import Http404, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_POST

from fineweb.accounts.access import get_for_team_or_404, role_required, team_required
from fineweb.accounts.http import TeamRequest
from fineweb.accounts.models import Membership
from jobs import selectors, services
from jobs.forms import LaunchForm
from jobs.models import Job
from providers.errors import ProviderError

LAUNCHERS = (Membership.Role.OWNER, Membership.Role.LAUNCHER)


def _get_job_for_user(request: TeamRequest, job_id: int) -> Job:
    return get_for_team_or_404(
        Job.objects.select_related(
            "connection", "dataset_version__dataset", "dataset_version__blob", "created_by"
        ),
        request,
        id=job_id,
    )


@team_required
def job_list(request: TeamRequest) -> HttpResponse:
    jobs, filters = selectors.jobs_filtered(team=request.team, params=request.GET)
    template = "jobs/list.html#rows" if request.htmx else "jobs/list.html"
    return render(request, template, {"jobs": jobs, "filters": filters, "statuses": Job.Status.choices})


def _launch_form(request: TeamRequest, ctx: dict, data, *, bound: bool = False) -> LaunchForm:
    """The launch form on `data`: bound to it (a POST), or showing it with the base model the page
    context picked (the dataset's target model when the provider offers it)."""
    return LaunchForm(
        data if bound else None,
        initial={**dict(data.items()), "base_model": ctx["base_model"]},
        team=request.team,
        models=ctx["models"],
        method=ctx["method"],
    )


@role_required(*LAUNCHERS)
def job_new(request: TeamRequest) -> HttpResponse:
    posted = request.method == "POST"
    data = request.POST if posted else selectors.launch_initial(team=request.team, params=request.GET)
    ctx = selectors.launch_context(team=request.team, membership=request.membership, data=data)
    form = _launch_form(request, ctx, data, bound=posted)
    if posted and form.is_valid():
        try:
            job = services.job_launch(
                team=request.team,
                user=request.user,
                membership=request.membership,
                dataset_version=form.cleaned_data["version"],
                connection=form.cleaned_data["connection"],
                base_model=form.cleaned_data["base_model"],
                hyperparameters=form.hyperparameters(form.cleaned_data["version"].dataset.method),
                suffix=form.cleaned_data["suffix"],
                seed=form.cleaned_data["seed"],
                estimate=ctx["estimate"].as_dict(),
                owner_confirmed=form.cleaned_data["confirm_over_budget"],
                idempotency_key=f"fineweb-{form.cleaned_data['launch_token']}"[:64],
            )
        except services.LaunchError as exc:
            form.add_error(None, str(exc))
        else:
            messages.success(request, "Job launched: fineweb is sending it to the provider.")
            return redirect("jobs:detail", job_id=job.id)
    return render(request, "jobs/new.html", {**ctx, "form": form})


@role_required(*LAUNCHERS)
def job_new_models(request: TeamRequest) -> HttpResponse:
    ctx = selectors.launch_context(team=request.team, membership=request.membership, data=request.GET)
    form = _launch_form(request, ctx, request.GET)
    response = render(request, "jobs/new.html#models", {**ctx, "form": form})
    response["HX-Trigger-After-Settle"] = "models-loaded"  # the estimate reloads for the new model
    return response


@role_required(*LAUNCHERS)
def job_new_estimate(request: TeamRequest) -> HttpResponse:
    ctx = selectors.launch_context(team=request.team, membership=request.membership, data=request.GET)
    form = _launch_form(request, ctx, request.GET)  # for its over-budget checkbox
    return render(request, "jobs/new.html#estimate", {**ctx, "form": form})


@team_required
def job_detail(request: TeamRequest, job_id: int) -> HttpResponse:
    job = _get_job_for_user(request, job_id)
    part = ("activity" if request.GET.get("part") == "activity" else "live") if request.htmx else ""
    ctx = selectors.job_page_context(
        job=job, membership=request.membership, all_events=request.GET.get("events") == "all", part=part
    )
    template = f"jobs/detail.html#{part}" if part else "jobs/detail.html"
    response = render(request, template, ctx)
    if request.htmx and job.is_finished:
        response["HX-Trigger"] = "job-finished"  # the event log refreshes once more, at once
    return response


@require_POST
@role_required(*LAUNCHERS)
def job_cancel(request: TeamRequest, job_id: int) -> HttpResponse:
    job = _get_job_for_user(request, job_id)
    try:
        services.job_cancel(job=job)
    except ProviderError as exc:
        messages.error(request, f"The job could not be cancelled: {exc.user_message}")
    else:
        messages.success(request, "Cancel requested. The provider stops the job in a moment.")
    return redirect("jobs:detail", job_id=job.id)


@team_required
def job_curves(request: TeamRequest) -> HttpResponse:
    ids = selectors.ids_from_params(request.GET)
    jobs = list(
        Job.objects.filter(team=request.team, id__in=ids).select_related(
            "connection", "dataset_version__dataset"
        )
    )
    if ids and len(jobs) != len(set(ids)):
        raise Http404  # someone else's job among the ids: say nothing about it
    figure = selectors.curves_figure(jobs) if jobs else None
    return render(request, "jobs/curves.html", {"jobs": jobs, "figure": figure})


@team_required
def jobs_for_version(request: TeamRequest, version_id: int) -> HttpResponse:
    """The jobs trained on one dataset version: the panel the version page loads (htmx), or a page."""
    from datasets_app.models import DatasetVersion

    version = get_for_team_or_404(
        DatasetVersion.objects.select_related("dataset"), request, team_field="dataset__team", id=version_id
    )
    jobs = selectors.jobs_for_version(team=request.team, version=version)
    template = "jobs/for_version.html#panel" if request.htmx else "jobs/for_version.html"
    return render(request, template, {"version": version, "jobs": jobs})


@role_required(*LAUNCHERS)
def jobs_move(request: TeamRequest) -> HttpResponse:
    """Move jobs off a provider that stops fine-tuning: pick jobs, pick a connection, relaunch."""
    ctx = selectors.move_context(team=request.team, params=request.POST or request.GET)
    if request.method != "POST":
        return render(request, "jobs/move.html", ctx)
    ids = selectors.ids_from_params(request.POST)
    jobs = [job for job in ctx["jobs"] if job.id in ids]
    if len(jobs) != len(ids):
        raise Http404  # a job that is not one of this team's movable jobs
    target = ctx["target"]
    errors = []
    if not jobs:
        errors.append("Tick at least one job to move.")
    if target is None:
        errors.append("Pick the connection to move the jobs to.")
    if errors:
        return render(request, "jobs/move.html", {**ctx, "errors": errors, "chosen": ids}, status=400)
    results = [
        services.job_move(
            job=job, target=target, team=request.team, user=request.user, membership=request.membership
        )
        for job in jobs
    ]
    return render(request, "jobs/move_done.html", {**ctx, "results": results})
