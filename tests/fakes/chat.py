"""An OpenAI chat-completions fake for evaluation runs: scripted replies, slow answers, 429 storms.

Replies follow the published non-streaming shape (`chat.completion` with `choices[].message`
and `usage`), as tests/fakes/openai.py does; 429s carry `Retry-After` and OpenAI's
`rate_limit_exceeded` error body. Thread-safe: runs send calls from many threads at once.
"""

from __future__ import annotations

import json
import random
import threading
import time
from collections import Counter
from collections.abc import Callable

import httpx

from tests.fakes.openai import FakeOpenAI


def echo_reply(model: str, messages: list[dict]) -> str:
    return f"{model} says: {messages[-1]['content']}"


class ChatFake(FakeOpenAI):
    def __init__(
        self,
        *,
        reply: Callable[[str, list[dict]], str] = echo_reply,
        delay_s: float = 0.0,
        storm: float = 0.0,
        retry_after: str = "0.05",
        seed: int = 0,
    ):
        super().__init__()
        self.reply = reply
        self.delay_s = delay_s
        self.storm = storm  # share of chat calls answered 429
        self.retry_after = retry_after
        self.rng = random.Random(seed)
        self.lock = threading.Lock()
        self.answered: Counter[tuple[str, str]] = Counter()  # (model, last user message) -> 200s
        self.limited = 0
        self.in_flight = 0
        self.max_in_flight = 0
        self.hold: threading.Event | None = None  # set: chat calls wait for it (a worker dies meanwhile)
        self.started = threading.Event()

    def _chat(self, request):
        body = json.loads(request.content)
        with self.lock:
            limited = self.rng.random() < self.storm
            if limited:
                self.limited += 1
            self.in_flight += 1
            self.max_in_flight = max(self.max_in_flight, self.in_flight)
        try:
            self.started.set()
            if self.hold is not None:
                self.hold.wait(60)
            if self.delay_s:
                time.sleep(self.delay_s)
            if limited:
                return self.error(
                    429,
                    "Rate limit reached for requests per min (RPM).",
                    type_="requests",
                    code="rate_limit_exceeded",
                    headers={"retry-after": self.retry_after},
                )
            messages = body["messages"]
            text = self.reply(body["model"], messages)
            with self.lock:
                self.answered[(body["model"], messages[-1]["content"])] += 1
            prompt_tokens = sum(len(str(m.get("content", "")).split()) + 3 for m in messages)
            return httpx.Response(
                200,
                json={
                    "id": "chatcmpl-eval",
                    "object": "chat.completion",
                    "created": 1,
                    "model": body["model"],
                    "choices": [
                        {
                            "index": 0,
                            "message": {"role": "assistant", "content": text, "refusal": None},
                            "logprobs": None,
                            "finish_reason": "stop",
                        }
                    ],
                    "usage": {
                        "prompt_tokens": prompt_tokens,
                        "completion_tokens": len(text.split()),
                        "total_tokens": prompt_tokens + len(text.split()),
                    },
                },
            )
        finally:
            with self.lock:
                self.in_flight -= 1
