"""The diff between two versions of a dataset: examples added, removed and changed.

Examples are matched by content (`canonical.content_hash`, so key order and spacing do not
count): one found in both versions, wherever it sits, is unchanged. (An example twice in a and once in b
is once unchanged and once removed.) The others are paired by position: the examples in both
versions are anchors, and the first example gone from the stretch after an anchor in a is paired
with the first one new in the stretch after the same anchor in b, and so on. A fixed example,
which a derived version writes where the original was, shows as changed; the rest are removed or
added. This is one pass over each file's hashes, so 100,000 examples take milliseconds
(difflib's SequenceMatcher over the same hashes took 0.7 s for 4,000 scattered changes).

Nothing is held per example but its hash and where its line starts (24 bytes): each file's index
is read once, streaming, and kept beside the blob (`BLOB_DIR/index/<sha256>`; a blob never
changes, so neither does its index). A page then reads only its own examples, by offset.
"""

from __future__ import annotations

import difflib
import os
import re
import tempfile
from array import array
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import IO

from datasets_app import sniff
from datasets_app.canonical import content_hash
from datasets_app.lines import MAX_LINE_BYTES, read_lines
from datasets_app.models import STORE, Blob, DatasetVersion

HASH_BYTES = 16
INDEX_FORMAT = b"fwidx1\n"

SAME, ADDED, REMOVED, CHANGED = "same", "added", "removed", "changed"


@dataclass
class FileIndex:
    hashes: list[bytes]  # per example, in file order
    offsets: array  # per example, the byte where its line starts

    def __len__(self) -> int:
        return len(self.hashes)


def _index_path(blob: Blob) -> Path:
    return STORE.root / "index" / blob.sha256


def _build_index(path: Path) -> FileIndex:
    hashes: list[bytes] = []
    offsets = array("q")
    with path.open("rb") as f:
        pos = 0
        for _number, line in read_lines(f):
            start = pos
            pos = f.tell()
            if line is None:
                hashes.append(content_hash(b"\x00too long:%d" % start))
                offsets.append(start)
            elif line:
                hashes.append(content_hash(line))
                offsets.append(start)
    return FileIndex(hashes, offsets)


def file_index(blob: Blob) -> FileIndex:
    """The index of a blob's examples, built on first use and kept beside the store."""
    target = _index_path(blob)
    try:
        data = target.read_bytes()
    except FileNotFoundError:
        data = b""
    if data.startswith(INDEX_FORMAT):
        body = memoryview(data)[len(INDEX_FORMAT) :]
        n = len(body) // (HASH_BYTES + 8)
        raw_hashes = bytes(body[: n * HASH_BYTES])
        offsets = array("q")
        offsets.frombytes(body[n * HASH_BYTES : n * (HASH_BYTES + 8)])
        hashes = [raw_hashes[i : i + HASH_BYTES] for i in range(0, n * HASH_BYTES, HASH_BYTES)]
        return FileIndex(hashes, offsets)
    index = _build_index(blob.path)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=".tmp-")
    try:
        with os.fdopen(fd, "wb") as out:
            out.write(INDEX_FORMAT)
            out.write(b"".join(index.hashes))
            out.write(index.offsets.tobytes())
        os.replace(tmp, target)  # readers see a whole index or none
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
    return index


@dataclass
class Diff:
    """Changes between version a and version b, in b's order (removed ones where they were).

    `entries` holds (kind, index in a or -1, index in b or -1) for every example that differs.
    """

    a: DatasetVersion
    b: DatasetVersion
    entries: list[tuple[str, int, int]]
    n_same: int
    n_added: int
    n_removed: int
    n_changed: int

    @property
    def n_entries(self) -> int:
        return len(self.entries)


def diff_versions(a: DatasetVersion, b: DatasetVersion) -> Diff:
    return diff_indexes(a, b, file_index(a.blob), file_index(b.blob))


def _gaps(hashes: list[bytes], shared: dict[bytes, int]) -> tuple[dict[bytes | None, list[int]], int]:
    """The indexes of examples past their shared count, grouped by the shared example before
    them; and how many were shared."""
    left = dict(shared)
    gaps: dict[bytes | None, list[int]] = {}
    anchor: bytes | None = None
    n_shared = 0
    for i, h in enumerate(hashes):
        if left.get(h, 0) > 0:
            left[h] -= 1
            anchor = h
            n_shared += 1
        else:
            gaps.setdefault(anchor, []).append(i)
    return gaps, n_shared


def diff_indexes(a: DatasetVersion, b: DatasetVersion, ia: FileIndex, ib: FileIndex) -> Diff:
    """One pass over each index (no quadratic alignment): the examples of both versions are the
    anchors, and the i-th example gone from a stretch after an anchor pairs with the i-th example
    new in the stretch after the same anchor in b."""
    count_a, count_b = Counter(ia.hashes), Counter(ib.hashes)
    shared = {h: min(n, count_b[h]) for h, n in count_a.items() if h in count_b}
    (gaps_a, _), (gaps_b, n_same) = _gaps(ia.hashes, shared), _gaps(ib.hashes, shared)
    entries: list[tuple[str, int, int]] = []
    counts = {ADDED: 0, REMOVED: 0, CHANGED: 0}

    def emit(anchor: bytes | None) -> None:
        gone, new = gaps_a.pop(anchor, []), gaps_b.pop(anchor, [])
        paired = min(len(gone), len(new))
        entries.extend((CHANGED, gone[k], new[k]) for k in range(paired))
        entries.extend((REMOVED, i, -1) for i in gone[paired:])
        entries.extend((ADDED, -1, j) for j in new[paired:])
        counts[CHANGED] += paired
        counts[REMOVED] += len(gone) - paired
        counts[ADDED] += len(new) - paired

    emit(None)
    for h in ib.hashes:
        if h in gaps_a or h in gaps_b:
            emit(h)
    for anchor in list(gaps_a):  # anchors that are shared but whose stretch b has not reached
        emit(anchor)
    return Diff(a, b, entries, n_same, counts[ADDED], counts[REMOVED], counts[CHANGED])


def read_line(f: IO[bytes], index: FileIndex, i: int) -> bytes | None:
    """Example `i` of the open file `f`, read at its offset (None: a line too long to show)."""
    f.seek(index.offsets[i])
    raw = f.readline(MAX_LINE_BYTES + 1)
    if len(raw) > MAX_LINE_BYTES:
        return None
    return raw.strip().removeprefix(sniff.UTF8_BOM)


_WORDS = re.compile(r"\s+|[^\s]+")


def word_diff(a: str, b: str) -> list[tuple[str, str]]:
    """(op, text) runs turning `a` into `b`, word by word: op is "equal", "delete" or "insert".

    difflib on words; to be replaced by `fineweb.lib.diffing.word_diff` (same shape) once it lands.
    """
    wa, wb = _WORDS.findall(a), _WORDS.findall(b)
    opcodes = difflib.SequenceMatcher(None, wa, wb, autojunk=False).get_opcodes()
    # A space alone between two changes joins them: "<del>a b</del><ins>c d</ins>", not word by word.
    merged: list[list] = []
    for op, a1, a2, b1, b2 in opcodes:
        if (
            merged
            and op != "equal"
            and merged[-1][0] != "equal"
            or (
                op == "equal"
                and merged
                and merged[-1][0] != "equal"
                and "".join(wa[a1:a2]).isspace()
                and (a2, b2) != (len(wa), len(wb))
            )
        ):
            merged[-1][2], merged[-1][4] = a2, b2
        else:
            merged.append([op if op == "equal" else "replace", a1, a2, b1, b2])
    runs: list[tuple[str, str]] = []
    for op, a1, a2, b1, b2 in merged:
        if op == "equal":
            runs.append(("equal", "".join(wa[a1:a2])))
            continue
        if a2 > a1:
            runs.append(("delete", "".join(wa[a1:a2])))
        if b2 > b1:
            runs.append(("insert", "".join(wb[b1:b2])))
    return runs
