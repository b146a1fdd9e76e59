"""Dataset files as `Blob` rows over the shared content-addressed store (fineweb.lib.blobs).

The bytes live once under BLOB_DIR/ab/cdef... by sha256, read-only, never edited; a row records
each stored file once.
"""

from __future__ import annotations

import os
from pathlib import Path

from django.db import IntegrityError, transaction

from datasets_app.models import STORE, Blob


def _row(sha: str, size: int) -> tuple[Blob, bool]:
    try:
        with transaction.atomic():
            return Blob.objects.get_or_create(sha256=sha, defaults={"size": size})
    except IntegrityError:  # stored at the same moment by another request
        return Blob.objects.get(sha256=sha), False


def blob_store_chunks(*, chunks) -> tuple[Blob, bool]:
    """Store the bytes of `chunks`; return (blob, created). `created` is False when the same
    content was already stored (the new copy is discarded)."""
    return _row(*STORE.write(chunks))


def blob_store_file(*, fileobj) -> tuple[Blob, bool]:
    """Store an open binary file (or a Django UploadedFile), read in 1 MB chunks."""
    return _row(*STORE.write_file(fileobj))


def blob_store_path(*, path: str | os.PathLike) -> tuple[Blob, bool]:
    with open(path, "rb") as f:
        return blob_store_file(fileobj=f)


def blob_forget_file(*, blob: Blob) -> None:
    """Remove the file of a blob row that was rolled back (nothing half stored)."""
    if not Blob.objects.filter(sha256=blob.sha256).exists():
        STORE.discard(blob.sha256)


def blob_tmp_dir() -> Path:
    """Where to write a file that is about to be stored (same file system as the store)."""
    return STORE.tmp_dir()
