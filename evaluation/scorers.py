"""The scorers of a run: plain functions of a reply (and the reference), no Django.

Each scorer kind has a one-sentence explanation for the page (`explain`), a check of its settings
(`clean_config`, a sentence for people when they are wrong) and `score(reply, reference)`, which
never raises: a reply that is not JSON fails the JSON scorers, it does not stop the run.
Pass/fail scorers return bool; measuring scorers return a number. `better` says which way is
better for the regression filter ("higher", or None where neither is: a length).
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import jsonschema

from evaluation import language

Score = bool | float | int | None

_FENCE = re.compile(r"^```(?:json|JSON)?\s*\n?(.*?)\n?```$", re.DOTALL)
_MISSING = object()


class ScorerConfigError(ValueError):
    """Settings of a scorer that cannot work; the message is a sentence for the page."""


def parse_json(text: str) -> Any:
    """The JSON value of a reply (a ```json fence around it is allowed); _MISSING if it is none."""
    text = text.strip()
    fenced = _FENCE.match(text)
    if fenced:
        text = fenced.group(1).strip()
    try:
        return json.loads(text)
    except (json.JSONDecodeError, RecursionError):
        return _MISSING


@dataclass(frozen=True)
class Scorer:
    kind: str
    title: str
    pass_fail: bool
    better: str | None  # "higher" or None
    explanation: Callable[[dict], str]
    needs_reference: bool = False


def _norm(text: str) -> str:
    return " ".join(text.split()).casefold()


def _fields(config: dict) -> list[str]:
    return [f.strip() for f in str(config.get("fields", "")).split(",") if f.strip()]


SCORERS: dict[str, Scorer] = {
    s.kind: s
    for s in [
        Scorer(
            "exact",
            "Exact match",
            True,
            "higher",
            lambda c: "Passes when the reply is the reference answer, ignoring upper/lower case and extra spaces.",
            needs_reference=True,
        ),
        Scorer(
            "contains",
            "Contains the reference",
            True,
            "higher",
            lambda c: "Passes when the reference answer appears somewhere in the reply, ignoring upper/lower case.",
            needs_reference=True,
        ),
        Scorer(
            "regex",
            "Regular expression",
            True,
            "higher",
            lambda c: f"Passes when the regular expression {c.get('pattern', '')!r} matches somewhere in the reply.",
        ),
        Scorer(
            "json_parses",
            "Valid JSON",
            True,
            "higher",
            lambda c: "Passes when the reply is valid JSON (a ```json block around it is allowed).",
        ),
        Scorer(
            "json_schema",
            "Matches the JSON Schema",
            True,
            "higher",
            lambda c: "Passes when the reply is JSON that the pasted JSON Schema accepts.",
        ),
        Scorer(
            "json_fields",
            "JSON fields equal the reference's",
            True,
            "higher",
            lambda c: "Passes when the reply and the reference are JSON objects with the same values for "
            + ", ".join(_fields(c) or ["the chosen fields"])
            + ".",
            needs_reference=True,
        ),
        Scorer(
            "language",
            "Language",
            True,
            "higher",
            lambda c: f"Passes when the reply is written in {language.name(c.get('expected', ''))}, as an offline "
            "detector reads it; a reply that mixes languages passes only if at least "
            f"{int(language.MIN_SHARE * 100)}% of it is.",
        ),
        Scorer(
            "length",
            "Length in tokens",
            False,
            None,
            lambda c: "The reply's length in tokens, as the provider counted them (neither better nor worse by itself).",
        ),
        Scorer(
            "prompt_tokens",
            "Prompt tokens",
            False,
            None,
            lambda c: "Tokens of the prompt each model was sent, system prompt included: a short prompt saves them.",
        ),
    ]
}
JUDGE_EXPLANATIONS = {
    "score": "An LLM judge reads each reply with your rubric and gives it 1 to 5 (higher is better).",
    "pass_fail": "An LLM judge reads each reply with your rubric and says pass or fail.",
    "pairwise": "An LLM judge reads the two replies with your rubric and says which is better; it is asked "
    "twice with the replies swapped, and the page says how often it agrees with itself.",
}


def explain(config: dict) -> str:
    return SCORERS[config["kind"]].explanation(config)


def key_of(config: dict) -> str:
    """The key of a scorer's values in `Result.scores`: its kind (one scorer of each kind per run)."""
    return str(config["kind"])


def clean_config(config: dict) -> dict:
    """The settings of one scorer, checked; raises ScorerConfigError with a sentence."""
    kind = config.get("kind")
    if kind not in SCORERS:
        raise ScorerConfigError(f"There is no scorer called {kind!r}.")
    if kind == "regex":
        pattern = str(config.get("pattern", ""))
        if not pattern:
            raise ScorerConfigError("Write the regular expression the replies should match.")
        try:
            re.compile(pattern)
        except re.error as exc:
            raise ScorerConfigError(f"The regular expression cannot be read: {exc}.") from None
        return {"kind": kind, "pattern": pattern}
    if kind == "json_schema":
        raw = config.get("schema", "")
        try:
            schema = json.loads(raw) if isinstance(raw, str) else raw
        except json.JSONDecodeError as exc:
            raise ScorerConfigError(
                f"The JSON Schema is not valid JSON (line {exc.lineno}, column {exc.colno}: {exc.msg})."
            ) from None
        if not isinstance(schema, dict):
            raise ScorerConfigError('A JSON Schema is a JSON object, like {"type": "object"}.')
        try:
            jsonschema.validators.validator_for(schema).check_schema(schema)
        except jsonschema.SchemaError as exc:
            raise ScorerConfigError(f"This is not a valid JSON Schema: {exc.message}.") from None
        return {"kind": kind, "schema": schema}
    if kind == "json_fields":
        fields = _fields(config)
        if not fields:
            raise ScorerConfigError("Name the JSON fields to compare, separated by commas.")
        return {"kind": kind, "fields": ", ".join(fields)}
    if kind == "language":
        code = str(config.get("expected", "")).strip().lower()
        if code not in language.LANGUAGES:
            raise ScorerConfigError(
                "Pick the language the replies should be in from the list ("
                + ", ".join(language.name(c) for c in language.LANGUAGES)
                + ")."
            )
        return {"kind": kind, "expected": code}
    return {"kind": kind}


def score(
    config: dict, *, reply: str, reference: str, prompt_tokens: int | None, completion_tokens: int | None
) -> Score:
    """The value of one scorer on one reply; never raises on the reply's content."""
    kind = config["kind"]
    if kind == "exact":
        return _norm(reply) == _norm(reference)
    if kind == "contains":
        return bool(_norm(reference)) and _norm(reference) in _norm(reply)
    if kind == "regex":
        return re.search(config["pattern"], reply) is not None
    if kind == "json_parses":
        return parse_json(reply) is not _MISSING
    if kind == "json_schema":
        value = parse_json(reply)
        if value is _MISSING:
            return False
        validator = jsonschema.validators.validator_for(config["schema"])(config["schema"])
        return bool(validator.is_valid(value))
    if kind == "json_fields":
        got, want = parse_json(reply), parse_json(reference)
        if not isinstance(got, dict) or not isinstance(want, dict):
            return False
        return all(f in got and f in want and got[f] == want[f] for f in _fields(config))
    if kind == "language":
        return language.is_in(reply, config["expected"])
    if kind == "length":
        return completion_tokens
    if kind == "prompt_tokens":
        return prompt_tokens
    raise ScorerConfigError(f"There is no scorer called {kind!r}.")
