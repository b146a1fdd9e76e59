from __future__ import annotations

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.http import HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_POST

from fineweb.accounts.access import get_for_team_or_404, role_required, team_required
from fineweb.accounts.http import TeamRequest
from providers import services
from providers.forms import ConnectionForm
from providers.models import Connection

OWNER = "owner"


def _get_connection_for_user(request: TeamRequest, connection_id: int) -> Connection:
    return get_for_team_or_404(Connection.objects.all(), request, id=connection_id)


@team_required
def connection_list(request: TeamRequest) -> HttpResponse:
    connections = Connection.objects.filter(team=request.team)
    return render(request, "providers/connection_list.html", {"connections": connections})


@role_required(OWNER)
def connection_add(request: TeamRequest) -> HttpResponse:
    form = ConnectionForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            connection = services.connection_create(team=request.team, user=request.user, **form.cleaned_data)
        except ValidationError as exc:
            form.add_error(None, exc)
        else:
            messages.success(request, f"Added {connection.name}. Press “Test connection” to check the key.")
            return redirect("providers:list")
    return render(request, "providers/connection_form.html", {"form": form, "connection": None})


@role_required(OWNER)
def connection_edit(request: TeamRequest, connection_id: int) -> HttpResponse:
    connection = _get_connection_for_user(request, connection_id)
    initial = {
        "name": connection.name,
        "base_url": connection.base_url,
        "max_concurrent": connection.max_concurrent,
        "per_minute": connection.per_minute,
    }
    form = ConnectionForm(request.POST or None, initial=initial, connection=connection)
    if request.method == "POST" and form.is_valid():
        try:
            services.connection_update(connection=connection, **form.cleaned_data)
        except ValidationError as exc:
            form.add_error(None, exc)
        else:
            messages.success(request, f"Saved {connection.name}.")
            return redirect("providers:list")
    return render(request, "providers/connection_form.html", {"form": form, "connection": connection})


@role_required(OWNER)
def connection_delete(request: TeamRequest, connection_id: int) -> HttpResponse:
    connection = _get_connection_for_user(request, connection_id)
    if request.method == "POST":
        try:
            services.connection_delete(connection=connection)
        except ValidationError as exc:
            messages.error(request, " ".join(exc.messages))
        else:
            messages.success(request, f"Deleted {connection.name}.")
        return redirect("providers:list")
    return render(request, "providers/connection_confirm_delete.html", {"connection": connection})


@require_POST
@team_required
def connection_test(request: TeamRequest, connection_id: int) -> HttpResponse:
    connection = _get_connection_for_user(request, connection_id)
    ok, message = services.connection_test(connection=connection)
    if request.htmx:
        return render(request, "providers/connection_list.html#test-result", {"c": connection})
    (messages.success if ok else messages.error)(request, message)
    return redirect("providers:list")
