"""OpenAI's chat-completions shape (`POST /chat/completions`, plain or server-sent events).

OpenAI, OpenAI-compatible servers (the built-in local provider among them) and Together all
answer chat in this shape, so their adapters' `chat()` call `chat_completion`; the compare screen
streams through `Provider.chat(stream=True)`, which lands here.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from typing import Any

import httpx

from providers.base import ChatReply, ChatStreamItem
from providers.errors import MalformedResponse, ProviderError, ProviderUnavailable
from providers.http import ProviderHTTP
from providers.parsing import as_dict, as_int, as_list, as_opt_str, as_str


def chat_completion(
    http: ProviderHTTP,
    *,
    clock: Callable[[], float],
    model: str,
    messages: list[dict[str, Any]],
    max_tokens: int | None,
    temperature: float | None,
    stream: bool,
    subject: str,
    seed: int | None = None,
    include_usage: bool,
) -> ChatReply | Iterator[ChatStreamItem]:
    """POST /chat/completions: a ChatReply, or (stream=True) text pieces then one ChatReply."""
    body: dict[str, Any] = {"model": model, "messages": messages}
    if max_tokens is not None:
        body["max_tokens"] = max_tokens
    if temperature is not None:
        body["temperature"] = temperature
    if seed is not None:
        body["seed"] = seed
    if stream:
        body["stream"] = True
        if include_usage:
            body["stream_options"] = {"include_usage": True}
        return _chat_stream(http, body, clock=clock, subject=subject)
    started = clock()
    data = http.request_object("POST", "/chat/completions", subject=subject, json=body)
    return parse_chat_reply(data, latency_s=clock() - started)


def _chat_stream(
    http: ProviderHTTP, body: dict, *, clock: Callable[[], float], subject: str
) -> Iterator[ChatStreamItem]:
    started = clock()
    response = http.request(
        "POST",
        "/chat/completions",
        subject=subject,
        json=body,
        stream=True,
        headers={"Accept": "text/event-stream"},
    )
    yield from stream_chat(http, response, started=started, clock=clock)


def parse_chat_reply(data: dict, *, latency_s: float) -> ChatReply:
    choices = [c for c in as_list(data.get("choices")) if isinstance(c, dict)]
    if not choices:
        raise MalformedResponse("The provider's chat answer had no choices.")
    choice = choices[0]
    message = as_dict(choice.get("message"))
    content = message.get("content")
    if isinstance(content, list):  # content parts
        content = "".join(as_str(as_dict(part).get("text")) for part in content)
    usage = as_dict(data.get("usage"))
    return ChatReply(
        text=as_str(content),
        prompt_tokens=as_int(usage.get("prompt_tokens")),
        completion_tokens=as_int(usage.get("completion_tokens")),
        latency_s=latency_s,
        finish_reason=as_opt_str(choice.get("finish_reason")),
    )


def stream_chat(
    http: ProviderHTTP, response: httpx.Response, *, started: float, clock: Callable[[], float]
) -> Iterator[ChatStreamItem]:
    """Server-sent `data: {chunk}` lines until `data: [DONE]`: yield text pieces, then the ChatReply."""
    pieces: list[str] = []
    first_token_s = None
    finish_reason = None
    usage: dict = {}
    done = False
    for line in http.stream_lines(response):
        if not line.startswith("data:"):
            continue
        payload = line[5:].strip()
        if payload.upper() == "[DONE]":
            done = True
            break
        try:
            chunk = json.loads(payload)
        except json.JSONDecodeError as exc:
            raise MalformedResponse(
                "The provider's streamed answer contained a line that is not JSON."
            ) from exc
        if not isinstance(chunk, dict):
            continue
        if "error" in chunk:
            err = chunk["error"]
            message = as_str(as_dict(err).get("message")) or as_str(err)
            raise ProviderError(
                f"{http.provider_name} stopped the answer with an error: {http.scrub(message)}"
            )
        usage = as_dict(chunk.get("usage")) or usage
        for choice in as_list(chunk.get("choices"))[:1]:
            choice = as_dict(choice)
            text = as_str(as_dict(choice.get("delta")).get("content"))
            if text:
                if first_token_s is None:
                    first_token_s = clock() - started
                pieces.append(text)
                yield text
            finish_reason = as_opt_str(choice.get("finish_reason")) or finish_reason
    if not done and finish_reason is None:
        # The body ended cleanly but the provider never said the answer was finished: the
        # connection was cut (a proxy's timeout, a restarted server) in the middle of the answer.
        raise ProviderUnavailable(
            f"The connection to {http.provider_name} ended in the middle of the answer "
            f"(after {len(pieces)} pieces of text, before the provider said it was finished)."
        )
    yield ChatReply(
        text="".join(pieces),
        prompt_tokens=as_int(usage.get("prompt_tokens")),
        completion_tokens=as_int(usage.get("completion_tokens")),
        latency_s=clock() - started,
        finish_reason=finish_reason,
        first_token_s=first_token_s,
    )
