"""The one validator: streams a JSONL file line by line, checks every line, counts tokens.

`validate_file` is what the upload page (through services.dataset_version_validate, inline or in
a Celery task) and `manage.py dataset_check` call. Memory stays flat in the file's size: one line
is read at a time, and per example only 20 bytes are kept (a hash for duplicates, a line number
and a token count); problems beyond MAX_STORED are counted, not kept.
"""

from __future__ import annotations

import json
import os
from array import array
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from datasets_app import privacy, rules, sniff
from datasets_app.costs import model_spec
from datasets_app.tokens import MessageCounter

try:
    import orjson

    _loads = orjson.loads
    _JSONError: type[Exception] = orjson.JSONDecodeError
except ImportError:  # pragma: no cover
    _loads = json.loads
    _JSONError = ValueError

MIN_EXAMPLES = 10
MAX_STORED = 1000  # problems kept (per kind: errors, warnings); the rest are counted
MAX_LINE_BYTES = 32 * 1024 * 1024
HISTOGRAM_BINS = 30
PROGRESS_EVERY_LINES = 5000

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
            return [{"code": c, "count": n, "example": self.summary_text[c]} for c, n in counter.most_common()]

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


def _read_lines(f, on_progress: Callable[[int], None] | None, size: int):
    """Yield (line_number, bytes) with each line capped at MAX_LINE_BYTES (the rest is skipped)."""
    number = 0
    done = 0
    readline = f.readline
    while True:
        raw = readline(MAX_LINE_BYTES + 1)
        if not raw:
            return
        number += 1
        done += len(raw)
        if len(raw) > MAX_LINE_BYTES and not raw.endswith(b"\n"):
            while True:  # skip the rest of an over-long line without holding it
                rest = readline(1024 * 1024)
                done += len(rest)
                if not rest or rest.endswith(b"\n"):
                    break
            raw = None
        if on_progress is not None and number % PROGRESS_EVERY_LINES == 0 and size:
            on_progress(min(99, done * 100 // size))
        yield number, raw


def validate_file(
    path: str | os.PathLike,
    *,
    method: str = SUPERVISED,
    model: str = "gpt-4o-mini-2024-07-18",
    on_progress: Callable[[int], None] | None = None,
) -> Report:
    """Check every line of the JSONL file at `path` and compute its statistics.

    `on_progress(percent)` is called every few thousand lines (the page's progress bar).
    """
    path = Path(path)
    report = Report()
    size = path.stat().st_size
    spec = model_spec(model)
    with path.open("rb", buffering=1024 * 1024) as f:
        head = f.read(sniff.HEAD_BYTES)
        problem = sniff.file_problem(head, size)
        if problem:
            report.error(0, "file", problem)
            report.stats = {"n_examples": 0, "n_lines": 0, "bytes": size, "model": spec.name, "method": method}
            return report
        f.seek(0)
        _check_lines(f, report, method=method, spec=spec, size=size, on_progress=on_progress)
    report.stats["bytes"] = size
    return report


def _check_lines(f, report: Report, *, method: str, spec, size: int, on_progress) -> None:
    counter = MessageCounter(spec.encoding)
    limit = spec.max_tokens_per_example
    check = rules.check_dpo if method == DPO else rules.check_supervised
    scan = privacy.scan
    hashes = array("q")  # per parsed example: hash of its bytes, for exact duplicates
    hash_lines = array("I")
    tokens = array("I")  # per countable example
    n_messages = array("H")
    n_lines = n_examples = n_blank = n_over = n_missing_system = 0
    trained_tokens = 0
    blank_lines: list[int] = []
    for number, raw in _read_lines(f, on_progress, size):
        n_lines = number
        if raw is None:
            n_examples += 1
            report.error(number, "line_too_long", f"longer than {MAX_LINE_BYTES:,} bytes, the most one example may take; skipped")
            continue
        if number == 1 and raw.startswith(sniff.UTF8_BOM):
            raw = raw[len(sniff.UTF8_BOM) :]
            report.warning(
                1, "bom", "the file starts with a UTF-8 byte-order mark (BOM): it is ignored here and left out "
                "of the train/validation files, but some providers refuse it (save as UTF-8 without BOM)"
            )
        raw = raw.strip()
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
        if not isinstance(example, dict):
            kind = "a list" if isinstance(example, list) else "a " + type(example).__name__.replace("str", "string")
            report.error(number, "not_object", f"expected one JSON object {{...}} per line, found {kind}")
            continue
        hashes.append(hash(raw))
        hash_lines.append(number)
        for code, message in scan(raw):
            report.warning(number, code, message)
        if method == SUPERVISED and len(example) == 1 and type(example.get("messages")) is list:
            simple = counter.simple(example["messages"])
            if simple is not None:  # the common shape: valid by every rule, counted in one pass
                count, trained = simple
                messages = example["messages"]
                tokens.append(min(count, 0xFFFFFFFF))
                n_messages.append(min(len(messages), 0xFFFF))
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
        tokens.append(min(count, 0xFFFFFFFF))
        n_messages.append(min(len(messages), 0xFFFF))
        if count > limit:
            n_over += 1
            report.error(number, "too_long", _too_long(count, limit, spec))
        if messages[0].get("role") != "system":
            n_missing_system += 1
        for m in messages:
            if m.get("role") == "assistant" and m.get("weight", 1):
                trained_tokens += counter.content(m.get("content"))
    if on_progress is not None:
        on_progress(99)
    _blank_warnings(report, blank_lines, n_blank)
    n_duplicates = _duplicate_warnings(report, hashes, hash_lines)
    if n_examples < MIN_EXAMPLES:
        report.error(
            0, "too_few",
            f"The file has {n_examples} example{'s' if n_examples != 1 else ''}; fine-tuning needs at least "
            f"{MIN_EXAMPLES} (50 to 100 good ones usually help more).",
        )
    report.stats = _stats(
        tokens, n_messages, limit=limit, spec=spec, method=method, n_lines=n_lines, n_examples=n_examples,
        n_blank=n_blank, n_over=n_over, n_missing_system=n_missing_system, n_duplicates=n_duplicates,
        trained_tokens=trained_tokens,
    )


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
        json.loads(text)
    except json.JSONDecodeError as exc:
        message = f"not valid JSON: {exc.msg[0].lower() + exc.msg[1:]} (column {exc.colno})"
        if text.count("{") > text.count("}"):
            message += "; an example must fit on one line (pretty-printed JSON spreads it over several)"
        return "invalid_json", message
    except ValueError:
        pass
    return "invalid_json", "not valid JSON"


def _blank_warnings(report: Report, blank_lines: list[int], n_blank: int) -> None:
    for number in blank_lines:
        report.warning(number, "blank", "blank line, skipped")
    for _ in range(n_blank - len(blank_lines)):
        report.warning(0, "blank", "blank line, skipped")


def _duplicate_warnings(report: Report, hashes: array, lines: array) -> int:
    if not len(hashes):
        return 0
    h = np.frombuffer(hashes, dtype=np.int64)
    order = np.argsort(h, kind="stable")
    sorted_h = h[order]
    dup = np.flatnonzero(sorted_h[1:] == sorted_h[:-1]) + 1
    if not len(dup):
        return 0
    line_numbers = np.frombuffer(lines, dtype=np.uint32)
    found = []
    for i in dup:
        start = i
        while start > 0 and sorted_h[start - 1] == sorted_h[i]:
            start -= 1
        found.append((int(line_numbers[order[i]]), int(line_numbers[order[start]])))
    for line, first in sorted(found):
        report.warning(line, "duplicate", f"exact duplicate of line {first}")
    return len(found)


def _stats(tokens: array, n_messages: array, *, limit: int, spec, method: str, **counts) -> dict:
    t = np.frombuffer(tokens, dtype=np.uint32).astype(np.int64) if len(tokens) else np.zeros(0, np.int64)
    stats: dict = {
        **counts,
        "model": spec.name,
        "encoding": spec.encoding,
        "method": method,
        "limit": limit,
        "n_counted": int(len(t)),
        "total_tokens": int(t.sum()),
        "tokens_capped_total": int(np.minimum(t, limit).sum()),
    }
    if len(t):
        m = np.frombuffer(n_messages, dtype=np.uint16)
        counts_, edges = np.histogram(t, bins=min(HISTOGRAM_BINS, max(1, len(np.unique(t)))))
        stats.update(
            tokens_min=int(t.min()),
            tokens_max=int(t.max()),
            tokens_mean=round(float(t.mean()), 1),
            tokens_median=float(np.median(t)),
            tokens_p5=float(np.percentile(t, 5)),
            tokens_p95=float(np.percentile(t, 95)),
            messages_mean=round(float(m.mean()), 2),
            messages_min=int(m.min()),
            messages_max=int(m.max()),
            histogram={"counts": counts_.tolist(), "edges": [round(float(e), 1) for e in edges]},
        )
    return stats
