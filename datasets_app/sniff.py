"""File-level checks on the first bytes of an upload: problems that make line-by-line checks pointless.

Each answer is one sentence a non-engineer can act on. The upload form refuses such files before
anything is stored, and the validator reports them as a single error.
"""

from __future__ import annotations

UTF8_BOM = b"\xef\xbb\xbf"
HEAD_BYTES = 64 * 1024

_FIX_UTF8 = (
    "Re-save it as UTF-8: in a text editor choose \u201cSave as\u201d with the encoding UTF-8; "
    "in Excel export \u201cCSV UTF-8\u201d; in Python write with encoding=\"utf-8\"."
)


def looks_like_utf16(head: bytes) -> str | None:
    """'UTF-16 LE' / 'UTF-16 BE' / 'UTF-32 ...' when the bytes say so, by BOM or by NUL pattern."""
    if head.startswith((b"\xff\xfe\x00\x00", b"\x00\x00\xfe\xff")):
        return "UTF-32"
    if head.startswith(b"\xff\xfe"):
        return "UTF-16 (little-endian)"
    if head.startswith(b"\xfe\xff"):
        return "UTF-16 (big-endian)"
    sample = head[:4096]
    if len(sample) >= 4 and sample.count(0) >= len(sample) // 4:
        even_nuls = sample[0::2].count(0)
        odd_nuls = sample[1::2].count(0)
        if odd_nuls > even_nuls * 4:
            return "UTF-16 (little-endian)"
        if even_nuls > odd_nuls * 4:
            return "UTF-16 (big-endian)"
    return None


def file_problem(head: bytes, size: int) -> str | None:
    """The reason this file cannot be a JSONL training file at all, or None."""
    if size == 0 or not head:
        return "The file is empty: it needs one JSON example per line."
    if head.startswith((b"PK\x03\x04", b"PK\x05\x06", b"PK\x07\x08")):
        return (
            "This is a ZIP archive (perhaps renamed to .jsonl), not a text file. "
            "Unzip it and upload the .jsonl file inside."
        )
    if head.startswith(b"\x1f\x8b"):
        return "This is a gzip-compressed file, not a text file. Decompress it (gunzip) and upload the .jsonl."
    wide = looks_like_utf16(head)
    if wide:
        return f"The file is encoded as {wide}, not UTF-8. {_FIX_UTF8}"
    if b"\x00" in head[:4096]:
        return "This looks like a binary file, not JSON Lines text. Upload a .jsonl file with one JSON example per line."
    body = head[len(UTF8_BOM) :] if head.startswith(UTF8_BOM) else head
    stripped = body.lstrip()
    if not stripped:
        if size <= len(head):
            return "The file holds only blank lines: it needs one JSON example per line."
        return None
    if stripped[:1] == b"[":
        return (
            "The file is one JSON array ([ ... ]), not JSON Lines. Put each example on its own line "
            "as a JSON object, with no brackets or commas between lines (for example with "
            "jq -c '.[]' file.json > file.jsonl)."
        )
    return None


def latin1_hint(raw: bytes, error: UnicodeDecodeError) -> str:
    """The message for a line that is not UTF-8, saying which encoding it looks like."""
    bad = raw[error.start : error.start + 1]
    where = f"byte 0x{bad.hex().upper()} at position {error.start + 1}"
    try:
        sample = raw[max(0, error.start - 10) : error.start + 10].decode("cp1252")
        return (
            f"not UTF-8 ({where}); it looks like Latin-1 / Windows-1252 text (\u201c{sample.strip()}\u201d). "
            + _FIX_UTF8
        )
    except UnicodeDecodeError:
        return f"not UTF-8 ({where}). " + _FIX_UTF8
