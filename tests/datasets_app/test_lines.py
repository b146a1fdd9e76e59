"""The one line reader the validator, the split and the examples page share."""

from __future__ import annotations

import io

from datasets_app import lines
from datasets_app.lines import example_lines, read_lines, starts_with_bom

BOM = b"\xef\xbb\xbf"


def test_it_strips_a_bom_from_the_first_line_only_and_gives_blank_lines_as_empty():
    f = io.BytesIO(BOM + b'{"a": 1}\r\n\n  \n' + BOM + b"{}\n")
    assert starts_with_bom(f)
    assert list(read_lines(f)) == [(1, b'{"a": 1}'), (2, b""), (3, b""), (4, BOM + b"{}")]


def test_a_line_over_the_cap_comes_as_none_and_the_next_line_keeps_its_number(monkeypatch):
    monkeypatch.setattr(lines, "MAX_LINE_BYTES", 8)
    f = io.BytesIO(b"{}\n" + b"x" * 30 + b"\n{}\n")
    assert list(read_lines(f)) == [(1, b"{}"), (2, None), (3, b"{}")]


def test_example_lines_skip_blank_lines_and_keep_file_line_numbers():
    f = io.BytesIO(BOM + b"\n{}\n\n[1]\n")
    assert list(example_lines(f)) == [(2, b"{}"), (4, b"[1]")]


def test_a_range_reads_only_its_own_bytes():
    data = b"{}\n[1]\n[2]\n"
    f = io.BytesIO(data)
    f.seek(3)
    assert list(read_lines(f, 3, 7)) == [(1, b"[1]")]
