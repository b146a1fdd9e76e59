"""OpenAI's per-line training formats (shared/api/openai-training-formats.yaml) as plain checks.

Each check appends (code, message) pairs; the message completes "line N: ...". The codes group
problems in the summary ("23 lines: the last message must come from the assistant").
"""

from __future__ import annotations

import re

import orjson

_loads = orjson.loads

# OpenAI refuses a training file with fewer examples (the validator's error, the split's floor).
MIN_EXAMPLES = 10
ROLES = ("system", "user", "assistant", "tool", "function")
_ROLE_LIST = "system, user, assistant, tool or function"
_KEYS = {
    "system": {"role", "content", "name"},
    "user": {"role", "content", "name"},
    "assistant": {"role", "content", "name", "weight", "tool_calls", "function_call", "refusal", "audio"},
    "tool": {"role", "content", "tool_call_id"},
    "function": {"role", "content", "name"},
}
_PART_TYPES = {
    "system": {"text"},
    "user": {"text", "image_url"},
    "assistant": {"text", "refusal"},
    "tool": {"text"},
}
_SUPERVISED_KEYS = {"messages", "tools", "parallel_tool_calls", "functions"}
_DPO_KEYS = {"input", "preferred_output", "non_preferred_output"}
_FUNCTION_NAME = re.compile(r"^[a-zA-Z0-9_-]{1,64}$")

Problems = list[tuple[str, str]]


def _name(value) -> str | None:
    """`value` when it is a string, else None: a role or part type of another JSON type names nothing
    (and a list or object must never reach a set or dict lookup, where it is unhashable)."""
    return value if isinstance(value, str) else None


def _kind(value) -> str:
    return {dict: "an object", list: "a list", str: "a string", bool: "true/false", type(None): "null"}.get(
        type(value), "a number"
    )


def check_content(where: str, role: str, message: dict, errors: Problems, warnings: Problems) -> None:
    content = message.get("content")
    if isinstance(content, str):
        if not content.strip() and role in ("user", "system"):
            warnings.append(("empty_content", f"{where} has empty content"))
        elif (
            not content
            and role == "assistant"
            and not message.get("tool_calls")
            and not message.get("function_call")
        ):
            errors.append(
                ("empty_content", f"{where} has empty content: give the answer the model should learn")
            )
        return
    if content is None:
        if role == "assistant":
            if not message.get("tool_calls") and not message.get("function_call"):
                errors.append(("missing_content", f"{where} needs content (or tool_calls)"))
        elif role == "function":
            return
        else:
            errors.append(("missing_content", f"{where} has no content"))
        return
    if isinstance(content, list) and role in _PART_TYPES:  # role: a checked string
        if not content:
            errors.append(("missing_content", f"{where} has an empty content list"))
        for part in content:
            raw_kind = part.get("type") if isinstance(part, dict) else None
            kind = _name(raw_kind)
            if kind in ("input_audio", "file"):
                errors.append(
                    ("unsupported_part", f"{where}: {kind} parts are not supported for fine-tuning")
                )
            elif kind not in _PART_TYPES[role]:
                allowed = " or ".join(sorted(_PART_TYPES[role]))
                shown = repr(kind) if kind is not None or raw_kind is None else _kind(raw_kind)
                errors.append(("bad_part", f"{where} has a content part of type {shown}; use {allowed}"))
            elif kind == "text" and not isinstance(part.get("text"), str):
                errors.append(("bad_part", f'{where} has a text part without a "text" string'))
            elif kind == "image_url" and not (
                isinstance(part.get("image_url"), dict) and isinstance(part["image_url"].get("url"), str)
            ):
                errors.append(("bad_part", f"{where} has an image_url part without a url"))
        return
    errors.append(("bad_content", f"{where}: content must be a string, not {_kind(content)}"))


def check_tool_calls(where: str, tool_calls, errors: Problems, warnings: Problems) -> None:
    if not isinstance(tool_calls, list):
        errors.append(("bad_tool_calls", f"{where}: tool_calls must be a list"))
        return
    for i, call in enumerate(tool_calls, 1):
        if not isinstance(call, dict):
            errors.append(("bad_tool_calls", f"{where}: tool call {i} must be an object"))
            continue
        function = call.get("function")
        if (
            not isinstance(call.get("id"), str)
            or call.get("type") != "function"
            or not isinstance(function, dict)
        ):
            errors.append(
                (
                    "bad_tool_calls",
                    f'{where}: tool call {i} needs an "id", "type": "function" and a "function"',
                )
            )
            continue
        if not isinstance(function.get("name"), str) or not isinstance(function.get("arguments"), str):
            errors.append(
                (
                    "bad_tool_calls",
                    f"{where}: tool call {i} needs function.name and function.arguments as strings",
                )
            )
            continue
        try:
            _loads(function["arguments"])
        except ValueError:
            warnings.append(
                ("tool_arguments", f"{where}: tool call {i} has arguments that are not valid JSON")
            )


def check_message(i: int, message, errors: Problems, warnings: Problems) -> str | None:
    """Check message number `i` (1-based); return its role when it is usable."""
    if not isinstance(message, dict):
        errors.append(("bad_message", f"message {i} must be an object, not {_kind(message)}"))
        return None
    raw_role = message.get("role")
    role = _name(raw_role)
    if role not in _KEYS:
        if raw_role is None:
            errors.append(("bad_role", f"message {i} has no role; use {_ROLE_LIST}"))
        else:
            shown = repr(role[:40]) if role is not None else _kind(raw_role)
            errors.append(("bad_role", f"message {i} has the role {shown}; use {_ROLE_LIST}"))
        return None
    where = f"message {i} ({role})"
    allowed = _KEYS[role]
    for key in message:
        if key not in allowed:
            if key == "weight":
                errors.append(("weight_role", f"{where}: weight is only allowed on assistant messages"))
            else:
                errors.append(("unknown_key", f"{where} has an unknown key {str(key)[:40]!r}"))
    check_content(where, role, message, errors, warnings)
    if role == "assistant":
        if "weight" in message:
            weight = message["weight"]
            if isinstance(weight, bool) or weight not in (0, 1):
                errors.append(("bad_weight", f"{where}: weight must be 0 or 1, not {str(weight)[:20]}"))
        if message.get("tool_calls") is not None:
            check_tool_calls(where, message["tool_calls"], errors, warnings)
    elif role == "tool" and not isinstance(message.get("tool_call_id"), str):
        errors.append(("tool_call_id", f"{where} needs a tool_call_id naming the tool call it answers"))
    elif role == "function" and not isinstance(message.get("name"), str):
        errors.append(("function_name", f"{where} needs the name of the function"))
    return role


def check_tools(example: dict, errors: Problems) -> None:
    tools = example.get("tools")
    if tools is not None:
        if not isinstance(tools, list):
            errors.append(("bad_tools", "tools must be a list"))
        else:
            for i, tool in enumerate(tools, 1):
                function = tool.get("function") if isinstance(tool, dict) else None
                if (
                    not isinstance(tool, dict)
                    or tool.get("type") != "function"
                    or not isinstance(function, dict)
                ):
                    errors.append(("bad_tools", f'tool {i} needs "type": "function" and a "function" object'))
                elif not _FUNCTION_NAME.match(str(function.get("name", ""))):
                    errors.append(("bad_tools", f"tool {i} needs a name of 1-64 letters, digits, _ or -"))
                elif "parameters" in function and not isinstance(function["parameters"], dict):
                    errors.append(("bad_tools", f"tool {i}: parameters must be a JSON Schema object"))
    functions = example.get("functions")
    if functions is not None:
        if not isinstance(functions, list) or not 1 <= len(functions) <= 128:
            errors.append(("bad_functions", "functions must be a list of 1 to 128 functions"))
        else:
            for i, function in enumerate(functions, 1):
                if not isinstance(function, dict) or not _FUNCTION_NAME.match(str(function.get("name", ""))):
                    errors.append(
                        ("bad_functions", f"function {i} needs a name of 1-64 letters, digits, _ or -")
                    )
    ptc = example.get("parallel_tool_calls")
    if ptc is not None and not isinstance(ptc, bool):
        errors.append(("bad_parallel", "parallel_tool_calls must be true or false"))


def check_supervised(example: dict, errors: Problems, warnings: Problems) -> list | None:
    """Check one supervised example; return its messages when they can be counted."""
    messages = example.get("messages")
    if messages is None:
        if "preferred_output" in example or "input" in example:
            errors.append(
                ("wrong_method", "this is a DPO preference example; choose the DPO method for this file")
            )
        elif "prompt" in example or "completion" in example:
            errors.append(
                (
                    "legacy_format",
                    'this is the old prompt/completion format; chat models need {"messages": [...]}',
                )
            )
        else:
            errors.append(("missing_messages", 'the example needs a "messages" list'))
        return None
    if not isinstance(messages, list) or not messages:
        errors.append(("missing_messages", '"messages" must be a non-empty list'))
        return None
    for key in example:
        if key not in _SUPERVISED_KEYS:
            warnings.append(
                ("unknown_top_key", f"the key {str(key)[:40]!r} is not part of the format and is ignored")
            )
    n_errors = len(errors)
    roles = [check_message(i, message, errors, warnings) for i, message in enumerate(messages, 1)]
    check_tools(example, errors)
    if roles[-1] != "assistant" and roles[-1] is not None:
        errors.append(("last_not_assistant", "the last message must come from the assistant"))
    elif "assistant" in roles and all(
        m.get("weight") == 0 for m, r in zip(messages, roles, strict=True) if r == "assistant"
    ):
        errors.append(
            ("all_weight_zero", "every assistant message has weight 0, so there is nothing to learn from")
        )
    return messages if len(errors) == n_errors else None


def check_dpo(example: dict, errors: Problems, warnings: Problems) -> list | None:
    """Check one preference example; return input messages + both outputs when they can be counted."""
    if "messages" in example and "input" not in example:
        errors.append(
            (
                "wrong_method",
                "this is a supervised chat example; DPO needs input, preferred_output and non_preferred_output",
            )
        )
        return None
    n_errors = len(errors)
    for key in ("input", "preferred_output", "non_preferred_output"):
        if key not in example:
            errors.append(("dpo_missing", f'the example needs "{key}"'))
    for key in example:
        if key not in _DPO_KEYS:
            warnings.append(
                ("unknown_top_key", f"the key {str(key)[:40]!r} is not part of the format and is ignored")
            )
    if len(errors) > n_errors:
        return None
    inp = example["input"]
    messages = inp.get("messages") if isinstance(inp, dict) else None
    if not isinstance(messages, list) or not messages:
        errors.append(("dpo_input", 'input needs a non-empty "messages" list'))
        return None
    roles = [check_message(i, message, errors, warnings) for i, message in enumerate(messages, 1)]
    check_tools(inp, errors)
    if roles[-1] == "assistant":
        errors.append(
            (
                "dpo_last_input",
                "the last input message must come from the user: the replies go in the two outputs",
            )
        )
    outputs = []
    for key in ("preferred_output", "non_preferred_output"):
        value = example[key]
        if not isinstance(value, list) or len(value) != 1:
            errors.append(("dpo_output", f"{key} must be a list with exactly one assistant message"))
            continue
        n_before = len(errors)
        role = check_message(1, value[0], errors, warnings)
        if len(errors) == n_before and role != "assistant":
            errors.append(("dpo_output", f"{key} must hold an assistant message, not {role}"))
        outputs.append(value[0])
    if len(outputs) == 2 and outputs[0] == outputs[1]:
        warnings.append(
            ("dpo_same", "preferred_output and non_preferred_output are the same: nothing to prefer")
        )
    if len(errors) > n_errors:
        return None
    return messages + outputs
