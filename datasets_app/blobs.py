"""Content-addressed file store: BLOB_DIR/ab/cdef... named by the sha256 of the bytes.

A file is written to a temporary name in BLOB_DIR/tmp while its hash is computed, then renamed
into place atomically; it is stored once per sha256, made read-only, and never edited.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
from collections.abc import Iterable
from pathlib import Path

from django.conf import settings
from django.db import IntegrityError, transaction

from datasets_app.models import Blob

CHUNK = 1024 * 1024


def _tmp_dir() -> Path:
    path = Path(settings.BLOB_DIR) / "tmp"
    path.mkdir(parents=True, exist_ok=True)
    return path


def blob_store_chunks(*, chunks: Iterable[bytes]) -> tuple[Blob, bool]:
    """Store the bytes of `chunks`; return (blob, created). `created` is False when the same
    content was already stored (the new copy is discarded)."""
    digest = hashlib.sha256()
    size = 0
    fd, tmp_name = tempfile.mkstemp(dir=_tmp_dir(), prefix="upload-")
    try:
        with os.fdopen(fd, "wb") as out:
            for chunk in chunks:
                digest.update(chunk)
                size += len(chunk)
                out.write(chunk)
            out.flush()
            os.fsync(out.fileno())
        sha = digest.hexdigest()
        final = Path(settings.BLOB_DIR) / sha[:2] / sha[2:]
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
    try:
        with transaction.atomic():
            blob, created = Blob.objects.get_or_create(sha256=sha, defaults={"size": size})
    except IntegrityError:  # stored at the same moment by another request
        blob, created = Blob.objects.get(sha256=sha), False
    return blob, created


def blob_store_file(*, fileobj) -> tuple[Blob, bool]:
    """Store an open binary file (or a Django UploadedFile), read in 1 MB chunks."""
    if hasattr(fileobj, "chunks"):
        return blob_store_chunks(chunks=fileobj.chunks(CHUNK))
    fileobj.seek(0)
    return blob_store_chunks(chunks=iter(lambda: fileobj.read(CHUNK), b""))


def blob_store_path(*, path: str | os.PathLike) -> tuple[Blob, bool]:
    with open(path, "rb") as f:
        return blob_store_file(fileobj=f)


def blob_forget_file(*, blob: Blob) -> None:
    """Remove the file of a blob row that was rolled back (nothing half stored)."""
    if not Blob.objects.filter(sha256=blob.sha256).exists():
        blob.path.unlink(missing_ok=True)
