from __future__ import annotations

from django.conf import settings
from django.contrib import messages
from django.db.models import OuterRef, Prefetch, Subquery
from django.http import FileResponse, Http404, HttpResponse, HttpResponseBase, StreamingHttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.http import content_disposition_header
from django.views.decorators.csrf import csrf_exempt, csrf_protect
from django.views.decorators.http import require_POST
from django_htmx.http import HttpResponseClientRedirect

from datasets_app import selectors
from datasets_app.forms import SplitForm, UploadForm, VersionUploadForm
from datasets_app.models import Dataset, DatasetVersion
from datasets_app.services import (
    DatasetError,
    dataset_delete,
    dataset_upload,
    dataset_version_split,
    human_size,
    version_exports_schedule,
)
from datasets_app.uploads import SizeLimitUploadHandler
from fineweb.accounts.access import get_for_team_or_404, team_required
from fineweb.accounts.http import TeamRequest

UPLOAD_SLACK = 1024 * 1024  # multipart boundaries and form fields around the file


def _get_dataset_for_user(request: TeamRequest, dataset_id: int) -> Dataset:
    return get_for_team_or_404(Dataset.objects.all(), request, id=dataset_id)


def _get_version_for_user(request: TeamRequest, dataset_id: int, number: int) -> DatasetVersion:
    return get_for_team_or_404(
        DatasetVersion.objects.select_related("dataset", "blob", "parent", "created_by"),
        request,
        team_field="dataset__team",
        dataset_id=dataset_id,
        number=number,
    )


def _version_url(version: DatasetVersion) -> str:
    return reverse("datasets:version", args=[version.dataset_id, version.number])


@team_required
def dataset_list(request: TeamRequest) -> HttpResponse:
    # Each dataset's latest version only: every version's row would decode every report. No
    # ordering: the model's ("dataset", "-number") orders through the dataset's own ordering, a
    # join that took a seventh of this page's CPU to build.
    latest = DatasetVersion.objects.order_by().filter(
        number=Subquery(
            DatasetVersion.objects.filter(dataset=OuterRef("dataset"))
            .order_by("-number")
            .values("number")[:1]
        )
    )
    datasets = Dataset.objects.filter(team=request.team).prefetch_related(
        Prefetch("versions", queryset=latest)
    )
    rows = [{"dataset": d, "latest": next(iter(d.versions.all()), None)} for d in datasets]
    return render(request, "datasets/list.html", {"rows": rows})


@csrf_exempt  # the size-limit handler must be in place before anything reads the body ...
@team_required
def dataset_upload_view(request: TeamRequest, dataset_id: int | None = None) -> HttpResponse:
    handler = SizeLimitUploadHandler(request, settings.DATASET_MAX_UPLOAD_BYTES)
    request.upload_handlers.insert(0, handler)
    return _upload(request, dataset_id, handler)


@csrf_protect  # ... and CSRF is checked here, after it (Django's documented pattern).
def _upload(request: TeamRequest, dataset_id: int | None, handler: SizeLimitUploadHandler) -> HttpResponse:
    """A plain form post, or the same post from htmx: then a refusal re-renders only the form
    (with its messages, status 400 or 413) and success is an HX-Redirect to the version page."""
    dataset = _get_dataset_for_user(request, dataset_id) if dataset_id else None
    form_class = VersionUploadForm if dataset else UploadForm
    form, error, status = form_class(), None, 200
    if request.method == "POST":
        form, error, status, version = _handle_upload(request, dataset, form_class, handler)
        if version is not None:
            if request.htmx:
                return HttpResponseClientRedirect(_version_url(version))
            return redirect(_version_url(version))
    context = {
        "form": form,
        "dataset": dataset,
        "error": error,
        "max_mb": settings.DATASET_MAX_UPLOAD_BYTES / 1e6,
    }
    template = "datasets/upload.html#upload-form" if request.htmx else "datasets/upload.html"
    return render(request, template, context, status=status)


def _handle_upload(
    request: TeamRequest,
    dataset: Dataset | None,
    form_class: type[UploadForm] | type[VersionUploadForm],
    handler: SizeLimitUploadHandler,
) -> tuple[UploadForm | VersionUploadForm, str | None, int, DatasetVersion | None]:
    limit = settings.DATASET_MAX_UPLOAD_BYTES
    too_big = f"The file is larger than the limit of {human_size(limit)}. Split it or remove examples, then try again."
    if int(request.META.get("CONTENT_LENGTH") or 0) > limit + UPLOAD_SLACK:
        return form_class(), too_big, 413, None  # refused before reading a byte of the body
    form = form_class(request.POST, request.FILES)
    if handler.too_big:
        return form_class(), too_big, 413, None
    if not form.is_valid():
        return form, None, 400, None
    data = form.cleaned_data
    try:
        version = dataset_upload(
            team=request.team,
            user=request.user,
            name=data.get("name", ""),
            method=data.get("method", ""),
            target_model=data.get("target_model", ""),
            uploaded_file=data["file"],
            dataset=dataset,
        )
    except DatasetError as exc:
        return form, str(exc), 400, None
    return form, None, 200, version


@team_required
def dataset_detail(request: TeamRequest, dataset_id: int) -> HttpResponse:
    dataset = _get_dataset_for_user(request, dataset_id)
    latest = dataset.latest_version
    if latest is not None:
        return redirect(_version_url(latest))
    return redirect("datasets:list")


@team_required
def version_detail(request: TeamRequest, dataset_id: int, number: int) -> HttpResponse:
    version = _get_version_for_user(request, dataset_id, number)
    context = {
        "version": version,
        "dataset": version.dataset,
        # Only their numbers: whole rows would decode every version's report for a list of links.
        "versions": list(version.dataset.versions.order_by("-number").values("number")),
        "stats": version.stats,
        "report": selectors.VersionReport(version),
        "split_form": SplitForm(
            initial={"fraction": version.split_fraction or 0.1, "seed": version.split_seed or 42}
        ),
        "can_review": request.membership.can_review,
        "page": selectors.ExamplesPage(version),
        "lineage": version.lineage,
        "exports": _export_options(version),
        "panels": [reverse(name, args=[version.id]) for name in settings.DATASET_VERSION_PANELS],
        "freeze_url": reverse(settings.DATASET_FREEZE_URL, args=[version.id]),
        "frozen_children": version.children.filter(frozen_at__isnull=False)
        .order_by("number")
        .values("number"),
        "compare_default": version.parent.number if version.parent else version.number - 1,
    }
    return render(request, "datasets/version.html", context)


@team_required
def version_progress(request: TeamRequest, dataset_id: int, number: int) -> HttpResponse:
    version = _get_version_for_user(request, dataset_id, number)
    response = render(request, "datasets/version.html#progress", {"version": version})
    if version.status != DatasetVersion.Status.VALIDATING:
        response["HX-Refresh"] = "true"
    return response


@team_required
def version_examples(request: TeamRequest, dataset_id: int, number: int) -> HttpResponse:
    version = _get_version_for_user(request, dataset_id, number)
    try:
        page = int(request.GET.get("page", "1"))
    except ValueError:
        page = 1
    context = {"version": version, "page": selectors.ExamplesPage(version, page)}
    template = "datasets/version.html#examples" if request.htmx else "datasets/examples_page.html"
    return render(request, template, context)


@require_POST
@team_required
def version_split(request: TeamRequest, dataset_id: int, number: int) -> HttpResponse:
    version = _get_version_for_user(request, dataset_id, number)
    form = SplitForm(request.POST)
    if form.is_valid():
        try:
            dataset_version_split(version=version, **form.cleaned_data)
            messages.success(request, "Split done: the train and validation files are ready.")
        except DatasetError as exc:
            messages.error(request, str(exc))
    else:
        messages.error(
            request, "Check the split: " + "; ".join(str(e) for errs in form.errors.values() for e in errs)
        )
    return redirect(_version_url(version) + "#split")


@require_POST
@team_required
def dataset_delete_view(request: TeamRequest, dataset_id: int) -> HttpResponse:
    dataset = _get_dataset_for_user(request, dataset_id)
    try:
        dataset_delete(dataset=dataset, user=request.user)
        messages.success(request, f"Deleted the dataset \u201c{dataset.name}\u201d.")
        return redirect("datasets:list")
    except DatasetError as exc:
        messages.error(request, str(exc))
        return redirect("datasets:detail", dataset_id=dataset.id)


@team_required
def version_file(request: TeamRequest, dataset_id: int, number: int, which: str) -> FileResponse:
    """Download the version's file, or the train / validation file of its split."""

    version = _get_version_for_user(request, dataset_id, number)
    blob = {"original": version.blob, "train": version.train_blob, "validation": version.validation_blob}.get(
        which
    )
    if blob is None:
        raise Http404
    name = f"{version.dataset.name}-v{version.number}-{which}.jsonl".replace("/", "_")
    return FileResponse(blob.open(), as_attachment=True, filename=name, content_type="application/jsonl")


def _int_param(request: TeamRequest, name: str) -> int | None:
    try:
        return int(request.GET.get(name, ""))
    except ValueError:
        return None


@team_required
def dataset_diff(request: TeamRequest, dataset_id: int) -> HttpResponse:
    """Examples added, removed and changed between two versions (?a=&b= version numbers)."""
    dataset = _get_dataset_for_user(request, dataset_id)
    versions = list(dataset.versions.select_related("blob").order_by("number"))
    by_number = {v.number: v for v in versions}
    b_number, a_number = _int_param(request, "b"), _int_param(request, "a")
    problem = None
    b = by_number.get(b_number) if b_number is not None else (versions[-1] if versions else None)
    a = None
    if b is not None:
        default_a = b.parent_id and next((v for v in versions if v.id == b.parent_id), None)
        a = by_number.get(a_number) if a_number is not None else default_a or by_number.get(b.number - 1)
    if b is None or a is None:
        problem = "Pick two versions of this dataset to compare."
    elif a.id == b.id:
        problem = "Pick two different versions to compare: a version has no changes against itself."
    context: dict = {"dataset": dataset, "versions": versions, "a": a, "b": b, "problem": problem}
    if problem is None:
        assert a is not None and b is not None
        context.update(
            selectors.version_diff_page(
                a, b, page=_int_param(request, "page") or 1, show=request.GET.get("show", "all")
            )
        )
    template = "datasets/diff.html#diff-rows" if request.htmx and problem is None else "datasets/diff.html"
    return render(request, template, context)


def _export_options(version: DatasetVersion) -> dict | None:
    if not version.is_frozen:
        return None
    if not version.exports:  # frozen before exports were checked: check it now (or start the worker)
        version = version_exports_schedule(version=version)
    return selectors.version_export_options(version)


@team_required
def version_export(request: TeamRequest, dataset_id: int, number: int, fmt: str) -> HttpResponseBase:
    """Stream a frozen version (or its ?part=train / validation file) converted to an export format."""
    from datasets_app import exports

    version = _get_version_for_user(request, dataset_id, number)
    export_format = exports.FORMATS.get(fmt)
    if export_format is None or export_format.method != version.dataset.method:
        raise Http404
    part = request.GET.get("part", "all")
    blob = {"all": version.blob, "train": version.train_blob, "validation": version.validation_blob}.get(part)
    if blob is None:
        raise Http404
    back = redirect(_version_url(version) + "#export")
    if not version.is_frozen:
        messages.error(request, "Only a frozen version can be exported: freeze it first.")
        return back
    result = (version.exports or {}).get(fmt) or {}
    if not result:
        messages.info(request, "The export formats are still being checked; try again in a minute.")
        return back
    if not result.get("ok"):
        messages.error(
            request, f"This version cannot be exported as {export_format.label}. {result.get('reason', '')}"
        )
        return back

    def chunks():
        with blob.open() as f:
            yield from exports.stream_file(export_format, f)

    response = StreamingHttpResponse(chunks(), content_type="application/jsonl")
    suffix = "" if part == "all" else f"-{part}"
    name = f"{version.dataset.name}-v{version.number}{suffix}-{fmt}.jsonl".replace("/", "_")
    response["Content-Disposition"] = content_disposition_header(as_attachment=True, filename=name)
    return response
