from __future__ import annotations

import io
import os

import pytest

from datasets_app.blobs import blob_store_chunks, blob_store_file
from datasets_app.models import Blob


@pytest.fixture(autouse=True)
def blob_dir(settings, tmp_path):
    settings.BLOB_DIR = tmp_path / "blobs"
    return settings.BLOB_DIR


def test_a_file_is_stored_under_its_sha256_read_only(db, blob_dir):
    blob, created = blob_store_file(fileobj=io.BytesIO(b"hello\n"))
    sha = "5891b5b522d5df086d0ff0b110fbd9d21bb4fc7163af34d08286a2e846f6be03"
    assert created and blob.sha256 == sha and blob.size == 6
    assert blob.path == blob_dir / sha[:2] / sha[2:]
    assert blob.path.read_bytes() == b"hello\n"
    assert not os.access(blob.path, os.W_OK) or os.geteuid() == 0
    assert oct(blob.path.stat().st_mode & 0o777) == "0o444"


def test_the_same_content_is_stored_once(db, blob_dir):
    first, created1 = blob_store_file(fileobj=io.BytesIO(b"same"))
    second, created2 = blob_store_chunks(chunks=[b"sa", b"me"])
    assert created1 and not created2
    assert first.id == second.id and Blob.objects.count() == 1
    assert list((blob_dir / "tmp").iterdir()) == [], "no temporary file is left behind"


def test_a_failing_stream_leaves_nothing_half_stored(db, blob_dir):
    def chunks():
        yield b"partial"
        raise OSError("disk full")

    with pytest.raises(OSError):
        blob_store_chunks(chunks=chunks())
    assert Blob.objects.count() == 0
    stored = [p for p in blob_dir.rglob("*") if p.is_file()]
    assert stored == []
