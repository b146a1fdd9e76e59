"""The one validator: streams a JSONL file line by line, checks every line, counts tokens.

`validate_file` is what the upload page (through services.dataset_validate, inline or in a
Celery task) and `manage.py dataset_check` call. Memory stays flat in the file's size: one line
is read at a time, and per example only 20 bytes are kept (a hash for duplicates, a line number
and a token count); problems beyond MAX_STORED are counted, not kept.

A large file is cut into byte ranges on line starts, checked by forked processes (ForkPool) and
merged in file order into the report one pass would give (_check_range, then _merge).
"""

from __future__ import annotations

import json
import logging
import os
import threading
from array import array
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from datasets_app import privacy, rules, sniff
from datasets_app.costs import model_spec
from datasets_app.forkpool import ForkPool
from datasets_app.tokens import MessageCounter, raw_counter

try:
    import orjson

    _loads = orjson.loads
    _JSONError: type[Exception] = orjson.JSONDecodeError
except ImportError:  # pragma: no cover
    _loads = json.loads
    _JSONError = ValueError

logger = logging.getLogger(__name__)

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


def _read_lines(f, start: int, end: int, on_progress: Callable[[int], None] | None, size: int):
    """Yield (line_number, bytes) for the lines in bytes [start, end), `start` being the start of a
    line; line numbers count from 1 at `start`. Each line is capped at MAX_LINE_BYTES (the rest is
    skipped without holding it)."""
    number = 0
    pos = start
    readline = f.readline
    while pos < end:
        raw = readline(MAX_LINE_BYTES + 1)
        if not raw:
            return
        number += 1
        pos += len(raw)
        if len(raw) > MAX_LINE_BYTES and not raw.endswith(b"\n"):
            while True:  # skip the rest of an over-long line without holding it
                rest = readline(1024 * 1024)
                pos += len(rest)
                if not rest or rest.endswith(b"\n"):
                    break
            raw = None
        if on_progress is not None and number % PROGRESS_EVERY_LINES == 0 and size:
            on_progress(min(99, pos * 100 // size))
        yield number, raw


def validate_file(
    path: str | os.PathLike,
    *,
    method: str = SUPERVISED,
    model: str = "gpt-4o-mini-2024-07-18",
    on_progress: Callable[[int], None] | None = None,
    workers: int | None = None,
    chunk_bytes: int | None = None,
) -> Report:
    """Check every line of the JSONL file at `path` and compute its statistics.

    `on_progress(percent)` is called every few thousand lines, or after each chunk when the file
    is checked in parallel (the page's progress bar).

    A file of at least DATASET_PARALLEL_MIN_BYTES is cut into chunks on line boundaries, checked by
    a pool of forked processes (one per CPU, at most DATASET_VALIDATION_WORKERS when that is set);
    `workers` overrides both (1: one process). `chunk_bytes` sets the chunk size (tests use small
    ones). Chunk results are merged in file order, so the report is the same either way.
    """
    path = Path(path)
    report = Report()
    size = path.stat().st_size
    spec = model_spec(model)
    with path.open("rb") as f:
        head = f.read(sniff.HEAD_BYTES)
    problem = sniff.file_problem(head, size)
    if problem:
        report.error(0, "file", problem)
        report.stats = {
            "n_examples": 0,
            "n_lines": 0,
            "bytes": size,
            "model": spec.name,
            "method": method,
        }
        return report
    n_workers = _worker_count(size, workers)
    if n_workers > 1:
        ranges = _line_ranges(path, size, chunk_bytes or _chunk_size(size, n_workers))
        n_workers = min(n_workers, len(ranges))
    if n_workers > 1:
        logger.info(
            "checking %s (%d bytes) in %d processes, %d chunks", path.name, size, n_workers, len(ranges)
        )
        raw_counter(spec.encoding)  # load the vocabulary once, before forking: the workers share it
        tasks = [(str(path), start, end, method, model) for start, end in ranges]
        with ForkPool(_check_range_task, tasks, n_workers) as pool:
            _merge(report, pool.results(), spec=spec, method=method, size=size, on_progress=on_progress)
    else:
        part = _check_range(path, 0, size, method=method, model=model, on_progress=on_progress, size=size)
        _merge(report, [part], spec=spec, method=method, size=size, on_progress=None)
    if on_progress is not None:
        on_progress(99)
    report.stats["bytes"] = size
    return report


def _setting(name: str, default: int) -> int:
    from django.conf import settings

    return int(getattr(settings, name, default))


def _worker_count(size: int, workers: int | None) -> int:
    """How many processes check a file of `size` bytes. One when forking is not safe here: in a
    process with other threads running (a thread may hold a lock the child would inherit)."""
    if workers is None:
        if size < _setting("DATASET_PARALLEL_MIN_BYTES", 4 * 1024 * 1024):
            return 1
        cpus = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
        cap = _setting("DATASET_VALIDATION_WORKERS", 0)
        workers = min(cpus, cap) if cap > 0 else cpus
    if workers > 1 and threading.active_count() > 1:
        logger.info("other threads are running in this process: checking the file in one process")
        return 1
    return max(1, workers)


def _chunk_size(size: int, workers: int) -> int:
    """About 8 chunks per worker (even load when the CPUs are shared, and a moving progress bar),
    each 1-16 MB."""
    return min(16 * 1024 * 1024, max(1024 * 1024, size // (workers * 8) + 1))


def _line_ranges(path: Path, size: int, chunk: int) -> list[tuple[int, int]]:
    """Cut [0, size) into byte ranges of about `chunk` bytes that each start at a line start."""
    starts = [0]
    with path.open("rb") as f:
        while starts[-1] + chunk < size:
            f.seek(starts[-1] + chunk - 1)
            while True:  # to the end of the line that holds the nominal cut
                piece = f.readline(1024 * 1024)
                if not piece or piece.endswith(b"\n"):
                    break
            start = f.tell()
            if start >= size:
                break
            starts.append(start)
    return list(zip(starts, starts[1:] + [size], strict=True))


@dataclass
class _Part:
    """What one byte range of the file gives. Line numbers count from 1 at the range's first
    line; _merge shifts them. The arrays hold 20 bytes per example."""

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


def _check_range_task(args: tuple) -> _Part:
    path, start, end, method, model = args
    return _check_range(Path(path), start, end, method=method, model=model)


def _check_range(
    path: Path, start: int, end: int, *, method: str, model: str, on_progress=None, size: int = 0
) -> _Part:
    """Check the lines in bytes [start, end) of the file (`start` is a line start)."""
    spec = model_spec(model)
    part = _Part(report=Report(), n_bytes=end - start)
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
        f.seek(start)
        for number, raw in _read_lines(f, start, end, on_progress, size):
            n_lines = number
            if raw is None:
                n_examples += 1
                report.error(
                    number,
                    "line_too_long",
                    f"longer than {MAX_LINE_BYTES:,} bytes, the most one example may take; skipped",
                )
                continue
            if number == 1 and start == 0 and raw.startswith(sniff.UTF8_BOM):
                raw = raw[len(sniff.UTF8_BOM) :]
                report.warning(
                    1,
                    "bom",
                    "the file starts with a UTF-8 byte-order mark (BOM): it is ignored here and left out "
                    "of the train/validation files, but some providers refuse it (save as UTF-8 without BOM)",
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
            if type(example) is not dict:
                kind = (
                    "a list"
                    if isinstance(example, list)
                    else "a " + type(example).__name__.replace("str", "string")
                )
                report.error(number, "not_object", f"expected one JSON object {{...}} per line, found {kind}")
                continue
            # The hash is only compared within one run, whose workers are forked from one process
            # and so share its hash seed.
            hashes_append(hash(raw))
            hash_lines_append(number)
            for code, message in scan(raw):
                report.warning(number, code, message)
            if supervised and len(example) == 1:
                messages = example.get("messages")
                simple = counter.simple(messages) if type(messages) is list else None
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
    part.n_lines, part.n_examples, part.n_blank = n_lines, n_examples, n_blank
    part.n_over, part.n_missing_system, part.trained_tokens = n_over, n_missing_system, trained_tokens
    return part


def _shifted(problems: list[dict], offset: int, room: int) -> list[dict]:
    if offset == 0:
        return problems[:room]
    return [{"line": p["line"] + offset, "message": p["message"]} for p in problems[:room]]


def _merge(report: Report, parts, *, spec, method: str, size: int, on_progress) -> None:
    """Fold the parts, in file order, into `report`: the same problems, in the same order and
    under the same caps, as one pass over the whole file; then the file-wide checks."""
    offset = 0
    done = 0
    n_examples = n_blank = n_over = n_missing_system = trained_tokens = 0
    blank_lines: list[int] = []
    hashes, hash_lines, tokens, n_messages = [], [], [], []
    for part in parts:
        p = part.report
        report.error_count += p.error_count
        report.warning_count += p.warning_count
        report.error_summary.update(p.error_summary)
        report.warning_summary.update(p.warning_summary)
        for code, text in p.summary_text.items():
            report.summary_text.setdefault(code, text)
        report.errors.extend(_shifted(p.errors, offset, MAX_STORED - len(report.errors)))
        report.warnings.extend(_shifted(p.warnings, offset, MAX_STORED - len(report.warnings)))
        blank_lines.extend(n + offset for n in part.blank_lines[: MAX_STORED - len(blank_lines)])
        hashes.append(np.frombuffer(part.hashes, dtype=np.int64))
        hash_lines.append(np.frombuffer(part.hash_lines, dtype=np.uint32) + np.uint32(offset))
        tokens.append(np.frombuffer(part.tokens, dtype=np.uint32))
        n_messages.append(np.frombuffer(part.n_messages, dtype=np.uint16))
        n_examples += part.n_examples
        n_blank += part.n_blank
        n_over += part.n_over
        n_missing_system += part.n_missing_system
        trained_tokens += part.trained_tokens
        offset += part.n_lines
        done += part.n_bytes
        if on_progress is not None and size:
            on_progress(min(99, done * 100 // size))
    _blank_warnings(report, blank_lines, n_blank)
    n_duplicates = _duplicate_warnings(report, np.concatenate(hashes), np.concatenate(hash_lines))
    if n_examples < MIN_EXAMPLES:
        report.error(
            0,
            "too_few",
            f"The file has {n_examples} example{'s' if n_examples != 1 else ''}; fine-tuning needs at least "
            f"{MIN_EXAMPLES} (50 to 100 good ones usually help more).",
        )
    report.stats = _stats(
        np.concatenate(tokens),
        np.concatenate(n_messages),
        limit=spec.max_tokens_per_example,
        spec=spec,
        method=method,
        n_lines=offset,
        n_examples=n_examples,
        n_blank=n_blank,
        n_over=n_over,
        n_missing_system=n_missing_system,
        n_duplicates=n_duplicates,
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


def _duplicate_warnings(report: Report, h: np.ndarray, line_numbers: np.ndarray) -> int:
    """Warn on every example whose bytes equal an earlier one's, naming the first such line."""
    if len(h) < 2:
        return 0
    order = np.argsort(h, kind="stable")  # stable: within equal hashes, file order
    sorted_h = h[order]
    new_group = np.empty(len(h), dtype=bool)
    new_group[0] = True
    np.not_equal(sorted_h[1:], sorted_h[:-1], out=new_group[1:])
    dup = np.flatnonzero(~new_group)
    if not len(dup):
        return 0
    # For each position, the index (in sorted order) where its group of equal hashes starts.
    group_start = np.maximum.accumulate(np.where(new_group, np.arange(len(h)), 0))
    lines = line_numbers[order[dup]]
    firsts = line_numbers[order[group_start[dup]]]
    by_line = np.argsort(lines, kind="stable")
    for line, first in zip(lines[by_line].tolist(), firsts[by_line].tolist(), strict=True):
        report.warning(line, "duplicate", f"exact duplicate of line {first}")
    return len(dup)


def _stats(tokens: np.ndarray, n_messages: np.ndarray, *, limit: int, spec, method: str, **counts) -> dict:
    t = tokens.astype(np.int64)
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
        m = n_messages
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
