from __future__ import annotations

import asyncio
import json
import logging
import threading
from collections.abc import AsyncIterator
from concurrent.futures import ThreadPoolExecutor
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


# The threads that read the providers' streams, kept between replies: starting a thread waits
# until it runs, which on a loaded machine cost the view a scheduler turn before its response
# could start. One thread per streaming reply; a reply beyond MAX_STREAMS waits for a free one.
MAX_STREAMS = 256
_READERS = ThreadPoolExecutor(max_workers=MAX_STREAMS, thread_name_prefix="compare-reply")


class _Relay:
    """One claimed reply streamed in a thread and handed to the event loop as it comes.

    The thread (one of `_READERS`) is given the reply in the view's one sync hop, right after the
    claim and the reads (`services.reply_prepare`), so the provider is already being asked while
    the response goes out through the middleware. The first piece waits (briefly) until the event
    loop has taken it: a thread reading a fast stream would otherwise hold the GIL and keep the
    loop from sending the first token until its switch interval ran out."""

    FIRST_HANDOFF_SECONDS = 0.05

    def __init__(self, loop: asyncio.AbstractEventLoop, reply_id: int) -> None:
        self.loop = loop
        self.reply_id = reply_id
        self.queue: asyncio.Queue = asyncio.Queue()
        self.stop = threading.Event()
        self.first_taken = threading.Event()

    def emit(self, event: dict[str, Any] | None) -> None:
        try:
            self.loop.call_soon_threadsafe(self.queue.put_nowait, event)
        except RuntimeError:  # the loop is gone with the request
            self.stop.set()
            return
        if event is not None and event.get("event") == "token" and not self.first_taken.is_set():
            self.first_taken.wait(self.FIRST_HANDOFF_SECONDS)

    def start(self, plan: services.ReplyPlan) -> None:
        def run() -> None:
            try:
                services.reply_stream(plan=plan, emit=self.emit, stop=self.stop)
            except Exception:
                logger.exception("compare: the stream of reply %s failed", self.reply_id)
            finally:
                connections.close_all()
                self.first_taken.set()
                self.emit(None)

        _READERS.submit(run)

    async def events(self) -> AsyncIterator[bytes]:
        try:
            yield b"retry: 2000\n\n"
            while True:
                event = await self.queue.get()
                if event is None:
                    return
                self.first_taken.set()
                yield _sse(event)
        finally:
            self.stop.set()  # the browser went away (or the stream ended): the thread stops reading


def _open_stream(
    request: MaybeTeamRequest, conversation_id: int, reply_id: int, loop: asyncio.AbstractEventLoop
) -> tuple[int, _Relay | None]:
    """The lookup (404 for another team's reply), the claim and, when this request won the claim,
    the reply's reads and its provider, then its thread started: all in one sync hop."""
    reply = get_for_team_or_404(
        Reply.objects.select_related(*services.REPLY_RELATED),
        request,
        team_field="turn__conversation__team",
        id=reply_id,
        turn__conversation_id=conversation_id,
    )
    if not services.reply_claim(reply_id=reply.id):
        return reply.id, None
    relay = _Relay(loop, reply.id)
    relay.start(services.reply_prepare(reply=reply))
    return reply.id, relay


async def reply_stream(request: HttpRequest, conversation_id: int, reply_id: int) -> HttpResponseBase:
    """One column's reply as server-sent events: `token` pieces, then `done` or `error` with the stats.

    The first request for a pending reply streams it from the provider (in a thread, relayed as it
    comes); any later one (a reconnect, a second tab) waits for it to finish and sends the result.
    The stream ends when the browser goes away, and the provider is not read any further.
    """
    if request.method != "GET":
        await sync_to_async(_get_reply)(request, conversation_id, reply_id)  # type: ignore[arg-type]
        return HttpResponseNotAllowed(["GET"])
    # One hop to the sync side for the lookup, the claim, the reads and the provider (each hop
    # costs a thread switch); the provider is asked from a thread started in that hop.
    found, relay = await sync_to_async(_open_stream)(
        request,  # type: ignore[arg-type]
        conversation_id,
        reply_id,
        asyncio.get_running_loop(),
    )
    response = StreamingHttpResponse(
        relay.events() if relay is not None else _wait_for(found), content_type="text/event-stream"
    )
    response["Cache-Control"] = "no-cache"
    response["X-Accel-Buffering"] = "no"  # nginx: pass each event on at once
    return response


async def _wait_for(reply_id: int) -> AsyncIterator[bytes]:
    waited = 0.0
    while True:
        reply = await Reply.objects.select_related("turn__conversation", "column").aget(id=reply_id)
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
