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
import sys
import tempfile
from array import array
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import numpy as np

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
    _write_atomic(target, [INDEX_FORMAT, b"".join(index.hashes), index.offsets.tobytes()])
    return index


_CODES = {CHANGED: b"c", ADDED: b"a", REMOVED: b"r"}
_KINDS = {code[0]: kind for kind, code in _CODES.items()}
DIFF_FORMAT = b"fwdiff1\n"


@dataclass
class Diff:
    """Changes from version a to version b, in b's order (a removed example where it was).

    Per example that differs: its kind (one byte of `kinds`: c, a or r) and its index in a and in
    b (-1 where it has none), as flat arrays, so 100,000 changes are a few megabytes.
    """

    a: DatasetVersion
    b: DatasetVersion
    kinds: bytes
    a_index: array
    b_index: array
    n_same: int
    n_added: int
    n_removed: int
    n_changed: int

    @property
    def n_entries(self) -> int:
        return len(self.kinds)

    @property
    def entries(self) -> list[tuple[str, int, int]]:
        return [(_KINDS[k], i, j) for k, i, j in zip(self.kinds, self.a_index, self.b_index, strict=True)]

    def positions(self, kind: str | None) -> np.ndarray:
        """Positions in the diff of the entries of `kind` (all of them for None)."""
        if kind is None:
            return np.arange(len(self.kinds))
        return np.flatnonzero(np.frombuffer(self.kinds, dtype=np.uint8) == _CODES[kind][0])

    def entry(self, position: int) -> tuple[str, int, int]:
        return _KINDS[self.kinds[position]], self.a_index[position], self.b_index[position]


def diff_versions(a: DatasetVersion, b: DatasetVersion) -> Diff:
    """The diff of two versions, computed once per pair of files and kept beside the store
    (`BLOB_DIR/diffs/<sha a>-<sha b>`): neither file ever changes, so neither does their diff."""
    target = STORE.root / "diffs" / f"{a.blob.sha256}-{b.blob.sha256}"
    try:
        data = target.read_bytes()
    except FileNotFoundError:
        data = b""
    if data.startswith(DIFF_FORMAT):
        header_end = data.index(b"\n", len(DIFF_FORMAT))
        counts = [int(x) for x in data[len(DIFF_FORMAT) : header_end].split(b" ")]
        n = counts[0]
        body = data[header_end + 1 :]
        a_index, b_index = array("q"), array("q")
        a_index.frombytes(body[n : n + 8 * n])
        b_index.frombytes(body[n + 8 * n : n + 16 * n])
        return Diff(a, b, bytes(body[:n]), a_index, b_index, *counts[1:])
    diff = diff_indexes(a, b, file_index(a.blob), file_index(b.blob))
    header = b" ".join(
        str(x).encode() for x in (diff.n_entries, diff.n_same, diff.n_added, diff.n_removed, diff.n_changed)
    )
    _write_atomic(
        target, [DIFF_FORMAT, header, b"\n", diff.kinds, diff.a_index.tobytes(), diff.b_index.tobytes()]
    )
    return diff


def _write_atomic(target: Path, parts: list[bytes]) -> None:
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=".tmp-")
    try:
        with os.fdopen(fd, "wb") as out:
            for part in parts:
                out.write(part)
        os.replace(tmp, target)  # readers see a whole file or none
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


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
    count_b = Counter(ib.hashes)
    shared = {h: min(n, count_b[h]) for h, n in Counter(ia.hashes).items() if h in count_b}
    (gaps_a, _), (gaps_b, n_same) = _gaps(ia.hashes, shared), _gaps(ib.hashes, shared)
    kinds = bytearray()
    a_index, b_index = array("q"), array("q")
    counts = {ADDED: 0, REMOVED: 0, CHANGED: 0}

    def emit(anchor: bytes | None) -> None:
        gone, new = gaps_a.pop(anchor, []), gaps_b.pop(anchor, [])
        paired = min(len(gone), len(new))
        rest_a, rest_b = len(gone) - paired, len(new) - paired
        kinds.extend(b"c" * paired + b"r" * rest_a + b"a" * rest_b)
        a_index.extend(gone[:paired] + gone[paired:] + [-1] * rest_b)
        b_index.extend(new[:paired] + [-1] * rest_a + new[paired:])
        counts[CHANGED] += paired
        counts[REMOVED] += rest_a
        counts[ADDED] += rest_b

    emit(None)
    for h in ib.hashes:
        if h in gaps_a or h in gaps_b:
            emit(h)
    for anchor in list(gaps_a):  # anchors that are shared but whose stretch b has not reached
        emit(anchor)
    return Diff(a, b, bytes(kinds), a_index, b_index, n_same, counts[ADDED], counts[REMOVED], counts[CHANGED])


class LineReader:
    """Reads examples of one blob by their index: only the offsets a page needs are read from the
    index file, then each line at its offset."""

    def __init__(self, blob: Blob):
        self.blob = blob
        path = _index_path(blob)
        if not path.exists():
            file_index(blob)
        self._index = path.open("rb")
        size = os.fstat(self._index.fileno()).st_size
        self._n = (size - len(INDEX_FORMAT)) // (HASH_BYTES + 8)
        self._file = blob.open()

    def __enter__(self) -> LineReader:
        return self

    def __exit__(self, *exc: object) -> None:
        self._index.close()
        self._file.close()

    def read(self, i: int) -> bytes | None:
        """Example `i`, stripped (None: a line too long to show)."""
        self._index.seek(len(INDEX_FORMAT) + self._n * HASH_BYTES + 8 * i)
        offset = int.from_bytes(self._index.read(8), sys.byteorder, signed=True)
        self._file.seek(offset)
        raw = self._file.readline(MAX_LINE_BYTES + 1)
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
