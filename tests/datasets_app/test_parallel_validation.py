"""A large file is checked in parallel chunks; the report is the same as one pass over the file."""

from __future__ import annotations

import json
import os
import random
import threading
from typing import Any

import pytest

from datasets_app import validation
from datasets_app.checker import MAX_STORED
from datasets_app.forkpool import ForkPool, WorkerError
from datasets_app.validation import DPO, validate_file
from tests.factories import chat

CHUNK = 16 * 1024


def messy_lines(n: int = 5000, seed: int = 5) -> list[bytes]:
    """Good lines with every kind of problem spread through the file: more than MAX_STORED errors,
    warnings and blank lines, duplicates of early lines late in the file, a BOM, bad bytes."""
    rng = random.Random(seed)
    lines: list[bytes] = []
    for i in range(n):
        example: dict[str, Any]
        roll = rng.random()
        if roll < 0.12:
            example = {"messages": [{"role": "user", "content": f"no answer {i}"}]}
        elif roll < 0.16:
            example = {"messages": [{"role": "bot", "content": "Hi"}, {"role": "assistant", "content": "Ho"}]}
        elif roll < 0.20:
            lines.append(b'{"messages": [{"role": "user", "content": "broken"' if i % 2 else b"[1, 2]")
            continue
        elif roll < 0.22:
            lines.append("Gr\u00fc\u00dfe".encode("latin-1") + b" " + str(i).encode())
            continue
        elif roll < 0.45:
            lines.append(b"" if i % 3 else b"   \t")
            continue
        elif roll < 0.70:
            example = chat(i, user=f"Mail me at person{i}@example.com or call +49 30 1234 {i:04d}")
        elif roll < 0.75:
            lines.append(lines[rng.randrange(0, 20)] if len(lines) >= 20 else b"")
            continue
        elif roll < 0.78:
            example = chat(i, system=None)
            example["messages"][1]["weight"] = 2
        elif roll < 0.80:
            example = {
                "messages": [
                    {"role": "user", "content": "Weather?"},
                    {
                        "role": "assistant",
                        "tool_calls": [
                            {
                                "id": f"c{i}",
                                "type": "function",
                                "function": {"name": "weather", "arguments": "{no json"},
                            }
                        ],
                    },
                ],
                "extra": 1,
            }
        else:
            example = chat(i, answer=" ".join(rng.choice(["gut", "ja", "nein", "Danke"]) for _ in range(30)))
        lines.append(json.dumps(example, ensure_ascii=False).encode())
    lines[0] = b"\xef\xbb\xbf" + json.dumps(chat(0)).encode()
    # Two examples over gpt-3.5-turbo's limit of 16,385 tokens, in different chunks.
    long = json.dumps(chat(1, answer="Wort " * 17_000)).encode()
    lines[n // 3] = lines[2 * n // 3] = long
    return lines


def count_duplicates(data: bytes) -> int:
    """Examples (JSON objects) whose stripped bytes equal an earlier example's, counted directly."""
    seen: set[bytes] = set()
    n = 0
    for raw in data.removeprefix(b"\xef\xbb\xbf").split(b"\n"):
        raw = raw.strip()
        try:
            if not isinstance(json.loads(raw), dict):
                continue
        except ValueError:
            continue
        n += raw in seen
        seen.add(raw)
    return n


@pytest.fixture(autouse=True)
def only_this_tests_threads(monkeypatch):
    """Count only the threads a test starts itself.

    pytest-django's live server is session-scoped: once a browser or SDK test ran, its thread stays
    in this process for the rest of the run, and validate_file rightly refuses to fork then. A
    Celery prefork child or `manage.py dataset_check` has no such thread.
    """
    real = threading.active_count
    baseline = real()
    monkeypatch.setattr(validation.threading, "active_count", lambda: real() - baseline + 1)


class Pools(list):
    """The sizes of the process pools validate_file started, and their children's pids."""

    pids: list[int]


@pytest.fixture
def pools(monkeypatch) -> Pools:
    started = Pools()
    started.pids = []

    class Recording(ForkPool):
        def __init__(self, func, tasks, processes):
            started.append(processes)
            super().__init__(func, tasks, processes)
            started.pids.extend(self._children.values())

    monkeypatch.setattr(validation, "ForkPool", Recording)
    return started


def test_the_parallel_report_is_the_serial_report_with_problems_across_chunk_boundaries(tmp_path, pools):
    path = tmp_path / "messy.jsonl"
    path.write_bytes(b"\n".join(messy_lines()) + b"\n")
    assert len(validation._line_ranges(path, path.stat().st_size, CHUNK)) > 30

    serial = validate_file(path, model="gpt-3.5-turbo", workers=1)
    progress: list[int] = []
    parallel = validate_file(
        path, model="gpt-3.5-turbo", workers=3, chunk_bytes=CHUNK, on_progress=progress.append
    )

    assert pools == [3], "the second run used a pool of three processes"
    for pid in pools.pids:
        with pytest.raises(ChildProcessError):
            os.waitpid(pid, os.WNOHANG)  # every child was stopped and reaped
    assert parallel.to_dict() == serial.to_dict()
    # The file really has what the comparison is about:
    assert serial.error_count > MAX_STORED and len(serial.errors) == MAX_STORED
    assert serial.warning_count > MAX_STORED and len(serial.warnings) == MAX_STORED
    assert serial.stats["n_blank"] > MAX_STORED
    assert serial.stats["n_over"] == 2 and serial.stats["n_duplicates"] > 100
    assert serial.stats["n_duplicates"] == count_duplicates(path.read_bytes())
    assert [e["line"] for e in serial.errors] == sorted(e["line"] for e in serial.errors)
    assert serial.warnings[0]["message"].startswith("the file starts with a UTF-8 byte-order mark")
    assert len(progress) > 10 and progress == sorted(progress) and progress[-1] == 99


def test_a_dpo_file_gives_the_same_report_in_parallel(tmp_path, pools):
    good = {
        "input": {"messages": [{"role": "user", "content": "Hallo?"}]},
        "preferred_output": [{"role": "assistant", "content": "Hallo, wie kann ich helfen?"}],
        "non_preferred_output": [{"role": "assistant", "content": "Was?"}],
    }
    same = dict(good, non_preferred_output=good["preferred_output"])
    lines = []
    for i in range(3000):
        example = (
            same if i % 7 == 0 else dict(good, input={"messages": [{"role": "user", "content": f"Q{i}"}]})
        )
        lines.append(json.dumps(example if i % 11 else chat(i)))
    path = tmp_path / "dpo.jsonl"
    path.write_text("\n".join(lines), encoding="utf-8")  # no newline at the end

    serial = validate_file(path, method=DPO, workers=1)
    parallel = validate_file(path, method=DPO, workers=2, chunk_bytes=CHUNK)

    assert pools == [2]
    assert parallel.to_dict() == serial.to_dict()
    assert serial.error_count > 200 and serial.stats["n_duplicates"] > 300
    assert serial.stats["n_lines"] == 3000


def test_chunks_start_on_line_starts_and_cover_the_file_even_with_lines_longer_than_a_chunk(tmp_path):
    lines = [b"x" * n for n in (10, 70_000, 5, 0, 3, 40_000, 1)] * 3
    path = tmp_path / "lines.jsonl"
    path.write_bytes(b"\n".join(lines))
    data = path.read_bytes()

    ranges = validation._line_ranges(path, len(data), 1000)

    assert ranges[0][0] == 0 and ranges[-1][1] == len(data)
    assert all(end == next_start for (_, end), (next_start, _) in zip(ranges, ranges[1:], strict=False))
    assert all(data[start - 1 : start] == b"\n" for start, _ in ranges[1:])
    assert all(start < end for start, end in ranges)


def test_a_small_file_or_a_process_with_other_threads_is_checked_in_one_process(settings):
    settings.DATASET_PARALLEL_MIN_BYTES = 1_000_000
    settings.DATASET_VALIDATION_WORKERS = 0
    assert validation._worker_count(999_999, None) == 1
    assert validation._worker_count(1_000_000, None) >= 1
    settings.DATASET_VALIDATION_WORKERS = 1
    assert validation._worker_count(10**9, None) == 1, "the setting caps the pool"

    stop = threading.Event()
    thread = threading.Thread(target=stop.wait)
    thread.start()
    try:
        assert validation._worker_count(10**9, 4) == 1, "no fork while another thread may hold a lock"
    finally:
        stop.set()
        thread.join()
    assert validation._worker_count(10**9, 4) == 4


# The real task, kept before the tests below replace it (calling the patched name would recurse).
CHECK_RANGE = validation._check_range_task


def crash_on_second_chunk(args):
    if args[1] > 0:
        raise ValueError("a bug in the checks")
    return CHECK_RANGE(args)


def die_on_second_chunk(args):
    if args[1] > 0:
        os._exit(3)
    return CHECK_RANGE(args)


@pytest.mark.parametrize(
    "task, message",
    [(crash_on_second_chunk, "ValueError: a bug in the checks"), (die_on_second_chunk, "died before")],
)
def test_a_failing_or_dying_worker_raises_instead_of_hanging_and_leaves_no_process(
    tmp_path, monkeypatch, pools, task, message
):
    path = tmp_path / "good.jsonl"
    path.write_bytes(b"\n".join(json.dumps(chat(i)).encode() for i in range(2000)))
    monkeypatch.setattr(validation, "_check_range_task", task)

    with pytest.raises(WorkerError, match=message):
        validate_file(path, workers=2, chunk_bytes=CHUNK)

    assert pools == [2] and len(pools.pids) == 2
    for pid in pools.pids:
        with pytest.raises(ChildProcessError):
            os.waitpid(pid, os.WNOHANG)  # stopped and reaped: no zombie, nothing left running
