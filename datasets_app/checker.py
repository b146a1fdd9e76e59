"""The per-line checker: one byte range of a JSONL file, line by line, into a `Part`.

`check_range` reads the lines of [start, end) through `datasets_app.lines`, checks each one
(JSON, OpenAI's formats in `rules`, the privacy scan, the token limit), and keeps per example
only 20 bytes (a hash for duplicates, a line number, a token count, a message count) and at most
MAX_STORED problems of each kind. `datasets_app.validation` cuts the file into ranges and merges
the parts in file order.
"""

from __future__ import annotations

import json
import logging
from array import array
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson

from datasets_app import lines, privacy, rules, sniff
from datasets_app.tokens import MessageCounter
from fineweb.lib.catalogue import model_spec

log = logging.getLogger(__name__)
_loads = orjson.loads
_JSONError = orjson.JSONDecodeError

MAX_STORED = 1000  # problems kept (per kind: errors, warnings); the rest are counted

SUPERVISED = "supervised"
DPO = "dpo"


@dataclass
class Report:
    """Errors, warnings and statistics of one file. `line` 0 means the file as a whole."""

    errors: list[dict] = field(default_factory=list)
    warnings: list[dict] = field(default_factory=list)
    error_count: int = 0
    warning_count: int = 0
    error_summary: Counter = field(default_factory=Counter)
    warning_summary: Counter = field(default_factory=Counter)
    summary_text: dict = field(default_factory=dict)
    stats: dict = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return self.error_count == 0

    def error(self, line: int, code: str, message: str) -> None:
        self.error_count += 1
        self.error_summary[code] += 1
        self.summary_text.setdefault(code, message)
        if len(self.errors) < MAX_STORED:
            self.errors.append({"line": line, "message": message})

    def warning(self, line: int, code: str, message: str) -> None:
        self.warning_count += 1
        self.warning_summary[code] += 1
        self.summary_text.setdefault(code, message)
        if len(self.warnings) < MAX_STORED:
            self.warnings.append({"line": line, "message": message})

    def to_dict(self) -> dict:
        def summary(counter: Counter) -> list[dict]:
            return [
                {"code": c, "count": n, "example": self.summary_text[c]} for c, n in counter.most_common()
            ]

        return {
            "ok": self.ok,
            "errors": self.errors,
            "warnings": self.warnings,
            "error_count": self.error_count,
            "warning_count": self.warning_count,
            "error_summary": summary(self.error_summary),
            "warning_summary": summary(self.warning_summary),
            "stats": self.stats,
        }


def format_problem(problem: dict) -> str:
    return f"line {problem['line']}: {problem['message']}" if problem["line"] else problem["message"]


@dataclass
class Part:
    """What one byte range of the file gives. Line numbers count from 1 at the range's first
    line; `validation` shifts them when it merges. The arrays hold 20 bytes per example."""

    report: Report
    n_lines: int = 0
    n_examples: int = 0
    n_blank: int = 0
    n_over: int = 0
    n_missing_system: int = 0
    trained_tokens: int = 0
    n_bytes: int = 0
    blank_lines: list[int] = field(default_factory=list)
    hashes: array = field(default_factory=lambda: array("q"))  # per parsed example, its bytes' hash
    hash_lines: array = field(default_factory=lambda: array("I"))
    tokens: array = field(default_factory=lambda: array("I"))  # per countable example
    n_messages: array = field(default_factory=lambda: array("H"))


def check_range(
    path: Path, start: int, end: int, *, method: str, model: str, on_progress=None, size: int = 0
) -> Part:
    """Check the lines in bytes [start, end) of the file (`start` is a line start)."""
    spec = model_spec(model)
    part = Part(report=Report(), n_bytes=end - start)
    report = part.report
    counter = MessageCounter(spec.encoding)
    limit = spec.max_tokens_per_example
    check = rules.check_dpo if method == DPO else rules.check_supervised
    scan = privacy.scan
    hashes_append = part.hashes.append
    hash_lines_append = part.hash_lines.append
    tokens_append = part.tokens.append
    n_messages_append = part.n_messages.append
    blank_lines = part.blank_lines
    n_lines = n_examples = n_blank = n_over = n_missing_system = 0
    trained_tokens = 0
    supervised = method == SUPERVISED
    with path.open("rb", buffering=1024 * 1024) as f:
        bom = start == 0 and lines.starts_with_bom(f)
        f.seek(start)
        for number, raw in lines.read_lines(f, start, end, on_progress=on_progress, size=size):
            n_lines = number
            if raw is None:
                n_examples += 1
                report.error(
                    number,
                    "line_too_long",
                    f"longer than {lines.MAX_LINE_BYTES:,} bytes, the most one example may take; skipped",
                )
                continue
            if bom and number == 1:
                report.warning(
                    1,
                    "bom",
                    "the file starts with a UTF-8 byte-order mark (BOM): it is ignored here and left out "
                    "of the train/validation files, but some providers refuse it (save as UTF-8 without BOM)",
                )
            if not raw:
                n_blank += 1
                if len(blank_lines) < MAX_STORED:
                    blank_lines.append(number)
                continue
            n_examples += 1
            try:
                example = _loads(raw)
            except _JSONError:
                report.error(number, *_json_problem(raw))
                continue
            if type(example) is not dict:
                kind = (
                    "a list"
                    if isinstance(example, list)
                    else "a " + type(example).__name__.replace("str", "string")
                )
                report.error(number, "not_object", f"expected one JSON object {{...}} per line, found {kind}")
                continue
            try:
                # The hash is only compared within one run, whose workers are forked from one process
                # and so share its hash seed.
                hashes_append(hash(raw))
                hash_lines_append(number)
                for code, message in scan(raw):
                    report.warning(number, code, message)
                if supervised and len(example) == 1:
                    messages: Any = example.get("messages")  # parsed JSON; a list when simple is set
                    try:
                        simple = counter.simple(messages) if type(messages) is list else None
                    except TypeError:  # a role that is a list or an object: the full checks name it
                        simple = None
                    if simple is not None:  # the common shape: valid by every rule, counted in one pass
                        count, trained = simple
                        tokens_append(count if count < 0xFFFFFFFF else 0xFFFFFFFF)
                        n_messages_append(len(messages) if len(messages) < 0xFFFF else 0xFFFF)
                        trained_tokens += trained
                        if messages[0]["role"] != "system":
                            n_missing_system += 1
                        if count > limit:
                            n_over += 1
                            report.error(number, "too_long", _too_long(count, limit, spec))
                        continue
                errors: rules.Problems = []
                warnings: rules.Problems = []
                messages = check(example, errors, warnings)
                for code, message in errors:
                    report.error(number, code, message)
                for code, message in warnings:
                    report.warning(number, code, message)
                if messages is None:
                    continue
                holder = example["input"] if method == DPO else example
                count = counter.messages(messages, holder.get("tools"), holder.get("functions"))
                tokens_append(min(count, 0xFFFFFFFF))
                n_messages_append(min(len(messages), 0xFFFF))
                if count > limit:
                    n_over += 1
                    report.error(number, "too_long", _too_long(count, limit, spec))
                if messages[0].get("role") != "system":
                    n_missing_system += 1
                for m in messages:
                    if m.get("role") == "assistant" and m.get("weight", 1):
                        trained_tokens += counter.content(m.get("content"))
            except Exception as exc:  # noqa: BLE001 - a shape no rule foresaw still gets its line
                log.exception("validator: line %s could not be checked", number)
                report.error(
                    number,
                    "unchecked",
                    f"this line could not be checked ({type(exc).__name__}): its JSON has a shape the "
                    "format does not allow; compare it with a line that works",
                )
    part.n_lines, part.n_examples, part.n_blank = n_lines, n_examples, n_blank
    part.n_over, part.n_missing_system, part.trained_tokens = n_over, n_missing_system, trained_tokens
    return part


def _too_long(count: int, limit: int, spec) -> str:
    return (
        f"{count:,} tokens, over the limit of {limit:,} per example for {spec.name} "
        "(the end, with the answer, would be cut off)"
    )


def _json_problem(raw: bytes) -> tuple[str, str]:
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        return "encoding", sniff.latin1_hint(raw, exc)
    try:
        orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        if "recursion" in exc.msg:
            return "too_deep", (
                "nested too deeply: more than 1,024 levels of lists and objects inside each other"
            )
        if "surrogate" in exc.msg:
            return "invalid_json", (
                f"not valid JSON: {exc.msg} (column {exc.colno}); a \\uD800-\\uDFFF escape must come "
                "in a pair that makes one character"
            )
    try:
        json.loads(text)
    except json.JSONDecodeError as exc:
        message = f"not valid JSON: {exc.msg[0].lower() + exc.msg[1:]} (column {exc.colno})"
        if text.count("{") > text.count("}"):
            message += "; an example must fit on one line (pretty-printed JSON spreads it over several)"
        return "invalid_json", message
    except (ValueError, RecursionError):
        pass
    return "invalid_json", "not valid JSON"
