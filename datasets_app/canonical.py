"""One way to write an example and one way to tell two examples apart.

A derived version's file is written with `example_bytes` (orjson, keys sorted, no spaces, UTF-8):
the same examples always give the same bytes, so the same sha256. `content_hash` is the hash the
split carry-over and the diff match examples by: the digest of that same serialisation, so an
uploaded line and its re-written copy (other key order, other spacing, `\\u00e9` for `é`) are the
same example; a line that is not JSON is hashed as its bytes.
"""

from __future__ import annotations

import hashlib

import orjson

_OPTIONS = orjson.OPT_SORT_KEYS


def example_bytes(example: dict) -> bytes:
    """The stable serialisation of one example, without the newline."""
    return orjson.dumps(example, option=_OPTIONS)


def content_hash(raw: bytes) -> bytes:
    """16 bytes naming an example's content, whatever its key order and spacing."""
    try:
        canonical = orjson.dumps(orjson.loads(raw), option=_OPTIONS)
    except (orjson.JSONDecodeError, TypeError):
        canonical = b"\x00raw:" + raw
    return hashlib.blake2b(canonical, digest_size=16).digest()
