"""OpenAI and Together streaming on the compare screen, faked at the httpx transport with chunks in
their published shapes (tests/fakes/chat_stream.py); every error is a sentence in its own column."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest

from compare import services
from compare.models import Reply
from providers.http import RetryPolicy
from providers.models import Connection
from tests.factories import make_connection
from tests.fakes.chat_stream import ChatStreamFake
from tests.fakes.openai import OPENAI_KEY
from tests.fakes.together import TOGETHER_KEY

FT = "ft:gpt-4o-mini-2024-07-18:acme::B1x2y3z4"
NO_WAIT = RetryPolicy.streaming(sleep=lambda seconds: None)


@pytest.fixture
def openai(team):
    return make_connection(team, kind="openai", name="OpenAI")


@pytest.fixture
def together(team):
    return make_connection(team, kind="together", name="Together", api_key=TOGETHER_KEY)


def conversation_with(team, alice, *columns, message="Sag hallo."):
    return services.conversation_create(
        team=team,
        user=alice,
        columns=[services.ColumnSpec(connection=c, model=m) for c, m in columns],
        message=message,
        max_tokens=50,
        temperature=0.2,
        seed=42,
    )


def run(reply, fake, **kwargs):
    events: list[dict] = []
    assert services.reply_claim(reply_id=reply.id)
    saved = services.reply_run(
        reply_id=reply.id, emit=events.append, client=fake.client(), retry=NO_WAIT, **kwargs
    )
    return saved, events


def replies(conversation):
    return list(Reply.objects.filter(turn__conversation=conversation).order_by("column__position"))


def test_an_openai_fine_tune_streams_piece_by_piece_with_its_price_from_the_table(team, alice, openai):
    fake = ChatStreamFake(key=OPENAI_KEY)
    conversation = conversation_with(team, alice, (openai, FT), (openai, "gpt-4o-mini"))
    saved, events = run(replies(conversation)[0], fake)
    tokens = [e["text"] for e in events if e["event"] == "token"]
    assert tokens == fake.words and events[-1]["event"] == "done"
    assert saved.status == Reply.Status.COMPLETE and saved.text == "Hallo, wie geht's?"
    assert saved.stop_reason == "stop" and saved.completion_tokens == len(fake.words)
    body = fake.bodies[0]
    assert body["stream"] is True and body["stream_options"] == {"include_usage": True}
    assert body["seed"] == 42 and body["temperature"] == 0.2 and body["max_tokens"] == 50
    # The fake's usage: 5 prompt tokens ("Sag hallo." is 2 words, + 3), 6 completion tokens.
    # gpt-4o-mini fine-tunes: $0.30 in, $1.20 out per million tokens (table read 2025-06):
    # 5 x 0.30 + 6 x 1.20 = 8.7 millionths of a dollar.
    assert (saved.prompt_tokens, saved.completion_tokens) == (5, 6)
    assert saved.cost_usd == Decimal("0.0000087") and saved.price_as_of == "2025-06"
    assert events[-1]["cost"] == "$0.0000087, prices of 2025-06"


def test_an_openai_base_model_is_priced_from_the_table_with_its_date(team, alice, openai):
    conversation = conversation_with(
        team, alice, (openai, FT), (openai, "gpt-4o-mini"), message="Sag bitte hallo."
    )
    saved, events = run(replies(conversation)[1], ChatStreamFake(key=OPENAI_KEY))
    # 6 prompt tokens (3 words + 3), 6 completion tokens; gpt-4o-mini: $0.15 in, $0.60 out per
    # million (table of 2026-11): 6 x 0.15 + 6 x 0.60 = 4.5 millionths.
    assert (saved.prompt_tokens, saved.completion_tokens) == (6, 6)
    assert saved.cost_usd == Decimal("0.0000045")
    assert events[-1]["cost"] == "$0.0000045, prices of 2026-11"


def test_a_model_without_a_price_in_the_table_says_so_in_a_sentence(team, alice, openai):
    conversation = conversation_with(team, alice, (openai, FT), (openai, "gpt-9-preview"))
    saved, events = run(replies(conversation)[1], ChatStreamFake(key=OPENAI_KEY))
    assert saved.status == Reply.Status.COMPLETE and saved.prompt_tokens == 5
    assert saved.cost_usd is None and saved.price_as_of == ""
    assert events[-1]["cost"] == "no price in the table for gpt-9-preview"


def test_a_blind_column_without_a_price_does_not_name_its_model(team, alice, openai):
    conversation = services.conversation_create(
        team=team,
        user=alice,
        columns=[
            services.ColumnSpec(connection=openai, model="gpt-9-preview"),
            services.ColumnSpec(connection=openai, model="gpt-9-mini"),
        ],
        message="Sag hallo.",
        blind=True,
    )
    saved, events = run(replies(conversation)[0], ChatStreamFake(key=OPENAI_KEY))
    assert saved.cost_usd is None
    assert events[-1]["cost"] == "no price in the table for this model"


@pytest.mark.parametrize(
    ("model", "cost", "sentence"),
    [
        # Listed by model: $0.18 in and out per million; 5 prompt + 3 completion tokens.
        ("meta-llama/Meta-Llama-3.1-8B-Instruct-Turbo", "0.00000144", "$0.0000014, prices of 2026-11"),
        # A LoRA fine-tune of an 8B model: Together's per-size rate up to 8B, $0.20 per million.
        (
            "alice/Meta-Llama-3.1-8B-Instruct-Reference-de-tone-1a2b3c4d",
            "0.0000016",
            "$0.0000016, prices of 2026-11",
        ),
        # A mixture of experts (8x22B) is priced by model only, and this one is not listed.
        (
            "mistralai/Mixtral-8x22B-Instruct-v0.1",
            None,
            "no price in the table for mistralai/Mixtral-8x22B-Instruct-v0.1",
        ),
    ],
)
def test_a_together_stream_is_priced_from_the_table(team, alice, together, model, cost, sentence):
    fake = ChatStreamFake(key=TOGETHER_KEY, flavour="together", words=["Guten", " Tag", "!"])
    conversation = conversation_with(team, alice, (together, model), (together, "Qwen/Qwen3-8B"))
    saved, events = run(replies(conversation)[0], fake)
    assert (saved.prompt_tokens, saved.completion_tokens) == (5, 3)
    assert saved.cost_usd == (Decimal(cost) if cost else None)
    assert events[-1]["cost"] == sentence


def test_together_streams_in_its_own_chunk_shape_with_usage_on_the_last_chunk(team, alice, together):
    fake = ChatStreamFake(key=TOGETHER_KEY, flavour="together", words=["Guten", " Tag", "!"])
    conversation = conversation_with(
        team, alice, (together, "Qwen/Qwen3-8B"), (together, "meta-llama/Llama-3-8b")
    )
    saved, events = run(replies(conversation)[0], fake)
    assert [e["text"] for e in events if e["event"] == "token"] == ["Guten", " Tag", "!"]
    assert saved.status == Reply.Status.COMPLETE and saved.stop_reason == "eos"
    assert saved.completion_tokens == 3 and saved.prompt_tokens
    assert "stream_options" not in fake.bodies[0]  # Together's spec has no such field


def test_a_stream_cut_in_the_middle_keeps_the_text_so_far_and_says_so(team, alice, openai):
    fake = ChatStreamFake(key=OPENAI_KEY)
    fake.cut_after = 2
    conversation = conversation_with(team, alice, (openai, FT), (openai, "gpt-4o-mini"))
    first, second = replies(conversation)
    saved, events = run(first, fake)
    assert saved.status == Reply.Status.FAILED and saved.text == "Hallo,"
    assert events[-1]["event"] == "error"
    assert "cut off in the middle" in saved.error and "OpenAI" in saved.error
    # The other column is not affected.
    other, _ = run(second, fake)
    assert other.status == Reply.Status.COMPLETE and other.text == "Hallo, wie geht's?"


def test_a_429_with_retry_after_is_a_sentence_with_the_wait_and_the_other_column_completes(
    team, alice, openai
):
    fake = ChatStreamFake(key=OPENAI_KEY)
    limited = {
        "error": {
            "message": "Rate limit reached for requests",
            "type": "requests",
            "code": "rate_limit_exceeded",
        }
    }
    fake.fail_next(2, status=429, body=limited, headers={"retry-after": "30"})
    conversation = conversation_with(team, alice, (openai, FT), (openai, "gpt-4o-mini"))
    first, second = replies(conversation)
    saved, events = run(first, fake)
    assert saved.status == Reply.Status.FAILED and saved.text == ""
    assert "HTTP 429" in saved.error and "wait 30 seconds" in saved.error
    assert len(fake.requests) == 2  # one retry before giving up, nothing after
    other, _ = run(second, fake)
    assert other.status == Reply.Status.COMPLETE


@pytest.mark.parametrize(
    ("status", "body", "words"),
    [
        (
            401,
            {
                "error": {
                    "message": "Incorrect API key provided: sk-proj-***",
                    "type": "invalid_request_error",
                }
            },
            "refused the API key",
        ),
        (500, {"error": {"message": "The server had an error", "type": "server_error"}}, "having trouble"),
        (503, "<html>Service Unavailable</html>", "having trouble"),
    ],
)
def test_a_provider_error_is_a_sentence_in_that_column(team, alice, openai, status, body, words):
    fake = ChatStreamFake(key=OPENAI_KEY)
    fake.fail_next(2, status=status, body=body)
    conversation = conversation_with(team, alice, (openai, FT), (openai, "gpt-4o-mini"))
    saved, events = run(replies(conversation)[0], fake)
    assert saved.status == Reply.Status.FAILED and words in saved.error
    assert "<html>" not in saved.error and OPENAI_KEY not in saved.error
    assert events[-1]["event"] == "error" and events[-1]["error"] == saved.error


def test_an_unknown_model_says_the_provider_does_not_serve_it(team, alice, openai, together):
    fake = ChatStreamFake(key=OPENAI_KEY)
    fake.unknown_models.add(FT)
    conversation = conversation_with(team, alice, (openai, FT), (together, "Qwen/Qwen3-8B"))
    saved, _ = run(replies(conversation)[0], fake)
    assert saved.status == Reply.Status.FAILED
    assert f"does not serve the model {FT}" in saved.error and "retired or deleted" in saved.error


def test_a_fine_tune_of_a_shut_down_model_gets_the_retirement_sentence_without_a_call(team, alice, openai):
    fake = ChatStreamFake(key=OPENAI_KEY)
    conversation = conversation_with(team, alice, (openai, FT), (openai, "gpt-4o-mini"))
    saved, _ = run(replies(conversation)[0], fake, today=date(2027, 1, 20))
    assert saved.status == Reply.Status.FAILED
    assert saved.error == (
        "This fine-tuned model no longer answers: OpenAI shut down gpt-4o-mini-2024-07-18 and the models "
        "fine-tuned from it on 14 January 2027."
    )
    assert fake.requests == []
    # The day before the shutdown it is still called.
    again = conversation_with(team, alice, (openai, FT), (openai, "gpt-4o-mini"))
    saved, _ = run(replies(again)[0], fake, today=date(2027, 1, 13))
    assert saved.status == Reply.Status.COMPLETE


def test_an_error_chunk_in_the_middle_of_the_stream_keeps_the_text_and_the_message(team, alice, openai):
    import json

    fake = ChatStreamFake(key=OPENAI_KEY)
    piece = {
        "id": "c",
        "object": "chat.completion.chunk",
        "created": 1,
        "model": FT,
        "choices": [{"index": 0, "delta": {"content": "Hal"}, "finish_reason": None}],
    }
    error = {
        "error": {"message": "The server had an error while processing your request.", "type": "server_error"}
    }
    body = f"data: {json.dumps(piece)}\n\ndata: {json.dumps(error)}\n\n".encode()
    fake.fail_next(status=200, body=body, headers={"content-type": "text/event-stream"})
    conversation = conversation_with(team, alice, (openai, FT), (openai, "gpt-4o-mini"))
    saved, _ = run(replies(conversation)[0], fake)
    assert saved.status == Reply.Status.FAILED and saved.text == "Hal"
    assert "stopped the answer with an error" in saved.error and "while processing" in saved.error


def test_the_local_connection_is_free_even_without_token_counts():
    assert (
        services.reply_cost(
            connection_kind=Connection.Kind.LOCAL, model="x", prompt_tokens=None, completion_tokens=None
        )
        == 0
    )
