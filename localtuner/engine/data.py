"""Training data: OpenAI chat / preference JSONL -> token ids, loss masks, packed rows.

* Chat examples (``{"messages": [...]}``) are rendered with the model's own chat
  template, one message at a time, so each token is known to belong to one
  message. Labels are -100 everywhere except the tokens an assistant message
  adds after its header (its content and the closing ``<|im_end|>``);
  assistant messages with ``"weight": 0`` stay -100 too.
* Labels are shifted *per example* into ``targets`` (``targets[t]`` is the
  token to predict after position ``t``), so when examples are concatenated
  no example is ever asked to predict the first token of the next one.
* Packing: the trainer puts all examples of one optimizer step back to back in
  one row (``pack_one_row``: no padding at all), with ``position_ids``
  restarting at 0 for every example. Attention never crosses examples: the
  trainer's model attends within each example's slice (``attention.py``), and
  any other model gets a block-diagonal causal mask that transformers 5.x
  builds from the restarts (``masking_utils.find_packed_sequence_indices``,
  with ``attention_mask=None``, ``use_cache=False``). ``pack`` can also spread
  examples over several balanced rows of at most ``row_len`` tokens; rows are
  then padded to the fullest one, and padding forms its own segment with no
  targets.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson
import torch

IGNORE = -100
ROLES = {"system", "developer", "user", "assistant", "tool", "function"}


class DataError(ValueError):
    """A malformed training/validation line. ``line_no`` is 1-based (0: whole file)."""

    def __init__(self, line_no: int, message: str):
        self.line_no = line_no
        self.message = message
        super().__init__(f"line {line_no}: {message}" if line_no else message)


@dataclass
class Example:
    input_ids: list[int]
    labels: list[int]  # IGNORE or the token itself (unshifted)
    line_no: int = 0

    def __len__(self) -> int:
        return len(self.input_ids)

    @property
    def targets(self) -> list[int]:
        """Next-token targets aligned with input_ids (shifted within this example only)."""
        return self.labels[1:] + [IGNORE]

    @property
    def n_trained(self) -> int:
        return sum(1 for x in self.labels[1:] if x != IGNORE)


@dataclass
class PreferencePair:
    chosen: Example
    rejected: Example
    line_no: int = 0


# --------------------------------------------------------------------------- reading


def read_jsonl(path: Path) -> list[tuple[int, dict]]:
    """(line_no, object) for every non-blank line; DataError names the bad line."""
    rows: list[tuple[int, dict]] = []
    try:
        handle = open(path, encoding="utf-8")
    except OSError as exc:
        raise DataError(0, f"cannot read {path}: {exc}") from exc
    with handle:
        line_no = 0
        while True:
            try:
                line = handle.readline()
            except UnicodeDecodeError as exc:
                raise DataError(line_no + 1, f"not valid UTF-8 ({exc.reason})") from exc
            if not line:
                break
            line_no += 1
            if not line.strip():
                continue
            try:
                # orjson: nesting past 1,024 levels and lone surrogates are a DataError, not a
                # RecursionError or a string the tokenizer cannot encode.
                obj = orjson.loads(line)
            except orjson.JSONDecodeError as exc:
                raise DataError(line_no, f"invalid JSON: {exc.msg} (column {exc.colno})") from exc
            if not isinstance(obj, dict):
                raise DataError(line_no, f"expected a JSON object, got {type(obj).__name__}")
            rows.append((line_no, obj))
    if not rows:
        raise DataError(0, f"{Path(path).name} contains no examples")
    return rows


def _content_text(message: dict, line_no: int, where: str) -> str:
    content = message.get("content")
    parts: list[str] = []
    if content is None:
        pass
    elif isinstance(content, str):
        parts.append(content)
    elif isinstance(content, list):
        for i, part in enumerate(content):
            if not isinstance(part, dict) or "type" not in part:
                raise DataError(line_no, f"{where}.content[{i}] must be an object with a 'type'")
            if part["type"] != "text":
                raise DataError(
                    line_no, f"{where}.content[{i}] has type {part['type']!r}; local models take text only"
                )
            if not isinstance(part.get("text"), str):
                raise DataError(line_no, f"{where}.content[{i}].text must be a string")
            parts.append(part["text"])
    else:
        raise DataError(line_no, f"{where}.content must be a string, a list of text parts or null")
    # Assistant tool calls have no content of their own: train on their JSON.
    if message.get("tool_calls"):
        parts.append(json.dumps(message["tool_calls"], ensure_ascii=False))
    if message.get("function_call"):
        parts.append(json.dumps(message["function_call"], ensure_ascii=False))
    if not parts:
        raise DataError(line_no, f"{where} has no content")
    return "".join(parts)


def normalise_messages(messages: Any, line_no: int, where: str = "messages") -> list[dict]:
    """Validate OpenAI chat messages; return ``[{"role", "content", "weight"}]`` with text content."""
    if not isinstance(messages, list) or not messages:
        raise DataError(line_no, f"'{where}' must be a non-empty list of messages")
    out = []
    for i, message in enumerate(messages):
        here = f"{where}[{i}]"
        if not isinstance(message, dict):
            raise DataError(line_no, f"{here} must be an object")
        role = message.get("role")
        if not isinstance(role, str) or role not in ROLES:
            raise DataError(line_no, f"{here}.role must be one of {sorted(ROLES)}, got {role!r}")
        weight = message.get("weight", 1)
        if "weight" in message:
            if role != "assistant":
                raise DataError(line_no, f"{here}: 'weight' is only allowed on assistant messages")
            if weight not in (0, 1) or isinstance(weight, bool):
                raise DataError(line_no, f"{here}.weight must be 0 or 1, got {weight!r}")
        out.append(
            {
                "role": "system" if role == "developer" else role,
                "content": _content_text(message, line_no, here),
                "weight": int(weight),
            }
        )
    return out


# --------------------------------------------------------------------------- encoding


def _render(tokenizer, messages: list[dict], add_generation_prompt: bool) -> str:
    if not messages:
        return ""
    plain = [{"role": m["role"], "content": m["content"]} for m in messages]
    return tokenizer.apply_chat_template(plain, tokenize=False, add_generation_prompt=add_generation_prompt)


def _tok(tokenizer, text: str) -> list[int]:
    if not text:
        return []
    return list(tokenizer(text, add_special_tokens=False)["input_ids"])


def encode_messages(
    tokenizer, messages: list[dict], *, train_last_only: bool = False
) -> tuple[list[int], list[int]]:
    """Token ids and (unshifted) labels of a normalised conversation.

    Each message's text is what the chat template adds when that message is
    appended; for assistant messages the part added by the generation prompt
    (``<|im_start|>assistant\\n``) is the header and is never trained on.
    """
    ids: list[int] = []
    labels: list[int] = []
    previous = ""
    for i, message in enumerate(messages):
        text = _render(tokenizer, messages[: i + 1], False)
        if not text.startswith(previous):
            # A template that rewrites earlier turns: fall back to the whole text at once.
            raise ValueError("chat template is not prefix-stable")
        segment = text[len(previous) :]
        trained = message["role"] == "assistant" and message.get("weight", 1) == 1
        if train_last_only and i != len(messages) - 1:
            trained = False
        if message["role"] == "assistant":
            header_text = _render(tokenizer, messages[:i], True) if i else None
            if header_text is not None and header_text.startswith(previous) and text.startswith(header_text):
                header, body = header_text[len(previous) :], text[len(header_text) :]
            else:
                cut = segment.rfind(message["content"]) if message["content"] else -1
                header, body = (segment[:cut], segment[cut:]) if cut >= 0 else ("", segment)
            header_ids, body_ids = _tok(tokenizer, header), _tok(tokenizer, body)
            ids += header_ids + body_ids
            labels += [IGNORE] * len(header_ids) + (body_ids if trained else [IGNORE] * len(body_ids))
        else:
            seg_ids = _tok(tokenizer, segment)
            ids += seg_ids
            labels += [IGNORE] * len(seg_ids)
        previous = text
    return ids, labels


def encode_prompt(tokenizer, messages: list[dict]) -> list[int]:
    """Token ids of a conversation followed by the assistant generation prompt."""
    plain = [{"role": m["role"], "content": m["content"]} for m in messages]
    text = tokenizer.apply_chat_template(plain, tokenize=False, add_generation_prompt=True)
    return _tok(tokenizer, text)


def chat_example(tokenizer, obj: dict, line_no: int, max_len: int) -> Example:
    if "messages" not in obj:
        if "input" in obj and "preferred_output" in obj:
            raise DataError(
                line_no, "this is a preference (DPO) example; the supervised method needs 'messages'"
            )
        raise DataError(line_no, "missing 'messages'")
    messages = normalise_messages(obj["messages"], line_no)
    if not any(m["role"] == "assistant" for m in messages):
        raise DataError(line_no, "needs at least one assistant message to learn from")
    ids, labels = encode_messages(tokenizer, messages)
    return Example(ids[:max_len], labels[:max_len], line_no)


def _single_output(obj: dict, key: str, line_no: int) -> dict:
    value = obj.get(key)
    if not isinstance(value, list) or len(value) != 1:
        raise DataError(line_no, f"'{key}' must be a list with exactly one assistant message")
    message = normalise_messages(value, line_no, key)[0]
    if message["role"] != "assistant":
        raise DataError(line_no, f"'{key}[0]' must have role 'assistant'")
    message["weight"] = 1
    return message


def preference_pair(tokenizer, obj: dict, line_no: int, max_len: int) -> PreferencePair:
    if "input" not in obj:
        if "messages" in obj:
            raise DataError(
                line_no,
                "this is a chat (supervised) example; the dpo method needs 'input', "
                "'preferred_output' and 'non_preferred_output'",
            )
        raise DataError(line_no, "missing 'input'")
    if not isinstance(obj["input"], dict):
        raise DataError(line_no, "'input' must be an object with 'messages'")
    prompt = normalise_messages(obj["input"].get("messages"), line_no, "input.messages")
    for m in prompt:
        m["weight"] = 0
    chosen = _single_output(obj, "preferred_output", line_no)
    rejected = _single_output(obj, "non_preferred_output", line_no)

    def encode(answer: dict) -> Example:
        ids, labels = encode_messages(tokenizer, prompt + [answer], train_last_only=True)
        if len(ids) > max_len:
            n_answer = sum(1 for x in labels if x != IGNORE)
            keep_answer = min(n_answer, max(1, max_len // 2))
            keep_prompt = max_len - keep_answer
            n_prompt = len(ids) - n_answer
            ids = ids[n_prompt - keep_prompt : n_prompt + keep_answer]
            labels = labels[n_prompt - keep_prompt : n_prompt + keep_answer]
        return Example(ids, labels, line_no)

    return PreferencePair(encode(chosen), encode(rejected), line_no)


def load_supervised(path: Path, tokenizer, max_len: int) -> list[Example]:
    return [chat_example(tokenizer, obj, line_no, max_len) for line_no, obj in read_jsonl(path)]


def load_preference(path: Path, tokenizer, max_len: int) -> list[PreferencePair]:
    return [preference_pair(tokenizer, obj, line_no, max_len) for line_no, obj in read_jsonl(path)]


# --------------------------------------------------------------------------- batching


@dataclass
class PackedBatch:
    input_ids: torch.Tensor  # [rows, L]
    targets: torch.Tensor  # [rows, L], IGNORE where nothing is predicted
    position_ids: torch.Tensor  # [rows, L], restarting at 0 for each example
    segment_ids: torch.Tensor  # [rows, L], index into the batch's example list, -1 for padding
    n_examples: int
    n_tokens: int  # real (non-pad) tokens
    n_pad: int

    def to(self, device) -> PackedBatch:
        return PackedBatch(
            self.input_ids.to(device),
            self.targets.to(device),
            self.position_ids.to(device),
            self.segment_ids.to(device),
            self.n_examples,
            self.n_tokens,
            self.n_pad,
        )


def pack(examples: list[Example], row_len: int, pad_id: int) -> PackedBatch:
    """Pack examples (each at most ``row_len`` tokens) into as few, evenly filled rows as possible.

    Examples are never split. Rows are padded only up to the fullest row.
    """
    if not examples:
        raise ValueError("nothing to pack")
    order = sorted(range(len(examples)), key=lambda i: (-len(examples[i]), i))
    longest = len(examples[order[0]])
    if longest > row_len:
        raise ValueError(f"example of {longest} tokens does not fit a row of {row_len}")
    total = sum(len(e) for e in examples)
    # Balanced packing: as few rows as the budget allows, longest examples first, each into
    # the emptiest row it fits (rows are padded to the fullest one, so balance = no waste).
    n_rows = max(1, math.ceil(total / row_len))
    while True:
        rows: list[list[int]] = [[] for _ in range(n_rows)]
        fill = [0] * n_rows
        for i in order:
            n = len(examples[i])
            r = min(range(n_rows), key=lambda k: (fill[k], k))
            if fill[r] + n > row_len:
                break
            rows[r].append(i)
            fill[r] += n
        else:
            break
        n_rows += 1
    width = max(fill)
    shape = (len(rows), width)
    input_ids = torch.full(shape, pad_id, dtype=torch.long)
    targets = torch.full(shape, IGNORE, dtype=torch.long)
    position_ids = torch.zeros(shape, dtype=torch.long)
    segment_ids = torch.full(shape, -1, dtype=torch.long)
    for r, members in enumerate(rows):
        at = 0
        for i in sorted(members):  # stable, order-independent layout inside a row
            ex = examples[i]
            n = len(ex)
            input_ids[r, at : at + n] = torch.tensor(ex.input_ids)
            targets[r, at : at + n] = torch.tensor(ex.targets)
            position_ids[r, at : at + n] = torch.arange(n)
            segment_ids[r, at : at + n] = i
            at += n
        if at < width:
            position_ids[r, at:] = torch.arange(width - at)
    n_tokens = sum(fill)
    return PackedBatch(
        input_ids, targets, position_ids, segment_ids, len(examples), n_tokens, len(rows) * width - n_tokens
    )


def pack_one_row(examples: list[Example], pad_id: int) -> PackedBatch:
    """All examples back to back in a single row: no padding (what the trainer feeds its model)."""
    return pack(examples, max(1, sum(len(e) for e in examples)), pad_id)


@dataclass
class PaddedBatch:
    """The conventional layout: one example per row, right-padded to the longest."""

    input_ids: torch.Tensor
    attention_mask: torch.Tensor
    labels: torch.Tensor  # unshifted, HF style
    n_tokens: int
    n_pad: int


def pad_batch(examples: Iterable[Example], pad_id: int) -> PaddedBatch:
    examples = list(examples)
    width = max(len(e) for e in examples)
    shape = (len(examples), width)
    input_ids = torch.full(shape, pad_id, dtype=torch.long)
    attention_mask = torch.zeros(shape, dtype=torch.long)
    labels = torch.full(shape, IGNORE, dtype=torch.long)
    for r, ex in enumerate(examples):
        n = len(ex)
        input_ids[r, :n] = torch.tensor(ex.input_ids)
        attention_mask[r, :n] = 1
        labels[r, :n] = torch.tensor(ex.labels)
    n_tokens = sum(len(e) for e in examples)
    return PaddedBatch(input_ids, attention_mask, labels, n_tokens, len(examples) * width - n_tokens)
