"""Export a frozen version as JSONL for OpenAI, for Together, or as plain chat for open-source trainers.

Each format is a conversion of one stored example (our files are OpenAI's format: the upload
validator checks OpenAI's rules) plus a JSON Schema written from the provider's published spec,
checked with `jsonschema` (pinned in requirements.txt; see docs/architecture.md), and, where a
rule cannot be said in JSON Schema (Together's alternating turns, one content shape per example),
a short check in code. A frozen version is checked once against every format of its method
(`version_exports_check`, at freeze: inline for a small file, else by the worker); the page offers
a download only for a format every example passed, and names the first example that did not
pass, with the reason, for the others. The download converts line by line while it streams.

Sources:
    openai   /work/shared/api/openai-training-formats.yaml: FineTuneChatRequestInput (supervised),
             FineTunePreferenceRequestInput (dpo), and the message schemas they refer to.
    together /work/shared/api/together-finetuning.md section 7: the conversational format and
             the preference format (`preference_openai`), as its SDK's check_file checks them.
    plain    TRL's dataset formats: conversational `{"messages": [...]}`, and conversational
             preference `{"prompt": [...], "chosen": [...], "rejected": [...]}`, text content only.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import IO, Any

import orjson
from jsonschema import Draft202012Validator

from datasets_app.lines import example_lines

SUPERVISED = "supervised"
DPO = "dpo"

# --- OpenAI (openai-training-formats.yaml; OpenAPI's `nullable` written as a "null" type) -------
_TEXT_PART = {
    "type": "object",
    "properties": {"type": {"const": "text"}, "text": {"type": "string"}},
    "required": ["type", "text"],
}
_IMAGE_PART = {
    "type": "object",
    "properties": {
        "type": {"const": "image_url"},
        "image_url": {
            "type": "object",
            "properties": {"url": {"type": "string"}, "detail": {"enum": ["auto", "low", "high"]}},
            "required": ["url"],
        },
    },
    "required": ["type", "image_url"],
}
_AUDIO_PART = {
    "type": "object",
    "properties": {
        "type": {"const": "input_audio"},
        "input_audio": {
            "type": "object",
            "properties": {"data": {"type": "string"}, "format": {"enum": ["wav", "mp3"]}},
            "required": ["data", "format"],
        },
    },
    "required": ["type", "input_audio"],
}
_FILE_PART = {
    "type": "object",
    "properties": {"type": {"const": "file"}, "file": {"type": "object"}},
    "required": ["type", "file"],
}
_REFUSAL_PART = {
    "type": "object",
    "properties": {"type": {"const": "refusal"}, "refusal": {"type": "string"}},
    "required": ["type", "refusal"],
}


def _parts(*parts: dict) -> dict:
    return {"type": "array", "minItems": 1, "items": {"oneOf": list(parts)}}


_TOOL_CALL = {
    "type": "object",
    "properties": {
        "id": {"type": "string"},
        "type": {"const": "function"},
        "function": {
            "type": "object",
            "properties": {"name": {"type": "string"}, "arguments": {"type": "string"}},
            "required": ["name", "arguments"],
        },
    },
    "required": ["id", "type", "function"],
}
_OPENAI_DEFS: dict[str, Any] = {
    "system": {
        "type": "object",
        "properties": {
            "role": {"const": "system"},
            "content": {"oneOf": [{"type": "string"}, _parts(_TEXT_PART)]},
            "name": {"type": "string"},
        },
        "required": ["content", "role"],
    },
    "user": {
        "type": "object",
        "properties": {
            "role": {"const": "user"},
            "content": {
                "oneOf": [{"type": "string"}, _parts(_TEXT_PART, _IMAGE_PART, _AUDIO_PART, _FILE_PART)]
            },
            "name": {"type": "string"},
        },
        "required": ["content", "role"],
    },
    "assistant": {  # ChatCompletionRequestAssistantMessage
        "type": "object",
        "properties": {
            "role": {"const": "assistant"},
            "content": {"oneOf": [{"type": "null"}, {"type": "string"}, _parts(_TEXT_PART, _REFUSAL_PART)]},
            "refusal": {"type": ["string", "null"]},
            "name": {"type": "string"},
            "audio": {"type": ["object", "null"], "required": ["id"]},
            "tool_calls": {"type": "array", "items": _TOOL_CALL},
            "function_call": {
                "type": ["object", "null"],
                "properties": {"arguments": {"type": "string"}, "name": {"type": "string"}},
                "required": ["arguments", "name"],
            },
        },
        "required": ["role"],
    },
    "trained_assistant": {  # FineTuneChatCompletionRequestAssistantMessage
        "allOf": [{"properties": {"weight": {"enum": [0, 1]}}}, {"$ref": "#/$defs/assistant"}],
        "required": ["role"],
    },
    "tool": {
        "type": "object",
        "properties": {
            "role": {"const": "tool"},
            "content": {"oneOf": [{"type": "string"}, _parts(_TEXT_PART)]},
            "tool_call_id": {"type": "string"},
        },
        "required": ["role", "content", "tool_call_id"],
    },
    "function": {
        "type": "object",
        "properties": {
            "role": {"const": "function"},
            "content": {"type": ["string", "null"]},
            "name": {"type": "string"},
        },
        "required": ["role", "content", "name"],
    },
    "messages": {
        "type": "array",
        "minItems": 1,
        "items": {
            "oneOf": [
                {"$ref": "#/$defs/system"},
                {"$ref": "#/$defs/user"},
                {"$ref": "#/$defs/trained_assistant"},
                {"$ref": "#/$defs/tool"},
                {"$ref": "#/$defs/function"},
            ]
        },
    },
    "tools": {
        "type": "array",
        "items": {
            "type": "object",
            "properties": {
                "type": {"const": "function"},
                "function": {
                    "type": "object",
                    "properties": {
                        "description": {"type": "string"},
                        "name": {"type": "string"},
                        "parameters": {"type": "object"},
                        "strict": {"type": ["boolean", "null"]},
                    },
                    "required": ["name"],
                },
            },
            "required": ["type", "function"],
        },
    },
}
OPENAI_SUPERVISED_SCHEMA = {
    "$defs": _OPENAI_DEFS,
    "type": "object",
    "properties": {
        "messages": {"$ref": "#/$defs/messages"},
        "tools": {"$ref": "#/$defs/tools"},
        "parallel_tool_calls": {"type": "boolean"},
        "functions": {"type": "array", "minItems": 1, "maxItems": 128, "items": {"type": "object"}},
    },
}
OPENAI_DPO_SCHEMA = {
    "$defs": _OPENAI_DEFS,
    "type": "object",
    "properties": {
        "input": {
            "type": "object",
            "properties": {
                "messages": {"$ref": "#/$defs/messages"},
                "tools": {"$ref": "#/$defs/tools"},
                "parallel_tool_calls": {"type": "boolean"},
            },
        },
        "preferred_output": {"type": "array", "maxItems": 1, "items": {"$ref": "#/$defs/assistant"}},
        "non_preferred_output": {"type": "array", "maxItems": 1, "items": {"$ref": "#/$defs/assistant"}},
    },
}

# --- Together (together-finetuning.md section 7: check_file's rules) -----------------------------
_TOGETHER_IMAGE = {
    "type": "object",
    "properties": {
        "type": {"const": "image_url"},
        "image_url": {
            "type": "object",
            "properties": {"url": {"type": "string", "pattern": "^data:image/(jpeg|png|webp);base64,"}},
            "required": ["url"],
        },
    },
    "required": ["type", "image_url"],
}
_TOGETHER_MESSAGE = {
    "type": "object",
    "properties": {
        "role": {"enum": ["system", "user", "assistant"]},
        "content": {"oneOf": [{"type": "string"}, _parts(_TEXT_PART, _TOGETHER_IMAGE)]},
        "weight": {"enum": [0, 1]},
    },
    "required": ["role", "content"],
    "additionalProperties": False,
}
_TOGETHER_ANSWER = {
    "type": "array",
    "minItems": 1,
    "maxItems": 1,
    "items": {
        "type": "object",
        "properties": {"role": {"const": "assistant"}, "content": {"type": "string"}},
        "required": ["role", "content"],
        "additionalProperties": False,
    },
}
TOGETHER_CONVERSATIONAL_SCHEMA = {
    "type": "object",
    "properties": {
        "messages": {
            "type": "array",
            "minItems": 1,
            "items": _TOGETHER_MESSAGE,
            "contains": {"properties": {"role": {"const": "assistant"}}},
        }
    },
    "required": ["messages"],
    "additionalProperties": False,
}
TOGETHER_PREFERENCE_SCHEMA = {
    "type": "object",
    "properties": {
        "input": {
            "type": "object",
            "properties": {"messages": {"type": "array", "minItems": 1, "items": _TOGETHER_MESSAGE}},
            "required": ["messages"],
            "additionalProperties": False,
        },
        "preferred_output": _TOGETHER_ANSWER,
        "non_preferred_output": _TOGETHER_ANSWER,
    },
    "required": ["input", "preferred_output", "non_preferred_output"],
    "additionalProperties": False,
}

# --- plain chat for open-source trainers (TRL's conversational formats) --------------------------
_PLAIN_MESSAGE = {
    "type": "object",
    "properties": {
        "role": {"enum": ["system", "user", "assistant", "tool"]},
        "content": {"type": "string"},
        "tool_calls": {"type": "array", "items": _TOOL_CALL},
        "tool_call_id": {"type": "string"},
    },
    "required": ["role", "content"],
    "additionalProperties": False,
}
PLAIN_CHAT_SCHEMA = {
    "type": "object",
    "properties": {
        "messages": {"type": "array", "minItems": 1, "items": _PLAIN_MESSAGE},
        "tools": {"$ref": "#/$defs/tools"},
    },
    "required": ["messages"],
    "additionalProperties": False,
    "$defs": {"tools": _OPENAI_DEFS["tools"]},
}
_PLAIN_ANSWER = {"type": "array", "minItems": 1, "maxItems": 1, "items": _PLAIN_MESSAGE}
PLAIN_PREFERENCE_SCHEMA = {
    "type": "object",
    "properties": {
        "prompt": {"type": "array", "minItems": 1, "items": _PLAIN_MESSAGE},
        "chosen": _PLAIN_ANSWER,
        "rejected": _PLAIN_ANSWER,
    },
    "required": ["prompt", "chosen", "rejected"],
    "additionalProperties": False,
}


class NotExportable(Exception):
    """This example cannot be written in this format; the message says why, for the page."""


# --- conversions ---------------------------------------------------------------------------------
def _identity(example: dict) -> dict:
    return example


def _has_tools(messages: list) -> bool:
    return any(
        isinstance(m, dict)
        and (m.get("tool_calls") or m.get("function_call") or m.get("role") in ("tool", "function"))
        for m in messages
    )


def _together_message(message: dict) -> dict:
    out = {"role": message.get("role"), "content": message.get("content")}
    if "weight" in message:
        out["weight"] = message["weight"]
    return out


def _together_turns(messages: list, *, need_answer: bool) -> list[dict]:
    if _has_tools(messages):
        raise NotExportable(
            "it has tool calls or tool results, which Together's file check accepts only as system, "
            "user and assistant messages with text or images"
        )
    out = [_together_message(m) for m in messages if isinstance(m, dict)]
    for prev, cur in zip(out, out[1:], strict=False):
        if prev["role"] == cur["role"]:
            raise NotExportable(
                f"it has two {cur['role']} messages in a row; Together needs the turns to alternate"
            )
    if out and out[0]["role"] not in ("system", "user"):
        raise NotExportable(
            "it starts with an assistant message; Together needs it to start with system or user"
        )
    shapes = {isinstance(m["content"], list) for m in out}
    if len(shapes) > 1:
        raise NotExportable("it mixes text and lists of parts as content, which Together refuses")
    for m in out:
        parts = m["content"] if m["role"] != "user" and isinstance(m["content"], list) else []
        if any(isinstance(p, dict) and p.get("type") == "image_url" for p in parts):
            raise NotExportable("it has an image outside a user message, which Together refuses")
    if not need_answer and out and out[-1]["role"] == "assistant":
        raise NotExportable(
            "its prompt ends with an assistant message, which Together's preference format refuses"
        )
    return out


def _together_conversational(example: dict) -> dict:
    return {"messages": _together_turns(example.get("messages") or [], need_answer=True)}


def _answer(example: dict, key: str) -> list[dict]:
    output = example.get(key) or []
    if not isinstance(output, list) or len(output) != 1 or not isinstance(output[0], dict):
        raise NotExportable(f"its {key} is not exactly one assistant message")
    message = output[0]
    if message.get("tool_calls") or message.get("function_call"):
        raise NotExportable(f"its {key} is a tool call, which this format cannot carry")
    return [{"role": "assistant", "content": _text(message.get("content"), key)}]


def _together_preference(example: dict) -> dict:
    inp = example.get("input") or {}
    if inp.get("tools"):
        raise NotExportable("it declares tools, which Together's file check does not accept in this format")
    return {
        "input": {"messages": _together_turns(inp.get("messages") or [], need_answer=False)},
        "preferred_output": _answer(example, "preferred_output"),
        "non_preferred_output": _answer(example, "non_preferred_output"),
    }


def _text(content: Any, where: str) -> str:
    """Content as plain text: a string, or text parts joined; images and audio cannot be plain text."""
    if isinstance(content, str):
        return content
    if content is None:
        return ""
    if isinstance(content, list):
        texts = []
        for part in content:
            if isinstance(part, dict) and part.get("type") == "text" and isinstance(part.get("text"), str):
                texts.append(part["text"])
            elif (
                isinstance(part, dict)
                and part.get("type") == "refusal"
                and isinstance(part.get("refusal"), str)
            ):
                texts.append(part["refusal"])
            else:
                raise NotExportable(
                    f"its {where} has an image, audio or file, which plain chat JSONL cannot carry"
                )
        return "\n".join(texts)
    raise NotExportable(f"its {where} content is not text")


def _plain_message(message: dict) -> dict:
    role = message.get("role")
    if role == "function" or message.get("function_call"):
        raise NotExportable("it uses the old function-calling fields, which plain chat JSONL does not carry")
    out: dict[str, Any] = {"role": role, "content": _text(message.get("content"), f"{role} message")}
    if message.get("tool_calls"):
        out["tool_calls"] = message["tool_calls"]
    if role == "tool" and "tool_call_id" in message:
        out["tool_call_id"] = message["tool_call_id"]
    return out


def _plain_chat(example: dict) -> dict:
    out: dict[str, Any] = {"messages": [_plain_message(m) for m in example.get("messages") or []]}
    if example.get("tools"):
        out["tools"] = example["tools"]
    return out


def _plain_preference(example: dict) -> dict:
    inp = example.get("input") or {}
    return {
        "prompt": [_plain_message(m) for m in inp.get("messages") or []],
        "chosen": _answer(example, "preferred_output"),
        "rejected": _answer(example, "non_preferred_output"),
    }


@dataclass(frozen=True)
class ExportFormat:
    key: str
    method: str
    label: str
    help: str
    convert: Callable[[dict], dict]
    schema: dict

    @property
    def validator(self) -> Draft202012Validator:
        return _validator(self.key)


FORMATS: dict[str, ExportFormat] = {
    f.key: f
    for f in (
        ExportFormat(
            "openai-chat",
            SUPERVISED,
            "OpenAI (chat fine-tuning)",
            "The file as OpenAI's supervised fine-tuning takes it.",
            _identity,
            OPENAI_SUPERVISED_SCHEMA,
        ),
        ExportFormat(
            "openai-dpo",
            DPO,
            "OpenAI (DPO)",
            "The file as OpenAI's preference (DPO) fine-tuning takes it.",
            _identity,
            OPENAI_DPO_SCHEMA,
        ),
        ExportFormat(
            "together-chat",
            SUPERVISED,
            "Together (conversational)",
            "Together's conversational format: system, user and assistant messages.",
            _together_conversational,
            TOGETHER_CONVERSATIONAL_SCHEMA,
        ),
        ExportFormat(
            "together-preference",
            DPO,
            "Together (preference)",
            "Together's preference format for DPO: one preferred and one non-preferred answer.",
            _together_preference,
            TOGETHER_PREFERENCE_SCHEMA,
        ),
        ExportFormat(
            "plain-chat",
            SUPERVISED,
            "Plain chat JSONL (open-source trainers)",
            'One {"messages": [...]} per line with text content, as TRL and Hugging Face chat templates read it; message weights are left out.',
            _plain_chat,
            PLAIN_CHAT_SCHEMA,
        ),
        ExportFormat(
            "plain-dpo",
            DPO,
            "Prompt / chosen / rejected (open-source trainers)",
            'One {"prompt", "chosen", "rejected"} per line, as TRL\'s DPO trainer reads it.',
            _plain_preference,
            PLAIN_PREFERENCE_SCHEMA,
        ),
    )
}

_VALIDATORS: dict[str, Draft202012Validator] = {}


def _validator(key: str) -> Draft202012Validator:
    if key not in _VALIDATORS:
        schema = FORMATS[key].schema
        Draft202012Validator.check_schema(schema)
        _VALIDATORS[key] = Draft202012Validator(schema)
    return _VALIDATORS[key]


def formats_for(method: str) -> list[ExportFormat]:
    return [f for f in FORMATS.values() if f.method == method]


def _where(error) -> str:
    path = "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in error.absolute_path)
    return path.lstrip(".") or "the example"


def export_line(fmt: ExportFormat, raw: bytes) -> bytes:
    """One stored line in `fmt`, checked against its schema; NotExportable says why it cannot be."""
    try:
        example = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise NotExportable("it is not valid JSON") from exc
    if not isinstance(example, dict):
        raise NotExportable("it is not a JSON object")
    out = fmt.convert(example)
    error = next(iter(fmt.validator.iter_errors(out)), None)
    if error is not None:
        raise NotExportable(f"{_where(error)} does not follow the format ({error.message[:200]})")
    return orjson.dumps(out)


def check_file(fmt: ExportFormat, f: IO[bytes]) -> dict:
    """{"ok": True, "n": examples} when every example converts and validates, else the first
    example that does not, as {"ok": False, "reason": "Example N: ..."}."""
    n = 0
    for number, raw in example_lines(f):
        n += 1
        if raw is None:
            return {"ok": False, "reason": f"Example {n} (line {number}) is too long to export."}
        try:
            export_line(fmt, raw)
        except NotExportable as exc:
            return {"ok": False, "reason": f"Example {n} cannot be exported: {exc}."}
    return {"ok": True, "n": n}


def stream_file(fmt: ExportFormat, f: IO[bytes], chunk_bytes: int = 256 * 1024) -> Iterator[bytes]:
    """The converted file, in chunks of about `chunk_bytes`, read and converted line by line."""
    buffer = bytearray()
    for _number, raw in example_lines(f):
        if raw is None:
            continue
        buffer += export_line(fmt, raw)
        buffer += b"\n"
        if len(buffer) >= chunk_bytes:
            yield bytes(buffer)
            buffer.clear()
    if buffer:
        yield bytes(buffer)
