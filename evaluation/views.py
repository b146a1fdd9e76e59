from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterator
from typing import Any

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.http import Http404, HttpResponse, StreamingHttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_POST

from evaluation import scorers, selectors, services
from evaluation.forms import RunForm, initial_from_job
from evaluation.models import Example, Run, Vote
from fineweb.accounts.access import get_for_team_or_404, role_required, team_required
from fineweb.accounts.http import TeamRequest
from fineweb.accounts.models import Membership
from jobs.models import Job

LAUNCHERS = (Membership.Role.OWNER, Membership.Role.LAUNCHER)


def _run(request: TeamRequest, run_id: int) -> Run:
    return get_for_team_or_404(
        Run.objects.select_related("job", "dataset_version__dataset"), request, id=run_id
    )


@team_required
def run_list(request: TeamRequest) -> HttpResponse:
    runs = selectors.runs_for_team(request.team)[:100]
    return render(
        request, "evaluation/list.html", {"runs": runs, "can_launch": request.membership.can_launch}
    )


def _job_from(request: TeamRequest) -> Job | None:
    job_id = request.GET.get("job") or request.POST.get("job")
    if not job_id or not str(job_id).isdigit():
        return None
    return get_for_team_or_404(
        Job.objects.select_related("dataset_version", "connection"), request, id=int(job_id)
    )


@role_required(*LAUNCHERS)
def run_new(request: TeamRequest) -> HttpResponse:
    job = _job_from(request)
    posted = request.method == "POST"
    form = RunForm(request.POST if posted else None, team=request.team, initial=initial_from_job(job))
    if posted and form.is_valid():
        data = form.cleaned_data
        try:
            run = services.run_create(
                team=request.team,
                user=request.user,
                name=data["name"],
                dataset_version=data["version"],
                split=data["split"],
                models=data["choices"],
                scorers=data["scorer_configs"],
                judge=data["judge"],
                max_tokens=data["max_tokens"],
                job=job,
            )
        except ValidationError as exc:
            form.add_error(None, exc)
        else:
            messages.success(request, "Run started: fineweb is sending the examples to the models.")
            return redirect("evaluation:detail", run_id=run.id)
    return render(
        request,
        "evaluation/new.html",
        {"form": form, "job": job, "judge_explanations": scorers.JUDGE_EXPLANATIONS},
    )


@role_required(*LAUNCHERS)
def run_estimate(request: TeamRequest) -> HttpResponse:
    """The estimate for the form as it stands (htmx, on every change): calls, tokens, cost, time."""
    form = RunForm(request.GET, team=request.team)
    estimate, problem = None, ""
    if form.is_valid():
        data = form.cleaned_data
        try:
            examples = services.read_examples(services.split_blob(data["version"], data["split"]))
            estimate = services.run_estimate(
                examples=examples,
                models=data["choices"],
                max_tokens=data["max_tokens"],
                judge=data["judge"],
            )
        except ValidationError as exc:
            problem = " ".join(exc.messages)
    else:
        problem = "Fill in the dataset version, two models and a scorer to see the estimate."
    return render(
        request,
        "evaluation/new.html#estimate",
        {"estimate": estimate, "problem": problem, "can_edit_connections": request.membership.is_owner},
    )


@team_required
def run_detail(request: TeamRequest, run_id: int) -> HttpResponse:
    run = _run(request, run_id)
    models = list(run.run_models.select_related("connection"))
    ctx: dict[str, Any] = {"run": run, "can_launch": request.membership.can_launch, "models": models}
    if request.htmx and request.GET.get("part") == "progress":
        response = render(request, "evaluation/detail.html#progress", ctx)
        if run.is_finished:
            response["HX-Refresh"] = "true"  # the results appear with the finished run
        return response
    if request.htmx and request.GET.get("part") == "results":
        return render(
            request,
            "evaluation/detail.html#results",
            {**ctx, **selectors.results_page(run=run, params=request.GET, models=models)},
        )
    ctx.update(selectors.results_page(run=run, params=request.GET, models=models))
    judge = run.summary.get("judge")
    if run.is_finished and judge and judge.get("compare_vote_id") != selectors.latest_compare_vote_id(run):
        services.run_people_refresh(run=run)  # a blind vote was cast on the compare screen since
    ctx["retirement"] = services.run_retirement_notices(run, models)
    ctx["figure"] = selectors.scorecard_figure(run) if run.is_finished else None
    ctx["comparisons"] = run.summary.get("comparisons", [])
    ctx["judge_summary"] = run.summary.get("judge")
    ctx["prompt_tokens"] = run.summary.get("prompt_tokens")
    ctx["judge_explanation"] = scorers.JUDGE_EXPLANATIONS.get(run.judge.get("mode", ""), "")
    return render(request, "evaluation/detail.html", ctx)


@require_POST
@role_required(*LAUNCHERS)
def run_cancel(request: TeamRequest, run_id: int) -> HttpResponse:
    run = _run(request, run_id)
    try:
        services.run_cancel(run=run)
    except ValidationError as exc:
        messages.error(request, " ".join(exc.messages))
    else:
        messages.success(request, "Stopping the run: the replies received so far are kept.")
    return redirect("evaluation:detail", run_id=run.id)


@require_POST
@role_required(*LAUNCHERS)
def run_resume(request: TeamRequest, run_id: int) -> HttpResponse:
    run = _run(request, run_id)
    try:
        services.run_resume(run=run)
    except ValidationError as exc:
        messages.error(request, " ".join(exc.messages))
    else:
        messages.success(request, "Resumed: only the examples without a reply are sent.")
    return redirect("evaluation:detail", run_id=run.id)


@team_required
def run_similar(request: TeamRequest, run_id: int) -> HttpResponse:
    """The training examples most like one example's prompt (htmx partial beside a regression)."""
    run = _run(request, run_id)
    index = request.GET.get("example", "")
    if not index.isdigit():
        return render(request, "evaluation/similar.html", {"hits": [], "version": run.dataset_version})
    example = get_for_team_or_404(
        Example.objects.all(), request, team_field="run__team", run=run, index=int(index)
    )
    version = run.job.dataset_version if run.job and run.job.dataset_version else run.dataset_version
    hits = services.similar_training_examples(version=version, prompt=example.prompt, k=3)
    return render(request, "evaluation/similar.html", {"hits": hits, "version": version, "example": example})


def _export_iter(run: Run, fmt: str) -> Iterator[str]:
    rows = selectors.export_rows(run)
    if fmt == "jsonl":
        for row in rows:
            yield json.dumps(row, ensure_ascii=False) + "\n"
        return
    buffer = io.StringIO()
    writer = None
    for row in rows:
        if writer is None:
            writer = csv.DictWriter(buffer, fieldnames=list(row))
            writer.writeheader()
        writer.writerow(row)
        yield buffer.getvalue()
        buffer.seek(0)
        buffer.truncate()


@team_required
def run_export(request: TeamRequest, run_id: int, extension: str) -> StreamingHttpResponse:
    run = _run(request, run_id)
    if extension not in ("csv", "jsonl"):
        raise Http404
    content_type = "text/csv; charset=utf-8" if extension == "csv" else "application/jsonl; charset=utf-8"
    response = StreamingHttpResponse(_export_iter(run, extension), content_type=content_type)
    response["Content-Disposition"] = f'attachment; filename="evaluation-run-{run.id}.{extension}"'
    return response


@team_required
def run_vote(request: TeamRequest, run_id: int) -> HttpResponse:
    """Blind votes on the run's own examples: names hidden, order drawn on the server."""
    run = _run(request, run_id)
    if request.method == "POST":
        vote_id = request.POST.get("vote", "")
        cast_vote = get_for_team_or_404(
            Vote.objects.select_related("run"),
            request,
            team_field="run__team",
            run=run,
            user=request.user,
            id=int(vote_id) if vote_id.isdigit() else 0,
        )
        try:
            services.vote_cast(vote=cast_vote, outcome=request.POST.get("outcome", ""))
        except ValidationError as exc:
            messages.error(request, " ".join(exc.messages))
        else:
            models = {m.position: m.label for m in run.run_models.all()}
            messages.success(
                request, f"Thanks. A was {models[cast_vote.first]}, B was {models[cast_vote.second]}."
            )
        return redirect("evaluation:vote", run_id=run.id)
    vote = services.vote_next(run=run, user=request.user)
    replies = {}
    if vote is not None:
        for result in vote.example.results.filter(
            model__position__in=[vote.first, vote.second]
        ).select_related("model"):
            replies[result.model.position] = result.reply
    return render(
        request,
        "evaluation/vote.html",
        {
            "run": run,
            "vote": vote,
            "reply_a": replies.get(vote.first) if vote else None,
            "reply_b": replies.get(vote.second) if vote else None,
            "outcomes": Vote.Outcome.choices,
        },
    )


@team_required
def job_scorecard(request: TeamRequest, job_id: int) -> HttpResponse:
    """The job page's scorecard (loaded there by htmx): its latest finished run, or a link to start one."""
    job = get_for_team_or_404(Job.objects.all(), request, id=job_id)
    run = selectors.latest_run_for_job(team=request.team, job_id=job.id)
    ctx = {
        "job": job,
        "run": run,
        "figure": selectors.scorecard_figure(run) if run else None,
        "comparisons": [
            c
            for c in run.summary.get("comparisons", [])
            if c["model"] == max(c2["model"] for c2 in run.summary["comparisons"])
        ]
        if run and run.summary.get("comparisons")
        else [],
        "can_launch": request.membership.can_launch,
    }
    return render(request, "evaluation/scorecard.html", ctx)
