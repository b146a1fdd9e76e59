"""SHIM on helper/eval, standing in for helper/stats's `fineweb/lib/diffing.py` (same contract).

`word_diff(a, b)` -> [(op, text)] with op "equal", "delete" (only in a) or "insert" (only in b);
`similar(query, corpus, k)` -> [(index in corpus, score 0..1)], most similar first.
"""

from __future__ import annotations

import difflib
import re
from collections import Counter
from collections.abc import Sequence

_WORD = re.compile(r"\S+\s*|\s+")


def word_diff(a: str, b: str) -> list[tuple[str, str]]:
    # Each token is a word with the spaces after it: half the tokens of splitting them apart.
    wa, wb = _WORD.findall(a), _WORD.findall(b)
    out: list[tuple[str, str]] = []
    for op, i1, i2, j1, j2 in difflib.SequenceMatcher(None, wa, wb, autojunk=False).get_opcodes():
        if op == "equal":
            out.append(("equal", "".join(wa[i1:i2])))
            continue
        if i2 > i1:
            out.append(("delete", "".join(wa[i1:i2])))
        if j2 > j1:
            out.append(("insert", "".join(wb[j1:j2])))
    return out


def _grams(text: str) -> Counter[str]:
    words = re.findall(r"\w+", text.casefold())
    return Counter(words + [f"{x} {y}" for x, y in zip(words, words[1:], strict=False)])


def similar(query: str, corpus: Sequence[str], k: int = 3) -> list[tuple[int, float]]:
    q = _grams(query)
    scored = []
    for i, text in enumerate(corpus):
        g = _grams(text)
        union = sum((q | g).values())
        scored.append((i, sum((q & g).values()) / union if union else 0.0))
    scored.sort(key=lambda item: (-item[1], item[0]))
    return [item for item in scored[:k] if item[1] > 0]
