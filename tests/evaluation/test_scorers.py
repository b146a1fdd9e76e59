"""Every scorer on hand-made replies: right, wrong, not JSON, JSON the schema refuses, mixed languages."""

from __future__ import annotations

import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

from evaluation import language, scorers
from evaluation.scorers import ScorerConfigError, clean_config
from tests.strategies import json_values


def score(config: dict, reply: str, reference: str = "", prompt_tokens=None, completion_tokens=None):
    return scorers.score(
        clean_config(config),
        reply=reply,
        reference=reference,
        prompt_tokens=prompt_tokens,
        completion_tokens=completion_tokens,
    )


def test_exact_match_ignores_case_and_spaces_but_not_words():
    assert score({"kind": "exact"}, "  Berlin \n", "berlin") is True
    assert score({"kind": "exact"}, "Berlin.", "Berlin") is False
    assert score({"kind": "exact"}, "It is Berlin", "Berlin") is False


def test_contains():
    assert score({"kind": "contains"}, "The capital is BERLIN, of course.", "berlin") is True
    assert score({"kind": "contains"}, "The capital is Munich.", "Berlin") is False
    assert score({"kind": "contains"}, "anything", "") is False  # an empty reference proves nothing


def test_regex_matches_and_a_bad_pattern_is_a_sentence():
    assert score({"kind": "regex", "pattern": r"^\d{5}$"}, "10115") is True
    assert score({"kind": "regex", "pattern": r"^\d{5}$"}, "PLZ 10115") is False
    with pytest.raises(ScorerConfigError, match="cannot be read"):
        clean_config({"kind": "regex", "pattern": "(unclosed"})


@pytest.mark.parametrize(
    ("reply", "ok"),
    [
        ('{"a": 1}', True),
        ('```json\n{"a": 1}\n```', True),
        ("[1, 2]", True),
        ('Sure! Here is the JSON: {"a": 1}', False),
        ('{"a": 1,}', False),
        ("", False),
    ],
)
def test_json_parses(reply, ok):
    assert score({"kind": "json_parses"}, reply) is ok


SCHEMA = json.dumps(
    {
        "type": "object",
        "properties": {"city": {"type": "string"}, "zip": {"type": "string", "pattern": "^[0-9]{5}$"}},
        "required": ["city", "zip"],
        "additionalProperties": False,
    }
)


@pytest.mark.parametrize(
    ("reply", "ok"),
    [
        ('{"city": "Berlin", "zip": "10115"}', True),
        ('{"city": "Berlin"}', False),  # missing field
        ('{"city": "Berlin", "zip": 10115}', False),  # wrong type
        ('{"city": "Berlin", "zip": "10115", "extra": 1}', False),  # not allowed
        ("not json at all", False),
    ],
)
def test_json_schema(reply, ok):
    assert score({"kind": "json_schema", "schema": SCHEMA}, reply) is ok


def test_a_broken_schema_is_refused_with_a_sentence():
    with pytest.raises(ScorerConfigError, match="not valid JSON"):
        clean_config({"kind": "json_schema", "schema": "{type: object"})
    with pytest.raises(ScorerConfigError, match="not a valid JSON Schema"):
        clean_config({"kind": "json_schema", "schema": '{"type": "no-such-type"}'})


def test_json_fields_equal_the_references():
    config = {"kind": "json_fields", "fields": "intent, slot"}
    reference = '{"intent": "book", "slot": "tuesday", "note": "x"}'
    assert score(config, '{"intent": "book", "slot": "tuesday", "note": "other"}', reference) is True
    assert score(config, '{"intent": "book", "slot": "monday"}', reference) is False
    assert score(config, '{"intent": "book"}', reference) is False
    assert score(config, "book tuesday", reference) is False
    with pytest.raises(ScorerConfigError):
        clean_config({"kind": "json_fields", "fields": " , "})


GERMAN = "Das Wetter in Berlin ist heute sonnig und warm, wir gehen am Nachmittag in den Park."
ENGLISH = "The weather in Berlin is sunny and warm today, we are going to the park in the afternoon."


def test_language_of_the_reply():
    config = {"kind": "language", "expected": "de"}
    assert score(config, GERMAN) is True
    assert score(config, ENGLISH) is False
    assert score({"kind": "language", "expected": "en"}, ENGLISH) is True
    assert score(config, "12345 !!!") is False  # no words to judge


def test_a_mixed_language_reply_passes_only_when_mostly_in_the_expected_language():
    mixed = GERMAN + " " + ENGLISH + " And some more English words to make it the larger part."
    shares = language.shares(mixed)
    assert set(shares) == {"de", "en"}
    assert score({"kind": "language", "expected": "de"}, mixed) is False
    mostly_german = GERMAN + " " + GERMAN.replace("Berlin", "Hamburg") + " OK, thanks."
    assert score({"kind": "language", "expected": "de"}, mostly_german) is True


def test_unknown_language_or_scorer_is_a_sentence():
    with pytest.raises(ScorerConfigError, match="Pick the language"):
        clean_config({"kind": "language", "expected": "xx"})
    with pytest.raises(ScorerConfigError, match="no scorer"):
        clean_config({"kind": "vibes"})


def test_length_and_prompt_tokens_come_from_the_providers_counts():
    assert score({"kind": "length"}, "a b c", completion_tokens=7) == 7
    assert score({"kind": "prompt_tokens"}, "a", prompt_tokens=120) == 120


def test_every_scorer_explains_itself_in_one_sentence():
    for kind in scorers.SCORERS:
        text = scorers.explain({"kind": kind, "pattern": "x", "fields": "a", "expected": "de"})
        assert text.endswith(".") and text.count(". ") == 0, text


@given(reply=st.text(max_size=200) | json_values.map(json.dumps))
def test_no_reply_makes_a_scorer_raise(reply):
    for config in (
        {"kind": "exact"},
        {"kind": "contains"},
        {"kind": "regex", "pattern": "a+"},
        {"kind": "json_parses"},
        {"kind": "json_schema", "schema": SCHEMA},
        {"kind": "json_fields", "fields": "a"},
    ):
        assert score(config, reply, '{"a": 1}') in (True, False)
