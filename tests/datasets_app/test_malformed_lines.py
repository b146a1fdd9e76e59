"""Any line, however malformed, gets `line N: ...` from the validator, and its pages still render.

The named cases were seen on main as a 500 on the version page (a wrong JSON type, a lone
surrogate, deep nesting) or as "Checking the file failed unexpectedly" with no line. The
property-based tests put a generated JSON value of every type at every field of a supervised and
a preference example and upload it for real.
"""

from __future__ import annotations

import json

import pytest
from django.test import Client
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from datasets_app.models import DatasetVersion
from datasets_app.validation import validate_file
from tests.factories import chat, good_lines, upload_file
from tests.strategies import json_values

GOOD = 11  # good lines before the bad one, so the bad one is line 12
BAD_LINE = GOOD + 1


def _dpo(i: int) -> dict:
    return {
        "input": {"messages": [{"role": "user", "content": f"Frage {i}?"}]},
        "preferred_output": [{"role": "assistant", "content": f"Antwort {i}."}],
        "non_preferred_output": [{"role": "assistant", "content": f"Answer {i}."}],
    }


def _file(bad: str, method: str) -> bytes:
    good = good_lines(GOOD) if method == "supervised" else [_dpo(i) for i in range(GOOD)]
    return ("\n".join([json.dumps(g) for g in good] + [bad]) + "\n").encode("utf-8")


def _upload(client: Client, content: bytes, method: str = "supervised"):
    return client.post(
        "/datasets/upload/",
        {
            "file": upload_file(content, "odd.jsonl"),
            "name": "Odd",
            "method": method,
            "target_model": "gpt-4o-mini-2024-07-18",
        },
    )


def _assert_named_and_rendered(client: Client, version: DatasetVersion) -> None:
    report = version.report or {}
    assert all(e["line"] > 0 for e in report.get("errors", [])), report.get("errors")
    assert "failed unexpectedly" not in json.dumps(report)
    assert any(e["line"] == BAD_LINE for e in report.get("errors", [])), report.get("errors")
    base = f"/datasets/{version.dataset_id}/v/{version.number}/"
    page = client.get(base)
    assert page.status_code == 200
    assert f"line {BAD_LINE}" in page.content.decode()
    examples = client.get(base + "examples/", {"page": 3})  # five per page: line 12 is on page 3
    assert examples.status_code == 200
    body = examples.content.decode()
    assert "<script>alert" not in body


DEEP = "[" * 10_000 + "]" * 10_000
SUPERVISED_CASES = {
    "messages-a-number": '{"messages": 5}',
    "messages-true": '{"messages": true}',
    "tool-call-a-string": json.dumps(
        {"messages": [{"role": "user", "content": "q"}, {"role": "assistant", "tool_calls": ["call_1"]}]}
    ),
    "tool-call-function-a-string": json.dumps(
        {
            "messages": [
                {"role": "user", "content": "q"},
                {"role": "assistant", "tool_calls": [{"id": "c", "type": "function", "function": "f"}]},
            ]
        }
    ),
    "text-part-a-number": json.dumps(
        {
            "messages": [
                {"role": "user", "content": [{"type": "text", "text": 5}]},
                {"role": "assistant", "content": "a"},
            ]
        }
    ),
    "lone-surrogate": '{"messages": [{"role": "user", "content": "\\ud800"}, {"role": "assistant", "content": "a"}]}',
    "nested-10000-deep": '{"messages": [{"role": "user", "content": '
    + DEEP
    + '}, {"role": "assistant", "content": "a"}]}',
    "role-a-list": json.dumps(
        {"messages": [{"role": "user", "content": "q"}, {"role": ["assistant"], "content": "a"}]}
    ),
    "role-an-object": json.dumps(
        {"messages": [{"role": {"name": "user"}, "content": "q"}, {"role": "assistant", "content": "a"}]}
    ),
    "part-type-an-object": json.dumps(
        {
            "messages": [
                {"role": "user", "content": [{"type": {"t": "text"}, "text": "q"}]},
                {"role": "assistant", "content": "a"},
            ]
        }
    ),
    "part-type-a-list": json.dumps(
        {
            "messages": [
                {"role": "user", "content": [{"type": ["text"], "text": "q"}]},
                {"role": "assistant", "content": "a"},
            ]
        }
    ),
    "image-url-a-string": json.dumps(
        {
            "messages": [
                {
                    "role": "user",
                    "content": [{"type": "image_url", "image_url": "https://example.com/a.png"}],
                },
                {"role": "assistant", "content": "a"},
            ]
        }
    ),
    "script-in-a-bad-line": '{"messages": 5, "x": "<script>alert(1)</script>"}',
}


@pytest.mark.parametrize("bad", list(SUPERVISED_CASES.values()), ids=list(SUPERVISED_CASES))
def test_a_malformed_supervised_line_is_named_and_its_pages_render(alice_client, bad):
    response = _upload(alice_client, _file(bad, "supervised"))
    assert response.status_code in (200, 302), response.content[:500]
    _assert_named_and_rendered(alice_client, DatasetVersion.objects.get())


DPO_CASES = {
    "input-a-string": json.dumps({**_dpo(0), "input": "q"}),
    "output-a-string": json.dumps({**_dpo(0), "preferred_output": "a"}),
    "output-message-role-a-list": json.dumps(
        {**_dpo(0), "preferred_output": [{"role": ["assistant"], "content": "a"}]}
    ),
    "input-messages-an-object": json.dumps({**_dpo(0), "input": {"messages": {"role": "user"}}}),
    "nested-10000-deep": '{"input": ' + DEEP + ', "preferred_output": [], "non_preferred_output": []}',
}


@pytest.mark.parametrize("bad", list(DPO_CASES.values()), ids=list(DPO_CASES))
def test_a_malformed_preference_line_is_named_and_its_pages_render(alice_client, bad):
    response = _upload(alice_client, _file(bad, "dpo"), method="dpo")
    assert response.status_code in (200, 302), response.content[:500]
    _assert_named_and_rendered(alice_client, DatasetVersion.objects.get())


# ----------------------------------------------------------------------------- generated lines


def _rich_chat() -> dict:
    return {
        "messages": [
            {"role": "system", "content": "Answer in German."},
            {
                "role": "user",
                "content": [
                    {"type": "text", "text": "Wie spät?"},
                    {"type": "image_url", "image_url": {"url": "https://x/y.png"}},
                ],
            },
            {
                "role": "assistant",
                "content": None,
                "tool_calls": [
                    {"id": "c1", "type": "function", "function": {"name": "clock", "arguments": "{}"}}
                ],
            },
            {"role": "tool", "tool_call_id": "c1", "content": "12:00"},
            {"role": "assistant", "content": "Es ist zwölf.", "weight": 1},
        ],
        "tools": [{"type": "function", "function": {"name": "clock", "parameters": {"type": "object"}}}],
    }


SUPERVISED_PATHS = [
    ("messages",),
    ("messages", 0),
    ("messages", 0, "role"),
    ("messages", 0, "content"),
    ("messages", 1, "content"),
    ("messages", 1, "content", 0),
    ("messages", 1, "content", 0, "type"),
    ("messages", 1, "content", 0, "text"),
    ("messages", 1, "content", 1, "image_url"),
    ("messages", 1, "content", 1, "image_url", "url"),
    ("messages", 2, "tool_calls"),
    ("messages", 2, "tool_calls", 0),
    ("messages", 2, "tool_calls", 0, "function"),
    ("messages", 2, "tool_calls", 0, "function", "arguments"),
    ("messages", 3, "tool_call_id"),
    ("messages", 4, "role"),
    ("messages", 4, "weight"),
    ("messages", 4, "name"),
    ("tools",),
    ("tools", 0),
    ("tools", 0, "function"),
    ("tools", 0, "function", "parameters"),
    ("parallel_tool_calls",),
]
DPO_PATHS = [
    ("input",),
    ("input", "messages"),
    ("input", "messages", 0),
    ("input", "messages", 0, "role"),
    ("input", "messages", 0, "content"),
    ("preferred_output",),
    ("preferred_output", 0),
    ("preferred_output", 0, "role"),
    ("preferred_output", 0, "content"),
    ("non_preferred_output",),
    ("non_preferred_output", 0, "weight"),
]


def _replace(example, path, value):
    node = example
    for key in path[:-1]:
        node = node[key]
    node[path[-1]] = value
    return example


def _check(client: Client, line: dict, method: str) -> None:
    DatasetVersion.objects.all().delete()
    response = _upload(client, _file(json.dumps(line), method), method=method)
    assert response.status_code in (200, 302), response.content[:500]
    version = DatasetVersion.objects.get()
    report = version.report or {}
    assert all(e["line"] > 0 for e in report.get("errors", [])), report.get("errors")
    assert "failed unexpectedly" not in json.dumps(report)
    base = f"/datasets/{version.dataset_id}/v/{version.number}/"
    assert client.get(base).status_code == 200
    assert client.get(base + "examples/", {"page": 3}).status_code == 200


PROPERTY = settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)


@PROPERTY
@given(path=st.sampled_from(SUPERVISED_PATHS), value=json_values)
def test_any_json_value_at_any_supervised_field_is_named_or_accepted_and_renders(alice_client, path, value):
    _check(alice_client, _replace(_rich_chat(), path, value), "supervised")


@PROPERTY
@given(path=st.sampled_from(DPO_PATHS), value=json_values)
def test_any_json_value_at_any_preference_field_is_named_or_accepted_and_renders(alice_client, path, value):
    _check(alice_client, _replace(_dpo(99), path, value), "dpo")


@settings(max_examples=200, deadline=None)
@given(
    path=st.sampled_from(SUPERVISED_PATHS), value=json_values, method=st.sampled_from(["supervised", "dpo"])
)
def test_the_validator_gives_every_error_a_line(tmp_path_factory, path, value, method):
    line = _replace(_rich_chat(), path, value)
    path_ = tmp_path_factory.mktemp("v") / "f.jsonl"
    path_.write_bytes(_file(json.dumps(line), method))
    report = validate_file(path_, method=method, workers=1)
    assert all(e["line"] > 0 for e in report.errors), report.errors


def test_the_chat_example_used_by_the_property_tests_is_valid(tmp_path):
    path = tmp_path / "f.jsonl"
    path.write_bytes(_file(json.dumps(_rich_chat()), "supervised"))
    report = validate_file(path, method="supervised", workers=1)
    assert report.ok, report.errors
    path.write_bytes(_file(json.dumps(_dpo(99)), "dpo"))
    assert validate_file(path, method="dpo", workers=1).ok
    assert chat(0)["messages"][-1]["role"] == "assistant"
