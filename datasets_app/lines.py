"""The one reader of a dataset file's lines: the validator, the split and the examples page use it.

Each line comes stripped of surrounding whitespace, the file's first line also of a UTF-8 BOM;
a blank line comes as b"" (the validator counts and reports them, the others skip them), and a
line over MAX_LINE_BYTES as None, skipped without being held in memory.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import IO

from datasets_app import sniff

MAX_LINE_BYTES = 32 * 1024 * 1024
PROGRESS_EVERY_LINES = 5000


def starts_with_bom(f: IO[bytes]) -> bool:
    """Whether the file starts with a UTF-8 BOM; leaves the file at its start."""
    f.seek(0)
    head = f.read(len(sniff.UTF8_BOM))
    f.seek(0)
    return head == sniff.UTF8_BOM


def read_lines(
    f: IO[bytes],
    start: int = 0,
    end: int | None = None,
    *,
    on_progress: Callable[[int], None] | None = None,
    size: int = 0,
) -> Iterator[tuple[int, bytes | None]]:
    """Yield (line number, line) for the lines in bytes [start, end) of `f`, which is positioned at
    `start`, the start of a line; numbers count from 1 at `start`. `on_progress(percent of size)`
    is called every PROGRESS_EVERY_LINES lines."""
    max_bytes = MAX_LINE_BYTES
    every = PROGRESS_EVERY_LINES
    bom = sniff.UTF8_BOM
    number = 0
    pos = start
    readline = f.readline
    while end is None or pos < end:
        raw = readline(max_bytes + 1)
        if not raw:
            return
        number += 1
        pos += len(raw)
        line: bytes | None
        if len(raw) > max_bytes and not raw.endswith(b"\n"):
            while True:  # skip the rest of an over-long line without holding it
                rest = readline(1024 * 1024)
                pos += len(rest)
                if not rest or rest.endswith(b"\n"):
                    break
            line = None
        elif number == 1 and start == 0 and raw.startswith(bom):
            line = raw[len(bom) :].strip()
        else:
            line = raw.strip()
        if on_progress is not None and number % every == 0 and size:
            on_progress(min(99, pos * 100 // size))
        yield number, line


def example_lines(f: IO[bytes]) -> Iterator[tuple[int, bytes | None]]:
    """(line number, line) of every example of the file: its non-blank lines (None: over-long)."""
    for number, line in read_lines(f):
        if line is None or line:
            yield number, line
