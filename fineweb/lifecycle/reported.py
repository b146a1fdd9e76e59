"""The shutdown dates providers' model lists reported, kept in `ReportedShutdown` so that every
process (web servers, workers) and a restart see them; read by `fineweb.lib.catalogue`.

The catalogue asks for a model's date many times per page (each model the launch form may offer),
so the table (a row per model a provider dated: a handful) is read once per request or task and
kept until the next one starts (`forget`, connected in apps.py); a date recorded in this process
is seen at once.
"""

from __future__ import annotations

from datetime import date
from typing import Any

from django.utils import timezone

Key = tuple[str, str]  # (provider kind, model lowercased)

_cache: dict[Key, date] | None = None


def forget(*args: Any, **kwargs: Any) -> None:
    """Read the table again on the next look-up (a signal receiver: a request or task starts)."""
    global _cache
    _cache = None


def dates() -> dict[Key, date]:
    """Every reported date, by (provider kind, model lowercased)."""
    global _cache
    if _cache is None:
        from fineweb.lifecycle.models import ReportedShutdown

        _cache = {
            (kind, model): day
            for kind, model, day in ReportedShutdown.objects.values_list(
                "provider_kind", "model", "shutdown_on"
            )
        }
    return _cache


def record(provider_kind: str, model: str, day: date, *, source: str) -> bool:
    """Keep the date a provider reported for `model`; True when it is new or changed (an unchanged
    date writes nothing, so listing models again costs no write)."""
    from fineweb.lifecycle.models import ReportedShutdown

    key = (provider_kind, (model or "").lower())
    if not key[1] or dates().get(key) == day:
        return False
    ReportedShutdown.objects.update_or_create(
        provider_kind=key[0],
        model=key[1],
        defaults={"shutdown_on": day, "source": source[:300], "seen_at": timezone.now()},
    )
    dates()[key] = day
    return True
