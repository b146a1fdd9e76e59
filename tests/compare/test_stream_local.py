"""Two columns on the REAL built-in local provider (fineweb-tiny), streamed under ASGI.

Transactional: the stream runs the provider call in a thread of its own (and the local provider
answers from its ASGI app in another), which must see the committed rows.
"""

from __future__ import annotations

import pytest
from django.urls import reverse

from compare import services
from compare.models import Reply
from providers.models import Connection
from tests.compare.sse import stream

pytestmark = pytest.mark.django_db(transaction=True)

LONG_PROMPT = "You are a helpful assistant. " * 30


def start(team, alice, *, blind=False, message="Name a red fruit.", max_tokens=8):
    local = Connection.objects.get(team=team, kind="local")
    return services.conversation_create(
        team=team,
        user=alice,
        columns=[
            services.ColumnSpec(connection=local, model="fineweb-tiny", system_prompt=LONG_PROMPT),
            services.ColumnSpec(connection=local, model="fineweb-tiny", system_prompt="Be brief."),
        ],
        message=message,
        blind=blind,
        temperature=0,
        max_tokens=max_tokens,
        seed=1,
    )


def prompt_tokens(reply: Reply) -> int:
    assert reply.prompt_tokens is not None
    return reply.prompt_tokens


def stream_url(conversation, reply):
    return reverse("compare:stream", kwargs={"conversation_id": conversation.id, "reply_id": reply.id})


def test_two_local_columns_stream_token_by_token_and_save_their_stats(team, alice):
    conversation = start(team, alice)
    replies = list(Reply.objects.filter(turn__conversation=conversation).order_by("column__position"))
    results = [stream(alice, stream_url(conversation, reply)) for reply in replies]
    for status, events, frames in results:
        assert status == 200
        tokens = [data["text"] for name, data in events if name == "token"]
        assert len(tokens) >= 2, events  # piece by piece, not one block
        name, final = events[-1]
        assert name == "done", final
        assert final["text"] == "".join(tokens)
        assert final["status"] == "complete" and final["cost"] == "free"
        assert final["completion_tokens"] == 8 and final["stop_reason"] == "length"
        assert final["first_token_s"] is not None and final["total_s"] >= final["first_token_s"]
        assert len(frames) >= len(tokens)  # each token was its own frame on the wire
    saved = list(Reply.objects.filter(turn__conversation=conversation).order_by("column__position"))
    assert all(r.status == Reply.Status.COMPLETE and r.text for r in saved)
    # The long system prompt costs more prompt tokens than the short one: the page shows the saving.
    assert prompt_tokens(saved[0]) > prompt_tokens(saved[1])


def test_the_detail_page_shows_prompt_tokens_saved_after_the_replies(team, alice, alice_client):
    conversation = start(team, alice)
    for reply in Reply.objects.filter(turn__conversation=conversation):
        stream(alice, stream_url(conversation, reply))
    page = alice_client.get(reverse("compare:detail", args=[conversation.id])).content.decode()
    long_reply, short_reply = Reply.objects.filter(turn__conversation=conversation).order_by(
        "column__position"
    )
    saved = prompt_tokens(long_reply) - prompt_tokens(short_reply)
    assert f"Prompt tokens saved: {saved} ({round(100 * saved / prompt_tokens(long_reply))}%)" in page


def test_a_follow_up_goes_to_every_column_with_its_own_history(team, alice, alice_client):
    conversation = start(team, alice)
    for reply in Reply.objects.filter(turn__conversation=conversation):
        stream(alice, stream_url(conversation, reply))
    response = alice_client.post(
        reverse("compare:turn_add", args=[conversation.id]), {"message": "And a yellow one?"}
    )
    assert response.status_code == 302
    second = list(
        Reply.objects.filter(turn__number=2, turn__conversation=conversation).order_by("column__position")
    )
    assert len(second) == 2
    for reply in second:
        first = Reply.objects.get(column=reply.column, turn__number=1)
        messages = services.reply_messages(reply)
        assert messages[0] == {"role": "system", "content": reply.column.system_prompt}
        assert messages[1:] == [
            {"role": "user", "content": "Name a red fruit."},
            {"role": "assistant", "content": first.text},
            {"role": "user", "content": "And a yellow one?"},
        ]
        status, events, _ = stream(alice, stream_url(conversation, reply))
        assert events[-1][0] == "done"
    # The follow-up's prompt holds the first answer: more prompt tokens than the first turn.
    for reply in Reply.objects.filter(turn__number=2, turn__conversation=conversation):
        first = Reply.objects.get(column=reply.column, turn__number=1)
        assert prompt_tokens(reply) > prompt_tokens(first)


def test_a_follow_up_is_refused_while_a_column_is_still_answering(team, alice, alice_client):
    conversation = start(team, alice)
    response = alice_client.post(
        reverse("compare:turn_add", args=[conversation.id]), {"message": "too early"}, follow=True
    )
    assert "Wait until every column has answered" in response.content.decode()
    assert conversation.turns.count() == 1


def test_a_second_request_for_a_reply_waits_for_it_and_sends_the_same_result(team, alice):
    conversation = start(team, alice)
    reply = Reply.objects.filter(turn__conversation=conversation).earliest("id")
    _, first, _ = stream(alice, stream_url(conversation, reply))
    status, again, _ = stream(alice, stream_url(conversation, reply))
    assert status == 200 and [name for name, _ in again] == ["done"]
    assert again[0][1]["text"] == first[-1][1]["text"]


def test_stop_before_a_reply_started_stops_it_with_nothing_sent(team, alice, alice_client):
    conversation = start(team, alice)
    response = alice_client.post(
        reverse("compare:stop", args=[conversation.id]), headers={"Accept": "application/json"}
    )
    assert response.status_code == 204
    reply = Reply.objects.filter(turn__conversation=conversation).earliest("id")
    status, events, _ = stream(alice, stream_url(conversation, reply))
    assert [name for name, _ in events] == ["done"] and events[0][1]["status"] == "stopped"


def test_a_stop_while_streaming_keeps_the_partial_text(team, alice):
    conversation = start(team, alice, max_tokens=200)
    reply = Reply.objects.filter(turn__conversation=conversation).earliest("id")
    assert services.reply_claim(reply_id=reply.id)
    events = []

    def emit(event):
        events.append(event)
        if sum(1 for e in events if e["event"] == "token") == 3:
            services.conversation_stop(conversation=conversation)

    services.STOP_POLL_SECONDS, old = 0.0, services.STOP_POLL_SECONDS
    try:
        saved = services.reply_run(reply_id=reply.id, emit=emit)
    finally:
        services.STOP_POLL_SECONDS = old
    tokens = [e["text"] for e in events if e["event"] == "token"]
    assert saved.status == Reply.Status.STOPPED and saved.stop_reason == "stopped"
    assert 3 <= len(tokens) < 200 and saved.text == "".join(tokens)


def test_closing_a_local_stream_stops_the_generation_on_the_server(team):
    """The stop button and a closed page end the stream: the adapter closes the response, the
    in-process ASGI transport sends http.disconnect, and the local provider stops generating."""
    import threading

    from providers.services import connection_get_provider
    from tests.processes import wait_for

    local = Connection.objects.get(team=team, kind="local")
    provider = connection_get_provider(connection=local, budget="streaming")
    chat = provider.chat(
        model="fineweb-tiny", messages=[{"role": "user", "content": "hi"}], max_tokens=2000, stream=True
    )
    assert not isinstance(chat, services.ChatReply)
    pieces = [next(chat) for _ in range(3)]
    assert all(isinstance(p, str) for p in pieces)
    assert any(t.name == "local-chat" and t.is_alive() for t in threading.enumerate())
    chat.close()  # type: ignore[attr-defined]

    def generation_stopped() -> bool:
        return not any(t.name == "local-chat" and t.is_alive() for t in threading.enumerate())

    wait_for(generation_stopped, timeout=30, message="the local generation to stop")


def test_a_reply_left_streaming_by_a_stopped_server_is_claimed_again(team, alice):
    from datetime import timedelta

    from django.utils import timezone

    conversation = start(team, alice)
    reply = Reply.objects.filter(turn__conversation=conversation).earliest("id")
    assert services.reply_claim(reply_id=reply.id)
    assert not services.reply_claim(reply_id=reply.id)  # a second tab waits for the first
    Reply.objects.filter(id=reply.id).update(started=timezone.now() - timedelta(hours=1))
    assert services.reply_claim(reply_id=reply.id)
