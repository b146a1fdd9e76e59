from __future__ import annotations

from datetime import timedelta

from django.http import HttpResponse
from django.shortcuts import render
from django.utils import timezone

from fineweb.accounts.access import team_required
from fineweb.accounts.http import TeamRequest
from fineweb.accounts.models import WorkerHeartbeat


def worker_status() -> list[dict]:
    """Which worker queues answered recently (beat touches each every 30 s)."""
    fresh_after = timezone.now() - timedelta(seconds=90)
    rows = {hb.queue: hb for hb in WorkerHeartbeat.objects.all()}
    return [
        {
            "queue": queue,
            "online": queue in rows and rows[queue].seen >= fresh_after,
            "seen": rows.get(queue) and rows[queue].seen,
        }
        for queue in ("default", "training")
    ]


@team_required
def home(request: TeamRequest) -> HttpResponse:
    return render(request, "accounts/home.html", {"workers": worker_status()})
