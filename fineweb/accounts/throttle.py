"""Login throttling with django-axes: where a request comes from, and what a locked-out login sees.

Settings (fineweb/settings.py, documented in docs/operations.md and docs/security.md): after
FINEWEB_LOGIN_FAILURE_LIMIT failed logins for one username, or from one address, further logins
for it are refused for FINEWEB_LOGIN_COOLOFF_MINUTES, even with the right password; the lock
then ends by itself (failures during it do not extend it), and a successful login clears the
count. `manage.py axes_reset_username <name>` ends a lock at once.
"""

from __future__ import annotations

from django.conf import settings
from django.contrib.auth.forms import AuthenticationForm
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render


def client_ip(request: HttpRequest) -> str | None:
    """The client's address: REMOTE_ADDR, or behind FINEWEB_PROXY_COUNT trusted proxies the
    address the outermost of them put into X-Forwarded-For (what a client wrote there itself,
    further left, is never trusted)."""
    count = settings.FINEWEB_PROXY_COUNT
    forwarded = request.META.get("HTTP_X_FORWARDED_FOR", "")
    if count > 0 and forwarded:
        hops = [hop.strip() for hop in forwarded.split(",") if hop.strip()]
        if hops:
            return hops[-count] if len(hops) >= count else hops[0]
    return request.META.get("REMOTE_ADDR")


def lockout_message() -> str:
    minutes = max(1, int(settings.AXES_COOLOFF_TIME.total_seconds() // 60))
    return (
        "Too many failed logins for this username or from your address. Logging in is paused for "
        f"{minutes} minute{'s' if minutes != 1 else ''}; try again then, or ask an administrator to unlock it."
    )


def lockout_response(request: HttpRequest, *args, **kwargs) -> HttpResponse:
    """The login page again, with the lockout sentence, as 429 Too Many Requests."""
    username = request.POST.get("username", "") if request.method == "POST" else ""
    form = AuthenticationForm(request, initial={"username": username})
    context = {"form": form, "lockout_message": lockout_message(), "next": request.POST.get("next", "")}
    # AXES_HTTP_RESPONSE_CODE is a django-axes default (axes.conf), not in fineweb/settings.py.
    status = settings.AXES_HTTP_RESPONSE_CODE  # type: ignore[misc]
    return render(request, "registration/login.html", context, status=status)
