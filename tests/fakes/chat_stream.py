"""Streamed chat completions as OpenAI and Together send them (server-sent events), for the compare tests.

OpenAI: shared/api/openai-finetuning.yaml (`chat.completion.chunk`, the last chunk with
`finish_reason`, then, when `stream_options.include_usage` is set, a chunk with empty `choices`
and `usage`, then `data: [DONE]`). Together: shared/api/together-finetuning.md section 6 (every
chunk's delta carries its role, `usage` null until the chunk with `finish_reason`, then
`data: [DONE]`). `cut_after` ends the body after that many text pieces, with no finish and no
[DONE]: a connection cut in the middle of the answer.
"""

from __future__ import annotations

import json

import httpx

from tests.fakes.server import FakeServer


def openai_chunks(model: str, words: list[str], *, include_usage: bool, prompt_tokens: int) -> list[dict]:
    base = {"id": "chatcmpl-123", "object": "chat.completion.chunk", "created": 1694268190, "model": model}
    chunks = [
        {
            **base,
            "system_fingerprint": "fp_44709d6fcb",
            "choices": [
                {
                    "index": 0,
                    "delta": {"role": "assistant", "content": w} if i == 0 else {"content": w},
                    "logprobs": None,
                    "finish_reason": None,
                }
            ],
        }
        for i, w in enumerate(words)
    ]
    chunks.append({**base, "choices": [{"index": 0, "delta": {}, "logprobs": None, "finish_reason": "stop"}]})
    if include_usage:
        usage = {
            "prompt_tokens": prompt_tokens,
            "completion_tokens": len(words),
            "total_tokens": prompt_tokens + len(words),
        }
        chunks.append({**base, "choices": [], "usage": usage})
    return chunks


def together_chunks(model: str, words: list[str], *, prompt_tokens: int) -> list[dict]:
    base = {"id": "8f0c5f2e1d", "object": "chat.completion.chunk", "created": 1715021438, "model": model}
    chunks = []
    for i, word in enumerate(words):
        last = i == len(words) - 1
        chunks.append(
            {
                **base,
                "choices": [
                    {
                        "index": 0,
                        "delta": {"role": "assistant", "content": word, "token_id": 100 + i},
                        "finish_reason": "eos" if last else None,
                        "seed": 7 if last else None,
                    }
                ],
                "usage": {
                    "prompt_tokens": prompt_tokens,
                    "completion_tokens": len(words),
                    "total_tokens": prompt_tokens + len(words),
                }
                if last
                else None,
            }
        )
    return chunks


def sse(chunks: list[dict], *, done: bool = True) -> bytes:
    lines = ["data: " + json.dumps(c) for c in chunks]
    if done:
        lines.append("data: [DONE]")
    return ("\n\n".join(lines) + "\n\n").encode()


class ChatStreamFake(FakeServer):
    """`POST /chat/completions` with stream=true, in OpenAI's or Together's shape.

    `words_for(model)` says what a model answers; `cut_after` (pieces) cuts the next stream."""

    def __init__(self, *, key: str, flavour: str = "openai", words: list[str] | None = None):
        super().__init__()
        self.key = key
        self.flavour = flavour
        self.words = words or ["Hallo", ",", " wie", " geht", "'s", "?"]
        self.cut_after: int | None = None
        self.unknown_models: set[str] = set()
        self.bodies: list[dict] = []
        self.models = ["acme-7b-chat"]  # what GET /models lists

    def route(self, request: httpx.Request) -> httpx.Response:
        if request.method == "GET" and request.url.path.endswith("/models"):
            data = [
                {"id": m, "object": "model", "created": 1700000000, "owned_by": "lab"} for m in self.models
            ]
            return httpx.Response(200, json={"object": "list", "data": data})
        if not request.url.path.endswith("/chat/completions"):
            return self.error(404, f"Unknown path {request.url.path}")
        body = json.loads(request.content)
        self.bodies.append(body)
        model = body["model"]
        if model in self.unknown_models:
            if self.flavour == "together":
                return self.error(404, f"Unable to access model {model}.", code="model_not_available")
            return self.error(
                404,
                f"The model `{model}` does not exist or you do not have access to it.",
                code="model_not_found",
            )
        prompt_tokens = sum(len(str(m.get("content", "")).split()) for m in body["messages"]) + 3
        if self.flavour == "together":
            chunks = together_chunks(model, self.words, prompt_tokens=prompt_tokens)
        else:
            include = bool((body.get("stream_options") or {}).get("include_usage"))
            chunks = openai_chunks(model, self.words, include_usage=include, prompt_tokens=prompt_tokens)
        done = True
        if self.cut_after is not None:
            chunks, done = chunks[: self.cut_after], False
            self.cut_after = None
        return httpx.Response(
            200, content=sse(chunks, done=done), headers={"content-type": "text/event-stream"}
        )
