"""Helpers for the datasets tests: example lines and files written the way users write them."""

from __future__ import annotations

import json

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile


def chat(i: int = 0, *, system: str | None = "Answer in German.", user: str | None = None,
         answer: str | None = None) -> dict:
    messages = []
    if system is not None:
        messages.append({"role": "system", "content": system})
    messages.append({"role": "user", "content": user or f"Question number {i}?"})
    messages.append({"role": "assistant", "content": answer or f"Antwort Nummer {i}."})
    return {"messages": messages}


def jsonl(examples) -> bytes:
    lines = []
    for ex in examples:
        lines.append(ex if isinstance(ex, str) else json.dumps(ex, ensure_ascii=False))
    return ("\n".join(lines) + "\n").encode("utf-8")


def good_lines(n: int = 12) -> list[dict]:
    return [chat(i) for i in range(n)]


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


def upload_file(content, name: str = "data.jsonl") -> SimpleUploadedFile:
    return SimpleUploadedFile(name, content if isinstance(content, bytes) else jsonl(content),
                              content_type="application/jsonl")
