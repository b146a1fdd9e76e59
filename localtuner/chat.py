"""Chat completions on local models: OpenAI's `chat.completion` object, or its SSE stream.

Generation runs in its own thread (`Generation`), start to finish: the engine's decode loop holds
a per-model lock and torch's inference mode, both of which belong to one thread. The web side only
reads finished pieces from a queue, so the same stream serves WSGI (a plain iterator, read by the
server's request thread) and ASGI (an async iterator, so Django does not buffer the whole reply).
"""

from __future__ import annotations

import asyncio
import functools
import json
import queue
import secrets
import threading
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

from django.conf import settings

from localtuner.api import ApiError, bad_request, not_found
from localtuner.services import ResolvedModel

FINGERPRINT = "fp_fineweb_local"
_END = object()


def engine_error(exc: Exception, model: str) -> ApiError | None:
    """The API error for an engine exception caused by the request, or None for a real fault."""
    from localtuner.engine import DataError, UnknownModel

    if isinstance(exc, DataError):
        return bad_request(f"Invalid messages: {exc.message}", param="messages")
    if isinstance(exc, UnknownModel | FileNotFoundError):
        return not_found(
            f"The model `{model}` does not exist or you do not have access to it.",
            param="model",
            code="model_not_found",
        )
    if isinstance(exc, ValueError):
        return bad_request(str(exc), param="messages", code="context_length_exceeded")
    return None


@functools.cache
def model_cache():
    """The process's cache of loaded models, bounded by the FINEWEB_LOCAL_MODEL_CACHE_* settings;
    its generations share FINEWEB_TORCH_THREADS CPU threads (0: the cores this process may use)."""
    from localtuner.engine import ModelCache

    return ModelCache(
        max_models=settings.FINEWEB_LOCAL_MODEL_CACHE_SIZE,
        max_bytes=settings.FINEWEB_LOCAL_MODEL_CACHE_BYTES,
        threads=settings.FINEWEB_TORCH_THREADS or None,  # the cores running generations share
    )


def _engine_kwargs(resolved: ResolvedModel, params: dict) -> dict:
    return {
        "base_model": resolved.base_model,
        "adapter_path": resolved.adapter_path,
        "messages": params["messages"],
        "max_tokens": params["max_tokens"],
        "temperature": params["temperature"],
        "top_p": params["top_p"],
        "stop": params["stop"],
        "seed": params["seed"],
        "cache_dir": Path(settings.FINEWEB_MODEL_CACHE_DIR),
        "cache": model_cache(),
    }


def _usage(prompt_tokens: int, completion_tokens: int) -> dict:
    return {
        "prompt_tokens": prompt_tokens,
        "completion_tokens": completion_tokens,
        "total_tokens": prompt_tokens + completion_tokens,
        "prompt_tokens_details": {"cached_tokens": 0, "audio_tokens": 0},
        "completion_tokens_details": {
            "reasoning_tokens": 0,
            "audio_tokens": 0,
            "accepted_prediction_tokens": 0,
            "rejected_prediction_tokens": 0,
        },
    }


def chat_complete(*, resolved: ResolvedModel, params: dict) -> dict:
    """One non-streamed completion (blocking: call it off the event loop)."""
    from localtuner.engine import generate

    try:
        result = generate(**_engine_kwargs(resolved, params))
    except Exception as exc:
        error = engine_error(exc, resolved.name)
        if error is None:
            raise
        raise error from exc
    return {
        "id": "chatcmpl-" + secrets.token_hex(12),
        "object": "chat.completion",
        "created": int(time.time()),
        "model": resolved.name,
        "system_fingerprint": FINGERPRINT,
        "service_tier": "default",
        "choices": [
            {
                "index": 0,
                "logprobs": None,
                "finish_reason": result.finish_reason,
                "message": {"role": "assistant", "content": result.text, "refusal": None, "annotations": []},
            }
        ],
        "usage": _usage(result.prompt_tokens, result.completion_tokens),
    }


class Generation:
    """`generate_stream` running in a thread of its own; `get()` returns its items in order."""

    def __init__(self, resolved: ResolvedModel, params: dict):
        self._kwargs = _engine_kwargs(resolved, params)
        self._queue: queue.Queue = queue.Queue()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="local-chat", daemon=True)

    def start(self) -> Generation:
        self._thread.start()
        return self

    def _run(self) -> None:
        from localtuner.engine import generate_stream

        stream = None
        try:
            stream = generate_stream(**self._kwargs)
            for item in stream:
                self._queue.put(item)
                if self._stop.is_set():
                    break
        except BaseException as exc:  # handed to the reader, who decides what the client sees
            self._queue.put(exc)
        finally:
            if stream is not None:
                stream.close()  # releases the model's lock when the client went away early
            self._queue.put(_END)

    def get(self) -> Any:
        item = self._queue.get()
        if isinstance(item, BaseException):
            raise item
        return item

    def stop(self) -> None:
        self._stop.set()


class ChatStream:
    """The SSE frames of one streamed completion, for WSGI (`__iter__`) or ASGI (`__aiter__`)."""

    def __init__(self, generation: Generation, first: Any, *, model: str, include_usage: bool):
        self.generation, self.first = generation, first
        self.model, self.include_usage = model, include_usage
        self.id = "chatcmpl-" + secrets.token_hex(12)
        self.created = int(time.time())

    def _chunk(
        self, delta: dict | None, finish_reason: str | None = None, usage: dict | None = None
    ) -> bytes:
        body: dict[str, Any] = {
            "id": self.id,
            "object": "chat.completion.chunk",
            "created": self.created,
            "model": self.model,
            "system_fingerprint": FINGERPRINT,
            "choices": []
            if delta is None
            else [{"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish_reason}],
        }
        if self.include_usage:
            body["usage"] = usage
        return b"data: " + json.dumps(body, ensure_ascii=False).encode() + b"\n\n"

    def __iter__(self) -> Iterator[bytes]:
        from localtuner.engine import StreamEnd

        try:
            yield self._chunk({"role": "assistant", "content": ""})
            item = self.first
            while not isinstance(item, StreamEnd):
                if item is _END:  # the engine always ends with StreamEnd; never hang if it did not
                    return
                yield self._chunk({"content": item})
                try:
                    item = self.generation.get()
                except Exception as exc:
                    error = engine_error(exc, self.model) or ApiError(
                        500, "The server had an error while generating.", type="server_error"
                    )
                    yield b"data: " + json.dumps(error.as_dict()).encode() + b"\n\n"
                    return
            yield self._chunk({}, finish_reason=item.finish_reason)
            if self.include_usage:
                yield self._chunk(None, usage=_usage(item.prompt_tokens, item.completion_tokens))
            yield b"data: [DONE]\n\n"
        finally:
            self.generation.stop()

    async def __aiter__(self) -> AsyncIterator[bytes]:
        frames = iter(self)
        try:
            while True:
                frame = await asyncio.to_thread(next, frames, None)
                if frame is None:
                    return
                yield frame
        finally:
            self.generation.stop()


def chat_stream_start(*, resolved: ResolvedModel, params: dict) -> ChatStream:
    """Start generating and wait for the first piece (blocking: call it off the event loop).

    Errors that belong to the request (unknown model, bad messages, too long a prompt) surface
    here, before any byte is sent, so they get a proper status code.
    """
    generation = Generation(resolved, params).start()
    try:
        first = generation.get()
    except Exception as exc:
        error = engine_error(exc, resolved.name)
        if error is None:
            raise
        raise error from exc
    return ChatStream(generation, first, model=resolved.name, include_usage=params["include_usage"])
