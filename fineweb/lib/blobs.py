"""The one content-addressed file store: files named by the sha256 of their bytes.

A file is written to a temporary name in ROOT/tmp while its hash is computed, flushed to disk,
made read-only and renamed into place atomically (readers see the whole file or none); the same
bytes are stored once, and a stored file is never edited. The datasets app keeps its rows
(`Blob`) and the local provider its `LocalFile`s on top of a store each; neither knows how the
other names its files.

Layouts (kept as they were, so stored data keeps working):
    "split"     ROOT/ab/cdef...    (the datasets app, BLOB_DIR)
    "prefixed"  ROOT/ab/abcdef...  (the local provider, DATA_DIR/local/files)
"""

from __future__ import annotations

import hashlib
import os
import tempfile
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Literal

CHUNK = 1024 * 1024


class BlobTooLarge(Exception):
    """The bytes ran past the store call's `limit`; nothing was kept."""

    def __init__(self, limit: int):
        super().__init__(f"larger than the limit of {limit} bytes")
        self.limit = limit


class BlobStore:
    """Files under `root()` (a callable, read on each call, so settings changed in tests count)."""

    def __init__(self, root: Callable[[], Path], *, layout: Literal["split", "prefixed"] = "split"):
        self._root = root
        self._layout = layout

    @property
    def root(self) -> Path:
        return Path(self._root())

    def path(self, sha256: str) -> Path:
        name = sha256[2:] if self._layout == "split" else sha256
        return self.root / sha256[:2] / name

    def tmp_dir(self) -> Path:
        """A folder on the store's file system for files about to be stored (renames stay atomic)."""
        path = self.root / "tmp"
        path.mkdir(parents=True, exist_ok=True)
        return path

    def write(self, chunks: Iterable[bytes], *, limit: int | None = None) -> tuple[str, int]:
        """Store the bytes of `chunks`; return (sha256, size). Past `limit` bytes it stops, removes
        what it wrote and raises BlobTooLarge; any failure leaves nothing behind."""
        digest = hashlib.sha256()
        size = 0
        fd, tmp_name = tempfile.mkstemp(dir=self.tmp_dir(), prefix="upload-")
        try:
            with os.fdopen(fd, "wb") as out:
                for chunk in chunks:
                    digest.update(chunk)
                    size += len(chunk)
                    if limit is not None and size > limit:
                        raise BlobTooLarge(limit)
                    out.write(chunk)
                out.flush()
                os.fsync(out.fileno())
            sha = digest.hexdigest()
            final = self.path(sha)
            final.parent.mkdir(parents=True, exist_ok=True)
            if final.exists() and final.stat().st_size == size:
                os.unlink(tmp_name)
            else:
                os.chmod(tmp_name, 0o444)
                os.replace(tmp_name, final)  # atomic: readers see the whole file or none
        except BaseException:
            if os.path.exists(tmp_name):
                os.unlink(tmp_name)
            raise
        return sha, size

    def write_file(self, fileobj) -> tuple[str, int]:
        """Store an open binary file (or a Django UploadedFile), read in 1 MB chunks."""
        if hasattr(fileobj, "chunks"):
            return self.write(fileobj.chunks(CHUNK))
        fileobj.seek(0)
        return self.write(iter(lambda: fileobj.read(CHUNK), b""))

    def discard(self, sha256: str) -> None:
        """Remove a stored file; the caller has checked that nothing refers to it any more."""
        self.path(sha256).unlink(missing_ok=True)
