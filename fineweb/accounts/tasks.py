from __future__ import annotations

from celery import shared_task
from django.utils import timezone

from fineweb.accounts.models import WorkerHeartbeat


@shared_task(name="accounts.record_heartbeat", ignore_result=True)
def heartbeat(queue: str = "default") -> None:
    """Record that a worker on `queue` is alive (beat schedules it; the home page reads it)."""
    from celery import current_task

    hostname = getattr(current_task.request, "hostname", "") or ""
    WorkerHeartbeat.objects.update_or_create(
        queue=queue, defaults={"hostname": hostname, "seen": timezone.now()}
    )
