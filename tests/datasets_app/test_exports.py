"""Export a frozen version: OpenAI, Together and plain chat JSONL, each checked against its format."""

from __future__ import annotations

import json
from typing import Any

import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from jsonschema import Draft202012Validator

from datasets_app import exports
from datasets_app.models import DatasetVersion
from datasets_app.services import dataset_upload, dataset_version_split, version_exports_check, version_freeze
from tests.factories import chat, good_lines, upload_file
from tests.processes import wait_for

# The examples of the published specs (openai-training-formats.yaml's x-oaiMeta examples;
# together-finetuning.md section 7's example lines).
OPENAI_CHAT_EXAMPLE: dict[str, Any] = {
    "messages": [
        {"role": "user", "content": "What is the weather in San Francisco?"},
        {
            "role": "assistant",
            "tool_calls": [
                {
                    "id": "call_id",
                    "type": "function",
                    "function": {
                        "name": "get_current_weather",
                        "arguments": '{"location": "San Francisco, USA", "format": "celsius"}',
                    },
                }
            ],
        },
    ],
    "parallel_tool_calls": False,
    "tools": [
        {
            "type": "function",
            "function": {
                "name": "get_current_weather",
                "description": "Get the current weather",
                "parameters": {
                    "type": "object",
                    "properties": {
                        "location": {
                            "type": "string",
                            "description": "The city and country, eg. San Francisco, USA",
                        },
                        "format": {"type": "string", "enum": ["celsius", "fahrenheit"]},
                    },
                    "required": ["location", "format"],
                },
            },
        }
    ],
}
OPENAI_DPO_EXAMPLE = {
    "input": {"messages": [{"role": "user", "content": "What is the weather in San Francisco?"}]},
    "preferred_output": [
        {"role": "assistant", "content": "The weather in San Francisco is 70 degrees Fahrenheit."}
    ],
    "non_preferred_output": [
        {"role": "assistant", "content": "The weather in San Francisco is 21 degrees Celsius."}
    ],
}
TOGETHER_CHAT_EXAMPLE = {
    "messages": [
        {"role": "system", "content": "…"},
        {"role": "user", "content": "…"},
        {"role": "assistant", "content": "…"},
    ]
}
TOGETHER_PREFERENCE_EXAMPLE = {
    "input": {"messages": [{"role": "user", "content": "…"}]},
    "preferred_output": [{"role": "assistant", "content": "good"}],
    "non_preferred_output": [{"role": "assistant", "content": "bad"}],
}


def dpo(i: int, prompt: str | None = None) -> dict:
    return {
        "input": {
            "messages": [
                {"role": "system", "content": "Sei kurz."},
                {"role": "user", "content": prompt or f"Frage {i}?"},
            ]
        },
        "preferred_output": [{"role": "assistant", "content": f"Antwort {i}."}],
        "non_preferred_output": [{"role": "assistant", "content": f"Eine lange Antwort auf Frage {i}."}],
    }


def frozen(team, user, lines, method="supervised", split=False) -> DatasetVersion:
    version = dataset_upload(
        team=team, user=user, name="Export <b>", method=method, uploaded_file=upload_file(lines)
    )
    assert version.status == "valid", version.report.get("errors")
    if split:
        version = dataset_version_split(version=version, fraction=0.2, seed=3)
    return version_freeze(version=version, user=user)


def download(client, version, fmt, part="") -> list[dict]:
    url = f"/datasets/{version.dataset_id}/v/{version.number}/export/{fmt}/" + (
        f"?part={part}" if part else ""
    )
    response = client.get(url)
    assert response.status_code == 200 and response.streaming, (url, response.status_code)
    assert response["Content-Type"] == "application/jsonl"
    assert (
        f"-{fmt}.jsonl" in response["Content-Disposition"] and "attachment" in response["Content-Disposition"]
    )
    return [json.loads(line) for line in b"".join(response.streaming_content).splitlines()]


def test_the_published_examples_validate_and_the_schemas_are_valid_schemas():
    for key, example in [
        ("openai-chat", OPENAI_CHAT_EXAMPLE),
        ("openai-dpo", OPENAI_DPO_EXAMPLE),
        ("together-chat", TOGETHER_CHAT_EXAMPLE),
        ("together-preference", TOGETHER_PREFERENCE_EXAMPLE),
    ]:
        schema = exports.FORMATS[key].schema
        Draft202012Validator.check_schema(schema)
        assert list(Draft202012Validator(schema).iter_errors(example)) == [], key


@pytest.mark.parametrize(
    ("key", "bad"),
    [
        ("openai-chat", {"messages": [{"role": "robot", "content": "x"}]}),
        ("openai-chat", {"messages": [{"role": "assistant", "content": "x", "weight": 2}]}),
        ("openai-dpo", {**OPENAI_DPO_EXAMPLE, "preferred_output": [{"role": "assistant"}] * 2}),
        ("together-chat", {"messages": [{"role": "user", "content": "x"}]}),  # no assistant turn
        ("together-chat", {**TOGETHER_CHAT_EXAMPLE, "extra": 1}),
        ("together-preference", {**TOGETHER_PREFERENCE_EXAMPLE, "preferred_output": []}),
        ("plain-chat", {"messages": [{"role": "user", "content": ["parts"]}]}),
        ("plain-dpo", {"prompt": [], "chosen": [], "rejected": []}),
    ],
)
def test_the_schemas_refuse_what_the_specs_refuse(key, bad):
    assert list(Draft202012Validator(exports.FORMATS[key].schema).iter_errors(bad)), (key, bad)


def test_a_chat_version_exports_in_every_supervised_format(alice, team, alice_client):
    lines = [chat(i) for i in range(12)]
    lines[0]["messages"][2]["weight"] = 1
    version = frozen(team, alice, lines)
    assert {k: v["ok"] for k, v in version.exports.items()} == {
        "openai-chat": True,
        "together-chat": True,
        "plain-chat": True,
    }
    assert download(alice_client, version, "openai-chat") == lines
    together = download(alice_client, version, "together-chat")
    assert together[0]["messages"][2] == {"role": "assistant", "content": "Antwort Nummer 0.", "weight": 1}
    assert [m["content"] for m in together[5]["messages"]] == [m["content"] for m in lines[5]["messages"]]
    plain = download(alice_client, version, "plain-chat")
    assert plain[0] == {"messages": [{k: m[k] for k in ("role", "content")} for m in lines[0]["messages"]]}
    page = alice_client.get(f"/datasets/{version.dataset_id}/v/1/").content.decode()
    assert page.count('data-testid="export-') == 3 and "/export/together-chat/" in page
    assert "/export/openai-dpo/" not in page


def test_a_dpo_version_exports_in_every_preference_format(alice, team, alice_client):
    lines = [dpo(i) for i in range(12)]
    version = frozen(team, alice, lines, method="dpo")
    assert all(v["ok"] for v in version.exports.values()) and set(version.exports) == {
        "openai-dpo",
        "together-preference",
        "plain-dpo",
    }
    assert download(alice_client, version, "openai-dpo") == lines
    assert download(alice_client, version, "together-preference")[3] == lines[3]
    trl = download(alice_client, version, "plain-dpo")[4]
    assert trl == {
        "prompt": lines[4]["input"]["messages"],
        "chosen": lines[4]["preferred_output"],
        "rejected": lines[4]["non_preferred_output"],
    }
    assert alice_client.get(f"/datasets/{version.dataset_id}/v/1/export/openai-chat/").status_code == 404


def test_tool_calls_are_offered_to_openai_and_plain_chat_and_refused_for_together_with_the_reason(
    alice, team, alice_client
):
    lines = good_lines(12)
    lines[6] = OPENAI_CHAT_EXAMPLE
    version = frozen(team, alice, lines)
    assert version.exports["openai-chat"]["ok"] and version.exports["plain-chat"]["ok"]
    assert version.exports["together-chat"] == {
        "ok": False,
        "reason": "Example 7 cannot be exported: it has tool calls or tool results, which Together's file "
        "check accepts only as system, user and assistant messages with text or images.",
    }
    page = alice_client.get(f"/datasets/{version.dataset_id}/v/1/").content.decode()
    assert "/export/together-chat/" not in page and "Example 7 cannot be exported" in page
    refused = alice_client.get(f"/datasets/{version.dataset_id}/v/1/export/together-chat/", follow=True)
    assert "cannot be exported as Together (conversational)" in refused.content.decode()
    plain = download(alice_client, version, "plain-chat")[6]
    assert plain["messages"][1] == {
        "role": "assistant",
        "content": "",
        "tool_calls": OPENAI_CHAT_EXAMPLE["messages"][1]["tool_calls"],
    }
    assert plain["tools"] == OPENAI_CHAT_EXAMPLE["tools"]


def test_an_image_by_url_cannot_go_to_together_or_plain_chat(alice, team):
    lines = good_lines(12)
    lines[2]["messages"][1]["content"] = [
        {"type": "text", "text": "What is this?"},
        {"type": "image_url", "image_url": {"url": "https://example.com/cat.png"}},
    ]
    version = frozen(team, alice, lines)
    assert version.exports["openai-chat"]["ok"]
    assert version.exports["together-chat"]["reason"].startswith("Example 3 cannot be exported:")
    assert "image" in version.exports["plain-chat"]["reason"]


def test_a_split_version_exports_its_train_and_validation_files(alice, team, alice_client):
    version = frozen(team, alice, [chat(i) for i in range(20)], split=True)
    train = download(alice_client, version, "together-chat", part="train")
    validation = download(alice_client, version, "together-chat", part="validation")
    assert len(train) == 16 and len(validation) == 4
    assert (
        alice_client.get(f"/datasets/{version.dataset_id}/v/1/export/together-chat/?part=nope").status_code
        == 404
    )


def test_only_frozen_versions_export_and_outsiders_get_404(alice, team, alice_client, charlie_client):
    draft = dataset_upload(team=team, user=alice, name="D", uploaded_file=upload_file(good_lines(12)))
    url = f"/datasets/{draft.dataset_id}/v/1/export/openai-chat/"
    response = alice_client.get(url, follow=True)
    assert not getattr(response, "streaming", False)
    assert "Only a frozen version can be exported" in response.content.decode()
    with pytest.raises(Exception, match="Only a frozen version"):
        version_exports_check(version=draft)
    version_freeze(version=draft, user=alice)
    assert alice_client.get(url).status_code == 200
    assert charlie_client.get(url).status_code == 404
    assert alice_client.get(f"/datasets/{draft.dataset_id}/v/1/export/unknown/").status_code == 404


def test_user_content_is_escaped_in_the_reasons_and_kept_as_it_is_in_the_file(alice, team, alice_client):
    lines = good_lines(12)
    lines[1] = chat(1, answer="<script>alert(1)</script>")
    lines[4]["messages"].insert(2, {"role": "user", "content": "<script>x</script>"})  # two user turns
    version = frozen(team, alice, lines)
    assert "two user messages in a row" in version.exports["together-chat"]["reason"]
    assert (
        download(alice_client, version, "plain-chat")[1]["messages"][2]["content"]
        == "<script>alert(1)</script>"
    )
    page = alice_client.get(f"/datasets/{version.dataset_id}/v/1/").content.decode()
    assert "<script>alert" not in page and "Export &lt;b&gt;" in page


texts = st.text(st.characters(exclude_categories=["Cs"]), min_size=1, max_size=40)


@settings(max_examples=60, deadline=None)
@given(
    system=st.one_of(st.none(), texts),
    turns=st.lists(st.tuples(texts, texts), min_size=1, max_size=4),
    as_parts=st.booleans(),
)
def test_generated_chats_round_trip_through_every_supervised_format(system, turns, as_parts):
    messages = [{"role": "system", "content": system}] if system is not None else []
    for question, answer in turns:
        messages.append(
            {"role": "user", "content": [{"type": "text", "text": question}] if as_parts else question}
        )
        messages.append({"role": "assistant", "content": answer})
    example = {"messages": messages}
    raw = orjson.dumps(example)
    expected = [
        (m["role"], m["content"] if isinstance(m["content"], str) else m["content"][0]["text"])
        for m in messages
    ]
    for fmt in exports.formats_for("supervised"):
        if fmt.key == "together-chat" and as_parts:  # parts for users, text for answers: mixed
            with pytest.raises(exports.NotExportable, match="mixes text and lists"):
                exports.export_line(fmt, raw)
            continue
        out = orjson.loads(exports.export_line(fmt, raw))
        assert list(fmt.validator.iter_errors(out)) == []
        got = [
            (m["role"], m["content"] if isinstance(m["content"], str) else m["content"][0]["text"])
            for m in out["messages"]
        ]
        assert got == expected, fmt.key


@settings(max_examples=40, deadline=None)
@given(prompt=texts, chosen=texts, rejected=texts)
def test_generated_preference_pairs_round_trip_through_every_dpo_format(prompt, chosen, rejected):
    example = {
        "input": {"messages": [{"role": "user", "content": prompt}]},
        "preferred_output": [{"role": "assistant", "content": chosen}],
        "non_preferred_output": [{"role": "assistant", "content": rejected}],
    }
    for fmt in exports.formats_for("dpo"):
        out = orjson.loads(exports.export_line(fmt, orjson.dumps(example)))
        if fmt.key == "plain-dpo":
            out = {
                "input": {"messages": out["prompt"]},
                "preferred_output": out["chosen"],
                "non_preferred_output": out["rejected"],
            }
        assert out == example, fmt.key


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(answers=st.lists(texts, min_size=12, max_size=14))
def test_a_generated_frozen_version_downloads_as_it_was_stored(alice, team, alice_client, answers):
    lines = [chat(i, answer=a) for i, a in enumerate(answers)]
    version = frozen(team, alice, lines)
    assert version.exports["openai-chat"]["ok"], version.exports
    assert download(alice_client, version, "openai-chat") == lines
    assert [e["messages"][2]["content"] for e in download(alice_client, version, "plain-chat")] == answers


@pytest.mark.worker
def test_a_large_frozen_version_is_checked_by_the_worker(start_worker, alice, settings, alice_client):
    team = alice.memberships.get().team
    settings.DATASET_INLINE_VALIDATE_BYTES = 5_000
    start_worker(queues="default", extra_env={"FINEWEB_DATASET_INLINE_VALIDATE_BYTES": "5000"})
    version = dataset_upload(
        team=team, user=alice, name="Big", uploaded_file=upload_file([chat(i) for i in range(200)])
    )
    version = wait_for(
        lambda: DatasetVersion.objects.filter(id=version.id, status="valid").first(),
        timeout=120,
        message="validation",
    )
    version = version_freeze(version=version, user=alice)
    assert version.exports == {"pending": True}
    page = alice_client.get(f"/datasets/{version.dataset_id}/v/1/").content.decode()
    assert 'data-testid="exports-pending"' in page
    done = wait_for(
        lambda: DatasetVersion.objects.filter(id=version.id, exports__has_key="plain-chat").first(),
        timeout=120,
        message="the worker to check the export formats",
    )
    assert done.exports["together-chat"] == {"ok": True, "n": 200}
    assert len(download(alice_client, done, "together-chat")) == 200
