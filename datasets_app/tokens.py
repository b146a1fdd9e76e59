"""Token counting with bpe-openai (bundled vocabularies: nothing is downloaded).

Counts follow OpenAI's cookbook `num_tokens_from_messages`: 3 tokens of overhead per message,
the tokens of every string value (role, content, name, ...), 1 more for a `name`, and 3 for the
reply priming at the end.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable

import bpe_openai

try:
    import orjson

    def _dumps(value) -> str:
        return orjson.dumps(value).decode()
except ImportError:  # pragma: no cover - orjson is in requirements.txt
    import json

    def _dumps(value) -> str:
        return json.dumps(value, separators=(",", ":"))


TOKENS_PER_MESSAGE = 3
TOKENS_PER_NAME = 1
TOKENS_REPLY_PRIMING = 3
# An image part is counted at OpenAI's flat "low detail" price; the real count depends on its size.
TOKENS_PER_IMAGE = 85
_CACHE_CHARS = 4_000_000
# Per-message overhead plus the tokens of the role name (1 in both encodings), checked in tests.
_SIMPLE_ROLES = {"system": TOKENS_PER_MESSAGE + 1, "user": TOKENS_PER_MESSAGE + 1, "assistant": TOKENS_PER_MESSAGE + 1}  # the per-content cache holds at most this many characters at once


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


# A space that follows a whitespace character: there the tokenizer's pre-split may not cut.
_UNSAFE_SPACE = re.compile(r"\s ")
_WORD_CACHE_MAX = 200_000
_MIN_WORDS = 6  # below this, one tokenizer call is cheaper than the word lookups


class MessageCounter:
    """Counts example tokens exactly, fast, with memory that stays flat.

    Two caches. (1) Whole strings: training files repeat the same system prompt on every line.
    (2) Words: OpenAI's encodings (o200k_base, cl100k_base) first split text with a regular
    expression whose pieces never cross a single space that follows a non-space character (such
    a space always starts a new piece, " word"), and BPE merges only inside a piece. So the count
    of "a b c" is count("a") + count(" b") + count(" c"), and " b" is looked up in a dictionary:
    natural language repeats its words. Text where a space follows whitespace ("a  b", "\n x")
    is counted in one call. tests/datasets_app/test_tokens.py checks the equality on many texts.
    Both caches are cleared when full.
    """

    def __init__(self, encoding_name: str):
        self._count = raw_counter(encoding_name)
        self._cache: dict[str, int] = {}
        self._cached_chars = 0
        self._words: dict[str, int] = {}  # word -> tokens of " " + word
        self._firsts: dict[str, int] = {}  # first word of a text -> its tokens

    def _count_words(self, text: str) -> int:
        words = text.split(" ")
        if len(words) < _MIN_WORDS or "" in words or _UNSAFE_SPACE.search(text):
            return self._count(text)
        cache = self._words
        counts = list(map(cache.get, words[1:]))
        if None in counts:
            if len(cache) > _WORD_CACHE_MAX:
                cache.clear()
            count = self._count
            for i, n in enumerate(counts):
                if n is None:
                    word = words[i + 1]
                    n = counts[i] = count(" " + word)
                    cache[word] = n
        first = words[0]
        n_first = self._firsts.get(first)
        if n_first is None:
            if len(self._firsts) > _WORD_CACHE_MAX:
                self._firsts.clear()
            n_first = self._firsts[first] = self._count(first)
        return n_first + sum(counts)

    def text(self, text: str) -> int:
        n = self._cache.get(text)
        if n is None:
            n = self._count_words(text)
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
            overhead = _SIMPLE_ROLES.get(role)
            content = m.get("content")
            if overhead is None or type(content) is not str or not content or content.isspace():
                return None
            n = cache.get(content)
            if n is None:
                n = self.text(content)
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
