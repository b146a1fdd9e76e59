"""The fix form: an example's messages (role + text) and a preference pair's two answers.

The form is built from the example itself (one row per message, plus an empty row to add one);
what the form does not show (tool calls, names, weights, tools) is carried over unchanged."""

from __future__ import annotations

import copy
from typing import Any

from django import forms

ROLES = [("system", "System prompt"), ("user", "User"), ("assistant", "Assistant"), ("tool", "Tool result")]
MAX_MESSAGES = 200


class SettingsForm(forms.Form):
    reviews_per_example = forms.TypedChoiceField(
        label="Reviews per example",
        choices=[(1, "One review per example"), (2, "Two reviews per example (agreement is measured)")],
        coerce=int,
    )


def _content_text(content: object) -> str:
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "\n".join(
            p.get("text", "") for p in content if isinstance(p, dict) and isinstance(p.get("text"), str)
        )
    return ""


def _messages_of(data: dict, dpo: bool) -> list:
    if dpo:
        inp = data.get("input")
        messages = inp.get("messages") if isinstance(inp, dict) else None
    else:
        messages = data.get("messages")
    return messages if isinstance(messages, list) else []


def fix_rows(data: object, *, dpo: bool) -> dict[str, Any]:
    """The initial rows of the form for an example."""
    data = data if isinstance(data, dict) else {}
    rows = []
    for i, m in enumerate(_messages_of(data, dpo)):
        m = m if isinstance(m, dict) else {}
        rows.append(
            {
                "i": i,
                "role": m.get("role") if isinstance(m.get("role"), str) else "user",
                "content": _content_text(m.get("content")),
                "has_calls": bool(m.get("tool_calls") or m.get("function_call")),
            }
        )
    rows.append({"i": len(rows), "role": "user", "content": "", "has_calls": False, "new": True})
    answers = {}
    if dpo:
        for key in ("preferred_output", "non_preferred_output"):
            value = data.get(key)
            first = value[0] if isinstance(value, list) and value and isinstance(value[0], dict) else {}
            answers[key] = _content_text(first.get("content"))
    return {"rows": rows, "answers": answers, "roles": ROLES}


def fix_rows_from_post(post: Any, *, dpo: bool) -> dict[str, Any]:
    """The rows as the person typed them (to show the form again after a refusal)."""
    rows = []
    for i in range(min(_count(post), MAX_MESSAGES)):
        rows.append(
            {
                "i": i,
                "role": post.get(f"role_{i}", "user"),
                "content": post.get(f"content_{i}", ""),
                "delete": bool(post.get(f"delete_{i}")),
                "has_calls": False,
            }
        )
    answers = {k: post.get(k, "") for k in ("preferred_output", "non_preferred_output")} if dpo else {}
    return {"rows": rows, "answers": answers, "roles": ROLES}


def _count(post: Any) -> int:
    try:
        return max(0, int(post.get("n", "0")))
    except ValueError:
        return 0


def fixed_example(original: object, post: Any, *, dpo: bool) -> dict:
    """The example the form describes: the original with its messages' roles and texts replaced,
    messages marked for deletion removed and a filled-in new row added."""
    data: dict = copy.deepcopy(original) if isinstance(original, dict) else {}
    old = _messages_of(data, dpo)
    valid_roles = {r for r, _ in ROLES} | {"function"}
    messages = []
    for i in range(min(_count(post), MAX_MESSAGES)):
        if post.get(f"delete_{i}"):
            continue
        content = post.get(f"content_{i}", "").replace("\r\n", "\n")
        role = post.get(f"role_{i}", "user")
        role = role if role in valid_roles else "user"
        if i < len(old) and isinstance(old[i], dict):
            message = dict(old[i])
            if isinstance(message.get("content"), list) and content == _content_text(message["content"]):
                pass  # an unchanged multi-part content stays as it was
            elif content or not message.get("tool_calls"):
                message["content"] = content
        else:
            if not content.strip():
                continue  # the empty row to add a message, left empty
            message = {}
            message["content"] = content
        message["role"] = role
        messages.append({"role": message.pop("role"), **message})
    if dpo:
        inp = data.get("input")
        inp = inp if isinstance(inp, dict) else {}
        data["input"] = {**inp, "messages": messages}
        for key in ("preferred_output", "non_preferred_output"):
            value = data.get(key)
            first = (
                dict(value[0])
                if isinstance(value, list) and value and isinstance(value[0], dict)
                else {"role": "assistant"}
            )
            first["content"] = post.get(key, "").replace("\r\n", "\n")
            data[key] = [first]
    else:
        data["messages"] = messages
    return data
