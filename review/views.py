"""Review pages: the queue (focus and list views), acting on an example, bulk, summary, freeze."""

from __future__ import annotations

from datetime import timedelta
from urllib.parse import urlencode

from django.contrib import messages
from django.http import HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.http import require_POST

from datasets_app.models import DatasetVersion
from fineweb.accounts.access import get_for_team_or_404, role_required, team_required
from fineweb.accounts.http import TeamRequest
from review import selectors
from review.checks import ExampleChecker
from review.forms import SettingsForm, fix_rows, fixed_example
from review.models import BulkDecision, Example, VersionReview
from review.services import (
    FixConflict,
    ReviewError,
    example_comment,
    example_decide,
    example_fix,
    example_settle,
    review_bulk_recover,
    review_bulk_start,
    review_freeze_start,
    review_settings_for,
    review_settings_update,
    review_start,
)

REVIEWERS = ("owner", "reviewer")
OWNER = ("owner",)


def _get_version_for_user(request: TeamRequest, version_id: int) -> DatasetVersion:
    return get_for_team_or_404(
        DatasetVersion.objects.select_related("dataset", "blob"),
        request,
        team_field="dataset__team",
        id=version_id,
    )


def _get_example_for_user(request: TeamRequest, example_id: int) -> Example:
    return get_for_team_or_404(
        Example.objects.select_related("version__dataset"),
        request,
        team_field="version__dataset__team",
        id=example_id,
    )


def _queue_url(version_id: int, filters: selectors.Filters | None = None, **extra: object) -> str:
    query = {
        **(filters.as_query() if filters else {}),
        **{k: str(v) for k, v in extra.items() if v is not None},
    }
    url = reverse("review:queue", args=[version_id])
    return f"{url}?{urlencode(query)}" if query else url


def _back(request: TeamRequest, example: Example) -> str:
    """Where an action on an example returns: the page it was made from (same filters), or the focus view."""
    target = request.POST.get("next", "")
    if target.startswith("/review/") and "//" not in target:
        return target
    return _queue_url(example.version_id, view="focus", at=example.index)


@team_required
def review_queue(request: TeamRequest, version_id: int) -> HttpResponse:
    version = _get_version_for_user(request, version_id)
    review = VersionReview.objects.filter(version=version).first()
    context: dict = {"version": version, "dataset": version.dataset, "review": review}
    if request.htmx and request.GET.get("poll"):  # the progress bar's poll: its fragment, then a reload
        if review is not None and review.state == VersionReview.State.BUILDING:
            return render(request, "review/queue.html#progress", context)
        response = HttpResponse(status=204)
        response["HX-Refresh"] = "true"
        return response
    if review is None or review.state in (VersionReview.State.BUILDING, VersionReview.State.FAILED):
        return render(request, "review/queue.html", context)
    bulk = _bulk_job(review)  # first: a stopped one opens the review again
    filters = selectors.Filters.from_query(request.GET, user_id=request.user.id)
    view = "list" if request.GET.get("view") == "list" else "focus"
    context.update(
        filters=filters,
        view=view,
        query=urlencode(filters.as_query()),
        status_choices=selectors.STATUS_CHOICES,
        problem_choices=selectors.PROBLEM_CHOICES,
        warning_choices=selectors.WARNING_CHOICES,
        reviewers=selectors.summary_reviewers(review),
        counts=selectors.counts(review),
        here=request.get_full_path(),
        bulk=bulk,
    )
    if view == "list":
        after = selectors._int(request.GET.get("after"))
        before = selectors._int(request.GET.get("before"))
        context["page"] = selectors.list_page(
            review, filters, after=after, before=before, user_id=request.user.id
        )
    else:
        at = selectors._int(request.GET.get("at"))
        context["focus"] = selectors.focus(review, filters, at=at, user_id=request.user.id)
    return render(request, "review/queue.html", context)


@require_POST
@role_required(*REVIEWERS)
def review_start_view(request: TeamRequest, version_id: int) -> HttpResponse:
    version = _get_version_for_user(request, version_id)
    try:
        review_start(version=version, user=request.user)
    except ReviewError as exc:
        messages.error(request, str(exc))
    return redirect("review:queue", version_id=version.id)


@require_POST
@role_required(*REVIEWERS)
def example_decide_view(request: TeamRequest, example_id: int) -> HttpResponse:
    example = _get_example_for_user(request, example_id)
    verdict = request.POST.get("verdict", "")
    try:
        example_decide(
            example=example, user=request.user, verdict=verdict, reason=request.POST.get("reason", "")
        )
    except ReviewError as exc:
        messages.error(request, str(exc))
        return redirect(_queue_url(example.version_id, view="focus", at=example.index))
    target = _back(request, example)
    if request.POST.get("advance") and verdict:
        target = request.POST["advance"] if request.POST["advance"].startswith("/review/") else target
    return redirect(target)


@require_POST
@role_required(*REVIEWERS)
def example_comment_view(request: TeamRequest, example_id: int) -> HttpResponse:
    example = _get_example_for_user(request, example_id)
    try:
        example_comment(example=example, user=request.user, text=request.POST.get("text", ""))
    except ReviewError as exc:
        messages.error(request, str(exc))
    return redirect(_back(request, example) + "#thread")


@require_POST
@role_required(*OWNER)
def example_settle_view(request: TeamRequest, example_id: int) -> HttpResponse:
    example = _get_example_for_user(request, example_id)
    try:
        example_settle(
            example=example,
            user=request.user,
            verdict=request.POST.get("verdict", ""),
            reason=request.POST.get("reason", ""),
        )
        messages.success(request, f"Example {example.number} is settled.")
    except ReviewError as exc:
        messages.error(request, str(exc))
    return redirect(_back(request, example))


def _fix_context(example: Example, rows: dict, **extra: object) -> dict:
    dpo = example.version.dataset.method == "dpo"
    return {"example": example, "version": example.version, "dpo": dpo, "form": rows, **extra}


@role_required(*REVIEWERS)
def example_fix_view(request: TeamRequest, example_id: int) -> HttpResponse:
    example = _get_example_for_user(request, example_id)
    dpo = example.version.dataset.method == "dpo"
    if request.method != "POST":
        rows = fix_rows(example.data, dpo=dpo)
        return render(
            request, "review/fix.html", _fix_context(example, rows, lock=example.lock, checked=None)
        )
    data = fixed_example(example.data, request.POST, dpo=dpo)
    try:
        lock = int(request.POST.get("lock", ""))
    except ValueError:
        lock = -1
    try:
        result = example_fix(example=example, user=request.user, data=data, lock=lock)
    except FixConflict as exc:
        context = _fix_context(
            exc.example,
            fix_rows(exc.example.data, dpo=dpo),
            lock=exc.example.lock,
            checked=None,
            conflict=str(exc),
            other=selectors.conversation(exc.other.after if exc.other else exc.example.data),
            mine=selectors.conversation(data),
        )
        return render(request, "review/fix.html", context, status=409)
    except ReviewError as exc:
        messages.error(request, str(exc))
        return redirect(_queue_url(example.version_id, view="focus", at=example.index))
    if isinstance(result, DatasetVersion):
        messages.success(
            request,
            f"Version {example.version.number} is frozen, so your fix started a new draft, version "
            f"{result.number}; review it here.",
        )
        return redirect("review:queue", version_id=result.id)
    messages.success(request, f"Example {example.number} is fixed.")
    return redirect(_queue_url(example.version_id, view="focus", at=example.index))


@require_POST
@role_required(*REVIEWERS)
def example_fix_check(request: TeamRequest, example_id: int) -> HttpResponse:
    """As you type: the fixed example checked with the upload's rules (htmx, a fragment)."""
    example = _get_example_for_user(request, example_id)
    dataset = example.version.dataset
    data = fixed_example(example.data, request.POST, dpo=dataset.method == "dpo")
    checked = ExampleChecker(method=dataset.method, model=dataset.target_model).check(data)
    return render(request, "review/fix.html#checked", {"checked": checked, "example": example})


@role_required(*REVIEWERS)
def review_bulk(request: TeamRequest, version_id: int) -> HttpResponse:
    """GET: how many examples the filters select, to confirm; POST: decide them all (in the
    request for a small set, by a worker for a large one, with a progress bar on the review)."""
    version = _get_version_for_user(request, version_id)
    review = get_for_team_or_404(
        VersionReview.objects.all(), request, team_field="version__dataset__team", version=version
    )
    source = request.POST if request.method == "POST" else request.GET
    filters = selectors.Filters.from_query(source, user_id=request.user.id)
    verdict = source.get("verdict", "approve")
    then = "summary" if source.get("then") == "summary" else ""
    if request.method == "POST":
        try:
            expected = int(request.POST.get("expected", "-1"))
        except ValueError:
            expected = -1
        try:
            n, job = review_bulk_start(
                review=review,
                user=request.user,
                filters=filters,
                verdict=verdict,
                reason=request.POST.get("reason", ""),
                expected=expected,
            )
            if job is not None:
                messages.success(
                    request,
                    f"Recording your decision on {n:,} examples; the bar at the top of the page follows it.",
                )
            else:
                word = "Approved" if verdict == "approve" else "Rejected"
                messages.success(request, f"{word} {n:,} example{'s' if n != 1 else ''}.")
            if then == "summary":
                return redirect("review:summary", version_id=version.id)
            return redirect(_queue_url(version.id, filters, view="list"))
        except ReviewError as exc:
            messages.error(request, str(exc))
        review.refresh_from_db()
    context = {
        "version": version,
        "dataset": version.dataset,
        "review": review,
        "filters": filters,
        "filter_fields": filters.as_query(),
        "verdict": "reject" if verdict == "reject" else "approve",
        "count": selectors.selection_count(review, filters),
        "then": then,
        "query": urlencode(filters.as_query()),
        "bulk": _bulk_job(review),
    }
    return render(request, "review/bulk.html", context)


def _bulk_job(review: VersionReview) -> BulkDecision | None:
    """The review's bulk job to show: one running, or one that stopped in the last day (the page
    says why). A job whose worker is gone is stopped here (`review_bulk_recover`)."""
    job = review_bulk_recover(review=review)
    if job is None or job.state == BulkDecision.State.DONE:
        return None
    if job.state == BulkDecision.State.FAILED and job.created < timezone.now() - timedelta(days=1):
        return None
    return job


@team_required
def review_bulk_progress(request: TeamRequest, version_id: int) -> HttpResponse:
    """The bulk decision's progress bar (htmx poll): its fragment while it runs, then a reload."""
    version = _get_version_for_user(request, version_id)
    review = get_for_team_or_404(
        VersionReview.objects.all(), request, team_field="version__dataset__team", version=version
    )
    job = review_bulk_recover(review=review)
    if job is not None and review.state == VersionReview.State.DECIDING:
        return render(request, "review/_bulk.html", {"bulk": job, "review": review, "version": version})
    if job is not None and job.state == BulkDecision.State.DONE and job.user_id == request.user.id:
        word = "Approved" if job.verdict == "approve" else "Rejected"
        messages.success(request, f"{word} {job.done:,} examples.")
    response = HttpResponse(status=204)
    response["HX-Refresh"] = "true"
    return response


@team_required
def review_summary(request: TeamRequest, version_id: int) -> HttpResponse:
    version = _get_version_for_user(request, version_id)
    review = get_for_team_or_404(
        VersionReview.objects.all(), request, team_field="version__dataset__team", version=version
    )
    if request.htmx and request.GET.get("poll"):  # the freeze's progress bar: its fragment, then a reload
        if review.state == VersionReview.State.FREEZING:
            return render(request, "review/summary.html#freezing", {"version": version, "review": review})
        response = HttpResponse(status=204)
        response["HX-Refresh"] = "true"
        return response
    bulk = _bulk_job(review)  # first: a stopped one opens the review again
    context = {
        "version": version,
        "dataset": version.dataset,
        "review": review,
        "summary": selectors.summary(review),
        "bulk": bulk,
    }
    return render(request, "review/summary.html", context)


@require_POST
@role_required(*OWNER)
def review_freeze_view(request: TeamRequest, version_id: int) -> HttpResponse:
    version = _get_version_for_user(request, version_id)
    review = get_for_team_or_404(
        VersionReview.objects.all(), request, team_field="version__dataset__team", version=version
    )
    try:
        frozen = review_freeze_start(
            review=review, user=request.user, approved_only=bool(request.POST.get("approved_only"))
        )
    except ReviewError as exc:
        messages.error(request, str(exc))
        return redirect("review:summary", version_id=version.id)
    if frozen is None:  # a large review: a worker freezes it, this page shows how far it got
        messages.success(request, "Freezing the approved examples; this page follows the progress.")
        return redirect("review:summary", version_id=version.id)
    messages.success(
        request, f"Frozen: version {frozen.number} holds the approved examples; jobs can train on it."
    )
    return redirect("datasets:version", dataset_id=frozen.dataset_id, number=frozen.number)


@role_required(*OWNER)
def review_settings_view(request: TeamRequest) -> HttpResponse:
    setting = review_settings_for(team=request.team)
    form = SettingsForm(request.POST or None, initial={"reviews_per_example": setting.reviews_per_example})
    if request.method == "POST" and form.is_valid():
        try:
            review_settings_update(
                team=request.team,
                user=request.user,
                reviews_per_example=form.cleaned_data["reviews_per_example"],
            )
            messages.success(request, "Saved the review setting.")
            return redirect("review:settings")
        except ReviewError as exc:
            messages.error(request, str(exc))
    return render(request, "review/settings.html", {"form": form, "setting": setting})


@team_required
def review_for_version(request: TeamRequest, version_id: int) -> HttpResponse:
    """The review panel of a version's page (htmx) or a page: this version's review, and the
    review its examples were approved in, whose history covers every example it holds."""
    version = _get_version_for_user(request, version_id)
    source = VersionReview.objects.filter(frozen_into=version).select_related("version").first()
    context = {
        "version": version,
        "review": VersionReview.objects.filter(version=version).first(),
        "source": source,
        "counts": selectors.counts(source) if source is not None else None,
    }
    template = "review/for_version.html#panel" if request.htmx else "review/for_version.html"
    return render(request, template, context)
