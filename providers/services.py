"""Connection services: create, update, delete, test, build the adapter, rotate keys.

Other apps call `connection_get_provider(connection=..., client=...)` and speak to the returned
`Provider` in our own terms (providers/base.py). Nothing here knows about jobs: importing a
provider's job history is the jobs app's (jobs/imports.py).
"""

from __future__ import annotations

import functools
import logging
from urllib.parse import urlparse

import httpx
from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.handlers.wsgi import WSGIHandler
from django.db import transaction
from django.db.models import ProtectedError

from fineweb.accounts.models import Team
from providers import netguard
from providers.base import Provider
from providers.errors import ProviderError
from providers.http import DEFAULT_TIMEOUT, RetryPolicy
from providers.models import MAX_CONCURRENT_LIMIT, MAX_PER_MINUTE_LIMIT, Connection
from providers.registry import provider_build

logger = logging.getLogger("fineweb.providers")

LOCAL_CONNECTION_NAME = "Built-in local provider"
LOCAL_PATH = "/local/v1"


# --- create / update / delete ------------------------------------------------------------
def connection_clean_base_url(*, kind: str, base_url: str) -> str:
    base_url = base_url.strip().rstrip("/")
    if not base_url:
        if kind == Connection.Kind.OPENAI_COMPATIBLE:
            raise ValidationError(
                {"base_url": "An OpenAI-compatible server needs its base URL, e.g. https://host/v1."}
            )
        return ""
    parsed = urlparse(base_url)
    try:
        host = parsed.hostname
    except ValueError:
        host = None
    if parsed.scheme not in ("http", "https") or not parsed.netloc or not host:
        raise ValidationError(
            {"base_url": "The base URL must start with http:// or https:// and name a host."}
        )
    try:
        httpx.URL(base_url)
    except httpx.InvalidURL as exc:
        raise ValidationError({"base_url": f"This base URL cannot be used: {exc}."}) from None
    try:
        netguard.url_check(base_url)
    except netguard.AddressNotAllowed as exc:
        raise ValidationError(
            {
                "base_url": netguard.refusal_sentence(exc)
                + " Use the provider's public address, or ask the operator to allow the network."
            }
        ) from None
    return base_url


@transaction.atomic
def connection_create(
    *,
    team: Team,
    user,
    kind: str,
    name: str,
    base_url: str = "",
    api_key: str = "",
    max_concurrent: int | None = None,
    per_minute: int | None = None,
) -> Connection:
    if kind == Connection.Kind.LOCAL:
        raise ValidationError({"kind": "Every team already has the built-in local provider."})
    if kind in (Connection.Kind.OPENAI, Connection.Kind.TOGETHER) and not api_key.strip():
        raise ValidationError({"api_key": "Paste the API key from the provider's dashboard."})
    if Connection.objects.filter(team=team, name=name).exists():
        raise ValidationError({"name": "Your team already has a connection with this name."})
    connection = Connection(
        team=team,
        kind=kind,
        name=name,
        base_url=connection_clean_base_url(kind=kind, base_url=base_url),
        created_by=user,
        **connection_clean_limits(max_concurrent=max_concurrent, per_minute=per_minute),
    )
    connection.set_api_key(api_key)
    connection.save()
    return connection


@transaction.atomic
def connection_update(
    *,
    connection: Connection,
    name: str,
    base_url: str,
    api_key: str = "",
    max_concurrent: int | None = None,
    per_minute: int | None = None,
) -> Connection:
    """Blank `api_key` keeps the stored key (the form never shows it again); blank limits mean
    the kind's defaults."""
    if Connection.objects.filter(team=connection.team, name=name).exclude(id=connection.id).exists():
        raise ValidationError({"name": "Your team already has a connection with this name."})
    limits = connection_clean_limits(max_concurrent=max_concurrent, per_minute=per_minute)
    connection.name = name
    connection.base_url = connection_clean_base_url(kind=connection.kind, base_url=base_url)
    connection.max_concurrent, connection.per_minute = limits["max_concurrent"], limits["per_minute"]
    fields = ["name", "base_url", "max_concurrent", "per_minute"]
    if api_key.strip() and not connection.is_local:
        connection.set_api_key(api_key)
        connection.last_test_ok = None  # the new key is untested
        fields += ["api_key_encrypted", "key_last4", "last_test_ok"]
    connection.save(update_fields=fields)
    return connection


def connection_clean_limits(*, max_concurrent: int | None, per_minute: int | None) -> dict[str, int | None]:
    """The request limits as stored: None for blank (the kind's default); a sentence when out of range."""
    for value, what, most in (
        (max_concurrent, "Requests at once", MAX_CONCURRENT_LIMIT),
        (per_minute, "Requests per minute", MAX_PER_MINUTE_LIMIT),
    ):
        if value is not None and not 1 <= value <= most:
            raise ValidationError(f"{what} must be between 1 and {most:,}, or blank for the default.")
    return {"max_concurrent": max_concurrent, "per_minute": per_minute}


def connection_limits_set(
    *, connection: Connection, max_concurrent: int | None, per_minute: int | None
) -> None:
    """Set the connection's request limits (None: the kind's default)."""
    limits = connection_clean_limits(max_concurrent=max_concurrent, per_minute=per_minute)
    Connection.objects.filter(id=connection.id).update(**limits)
    connection.max_concurrent, connection.per_minute = limits["max_concurrent"], limits["per_minute"]


def connection_delete(*, connection: Connection) -> None:
    if connection.is_local:
        raise ValidationError("The built-in local provider belongs to every team and cannot be deleted.")
    try:
        connection.delete()
    except ProtectedError as exc:
        raise ValidationError(
            "Jobs were launched through this connection, so it is kept to show their history. "
            "Change its key or URL instead."
        ) from exc


def connection_ensure_local(*, team: Team) -> Connection:
    """Every team gets the built-in local provider with a key of its own (onboarding's team_create
    and data migrations call this, or do the same)."""
    connection, _ = Connection.objects.get_or_create(
        team=team, kind=Connection.Kind.LOCAL, defaults={"name": LOCAL_CONNECTION_NAME}
    )
    if not connection.api_key_encrypted:
        connection_local_key_issue(connection=connection)
    return connection


def local_key_label(connection: Connection) -> str:
    return f"connection {connection.id}"


def connection_local_key_issue(*, connection: Connection) -> None:
    """Give a local connection a new key of the built-in provider, scoped to its team.

    The key is stored encrypted like any provider key; the local provider keeps only its hash.
    A key issued earlier for the same connection stops working.
    """
    from localtuner.keys import api_key_issue

    key = api_key_issue(team_id=connection.team_id, label=local_key_label(connection))
    connection.set_api_key(key)
    connection.save(update_fields=["api_key_encrypted", "key_last4"])


# --- reaching the provider -----------------------------------------------------------------
def _local_host() -> str:
    """A Host header this server accepts, for in-process calls to its own local provider."""
    for host in settings.ALLOWED_HOSTS:
        host = host.lstrip(".")
        if host and host != "*" and "*" not in host:
            return host
    return "localhost"


class _InProcessTransport(httpx.WSGITransport):
    """Calls this server's WSGI app directly. Inside a transaction (tests, or a caller holding one)
    the nested request must not close the thread's database connection, so Django's
    close_old_connections is held off for the duration of the call: the reply is read (and the
    nested request finished) inside that window, and the receivers are put back only if they were
    connected before (Django's test client holds them off itself while its own request runs)."""

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        from django.core import signals
        from django.db import close_old_connections, connection

        if not connection.in_atomic_block:
            return super().handle_request(request)
        started = signals.request_started.disconnect(close_old_connections)
        finished = signals.request_finished.disconnect(close_old_connections)
        try:
            response = super().handle_request(request)
            content = response.read()
            response.close()
            return httpx.Response(
                response.status_code, headers=response.headers, content=content, request=request
            )
        finally:
            if started:
                signals.request_started.connect(close_old_connections)
            if finished:
                signals.request_finished.connect(close_old_connections)


def local_provider_base_url() -> str:
    return settings.FINEWEB_LOCAL_BASE_URL.rstrip("/") or f"https://{_local_host()}{LOCAL_PATH}"


@functools.cache
def _wsgi_application() -> WSGIHandler:
    """Django's handler, not fineweb.wsgi's: get_wsgi_application() runs django.setup() again,
    whose logging set-up replaced a Celery worker's handlers (its log lines then vanished)."""
    return WSGIHandler()


def local_in_process_client() -> httpx.Client:
    """Real HTTP semantics through our own WSGI app, without knowing the port we serve on.

    Streaming replies come back buffered through this transport (WSGI has no way to push
    pieces early), so a streamed compare through it arrives all at once.
    """
    application = _wsgi_application()
    # https + X-Forwarded-Proto so SECURE_SSL_REDIRECT (with or without a proxy header) never redirects.
    return httpx.Client(
        transport=_InProcessTransport(app=application),
        headers={"X-Forwarded-Proto": "https"},
        timeout=DEFAULT_TIMEOUT,
    )


def local_in_process_streaming_client() -> httpx.Client:
    """Like `local_in_process_client`, through this server's ASGI app: a streamed reply comes
    back piece by piece as the local model generates it (providers/inprocess_asgi.py)."""
    from providers.inprocess_asgi import InProcessASGITransport

    return httpx.Client(
        transport=InProcessASGITransport(),
        headers={"X-Forwarded-Proto": "https"},
        timeout=DEFAULT_TIMEOUT,
    )


def _local_key_readable(connection: Connection) -> None:
    """A local connection's key is fineweb's own: if it is missing, or no FINEWEB_FERNET_KEYS key
    reads it any more, issue a new one instead of asking an owner for a key they never had."""
    from providers.crypto import KeyUnreadable

    try:
        if connection.api_key():
            return
    except KeyUnreadable:
        logger.warning("the local key of connection %s was unreadable; issuing a new one", connection.id)
    with transaction.atomic():
        connection_local_key_issue(connection=connection)


def provider_client(*, guarded: bool = True) -> httpx.Client:
    """The httpx client of every provider call that leaves this process: no redirects, no
    environment proxies, and (guarded) the address rules of providers/netguard.py at connect time."""
    transport = netguard.GuardedTransport() if guarded else httpx.HTTPTransport(trust_env=False)
    return httpx.Client(transport=transport, timeout=DEFAULT_TIMEOUT, follow_redirects=False, trust_env=False)


def connection_get_provider(
    *,
    connection: Connection,
    client: httpx.Client | None = None,
    retry: RetryPolicy | None = None,
    budget: str | None = None,
) -> Provider:
    """The adapter for this connection.

    `client` defaults to `provider_client()` (for the local provider with no
    FINEWEB_LOCAL_BASE_URL: an in-process client to this server's own WSGI app; with it, an
    unguarded client, since the operator chose that address). `retry` defaults to the policy of
    `budget` ("interactive": a few seconds in all; "background"), itself defaulting to the
    current one: interactive inside a page request, background elsewhere (providers/http.py);
    "streaming" (a streamed chat reply) has a per-read idle cap and no total, and reaches this
    server's own local provider through its ASGI app, so the reply streams piece by piece.
    """
    base_url = connection.base_url
    if connection.is_local:
        _local_key_readable(connection)
        base_url = base_url or local_provider_base_url()
        if client is None and not connection.base_url:
            if settings.FINEWEB_LOCAL_BASE_URL:
                client = provider_client(guarded=False)
            elif budget == "streaming":
                client = local_in_process_streaming_client()
            else:
                client = local_in_process_client()
    if client is None:
        client = provider_client()
    return provider_build(
        kind=connection.kind,
        client=client,
        api_key=connection.api_key(),
        base_url=base_url,
        retry=retry or RetryPolicy.for_budget(budget),
    )


def connection_test(*, connection: Connection, client: httpx.Client | None = None) -> tuple[bool, str]:
    """Make one cheap authenticated call, within the page budget; store and return (ok, a sentence)."""
    try:
        provider = connection_get_provider(connection=connection, client=client, budget="interactive")
        ok, message = True, provider.test_connection()
    except ProviderError as exc:
        ok, message = False, exc.user_message
    logger.info("connection %s tested: %s", connection.id, "ok" if ok else "failed")
    connection.mark_tested(ok=ok, message=message)
    return ok, message


def provider_keys_rotate() -> tuple[int, int]:
    """Re-encrypt every stored key with the first FINEWEB_FERNET_KEYS key. Returns (rotated, unreadable).

    A local connection's key that no Fernet key reads any more is replaced by a new one.
    """
    from providers import crypto

    rotated = unreadable = 0
    for connection in Connection.objects.exclude(api_key_encrypted=""):
        try:
            token = crypto.rotate(connection.api_key_encrypted)
        except crypto.KeyUnreadable:
            if connection.is_local:  # fineweb's own key: a new one replaces it, nobody re-enters it
                with transaction.atomic():
                    connection_local_key_issue(connection=connection)
                rotated += 1
            else:
                unreadable += 1
            continue
        Connection.objects.filter(id=connection.id).update(api_key_encrypted=token)
        rotated += 1
    return rotated, unreadable


def local_launch_plan(*, n_examples: int, hyperparameters: dict, base_model: str) -> dict:
    """The built-in local provider's own plan for a launch (epochs, batch size, steps, whether it
    converts the model first): its rule, asked of it, never copied here."""
    from localtuner.params import launch_plan

    return launch_plan(n_examples=n_examples, hyperparameters=hyperparameters, base_model=base_model)
