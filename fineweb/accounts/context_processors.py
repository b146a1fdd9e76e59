from __future__ import annotations

from typing import Any

from django.http import HttpRequest


def team(request: HttpRequest) -> dict[str, Any]:
    return {"team": getattr(request, "team", None), "membership": getattr(request, "membership", None)}
