from __future__ import annotations

import logging

from celery import shared_task
from django.core.exceptions import ValidationError
from django.utils import timezone

from providers.errors import ProviderError
from providers.models import Connection
from providers.services import connection_import_jobs

logger = logging.getLogger("fineweb.providers")


@shared_task(
    name="providers.import_jobs", ignore_result=True, acks_late=True, soft_time_limit=3000, time_limit=3600
)
def connection_import_task(connection_id: int) -> None:
    """Run an import claimed by connection_import_start; a provider error ends it with its sentence."""
    connection = Connection.objects.filter(
        id=connection_id, import_state=Connection.ImportState.RUNNING
    ).first()
    if connection is None:
        return
    try:
        counts = connection_import_jobs(connection=connection)
    except (ProviderError, ValidationError) as exc:
        message = exc.user_message if isinstance(exc, ProviderError) else " ".join(exc.messages)
        Connection.objects.filter(id=connection_id).update(
            import_state=Connection.ImportState.FAILED, import_message=f"The import stopped: {message}"
        )
        return
    except Exception:
        logger.exception("import for connection %s failed", connection_id)
        Connection.objects.filter(id=connection_id).update(
            import_state=Connection.ImportState.FAILED,
            import_message="The import stopped on an unexpected error; the server log has the details.",
        )
        raise
    Connection.objects.filter(id=connection_id).update(
        import_state=Connection.ImportState.DONE,
        imported_at=timezone.now(),
        import_message=(
            f"Imported {counts['created']} new job{'s' if counts['created'] != 1 else ''} "
            f"({counts['seen']} on the account) on {timezone.now():%Y-%m-%d %H:%M} UTC."
        ),
    )
