"""The language of a reply, offline, with lingua (`lingua-language-detector`, pinned).

The detector is built once per process, for a fixed handful of languages (LANGUAGES), with their
models loaded lazily: about 120 MB of memory in all for English and German (measured with
ru_maxrss), instead of the gigabyte that every language preloaded would take.
"""

from __future__ import annotations

import functools
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from lingua import LanguageDetector

# ISO 639-1 code -> the name on the page. The detector knows only these: a reply in another
# language comes out as the closest of them, which is not the expected one unless it is.
LANGUAGES: dict[str, str] = {
    "en": "English",
    "de": "German",
    "fr": "French",
    "es": "Spanish",
    "it": "Italian",
    "nl": "Dutch",
    "pt": "Portuguese",
    "pl": "Polish",
}
# A reply that mixes languages passes only if this share of its characters is in the expected one.
MIN_SHARE = 0.8


def name(code: str) -> str:
    return LANGUAGES.get(code, code or "the expected language")


@functools.cache
def detector() -> LanguageDetector:
    from lingua import IsoCode639_1, Language, LanguageDetectorBuilder

    languages = [Language.from_iso_code_639_1(getattr(IsoCode639_1, code.upper())) for code in LANGUAGES]
    return LanguageDetectorBuilder.from_languages(*languages).build()


def _code(lang) -> str:
    return str(lang.iso_code_639_1.name).lower()


def detect(text: str) -> str | None:
    """The ISO 639-1 code of the text's language, or None when it has no words to judge."""
    if not any(ch.isalpha() for ch in text):
        return None
    lang = detector().detect_language_of(text)
    return _code(lang) if lang is not None else None


def shares(text: str) -> dict[str, float]:
    """Share of the text's characters in each detected language (mixed replies)."""
    parts = detector().detect_multiple_languages_of(text)
    total = sum(p.end_index - p.start_index for p in parts)
    out: dict[str, float] = {}
    for p in parts:
        out[_code(p.language)] = out.get(_code(p.language), 0.0) + (p.end_index - p.start_index) / (
            total or 1
        )
    return out


def is_in(text: str, expected: str) -> bool:
    """Whether `text` is written in `expected`: its main language, and most of it when mixed."""
    if detect(text) != expected:
        return False
    split = shares(text)
    if len(split) <= 1:
        return True
    return split.get(expected, 0.0) >= MIN_SHARE
