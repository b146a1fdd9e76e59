"""The shared content-addressed store, in both layouts the apps keep on disk."""

from __future__ import annotations

import hashlib
import io

import pytest

from fineweb.lib.blobs import BlobStore, BlobTooLarge


def test_the_split_layout_names_files_ab_slash_the_rest(tmp_path):
    store = BlobStore(lambda: tmp_path)
    sha, size = store.write_file(io.BytesIO(b"hello\n"))
    assert (sha, size) == (hashlib.sha256(b"hello\n").hexdigest(), 6)
    assert store.path(sha) == tmp_path / sha[:2] / sha[2:]
    assert store.path(sha).read_bytes() == b"hello\n"
    assert oct(store.path(sha).stat().st_mode & 0o777) == "0o444"


def test_the_prefixed_layout_keeps_the_whole_hash_as_the_name(tmp_path):
    store = BlobStore(lambda: tmp_path / "files", layout="prefixed")
    sha, _ = store.write([b"a", b"b"])
    assert store.path(sha) == tmp_path / "files" / sha[:2] / sha
    assert store.path(sha).read_bytes() == b"ab"


def test_the_same_bytes_are_stored_once_and_discard_removes_them(tmp_path):
    store = BlobStore(lambda: tmp_path)
    first = store.write([b"same"])
    assert store.write([b"sa", b"me"]) == first
    assert [p for p in tmp_path.rglob("*") if p.is_file()] == [store.path(first[0])]
    store.discard(first[0])
    store.discard(first[0])  # twice is fine
    assert not store.path(first[0]).exists()


def test_past_the_limit_nothing_is_kept(tmp_path):
    store = BlobStore(lambda: tmp_path)
    with pytest.raises(BlobTooLarge) as caught:
        store.write([b"12345", b"678"], limit=6)
    assert caught.value.limit == 6
    assert [p for p in tmp_path.rglob("*") if p.is_file()] == []
