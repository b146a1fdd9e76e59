from __future__ import annotations

import asyncio
import json
import logging
import threading
from collections.abc import AsyncIterator
from typing import Any

from asgiref.sync import sync_to_async
from django.contrib import messages
from django.core.exceptions import ValidationError
from django.db import connections
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseNotAllowed, StreamingHttpResponse
from django.http.response import HttpResponseBase
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_POST

from compare import selectors, services
from compare.forms import COLUMN_SLOTS, PlaygroundForm
from compare.models import Conversation, Reply
from fineweb.accounts.access import get_for_team_or_404, team_required
from fineweb.accounts.http import MaybeTeamRequest, TeamRequest
from jobs.models import Job
from providers.models import Connection

logger = logging.getLogger("fineweb.compare")


def _get_conversation_for_user(request: MaybeTeamRequest, conversation_id: int) -> Conversation:
    return get_for_team_or_404(Conversation.objects.select_related("created_by"), request, id=conversation_id)


def _initial(request: TeamRequest) -> tuple[dict[str, Any], Job | None, Conversation | None]:
    """The form's starting values: from a job (?job=), a model (?model=) or a conversation to rerun (?rerun=)."""
    initial: dict[str, Any] = {"max_tokens": 256}
    job = None
    rerun = None
    job_id = request.GET.get("job", "")
    if job_id.isdigit():
        job = get_for_team_or_404(
            Job.objects.select_related("connection", "dataset_version"), request, id=job_id
        )
        for i, value in enumerate(selectors.job_defaults(job)):
            initial[f"model_{i}"] = value
    rerun_id = request.GET.get("rerun", "")
    if rerun_id.isdigit():
        rerun = _get_conversation_for_user(request, int(rerun_id))
        first = rerun.turns.order_by("number").first()
        initial.update(
            message=first.message if first else "",
            temperature=rerun.temperature,
            max_tokens=rerun.max_tokens,
            seed=rerun.seed,
            blind=rerun.blind,
        )
        for column in rerun.columns.all():
            initial[f"system_{column.position}"] = column.system_prompt
    return initial, job, rerun


def _playground(
    request: TeamRequest, form: PlaygroundForm, job: Job | None, rerun: Conversation | None, status=200
):
    choices, notes = selectors.model_choices(request.team)
    groups: dict[str, list[selectors.ModelChoice]] = {}
    for choice in choices:
        groups.setdefault(choice.group, []).append(choice)
    slots = [
        {
            "index": i,
            "model": form[f"model_{i}"],
            "system": form[f"system_{i}"],
            "selected": form[f"model_{i}"].value() or "",
        }
        for i in COLUMN_SLOTS
    ]
    prompts = selectors.held_out_prompts(job) if job and job.dataset_version else []
    return render(
        request,
        "compare/playground.html",
        {
            "form": form,
            "groups": groups,
            "slots": slots,
            "notes": notes,
            "job": job,
            "rerun": rerun,
            "prompts": prompts,
        },
        status=status,
    )


@team_required
def playground(request: TeamRequest) -> HttpResponse:
    initial, job, rerun = _initial(request)
    if request.method != "POST":
        return _playground(request, PlaygroundForm(initial=initial), job, rerun)
    form = PlaygroundForm(request.POST)
    if form.is_valid():
        try:
            specs = []
            for connection_id, model, system_prompt in form.columns():
                connection = get_for_team_or_404(Connection.objects.all(), request, id=connection_id)
                specs.append(
                    services.ColumnSpec(connection=connection, model=model, system_prompt=system_prompt)
                )
            conversation = services.conversation_create(
                team=request.team,
                user=request.user,
                columns=specs,
                message=form.cleaned_data["message"],
                blind=form.cleaned_data["blind"],
                temperature=form.cleaned_data["temperature"],
                max_tokens=form.cleaned_data["max_tokens"],
                seed=form.cleaned_data["seed"],
                job=job,
                rerun_of=rerun,
            )
        except ValidationError as exc:
            form.add_error(None, exc)
        except Http404:
            form.add_error(None, "One of the picked models is not on your team's connections; pick it again.")
        else:
            return redirect("compare:detail", conversation_id=conversation.id)
    return _playground(request, form, job, rerun, status=400)


@team_required
def conversation_detail(request: TeamRequest, conversation_id: int) -> HttpResponse:
    conversation = _get_conversation_for_user(request, conversation_id)
    screen = selectors.conversation_screen(conversation, user_id=request.user.id)
    streams = [
        {
            **s,
            "url": reverse(
                "compare:stream", kwargs={"conversation_id": conversation.id, "reply_id": s["reply"]}
            ),
        }
        for s in screen["pending_streams"]
    ]
    return render(request, "compare/conversation.html", {**screen, "streams": streams})


@require_POST
@team_required
def turn_add(request: TeamRequest, conversation_id: int) -> HttpResponse:
    conversation = _get_conversation_for_user(request, conversation_id)
    try:
        services.turn_add(
            conversation=conversation, user=request.user, message=request.POST.get("message", "")
        )
    except ValidationError as exc:
        messages.error(request, " ".join(exc.messages))
    return redirect("compare:detail", conversation_id=conversation.id)


@require_POST
@team_required
def conversation_stop(request: TeamRequest, conversation_id: int) -> HttpResponse:
    conversation = _get_conversation_for_user(request, conversation_id)
    services.conversation_stop(conversation=conversation)
    if request.headers.get("Accept", "").startswith("application/json"):
        return HttpResponse(status=204)
    return redirect("compare:detail", conversation_id=conversation.id)


@require_POST
@team_required
def vote(request: TeamRequest, conversation_id: int) -> HttpResponse:
    conversation = _get_conversation_for_user(request, conversation_id)
    try:
        cast = services.vote_cast(
            conversation=conversation, user=request.user, outcome=request.POST.get("outcome", "")
        )
    except ValidationError as exc:
        messages.error(request, " ".join(exc.messages))
        response = redirect("compare:detail", conversation_id=conversation.id)
        response.status_code = 303
        return response
    if cast.leaked:
        messages.warning(
            request,
            f"Vote saved. It is left out of the ratings because a reply gave its model away ({cast.leaked_reason}).",
        )
    else:
        messages.success(request, "Vote saved; the names are shown below.")
    return redirect("compare:detail", conversation_id=conversation.id)


@team_required
def history(request: TeamRequest) -> HttpResponse:
    conversations = selectors.team_conversations(request.team)[:200]
    return render(request, "compare/history.html", {"conversations": conversations})


@team_required
def leaderboard(request: TeamRequest) -> HttpResponse:
    return render(request, "compare/leaderboard.html", selectors.leaderboard(request.team))


# --------------------------------------------------------------------------- server-sent events
def _sse(event: dict[str, Any]) -> bytes:
    name = event.get("event", "message")
    data = json.dumps({k: v for k, v in event.items() if k != "event"})
    return f"event: {name}\ndata: {data}\n\n".encode()


def _get_reply(request: MaybeTeamRequest, conversation_id: int, reply_id: int) -> Reply:
    conversation = _get_conversation_for_user(request, conversation_id)
    try:
        return Reply.objects.get(id=reply_id, turn__conversation=conversation)
    except Reply.DoesNotExist as exc:
        raise Http404 from exc


def _get_and_claim(request: MaybeTeamRequest, conversation_id: int, reply_id: int) -> tuple[Reply, bool]:
    reply = _get_reply(request, conversation_id, reply_id)
    return reply, services.reply_claim(reply_id=reply.id)


async def reply_stream(request: HttpRequest, conversation_id: int, reply_id: int) -> HttpResponseBase:
    """One column's reply as server-sent events: `token` pieces, then `done` or `error` with the stats.

    The first request for a pending reply streams it from the provider (in a thread, relayed as it
    comes); any later one (a reconnect, a second tab) waits for it to finish and sends the result.
    The stream ends when the browser goes away, and the provider is not read any further.
    """
    if request.method != "GET":
        await sync_to_async(_get_reply)(request, conversation_id, reply_id)  # type: ignore[arg-type]
        return HttpResponseNotAllowed(["GET"])
    # One hop to the sync side for the lookup and the claim (each hop costs a thread switch).
    reply, claimed = await sync_to_async(_get_and_claim)(request, conversation_id, reply_id)  # type: ignore[arg-type]
    response = StreamingHttpResponse(
        _relay(reply.id) if claimed else _wait_for(reply.id), content_type="text/event-stream"
    )
    response["Cache-Control"] = "no-cache"
    response["X-Accel-Buffering"] = "no"  # nginx: pass each event on at once
    return response


async def _relay(reply_id: int) -> AsyncIterator[bytes]:
    loop = asyncio.get_running_loop()
    queue: asyncio.Queue = asyncio.Queue()
    stop = threading.Event()

    def emit(event: dict[str, Any] | None) -> None:
        try:
            loop.call_soon_threadsafe(queue.put_nowait, event)
        except RuntimeError:  # the loop is gone with the request
            stop.set()

    def run() -> None:
        try:
            services.reply_run(reply_id=reply_id, emit=emit, stop=stop)
        except Exception:
            logger.exception("compare: the stream of reply %s failed", reply_id)
        finally:
            connections.close_all()
            emit(None)

    threading.Thread(target=run, name=f"compare-reply-{reply_id}", daemon=True).start()
    try:
        yield b"retry: 2000\n\n"
        while True:
            event = await queue.get()
            if event is None:
                return
            yield _sse(event)
    finally:
        stop.set()  # the browser went away (or the stream ended): the thread stops reading


async def _wait_for(reply_id: int) -> AsyncIterator[bytes]:
    waited = 0.0
    while True:
        reply = await Reply.objects.select_related("turn").aget(id=reply_id)
        if reply.is_finished:
            summary = services.reply_summary(reply)
            yield _sse({"event": "error" if reply.status == Reply.Status.FAILED else "done", **summary})
            return
        if waited > services.STREAM_TOTAL_SECONDS + 60:
            yield _sse({"event": "error", "message": "This reply never finished.", "reply": reply_id})
            return
        yield b": waiting\n\n"
        await asyncio.sleep(0.5)
        waited += 0.5
