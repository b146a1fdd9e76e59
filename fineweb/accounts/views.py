from __future__ import annotations

from datetime import timedelta

from django.contrib import messages
from django.http import HttpResponse
from django.shortcuts import redirect, render
from django.utils import timezone
from django.views.decorators.http import require_POST

from fineweb.accounts.access import get_for_team_or_404, role_required, team_required
from fineweb.accounts.forms import ROLE_HELP, MemberAddForm, RoleForm
from fineweb.accounts.http import TeamRequest
from fineweb.accounts.models import Membership, WorkerHeartbeat
from fineweb.accounts.services import TeamError, team_member_add, team_member_remove, team_member_set_role


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


def _team_page(
    request: TeamRequest, *, add_form: MemberAddForm | None = None, status: int = 200
) -> HttpResponse:
    members = request.team.memberships.select_related("user").order_by("user__username")
    context = {
        "members": members,
        "add_form": add_form or MemberAddForm(),
        "roles": [(value, label, ROLE_HELP[value]) for value, label in Membership.Role.choices],
        "role_choices": Membership.Role.choices,
    }
    return render(request, "accounts/team.html", context, status=status)


@team_required
def team_view(request: TeamRequest) -> HttpResponse:
    """Who is in the team and in which role; an owner adds, changes and removes members here."""
    return _team_page(request)


@require_POST
@role_required(Membership.Role.OWNER)
def team_member_add_view(request: TeamRequest) -> HttpResponse:
    form = MemberAddForm(request.POST)
    if not form.is_valid():
        return _team_page(request, add_form=form, status=400)
    try:
        membership, password = team_member_add(
            team=request.team, username=form.cleaned_data["username"], role=form.cleaned_data["role"]
        )
    except TeamError as exc:
        form.add_error("username", str(exc))
        return _team_page(request, add_form=form, status=400)
    # Shown on this response only: never stored in a message, a log or the session.
    response = render(request, "accounts/member_added.html", {"membership": membership, "password": password})
    response["Cache-Control"] = "no-store"
    return response


def _member_or_404(request: TeamRequest, membership_id: int) -> Membership:
    return get_for_team_or_404(Membership.objects.select_related("user", "team"), request, pk=membership_id)


@require_POST
@role_required(Membership.Role.OWNER)
def team_member_role_view(request: TeamRequest, membership_id: int) -> HttpResponse:
    membership = _member_or_404(request, membership_id)
    form = RoleForm(request.POST)
    if not form.is_valid():
        messages.error(request, "Pick one of the roles.")
        return redirect("team")
    try:
        changed = team_member_set_role(membership=membership, role=form.cleaned_data["role"])
    except TeamError as exc:
        messages.error(request, str(exc))
    else:
        messages.success(request, f"{changed.user.username} is now {changed.get_role_display().lower()}.")
    return redirect("team")


@require_POST
@role_required(Membership.Role.OWNER)
def team_member_remove_view(request: TeamRequest, membership_id: int) -> HttpResponse:
    membership = _member_or_404(request, membership_id)
    try:
        team_member_remove(membership=membership)
    except TeamError as exc:
        messages.error(request, str(exc))
    else:
        messages.success(request, f"{membership.user.username} is no longer in the team.")
    return redirect("team")
