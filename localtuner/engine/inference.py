"""Chat generation with local base models and fine-tuned LoRA adapters.

* ``ModelCache``: a small LRU of loaded models bounded by count and by
  approximate bytes (parameters + buffers). Key: ``(base_model, adapter_path,
  cache_dir)``. A fine-tuned model is its base plus its adapter, merged into
  its own copy of the weights once at load time (``merge_and_unload``) so
  generation costs the same as the base.
* ``generate`` / ``generate_stream``: a manual decode loop. Llama-architecture
  models (both base models) run on ``fastdecode.FastLlama`` (fused projections,
  a static KV cache, only the new token each step; same float32 weights and
  arithmetic, so greedy output equals ``transformers`` ``generate()``); it is
  read-only, so several generations on one model run at once. Any other model
  falls back to transformers' forward with a ``DynamicCache``, one generation at
  a time per model. Each generation thread uses ``cores // running generations``
  torch threads (one core left for the web server), so two streams side by side do not fight
  over the same cores.
  temperature 0 is greedy; a seed makes sampling deterministic. Text is decoded
  incrementally (a window of recent tokens, never half a UTF-8 character) and
  ``stop`` sequences are found across token boundaries: text that could still
  become a stop sequence is held back until it cannot.
"""

from __future__ import annotations

import contextlib
import functools
import os
import secrets
import threading
import warnings
from collections import OrderedDict
from collections.abc import Generator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from . import fastdecode
from .basemodels import BASE_MODELS, UnknownModel, load_base, pick_device
from .data import encode_prompt, normalise_messages


@dataclass
class Generation:
    text: str
    prompt_tokens: int
    completion_tokens: int
    finish_reason: str  # "stop" | "length"


@dataclass
class StreamEnd:
    """The last item ``generate_stream`` yields (after the text pieces)."""

    text: str  # the whole completion (= the concatenated pieces)
    prompt_tokens: int
    completion_tokens: int
    finish_reason: str  # "stop" | "length"


@dataclass
class LoadedModel:
    key: tuple
    model: Any  # a transformers PreTrainedModel (or a peft model around one)
    tokenizer: Any
    device: str
    nbytes: int
    fast: fastdecode.FastLlama | None = None  # None: transformers' forward (and ``lock``)
    lock: threading.Lock = field(default_factory=threading.Lock)


def _nbytes(model) -> int:
    tensors = list(model.parameters()) + list(model.buffers())
    return sum(t.numel() * t.element_size() for t in tensors)


class ModelCache:
    """LRU cache of loaded models, bounded by ``max_models`` and ``max_bytes``.

    The most recently used model is always kept, even if alone it exceeds ``max_bytes``.
    """

    def __init__(
        self,
        max_models: int = 2,
        max_bytes: int | None = 3 * 1024**3,
        device: str | None = None,
        threads: int | None = None,
    ):
        self.max_models = max(1, max_models)
        self.threads = threads  # CPU threads shared by running generations (None: usable cores)
        self.max_bytes = max_bytes
        self.device = device
        self._items: OrderedDict[tuple, LoadedModel] = OrderedDict()
        self._lock = threading.Lock()  # guards _items
        self._load_lock = threading.Lock()  # one load at a time (loads are memory-heavy)

    @staticmethod
    def make_key(base_model: str, adapter_path, cache_dir) -> tuple:
        adapter = str(Path(adapter_path).resolve()) if adapter_path else None
        return (base_model, adapter, str(Path(cache_dir).resolve()))

    def __len__(self) -> int:
        return len(self._items)

    def keys(self) -> list[tuple]:
        with self._lock:
            return list(self._items)

    def clear(self) -> None:
        with self._lock:
            self._items.clear()

    def get(self, base_model: str, adapter_path, cache_dir) -> LoadedModel:
        if base_model not in BASE_MODELS:
            raise UnknownModel(base_model)
        key = self.make_key(base_model, adapter_path, cache_dir)
        with self._lock:
            if key in self._items:
                self._items.move_to_end(key)
                return self._items[key]
        with self._load_lock:
            with self._lock:
                if key in self._items:
                    self._items.move_to_end(key)
                    return self._items[key]
            loaded = self._load(key, base_model, adapter_path, cache_dir)
            with self._lock:
                self._items[key] = loaded
                self._evict()
            return loaded

    def _load(self, key, base_model, adapter_path, cache_dir) -> LoadedModel:
        device = self.device or pick_device()
        model, tokenizer = load_base(base_model, cache_dir=Path(cache_dir), device="cpu")
        use_codes = device == "cpu" and fastdecode.supports(model)
        # the base's 4/8-bit codes (fastdecode.model_codes), found before an adapter changes it
        codes = fastdecode.model_codes(model) if use_codes else None
        if adapter_path:
            from peft import PeftModel

            if not (Path(adapter_path) / "adapter_config.json").is_file():
                raise FileNotFoundError(f"no peft adapter in {adapter_path}")
            with warnings.catch_warnings():  # peft calls a transformers API deprecated in 5.x
                warnings.simplefilter("ignore", FutureWarning)
                model = PeftModel.from_pretrained(model, str(adapter_path), is_trainable=False)
            codes = fastdecode.with_lora(codes, model) if codes else None
            model = model.merge_and_unload()
        model.to(device)
        model.eval()
        fast = fastdecode.FastLlama(model, codes=codes) if fastdecode.supports(model) else None
        nbytes = _nbytes(model) + (fast.codes_nbytes if fast else 0)
        return LoadedModel(key=key, model=model, tokenizer=tokenizer, device=device, nbytes=nbytes, fast=fast)

    def _evict(self) -> None:
        while len(self._items) > self.max_models:
            self._items.popitem(last=False)
        if self.max_bytes is not None:
            while len(self._items) > 1 and sum(m.nbytes for m in self._items.values()) > self.max_bytes:
                self._items.popitem(last=False)


# Used when a caller passes no cache; the local provider passes one sized from its settings.
DEFAULT_CACHE = ModelCache()


# --------------------------------------------------------------------------- decoding


def _pick(logits: torch.Tensor, temperature: float, top_p: float, generator: torch.Generator) -> int:
    if temperature <= 0:
        return int(torch.argmax(logits))
    probs = torch.softmax(logits / temperature, dim=-1)
    if top_p < 1.0:
        sorted_probs, order = torch.sort(probs, descending=True)
        keep = (torch.cumsum(sorted_probs, -1) - sorted_probs) < top_p
        keep[0] = True
        sorted_probs = torch.where(keep, sorted_probs, torch.zeros_like(sorted_probs))
        choice = torch.multinomial(sorted_probs / sorted_probs.sum(), 1, generator=generator)
        return int(order[choice])
    return int(torch.multinomial(probs, 1, generator=generator))


def _stop_ids(tokenizer, model) -> set[int]:
    ids = set()
    for value in (tokenizer.eos_token_id, getattr(model.config, "eos_token_id", None)):
        if isinstance(value, int):
            ids.add(value)
        elif isinstance(value, (list, tuple)):
            ids.update(v for v in value if isinstance(v, int))
    vocab = tokenizer.get_vocab()
    for token in ("<|im_end|>", "<|endoftext|>"):
        if token in vocab:
            ids.add(vocab[token])
    return ids


def _holdback(text: str, stops: list[str]) -> int:
    """Length of the longest suffix of ``text`` that is a proper prefix of a stop sequence."""
    best = 0
    for s in stops:
        for k in range(min(len(s) - 1, len(text)), best, -1):
            if text.endswith(s[:k]):
                best = k
                break
    return best


def generate_stream(
    *,
    base_model: str,
    adapter_path: str | Path | None,
    messages: list[dict],
    max_tokens: int = 256,
    temperature: float = 1.0,
    top_p: float = 1.0,
    stop: str | list[str] | None = None,
    seed: int | None = None,
    cache_dir: str | Path,
    cache: ModelCache | None = None,
) -> Generator[str | StreamEnd, None, None]:
    """Return an iterator of the completion's text pieces, then one ``StreamEnd`` (usage, finish_reason).

    Loading and validation happen here, before the first piece: UnknownModel, DataError
    (bad messages) and ValueError (too long) are raised by the call itself, not mid-stream.
    """
    cache = cache or DEFAULT_CACHE
    loaded = cache.get(base_model, adapter_path, cache_dir)
    model, tokenizer = loaded.model, loaded.tokenizer
    stops = [s for s in ([stop] if isinstance(stop, str) else (stop or [])) if s]
    max_tokens = max(1, int(max_tokens))
    prompt_ids = encode_prompt(tokenizer, normalise_messages(messages, 0))
    limit = getattr(model.config, "max_position_embeddings", None)
    if limit and len(prompt_ids) + max_tokens > limit:
        raise ValueError(
            f"prompt ({len(prompt_ids)} tokens) plus max_tokens ({max_tokens}) exceeds the model's "
            f"context of {limit} tokens"
        )
    return _decode(
        loaded, prompt_ids, max_tokens, float(temperature), float(top_p), stops, seed, cache.threads
    )


class _Threads:
    """How many torch threads each running generation gets: the usable cores shared out.

    torch's thread count is OpenMP's (process-wide here) and MKL's (per thread), so each generation
    thread applies the share itself, again between tokens whenever another generation starts or
    ends. Two generations on two cores then run one thread each instead of four spinning on two.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.running = 0
        self.epoch = 0  # bumped whenever ``running`` changes

    @staticmethod
    def cores() -> int:
        try:
            return len(os.sched_getaffinity(0))
        except AttributeError:  # not on Linux
            return os.cpu_count() or 1

    def enter(self) -> None:
        with self._lock:
            self.running += 1
            self.epoch += 1

    def leave(self) -> None:
        with self._lock:
            self.running -= 1
            self.epoch += 1

    def share(self, limit: int | None, *, prompt: bool = False) -> int:
        """``limit`` cores (FINEWEB_TORCH_THREADS) shared out; without one, the usable cores but
        one while a reply streams: the web server's event loop and the reader of the stream need
        a core too, and OpenMP threads stall whenever one of them is pushed off its core
        (benchmarks/bench_local_inference.py on 2 cores: one thread streamed as fast as two). The
        prompt, read before anything streams, gets them all (``prompt``)."""
        cores = limit or (self.cores() if prompt else max(1, self.cores() - 1))
        return max(1, cores // max(1, self.running))


THREADS = _Threads()


class _Detokenizer:
    """Incremental decoding: each step decodes a short window of recent tokens, not the whole
    completion, and only text that is final (no half UTF-8 character) is appended."""

    def __init__(self, tokenizer) -> None:
        self.tokenizer = tokenizer
        self.ids: list[int] = []
        self.prefix = 0  # the window starts here (context for the next piece's leading space)
        self.read = 0  # tokens before this are already in ``text``
        self.text = ""

    def _decode(self, ids: list[int]) -> str:
        return self.tokenizer.decode(ids, skip_special_tokens=True)

    def add(self, token: int) -> None:
        self.ids.append(token)
        before = self._decode(self.ids[self.prefix : self.read])
        now = self._decode(self.ids[self.prefix :])
        if len(now) > len(before) and not now.endswith("\ufffd"):
            self.text += now[len(before) :]
            self.prefix, self.read = self.read, len(self.ids)

    def flush(self) -> str:
        """Whatever is left (an unfinished character at the very end comes out as U+FFFD)."""
        if self.read < len(self.ids):
            before = self._decode(self.ids[self.prefix : self.read])
            self.text += self._decode(self.ids[self.prefix :])[len(before) :]
            self.prefix = self.read = len(self.ids)
        return self.text


def _decode(
    loaded: LoadedModel,
    prompt_ids: list[int],
    max_tokens: int,
    temperature: float,
    top_p: float,
    stops: list[str],
    seed: int | None,
    threads: int | None = None,
) -> Generator[str | StreamEnd, None, None]:
    model, tokenizer = loaded.model, loaded.tokenizer
    eos = _stop_ids(tokenizer, model)
    generator = torch.Generator(device=loaded.device)
    generator.manual_seed(seed if seed is not None else secrets.randbits(63))
    fast = loaded.fast
    longest_stop = max((len(s) for s in stops), default=0)

    ids: list[int] = []
    detok = _Detokenizer(tokenizer)
    emitted = 0
    text = ""
    finish = "length"
    epoch = -1
    cut = False  # ended on a stop sequence: the text after it is dropped, not flushed
    caller_threads = torch.get_num_threads()
    THREADS.enter()
    # the fallback (transformers' forward) serialises on the model; the fast path is read-only
    lock = loaded.lock if fast is None else contextlib.nullcontext()
    try:
        # Inference mode is entered per step, never held across a `yield`: grad mode is a
        # per-thread stack, and two generators interleaved on one thread that each held it open
        # would unwind it out of order and leave gradients off for whatever runs next there.
        with lock:
            with torch.inference_mode():
                if fast is not None:
                    kv = fast.new_cache(len(prompt_ids) + max_tokens)
                    step = functools.partial(fast.forward, cache=kv)
                else:
                    step = _transformers_step(loaded)
            step_ids = prompt_ids
            for _ in range(max_tokens):
                if loaded.device == "cpu" and THREADS.epoch != epoch:
                    epoch = THREADS.epoch
                    # the prompt, before any piece is streamed, may take every core
                    torch.set_num_threads(THREADS.share(threads, prompt=step_ids is prompt_ids))
                with torch.inference_mode():
                    logits = step(step_ids)
                    token = _pick(logits, temperature, top_p, generator)
                ids.append(token)
                if token in eos:
                    finish = "stop"
                    break
                searched = len(detok.text)
                detok.add(token)
                text = detok.text
                if stops and len(text) > searched:
                    begin = max(0, searched - longest_stop + 1)
                    hits = [i for i in (text.find(s, begin) for s in stops) if i >= 0]
                    if hits:
                        text = text[: min(hits)]
                        finish, cut = "stop", True
                        break
                safe = len(text) - (_holdback(text, stops) if stops else 0)
                if safe > emitted:
                    piece = text[emitted:safe]
                    emitted = safe
                    yield piece
                if step_ids is prompt_ids:
                    epoch = -1  # from the next token on: the streaming share
                step_ids = [token]
            if not cut:
                text = detok.flush()
    finally:
        THREADS.leave()
        if loaded.device == "cpu":
            torch.set_num_threads(caller_threads)
    if len(text) > emitted:
        yield text[emitted:]
    yield StreamEnd(
        text=text, prompt_tokens=len(prompt_ids), completion_tokens=len(ids), finish_reason=finish
    )


def _transformers_step(loaded: LoadedModel):
    """The fallback for models ``fastdecode`` does not cover: transformers' forward, DynamicCache."""
    from transformers import DynamicCache

    model = loaded.model
    past = DynamicCache(config=model.config)

    def step(token_ids: list[int]) -> torch.Tensor:
        step_input = torch.tensor([token_ids], device=loaded.device)
        out = model(input_ids=step_input, past_key_values=past, use_cache=True, logits_to_keep=1)
        return out.logits[0, -1].float()

    return step


def generate(
    *,
    base_model: str,
    adapter_path: str | Path | None,
    messages: list[dict],
    max_tokens: int = 256,
    temperature: float = 1.0,
    top_p: float = 1.0,
    stop: str | list[str] | None = None,
    seed: int | None = None,
    cache_dir: str | Path,
    cache: ModelCache | None = None,
) -> Generation:
    """Generate one assistant reply (see ``generate_stream``)."""
    end: StreamEnd | None = None
    for item in generate_stream(
        base_model=base_model,
        adapter_path=adapter_path,
        messages=messages,
        max_tokens=max_tokens,
        temperature=temperature,
        top_p=top_p,
        stop=stop,
        seed=seed,
        cache_dir=cache_dir,
        cache=cache,
    ):
        if isinstance(item, StreamEnd):
            end = item
    assert end is not None  # generate_stream always ends with a StreamEnd
    return Generation(end.text, end.prompt_tokens, end.completion_tokens, end.finish_reason)
