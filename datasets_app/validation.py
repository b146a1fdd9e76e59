"""The one validator: `validate_file` checks a JSONL file and computes its statistics.

The upload page (through services.dataset_validate, inline or in a Celery task) and
`manage.py dataset_check` call it. Memory stays flat in the file's size: the per-line checker
(`datasets_app.checker`) reads one line at a time and keeps 20 bytes per example.

This module cuts a large file into byte ranges on line starts, has forked processes (ForkPool)
check them, and merges the parts in file order into the report one pass would give (_merge);
a small file is one range checked here. The file-wide checks (blank lines, duplicates, too few
examples) and the statistics are made at the merge.
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Callable
from pathlib import Path

import numpy as np
from django.conf import settings

from datasets_app import checker, sniff
from datasets_app.checker import DPO, SUPERVISED, Part, Report, check_range, format_problem
from datasets_app.forkpool import ForkPool
from datasets_app.rules import MIN_EXAMPLES
from datasets_app.tokens import raw_counter
from fineweb.lib.catalogue import model_spec

__all__ = ["DPO", "SUPERVISED", "Report", "format_problem", "validate_file"]

logger = logging.getLogger(__name__)

HISTOGRAM_BINS = 30


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
        part = check_range(path, 0, size, method=method, model=model, on_progress=on_progress, size=size)
        _merge(report, [part], spec=spec, method=method, size=size, on_progress=None)
    if on_progress is not None:
        on_progress(99)
    report.stats["bytes"] = size
    return report


def _worker_count(size: int, workers: int | None) -> int:
    """How many processes check a file of `size` bytes. One when forking is not safe here: in a
    process with other threads running (a thread may hold a lock the child would inherit)."""
    if workers is None:
        if size < settings.DATASET_PARALLEL_MIN_BYTES:
            return 1
        cpus = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
        cap = settings.DATASET_VALIDATION_WORKERS
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


def _check_range_task(args: tuple) -> Part:
    path, start, end, method, model = args
    return check_range(Path(path), start, end, method=method, model=model)


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
        report.errors.extend(_shifted(p.errors, offset, checker.MAX_STORED - len(report.errors)))
        report.warnings.extend(_shifted(p.warnings, offset, checker.MAX_STORED - len(report.warnings)))
        blank_lines.extend(n + offset for n in part.blank_lines[: checker.MAX_STORED - len(blank_lines)])
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
