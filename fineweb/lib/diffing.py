"""Texts compared for people: a word-level difference, and the most similar texts of a corpus.

- `word_diff(a, b)` marks what changed between two replies shown side by side (evaluation) or two
  versions of a message (the dataset diff), word by word, with the standard library's `difflib`.
  It returns plain text pieces; escaping is left to the templates (`{{ text }}` escapes).
- `similar(query, corpus)` / `TextIndex` find the training examples closest to a regression by
  TF-IDF cosine over words and word pairs, with an inverted index in numpy (one `np.bincount`
  over the postings of the query's terms), fast enough for 100,000 examples.

Pure Python and numpy, no Django.
"""

from __future__ import annotations

import difflib
import math
import re
from collections.abc import Sequence

import numpy as np

# A word is one CJK/kana/hangul character (those scripts write no spaces, so a "word" would be a
# whole sentence), a run of other word characters, or one other visible character.
_CJK = "\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uac00-\ud7af\uf900-\ufaff"
_DIFF_WORD = re.compile(rf"[{_CJK}]|[^\W{_CJK}]+|[^\w\s]")

Op = str  # "equal" | "delete" | "insert"


def _words(text: str) -> tuple[str, list[str], list[str]]:
    """(leading whitespace, words, the whitespace after each word) of a text."""
    spans = [m.span() for m in _DIFF_WORD.finditer(text)]
    if not spans:
        return text, [], []
    words = [text[s:e] for s, e in spans]
    gaps = [
        text[e : (spans[k + 1][0] if k + 1 < len(spans) else len(text))] for k, (_, e) in enumerate(spans)
    ]
    return text[: spans[0][0]], words, gaps


def _change(raw: list[tuple[Op, str]], old: str, new: str) -> None:
    if old == new:
        raw.append(("equal", old))
        return
    if old:
        raw.append(("delete", old))
    if new:
        raw.append(("insert", new))


def _merged(pieces: list[tuple[Op, str]]) -> list[tuple[Op, str]]:
    out: list[tuple[Op, str]] = []
    for op, text in pieces:
        if not text:
            continue
        if out and out[-1][0] == op:
            out[-1] = (op, out[-1][1] + text)
        else:
            out.append((op, text))
    return out


def word_diff(a: str, b: str) -> list[tuple[str, str]]:
    """The difference from `a` to `b` as (op, text) pieces, op "equal", "delete" or "insert".

    Joining the "equal" and "delete" pieces gives `a` back exactly, "equal" and "insert" gives `b`.
    Texts are compared word by word (CJK character by character), as a reader compares them, with
    `difflib.SequenceMatcher` over the words alone: the spaces between words are carried along,
    not matched (matching the very common " " made long replies quadratic; 500 words took 0.4 s),
    and a change of spacing alone is still shown. A changed phrase reads as one deletion then one
    insertion ("the cat" -> "a dog", not four pieces around the space between), the space after a
    change stays outside it, and no two neighbouring pieces have the same op.
    """
    lead_a, words_a, gaps_a = _words(a)
    lead_b, words_b, gaps_b = _words(b)
    raw: list[tuple[Op, str]] = []
    _change(raw, lead_a, lead_b)
    matcher = difflib.SequenceMatcher(None, words_a, words_b, autojunk=False)
    for tag, i1, i2, j1, j2 in matcher.get_opcodes():
        if tag == "equal":
            for i, j in zip(range(i1, i2), range(j1, j2), strict=True):
                raw.append(("equal", words_a[i]))
                _change(raw, gaps_a[i], gaps_b[j])
            continue
        old = "".join(w + g for w, g in zip(words_a[i1:i2], gaps_a[i1:i2], strict=True))
        new = "".join(w + g for w, g in zip(words_b[j1:j2], gaps_b[j1:j2], strict=True))
        if old:
            raw.append(("delete", old))
        if new:
            raw.append(("insert", new))
    raw = _merged(raw)

    # Whitespace alone between two changes joins them into one change; whitespace both sides of a
    # change end with moves out of it.
    pieces: list[tuple[Op, str]] = []
    deleted: list[str] = []
    inserted: list[str] = []

    def flush() -> None:
        old, new = "".join(deleted), "".join(inserted)
        deleted.clear()
        inserted.clear()
        if not old and not new:
            return
        shared = 0
        while (
            shared < min(len(old), len(new))
            and old[-1 - shared] == new[-1 - shared]
            and old[-1 - shared].isspace()
        ):
            shared += 1
        tail = old[len(old) - shared :]
        if shared:
            old, new = old[: len(old) - shared], new[: len(new) - shared]
        pieces.extend([("delete", old), ("insert", new), ("equal", tail)])

    for k, (op, text) in enumerate(raw):
        if op == "delete":
            deleted.append(text)
        elif op == "insert":
            inserted.append(text)
        elif (deleted or inserted) and text.isspace() and k + 1 < len(raw):
            deleted.append(text)
            inserted.append(text)
        else:
            flush()
            pieces.append((op, text))
    flush()
    return _merged(pieces)


# --- similarity ----------------------------------------------------------------------------------

_WORD = re.compile(rf"[{_CJK}]|[^\W_{_CJK}]+")


def _features(text: str) -> list[str]:
    """Lower-cased words and neighbouring word pairs ("in german" as well as "in" and "german")."""
    words = _WORD.findall(text.lower())
    words.extend(map(" ".join, zip(words, words[1:], strict=False)))
    return words


class TextIndex:
    """TF-IDF vectors of a corpus, for repeated `similar` queries against the same texts.

    Weights: (1 + log tf) * idf with idf = log((1 + N) / (1 + df)) + 1 (scikit-learn's smooth
    idf), each text's vector normalised to length 1, so a score is the cosine between 0 and 1.
    Stored as an inverted index, built with numpy: terms are told apart by their 64-bit Python
    hash (in memory only, so the per-process hash seed does not matter; two different terms of one
    corpus sharing a hash has odds of about 1 in 10^7 at 100,000 texts), and one `np.unique` over
    (term, text) gives every term's texts, counts and document frequency at once.
    """

    def __init__(self, corpus: Sequence[str]) -> None:
        self.size = n = len(corpus)
        features: list[str] = []
        lengths = np.empty(n, dtype=np.int64)
        for doc, text in enumerate(corpus):
            words = _features(text)
            features.extend(words)
            lengths[doc] = len(words)
        hashes = np.fromiter(map(hash, features), dtype=np.int64, count=len(features))
        self._hashes, terms = np.unique(hashes, return_inverse=True)
        docs_all = np.repeat(np.arange(n, dtype=np.int64), lengths)
        # Sorted by term, then by text: the inverted index's order.
        pairs, counts = np.unique(terms.astype(np.int64) * max(n, 1) + docs_all, return_counts=True)
        term_of, self._docs = np.divmod(pairs, max(n, 1))
        df = np.bincount(term_of, minlength=len(self._hashes)).astype(float)
        self.idf = np.log((1.0 + n) / (1.0 + df)) + 1.0
        weights = (1.0 + np.log(counts.astype(float))) * self.idf[term_of]
        norms = np.sqrt(np.bincount(self._docs, weights=weights * weights, minlength=n))
        self._weights = weights / np.where(norms > 0, norms, 1.0)[self._docs]
        self._starts = np.concatenate(([0], np.cumsum(df.astype(np.int64))))

    @property
    def terms(self) -> int:
        """How many different words and word pairs the corpus holds."""
        return len(self._hashes)

    def _term_ids(self, query: str) -> dict[int, int]:
        counts: dict[int, int] = {}
        if not len(self._hashes):
            return counts
        for feature in _features(query):
            h = hash(feature)
            t = int(np.searchsorted(self._hashes, h))
            if t < len(self._hashes) and self._hashes[t] == h:
                counts[t] = counts.get(t, 0) + 1
        return counts

    def similar(self, query: str, k: int = 3) -> list[tuple[int, float]]:
        """The `k` texts most similar to `query`: (position in the corpus, cosine), best first.

        Texts sharing no word with the query (cosine 0) are never returned, so the list may be
        shorter than `k`; equal scores keep corpus order.
        """
        if k <= 0 or self.size == 0:
            return []
        features = self._term_ids(query)
        if not features:
            return []
        term_list = list(features)
        q = np.array([(1.0 + math.log(features[t])) * self.idf[t] for t in term_list])
        q /= np.linalg.norm(q)
        spans = [(self._starts[t], self._starts[t + 1]) for t in term_list]
        docs = np.concatenate([self._docs[s:e] for s, e in spans])
        weights = np.concatenate([self._weights[s:e] * w for (s, e), w in zip(spans, q, strict=True)])
        scores = np.bincount(docs, weights=weights, minlength=self.size)
        candidates = np.flatnonzero(scores > 1e-12)
        if len(candidates) > k:
            # Keep everything tied with the k-th best, so that ties are decided by corpus order.
            kth = np.partition(scores[candidates], len(candidates) - k)[len(candidates) - k]
            candidates = candidates[scores[candidates] >= kth - 1e-12]
        ranked = sorted(candidates.tolist(), key=lambda d: (-scores[d], d))
        return [(int(d), float(min(1.0, scores[d]))) for d in ranked[:k]]


def similar(query: str, corpus: Sequence[str], k: int = 3) -> list[tuple[int, float]]:
    """The `k` entries of `corpus` most similar to `query`, as (index, cosine) best first.

    TF-IDF over lower-cased words and word pairs (see `TextIndex`); entries sharing no word with
    the query are left out. For several queries against one corpus, build a `TextIndex` once.
    """
    return TextIndex(corpus).similar(query, k)
