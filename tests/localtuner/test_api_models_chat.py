from __future__ import annotations

import json

import httpx
import pytest
from asgiref.sync import async_to_sync
from django.test import AsyncClient
from django.utils import timezone

from localtuner.models import LocalJob
from tests.fakes.local_api import BASE, assert_openai_error, auth, get, post_json

pytestmark = pytest.mark.django_db
HELLO = [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Say something."}]


def sse(response) -> list:
    """The data payloads of an SSE body: parsed JSON, or the literal "[DONE]"."""
    body = b"".join(response.streaming_content).decode()
    frames = [f for f in body.split("\n\n") if f]
    assert all(f.startswith("data: ") for f in frames), frames
    return [f[6:] if f[6:] == "[DONE]" else json.loads(f[6:]) for f in frames]


def chat(client, **body):
    body.setdefault("model", "fineweb-tiny")
    body.setdefault("messages", HELLO)
    return post_json(client, "/chat/completions", body)


def test_models_lists_the_base_models_and_succeeded_fine_tunes_only(client):
    LocalJob.objects.create(
        model="fineweb-tiny",
        training_file="file-x",
        seed=1,
        status="succeeded",
        fine_tuned_model="ft:fineweb-tiny:a:ftjob-done",
        finished_at=timezone.now(),
    )
    LocalJob.objects.create(model="fineweb-tiny", training_file="file-x", seed=1, status="running")
    listing = get(client, "/models").json()
    assert listing["object"] == "list"
    ids = [m["id"] for m in listing["data"]]
    assert ids == ["SmolLM2-135M-Instruct", "fineweb-tiny", "ft:fineweb-tiny:a:ftjob-done"]
    assert all(
        m["object"] == "model" and isinstance(m["created"], int) and m["owned_by"] for m in listing["data"]
    )


def test_a_base_model_can_be_retrieved_and_an_unknown_one_is_a_404_model_not_found(client):
    assert get(client, "/models/fineweb-tiny").json()["id"] == "fineweb-tiny"
    error = assert_openai_error(get(client, "/models/gpt-5"), 404, code="model_not_found", param="model")
    assert "gpt-5" in error["message"]
    # a fine-tune whose adapter is gone from disk is no model either
    LocalJob.objects.create(
        model="fineweb-tiny",
        training_file="file-x",
        seed=1,
        status="succeeded",
        fine_tuned_model="ft:fineweb-tiny::ftjob-gone",
        finished_at=timezone.now(),
    )
    assert_openai_error(get(client, "/models/ft:fineweb-tiny::ftjob-gone"), 404, code="model_not_found")


def test_a_chat_completion_returns_openais_object_with_usage(client):
    response = chat(client, max_tokens=6, temperature=0)
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["object"] == "chat.completion" and body["id"].startswith("chatcmpl-")
    assert body["model"] == "fineweb-tiny" and isinstance(body["created"], int)
    choice = body["choices"][0]
    assert choice["index"] == 0 and choice["message"]["role"] == "assistant"
    assert isinstance(choice["message"]["content"], str) and choice["message"]["content"]
    usage = body["usage"]
    assert (
        usage["prompt_tokens"] > 5
        and usage["total_tokens"] == usage["prompt_tokens"] + usage["completion_tokens"]
    )
    assert choice["finish_reason"] in ("stop", "length") and usage["completion_tokens"] <= 6
    if choice["finish_reason"] == "length":
        assert usage["completion_tokens"] == 6


def test_max_completion_tokens_is_honoured_like_max_tokens(client):
    body = chat(client, max_completion_tokens=3, temperature=0).json()
    assert body["usage"]["completion_tokens"] <= 3


def test_a_streamed_completion_sends_chunks_token_by_token_then_usage_then_done(client):
    plain = chat(client, max_tokens=12, temperature=0).json()
    response = chat(client, max_tokens=12, temperature=0, stream=True, stream_options={"include_usage": True})
    assert response.status_code == 200 and response["Content-Type"].startswith("text/event-stream")
    frames = sse(response)
    assert frames[-1] == "[DONE]"
    chunks = frames[:-1]
    assert all(c["object"] == "chat.completion.chunk" and c["id"] == chunks[0]["id"] for c in chunks)
    assert chunks[0]["choices"][0]["delta"] == {"role": "assistant", "content": ""}
    usage_chunk, final = chunks[-1], chunks[-2]
    assert usage_chunk["choices"] == [] and usage_chunk["usage"] == plain["usage"]
    assert all(c["usage"] is None for c in chunks[:-1])
    assert (
        final["choices"][0]["delta"] == {}
        and final["choices"][0]["finish_reason"] == (plain["choices"][0]["finish_reason"])
    )
    pieces = [c["choices"][0]["delta"]["content"] for c in chunks[1:-2]]
    assert len(pieces) > 2 and all(pieces)
    assert "".join(pieces) == plain["choices"][0]["message"]["content"]


def test_a_stream_without_include_usage_has_no_usage_field(client):
    frames = sse(chat(client, max_tokens=4, temperature=0, stream=True))
    assert frames[-1] == "[DONE]" and all("usage" not in c for c in frames[:-1])


def test_a_stop_sequence_cuts_the_reply_before_it(client):
    text = chat(client, max_tokens=16, temperature=0).json()["choices"][0]["message"]["content"]
    stop = text[len(text) // 2 : len(text) // 2 + 3]
    assert stop.strip()
    body = chat(client, max_tokens=16, temperature=0, stop=[stop]).json()
    assert body["choices"][0]["message"]["content"] == text[: text.index(stop)]
    assert body["choices"][0]["finish_reason"] == "stop"


def test_sampling_with_a_seed_repeats(client):
    a = chat(client, max_tokens=8, temperature=1.0, top_p=0.9, seed=11).json()["choices"][0]["message"][
        "content"
    ]
    b = chat(client, max_tokens=8, temperature=1.0, top_p=0.9, seed=11).json()["choices"][0]["message"][
        "content"
    ]
    assert a == b


@pytest.mark.parametrize("stream", [False, True])
def test_chat_with_an_unknown_model_is_a_404_model_not_found(client, stream):
    error = assert_openai_error(
        chat(client, model="ft:fineweb-tiny::ftjob-nope", stream=stream),
        404,
        code="model_not_found",
        param="model",
    )
    assert "ftjob-nope" in error["message"]


@pytest.mark.parametrize(
    ("body", "param"),
    [
        ({"model": None}, "model"),
        ({"messages": "hi"}, "messages"),
        ({"messages": []}, "messages"),
        ({"messages": [{"role": "wizard", "content": "hi"}]}, "messages"),
        ({"messages": [{"role": "user", "content": 5}]}, "messages"),
        (
            {"messages": [{"role": "user", "content": [{"type": "image_url", "image_url": {"url": "x"}}]}]},
            "messages",
        ),
        ({"messages": ["hi"]}, "messages"),
        ({"temperature": 3}, "temperature"),
        ({"temperature": "hot"}, "temperature"),
        ({"top_p": 0}, "top_p"),
        ({"max_tokens": 0}, "max_tokens"),
        ({"max_tokens": "5"}, "max_tokens"),
        ({"stop": ["a", "b", "c", "d", "e"]}, "stop"),
        ({"stop": 5}, "stop"),
        ({"seed": 1.5}, "seed"),
        ({"n": 2}, "n"),
        ({"stream": "yes"}, "stream"),
        ({"stream_options": "usage"}, "stream_options"),
        ({"tools": [{"type": "function", "function": {"name": "f"}}]}, "tools"),
    ],
)
def test_a_bad_chat_request_is_a_400_naming_the_parameter(client, body, param):
    assert_openai_error(chat(client, **body), 400, param=param)


@pytest.mark.parametrize("stream", [False, True])
def test_a_prompt_longer_than_the_context_is_a_400(client, stream):
    error = assert_openai_error(
        chat(client, max_tokens=5000, stream=stream), 400, code="context_length_exceeded"
    )
    assert "context" in error["message"]


@pytest.mark.parametrize("body", [b"", b"{", b"[]", b"3"])
def test_a_malformed_chat_body_is_a_400(client, body):
    assert_openai_error(post_json(client, "/chat/completions", body), 400)


def test_a_json_body_over_the_request_limit_is_a_413(client, settings):
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 1000
    huge = [{"role": "user", "content": "x" * 5000}]
    assert_openai_error(chat(client, messages=huge), 413, code="request_too_large")


def test_under_asgi_the_stream_is_an_async_iterator_so_nothing_buffers_it():
    async def run():
        response = await AsyncClient().post(
            f"{BASE}/chat/completions",
            {"model": "fineweb-tiny", "messages": HELLO, "max_tokens": 6, "temperature": 0, "stream": True},
            content_type="application/json",
            headers=auth(),
        )
        # A StreamingHttpResponse under ASGI; the test client's response type does not say so.
        return response, [part async for part in response.streaming_content]  # type: ignore[attr-defined]

    response, frames = async_to_sync(run)()
    assert response.status_code == 200 and response.is_async
    assert frames[0].startswith(b"data: {") and frames[-1] == b"data: [DONE]\n\n"
    assert len(frames) >= 4  # role, content pieces, finish: one frame per chunk


@pytest.mark.django_db(transaction=True)  # the WSGI handler closes connections after each request
def test_the_dashboard_can_reach_the_api_in_process_through_wsgi():
    import fineweb.wsgi

    with httpx.Client(
        transport=httpx.WSGITransport(app=fineweb.wsgi.application),
        base_url="http://localhost/local/v1",
        headers=auth(),
    ) as http:
        assert http.get("/models").json()["data"][0]["object"] == "model"
        with http.stream(
            "POST",
            "/chat/completions",
            json={"model": "fineweb-tiny", "messages": HELLO, "max_tokens": 4, "stream": True},
        ) as response:
            assert response.status_code == 200
            lines = [line for line in response.iter_lines() if line]
        assert lines[-1] == "data: [DONE]" and json.loads(lines[0][6:])["object"] == "chat.completion.chunk"
        assert http.get("/models/nope").status_code == 404
