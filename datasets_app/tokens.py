"""Token counting with bpe-openai (bundled vocabularies: nothing is downloaded).

Counts follow OpenAI's cookbook `num_tokens_from_messages`: 3 tokens of overhead per message,
the tokens of every string value (role, content, name, ...), 1 more for a `name`, and 3 for the
reply priming at the end.
"""

from __future__ import annotations

import functools
from collections.abc import Callable

import bpe_openai
import orjson


def _dumps(value) -> str:
    return orjson.dumps(value).decode()


TOKENS_PER_MESSAGE = 3
TOKENS_PER_NAME = 1
TOKENS_REPLY_PRIMING = 3
# An image part is counted at OpenAI's flat "low detail" price; the real count depends on its size.
TOKENS_PER_IMAGE = 85
_CACHE_CHARS = 1_000_000  # the per-content cache holds at most this many characters at once
# Per-message overhead plus the tokens of the role name (1 in both encodings), checked in tests.
_SIMPLE_ROLES = {
    "system": TOKENS_PER_MESSAGE + 1,
    "user": TOKENS_PER_MESSAGE + 1,
    "assistant": TOKENS_PER_MESSAGE + 1,
}


@functools.lru_cache(maxsize=4)
def encoding(name: str) -> bpe_openai.Encoding:
    return bpe_openai.get_encoding(name)


@functools.lru_cache(maxsize=4)
def raw_counter(name: str) -> Callable[[str], int]:
    """The fastest exact counter for `name`: the Rust backend's count(), which builds no list.

    Special-token text such as "<|endoftext|>" in a user's data is counted as plain text, as the
    provider does for training data.
    """
    enc = encoding(name)
    count = getattr(getattr(enc, "_backend", None), "count", None)
    if count is not None:
        return count
    return lambda text: len(enc.encode(text, disallowed_special=()))  # pragma: no cover


class MessageCounter:
    """Counts example tokens exactly, fast, with memory that stays flat.

    Whole strings are cached (training files repeat the same system prompt on every line); the
    cache is cleared when it holds more than _CACHE_CHARS characters. Everything else goes straight
    to the Rust backend's count(), which measured faster than any Python-side splitting into cached
    words (benchmarks/bench_dataset_validation.py; docs/architecture.md, "Datasets").
    """

    def __init__(self, encoding_name: str):
        self._count = raw_counter(encoding_name)
        self._cache: dict[str, int] = {}
        self._cached_chars = 0

    def text(self, text: str) -> int:
        n = self._cache.get(text)
        if n is None:
            n = self._count(text)
            self._cached_chars += len(text)
            if self._cached_chars > _CACHE_CHARS:
                self._cache.clear()
                self._cached_chars = len(text)
            self._cache[text] = n
        return n

    def simple(self, messages: list) -> tuple[int, int] | None:
        """(tokens, assistant tokens) of the common shape: messages of only a role and non-blank
        string content, system/user/assistant roles, the last from the assistant. Such an example
        is valid by every rule, so the full checks are skipped. None for anything else."""
        cache = self._cache
        total = TOKENS_REPLY_PRIMING
        trained = 0
        role = None
        for m in messages:
            if type(m) is not dict or len(m) != 2:
                return None
            role = m.get("role")
            # A role that is a list or an object raises TypeError (unhashable); the checker catches
            # it and leaves the line to the full checks, which name the problem.
            overhead = _SIMPLE_ROLES.get(role)  # type: ignore[arg-type]
            content = m.get("content")
            if overhead is None or type(content) is not str or not content or content.isspace():
                return None
            n = cache.get(content)
            if n is None:
                n = self.text(content)  # counts and caches it
            total += overhead + n
            if role == "assistant":
                trained += n
        if role != "assistant":
            return None
        return total, trained

    def content(self, content) -> int:
        if isinstance(content, str):
            return self.text(content)
        total = 0
        if isinstance(content, list):
            for part in content:
                if not isinstance(part, dict):
                    continue
                kind = part.get("type")
                if kind == "text" and isinstance(part.get("text"), str):
                    total += self.text(part["text"])
                elif kind == "refusal" and isinstance(part.get("refusal"), str):
                    total += self.text(part["refusal"])
                elif kind == "image_url":
                    total += TOKENS_PER_IMAGE
        return total

    def message(self, message: dict) -> int:
        total = TOKENS_PER_MESSAGE
        for key, value in message.items():
            if key == "content":
                total += self.content(value)
            elif key in ("tool_calls", "function_call"):
                if value:
                    total += self.text(_dumps(value))
            elif isinstance(value, str):
                total += self.text(value)
                if key == "name":
                    total += TOKENS_PER_NAME
        return total

    def messages(self, messages: list, tools=None, functions=None) -> int:
        total = TOKENS_REPLY_PRIMING
        for message in messages:
            total += self.message(message)
        if tools:
            total += self.text(_dumps(tools))
        if functions:
            total += self.text(_dumps(functions))
        return total
