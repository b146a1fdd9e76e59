"""The "Import history" button of a connection (providers' connection list) and its progress."""

from __future__ import annotations

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.db import transaction
from django.shortcuts import redirect, render
from django.views.decorators.http import require_POST

from fineweb.accounts.access import get_for_team_or_404, role_required, team_required
from jobs.imports import connection_import_start
from providers.models import Connection

STATUS_FRAGMENT = "providers/connection_list.html#import-status"


def _get_connection_for_user(request, connection_id: int) -> Connection:
    return get_for_team_or_404(Connection.objects.all(), request, id=connection_id)


@require_POST
@role_required("owner")
def connection_import(request, connection_id: int):
    connection = _get_connection_for_user(request, connection_id)
    try:
        with transaction.atomic():
            connection_import_start(connection=connection)
    except ValidationError as exc:
        messages.error(request, " ".join(exc.messages))
    connection.refresh_from_db()
    if request.htmx:
        return render(request, STATUS_FRAGMENT, {"c": connection})
    return redirect("providers:list")


@team_required
def connection_import_status(request, connection_id: int):
    connection = _get_connection_for_user(request, connection_id)
    return render(request, STATUS_FRAGMENT, {"c": connection})
