"""The local API answers malformed requests with a 400 in OpenAI's error shape, never a 500.

The named cases are the ones seen as 500s on main; the property-based tests generate a JSON value
of every type (nested, with odd strings) at every field of a chat and a job request.
"""

from __future__ import annotations

import json

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from localtuner.api import ApiError
from localtuner.params import chat_params, job_params
from tests.fakes.local_api import BASE, assert_openai_error, auth, post_json
from tests.strategies import json_values

pytestmark = pytest.mark.django_db
HELLO = [{"role": "user", "content": "Say something."}]


def deep_array(depth: int) -> str:
    return "[" * depth + "]" * depth


def deep_object(depth: int) -> str:
    return '{"a":' * depth + "1" + "}" * depth


def chat_body_with(messages_json: str) -> str:
    return '{"model": "fineweb-tiny", "max_tokens": 2, "messages": ' + messages_json + "}"


@pytest.mark.parametrize(
    "raw",
    [
        chat_body_with(deep_array(10_000)),
        chat_body_with('[{"role": "user", "content": ' + deep_object(5_000) + "}]"),
        chat_body_with('[{"role": "user", "content": "\\ud800"}]'),
        chat_body_with('[{"role": "user", "content": "x\\udc00y"}]'),
    ],
    ids=["10000-deep-array", "5000-deep-object", "lone-high-surrogate", "lone-low-surrogate"],
)
def test_a_chat_body_too_deep_or_with_a_lone_surrogate_is_a_400(client, raw):
    error = assert_openai_error(post_json(client, "/chat/completions", raw), 400)
    assert "not valid JSON" in error["message"]


@pytest.mark.parametrize("role", [["user"], {"name": "user"}, 5, None, True])
def test_a_role_that_is_not_a_string_is_a_400_naming_the_message(client, role):
    body = {"model": "fineweb-tiny", "max_tokens": 2, "messages": [{"role": role, "content": "hi"}]}
    error = assert_openai_error(post_json(client, "/chat/completions", body), 400, param="messages")
    assert "messages[0].role" in error["message"]


@pytest.mark.parametrize("part_type", [["text"], {"t": 1}, 3])
def test_a_content_part_type_that_is_not_a_string_is_a_400(client, part_type):
    body = {
        "model": "fineweb-tiny",
        "max_tokens": 2,
        "messages": [{"role": "user", "content": [{"type": part_type, "text": "hi"}]}],
    }
    error = assert_openai_error(post_json(client, "/chat/completions", body), 400, param="messages")
    assert "content[0]" in error["message"]


def test_a_job_body_nested_too_deep_is_a_400(client):
    raw = '{"model": "fineweb-tiny", "training_file": "file-x", "metadata": ' + deep_object(5_000) + "}"
    error = assert_openai_error(post_json(client, "/fine_tuning/jobs", raw), 400)
    assert "not valid JSON" in error["message"]


def test_a_multipart_upload_without_a_boundary_is_a_400(client):
    response = client.generic(
        "POST",
        f"{BASE}/files",
        b"--x\r\nContent-Disposition: form-data; name=purpose\r\n\r\nfine-tune\r\n--x--\r\n",
        content_type="multipart/form-data",
        headers=auth(),
    )
    error = assert_openai_error(response, 400)
    assert "boundary" in error["message"]


# ----------------------------------------------------------------------------- generated input

CHAT_FIELDS = ["model", "messages", "stream", "stream_options", "max_tokens", "temperature", "top_p"]
CHAT_FIELDS += ["stop", "seed", "n", "tools"]
JOB_FIELDS = ["model", "training_file", "validation_file", "suffix", "seed", "metadata", "integrations"]
JOB_FIELDS += ["hyperparameters", "method"]


def _only_400s(parse, body: dict) -> None:
    try:
        parse(body)
    except ApiError as exc:
        assert exc.status == 400
        assert exc.message


@given(field=st.sampled_from(CHAT_FIELDS), value=json_values)
def test_any_json_value_at_any_chat_field_parses_or_is_a_400(field, value):
    body = {"model": "fineweb-tiny", "messages": HELLO, field: value}
    _only_400s(lambda b: chat_params(b, default_max_tokens=16), body)


@given(field=st.sampled_from(JOB_FIELDS), value=json_values)
def test_any_json_value_at_any_job_field_parses_or_is_a_400(field, value):
    body = {"model": "fineweb-tiny", "training_file": "file-abc", field: value}
    _only_400s(job_params, body)


@given(
    section=st.sampled_from(["supervised", "dpo"]),
    name=st.sampled_from(["n_epochs", "batch_size", "learning_rate_multiplier", "beta", "other"]),
    value=json_values,
)
def test_any_json_value_as_a_method_hyperparameter_parses_or_is_a_400(section, name, value):
    body = {
        "model": "fineweb-tiny",
        "training_file": "file-abc",
        "method": {"type": section, section: {"hyperparameters": {name: value}}},
    }
    _only_400s(job_params, body)


MESSAGE_FIELDS = ["role", "content", "weight", "name", "tool_calls"]


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(field=st.sampled_from(MESSAGE_FIELDS), value=json_values, as_part=st.booleans())
def test_any_json_value_in_a_message_is_answered_without_a_server_error(client, field, value, as_part):
    """Through the real endpoint and engine (the tiny model, 2 tokens): a reply or a 400, never a 500."""
    message: dict = {"role": "user", "content": "hi"}
    if as_part and field in ("content", "role"):
        # The value inside a content part instead: {"type": value} or {"type": "text", "text": value}.
        message["content"] = [{"type": value} if field == "role" else {"type": "text", "text": value}]
    else:
        message[field] = value
    body = {"model": "fineweb-tiny", "max_tokens": 2, "messages": [message]}
    response = post_json(client, "/chat/completions", json.dumps(body))
    assert response.status_code in (200, 400), response.content
    if response.status_code == 400:
        assert_openai_error(response, 400)
    else:
        assert response.json()["object"] == "chat.completion"


# ----------------------------------------------------------------------------- uploads


def _zip_bytes() -> bytes:
    import io
    import zipfile

    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("train.jsonl", '{"messages": []}\n')
    return buffer.getvalue()


@pytest.mark.parametrize(
    ("content", "words"),
    [
        (_zip_bytes(), "ZIP"),
        (bytes(range(256)) * 40, "Invalid file format"),
        (b'[{"messages": []}]\n', "JSON array"),
        (
            b'{"messages": [{"role": "user", "content": "hi"}, {"role": "assistant", "content": "yo"}]}\n'
            b'{"messages": [{"role": ["user"], "content": "hi"}]}\n',
            "line 2: ",
        ),
        (b'{"messages": 5}\n', "line 1: "),
    ],
    ids=["zip", "binary", "json-array", "bad-role-on-line-2", "messages-a-number"],
)
def test_a_fine_tuning_upload_that_is_not_training_data_is_refused_with_the_reason(client, content, words):
    from localtuner.models import LocalFile
    from tests.fakes.local_api import upload

    error = assert_openai_error(upload(client, content), 400, param="file")
    assert error["message"].startswith("Invalid file format for Fine-Tuning API")
    assert words.lower() in error["message"].lower()
    assert not LocalFile.objects.exists()


def test_preference_pairs_and_a_short_chat_file_are_accepted_at_upload(client):
    from tests.fakes.local_api import food_rows, jsonl, preference_row, upload

    assert upload(client, jsonl([preference_row("red"), preference_row("green")])).status_code == 200
    assert upload(client, jsonl(food_rows(3))).status_code == 200
