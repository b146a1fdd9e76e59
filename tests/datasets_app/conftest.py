"""Fixtures of the datasets tests; the example lines and files they write are in tests/factories.py."""

from __future__ import annotations

import pytest

from tests.factories import jsonl


@pytest.fixture
def write(tmp_path):
    """write(bytes_or_examples, name=...) -> path of a file holding them."""
    counter = {"n": 0}

    def _write(content, name: str | None = None):
        counter["n"] += 1
        path = tmp_path / (name or f"file{counter['n']}.jsonl")
        path.write_bytes(content if isinstance(content, bytes) else jsonl(content))
        return path

    return _write
