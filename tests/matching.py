"""Finding things in pages and logs."""

from __future__ import annotations

import re


def search(pattern: str, text: str, flags: int = 0) -> re.Match[str]:
    """`re.search` that fails the test, naming the pattern, when nothing matches."""
    match = re.search(pattern, text, flags)
    assert match is not None, f"{pattern!r} not found"
    return match
