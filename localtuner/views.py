"""The local provider's OpenAI-compatible API (under /local/v1/). Thin views: parse, call a service,
shape the answer. `api_view` handles the key, the method and OpenAI's error shape, and puts the
key's scope on `request.local_scope`: every lookup below goes through it, so another scope's
object is the same 404 as a missing one."""

from __future__ import annotations

import asyncio

from asgiref.sync import sync_to_async
from django.conf import settings
from django.http import FileResponse, HttpRequest, JsonResponse, StreamingHttpResponse

from localtuner import chat, services
from localtuner.api import (
    api_view,
    bad_request,
    get_or_404,
    json_body,
    list_response,
    page,
    query_limit,
    too_large,
)
from localtuner.keys import Scope
from localtuner.models import LocalEvent, LocalFile, LocalJob
from localtuner.objects import checkpoint_object, event_object, file_object, job_object
from localtuner.params import chat_params, job_params

MULTIPART_SLACK = 64 * 1024  # boundaries and form fields around the file


def _scope(request: HttpRequest) -> Scope:
    return request.local_scope  # type: ignore[attr-defined]


def _file_or_404(request: HttpRequest, file_id: str) -> LocalFile:
    return get_or_404(_scope(request).files(), file_id, f"No such File object: {file_id}", param="id")


def _job_or_404(request: HttpRequest, job_id: str) -> LocalJob:
    return get_or_404(
        _scope(request).jobs(), job_id, f"No fine-tuning job with id {job_id}.", param="fine_tuning_job_id"
    )


@api_view("GET", "POST")
def files(request: HttpRequest):
    if request.method == "POST":
        return _file_upload(request)
    scoped = _scope(request).files()
    qs = scoped
    if request.GET.get("purpose"):
        qs = qs.filter(purpose=request.GET["purpose"])
    order = request.GET.get("order", "desc")
    if order not in ("asc", "desc"):
        raise bad_request('order must be "asc" or "desc".', param="order")
    limit = query_limit(request, default=10000, maximum=10000)
    rows, has_more = page(
        qs, after=request.GET.get("after"), limit=limit, newest_first=order == "desc", anchors=scoped
    )
    return list_response([file_object(f) for f in rows], has_more=has_more, ids=True)


def _file_upload(request: HttpRequest):
    limit = settings.FINEWEB_LOCAL_MAX_FILE_BYTES
    length = request.META.get("CONTENT_LENGTH") or "0"
    if length.isdigit() and int(length) > limit + MULTIPART_SLACK:
        raise too_large(limit)  # before a byte of the body is read
    if not (request.content_type or "").startswith("multipart/form-data"):
        raise bad_request("Upload files as multipart/form-data with the fields file and purpose.")
    upload = request.FILES.get("file")
    if upload is None:
        raise bad_request("The file field is missing.", param="file")
    file = services.file_create(
        team_id=_scope(request).team_id,
        chunks=upload.chunks(),
        filename=upload.name or "",
        purpose=request.POST.get("purpose", ""),
        check_format=True,
    )
    return JsonResponse(file_object(file))


@api_view("GET", "DELETE")
def file_detail(request: HttpRequest, file_id: str):
    file = _file_or_404(request, file_id)
    if request.method == "DELETE":
        services.file_delete(file=file)
        return JsonResponse({"id": file_id, "object": "file", "deleted": True})
    return JsonResponse(file_object(file))


@api_view("GET")
def file_content(request: HttpRequest, file_id: str):
    file = _file_or_404(request, file_id)
    if not file.path.is_file():
        raise bad_request(f"The content of {file_id} is missing from the data folder.", param="id")
    return FileResponse(
        file.path.open("rb"),
        as_attachment=True,
        filename=file.filename,
        content_type="application/octet-stream",
    )


@api_view("GET", "POST")
def jobs(request: HttpRequest):
    if request.method == "POST":
        job = services.job_create(team_id=_scope(request).team_id, **job_params(json_body(request)))
        return JsonResponse(job_object(job))
    limit = query_limit(request, default=20, maximum=100)
    rows, has_more = page(_scope(request).jobs(), after=request.GET.get("after"), limit=limit)
    return list_response([job_object(j) for j in rows], has_more=has_more)


@api_view("GET")
def job_detail(request: HttpRequest, job_id: str):
    return JsonResponse(job_object(_job_or_404(request, job_id)))


@api_view("POST")
def job_cancel(request: HttpRequest, job_id: str):
    job = services.job_cancel(job=_job_or_404(request, job_id))
    return JsonResponse(job_object(job))


@api_view("GET")
def job_events(request: HttpRequest, job_id: str):
    job = _job_or_404(request, job_id)
    limit = query_limit(request, default=20, maximum=1000)
    after = request.GET.get("after")
    if after and not job.events.filter(public_id=after).exists():
        raise bad_request(f"{after} is not an event of {job_id}.", param="after")
    rows, has_more = page(LocalEvent.objects.filter(job=job), after=after, limit=limit)
    return list_response([event_object(e) for e in rows], has_more=has_more)


@api_view("GET")
def job_checkpoints(request: HttpRequest, job_id: str):
    job = _job_or_404(request, job_id)
    limit = query_limit(request, default=10, maximum=1000)
    rows, has_more = page(job.checkpoints.all(), after=request.GET.get("after"), limit=limit)
    return list_response([checkpoint_object(c, job) for c in rows], has_more=has_more, ids=True)


@api_view("GET")
def models(request: HttpRequest):
    return list_response(services.models_list(team_id=_scope(request).team_id))


@api_view("GET")
def model_detail(request: HttpRequest, model: str):
    return JsonResponse(services.model_get(name=model, team_id=_scope(request).team_id))


@api_view("POST")
async def chat_completions(request: HttpRequest):
    params = chat_params(json_body(request), default_max_tokens=settings.FINEWEB_LOCAL_DEFAULT_MAX_TOKENS)
    resolved = await sync_to_async(services.model_resolve)(
        name=params["model"], team_id=_scope(request).team_id
    )
    if not params["stream"]:
        completion = await asyncio.to_thread(chat.chat_complete, resolved=resolved, params=params)
        return JsonResponse(completion)
    stream = await asyncio.to_thread(chat.chat_stream_start, resolved=resolved, params=params)
    # Under ASGI an async iterator, so Django streams it instead of collecting it first.
    content = stream.__aiter__() if hasattr(request, "scope") else iter(stream)
    response = StreamingHttpResponse(content, content_type="text/event-stream")
    response["Cache-Control"] = "no-cache"
    response["X-Accel-Buffering"] = "no"
    return response
