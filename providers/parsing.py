"""Loose readers for provider JSON: a wrong or missing optional field becomes None, never a crash."""

from __future__ import annotations

import math
from datetime import UTC, datetime
from typing import Any


def as_str(value: Any, default: str = "") -> str:
    if value is None:
        return default
    if isinstance(value, str):
        return value
    if isinstance(value, int | float | bool):
        return str(value)
    return default


def as_opt_str(value: Any) -> str | None:
    text = as_str(value)
    return text or None


def as_int(value: Any) -> int | None:
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, float):
        return int(value) if math.isfinite(value) else None
    if isinstance(value, str):
        try:
            return int(float(value.strip()))
        except ValueError:
            return None
    return None


def as_float(value: Any) -> float | None:
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, int | float):
        number = float(value)
    elif isinstance(value, str):
        try:
            number = float(value.strip())
        except ValueError:
            return None
    else:
        return None
    return number if math.isfinite(number) else None


def as_time(value: Any) -> datetime | None:
    """Unix seconds (int, float or digit string), or ISO-8601 (with `Z` or an offset) -> aware UTC."""
    if isinstance(value, bool) or value is None or value == "":
        return None
    if isinstance(value, int | float):
        number = float(value)
        if number > 1e14:  # nanoseconds (Together metric timestamps)
            number /= 1e9
        elif number > 1e11:  # milliseconds
            number /= 1e3
        try:
            return datetime.fromtimestamp(number, tz=UTC)
        except (OverflowError, OSError, ValueError):
            return None
    if isinstance(value, str):
        text = value.strip()
        if text.replace(".", "", 1).isdigit():
            return as_time(float(text))
        try:
            parsed = datetime.fromisoformat(text.replace("Z", "+00:00"))
        except ValueError:
            return None
        return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)
    return None


def as_dict(value: Any) -> dict:
    return value if isinstance(value, dict) else {}


def as_list(value: Any) -> list:
    return value if isinstance(value, list) else []


def data_list(body: Any) -> list[dict]:
    """The `data` array of a list response, keeping only objects."""
    items = body if isinstance(body, list) else as_list(as_dict(body).get("data"))
    return [item for item in items if isinstance(item, dict)]
