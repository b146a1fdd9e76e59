"""The HTTP core every adapter shares: timeouts, retries with backoff and jitter, typed errors.

Retries: 408, 409, 429, 5xx, timeouts and connection errors, up to `max_attempts` tries in all.
The wait before a retry is the provider's `Retry-After` (or `retry-after-ms`; seconds or an
HTTP date), capped at `max_retry_after`, or else exponential backoff with jitter. The API key
only ever travels in the Authorization header; logs show it masked, and provider messages that
echo it are scrubbed.

Budgets: a page request may spend only a few seconds on a provider, over all its tries
(`RetryPolicy.interactive()`: 2 tries, 5 s in all, every connect, read and write capped at what
is left); Celery tasks keep the long one (`RetryPolicy.background()`: 5 tries of up to 60 s).
`current_budget()` says which applies: "interactive" inside a page request
(`providers.middleware.ProviderBudgetMiddleware`), else "background".

Addresses: every socket a provider client opens goes through `providers.netguard` (no loopback,
private or link-local address unless the operator allows it); a refusal raises AddressNotAllowed
before anything is sent. Error messages quote a provider only through a short excerpt of a JSON
error message, never a raw body.
"""

from __future__ import annotations

import email.utils
import json
import logging
import random
import time
from collections.abc import Callable, Iterator
from contextvars import ContextVar
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx

from providers import netguard
from providers.errors import (
    AddressNotAllowed,
    AuthError,
    BadRequest,
    MalformedResponse,
    NotFound,
    ProviderError,
    ProviderUnavailable,
    QuotaExceeded,
    RateLimited,
)

logger = logging.getLogger("fineweb.providers")

RETRY_STATUSES = frozenset({408, 409, 429, 500, 502, 503, 504, 520, 522, 524, 529})
DEFAULT_TIMEOUT = httpx.Timeout(60.0, connect=10.0)
UPLOAD_TIMEOUT = httpx.Timeout(600.0, connect=10.0)
INTERACTIVE_SECONDS = 5.0
INTERACTIVE_TIMEOUT = httpx.Timeout(INTERACTIVE_SECONDS, connect=3.0)
# A streamed reply (the compare screen): a long answer may take minutes in all, so there is no
# total over the stream; instead every read (the first piece, then each next one) may wait at most
# STREAM_IDLE_SECONDS. The reader of the stream keeps its own total (compare.services).
STREAM_IDLE_SECONDS = 60.0
STREAM_TIMEOUT = httpx.Timeout(connect=5.0, read=STREAM_IDLE_SECONDS, write=10.0, pool=5.0)
# Provider error messages are shown as an excerpt of at most this many characters.
MAX_PROVIDER_MESSAGE = 300

# "interactive" while a page request runs (set by ProviderBudgetMiddleware), else "background".
BUDGET: ContextVar[str] = ContextVar("fineweb_provider_budget", default="background")


def current_budget() -> str:
    return BUDGET.get()


def mask_secret(secret: str) -> str:
    """`••••abcd`: how a key is shown anywhere, ever."""
    return "••••" + secret[-4:] if secret else ""


def masked_headers(headers: httpx.Headers | dict) -> dict[str, str]:
    out = {}
    for name, value in dict(headers).items():
        if name.lower() in ("authorization", "api-key", "x-api-key"):
            token = value.split(" ", 1)[-1]
            out[name] = (value.split(" ", 1)[0] + " " if " " in value else "") + mask_secret(token)
        else:
            out[name] = value
    return out


def parse_retry_after(headers: httpx.Headers, *, now: datetime | None = None) -> float | None:
    """Seconds to wait from `retry-after-ms`, or `Retry-After` as seconds or an HTTP date."""
    ms = headers.get("retry-after-ms")
    if ms:
        try:
            return max(0.0, float(ms) / 1000)
        except ValueError:
            pass
    raw = headers.get("retry-after")
    if not raw:
        return None
    raw = raw.strip()
    try:
        return max(0.0, float(raw))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(raw)
    except (TypeError, ValueError):
        return None
    if when is None:
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - (now or datetime.now(UTC))).total_seconds())


@dataclass
class RetryPolicy:
    max_attempts: int = 5
    backoff_base: float = 0.5
    backoff_cap: float = 8.0
    max_retry_after: float = 60.0
    sleep: Callable[[float], None] = time.sleep
    random: Callable[[], float] = field(default=random.random)
    # Seconds over all tries (waits included); None: only max_attempts bounds the request.
    total: float | None = None
    # The per-try timeout when the caller gives none (DEFAULT_TIMEOUT when this is None too).
    timeout: httpx.Timeout | None = None

    @classmethod
    def interactive(cls, **kwargs) -> RetryPolicy:
        """For a page request: 2 tries, a few seconds in all, short waits."""
        defaults: dict[str, Any] = {
            "max_attempts": 2,
            "backoff_cap": 1.0,
            "max_retry_after": 1.0,
            "total": INTERACTIVE_SECONDS,
            "timeout": INTERACTIVE_TIMEOUT,
        }
        return cls(**{**defaults, **kwargs})

    @classmethod
    def streaming(cls, **kwargs) -> RetryPolicy:
        """For a streamed reply: 2 tries before the first byte, short waits, a per-read idle cap
        (STREAM_TIMEOUT) instead of a total: nothing is retried once text has arrived."""
        defaults: dict[str, Any] = {
            "max_attempts": 2,
            "backoff_cap": 1.0,
            "max_retry_after": 2.0,
            "total": None,
            "timeout": STREAM_TIMEOUT,
        }
        return cls(**{**defaults, **kwargs})

    @classmethod
    def background(cls, **kwargs) -> RetryPolicy:
        """For Celery tasks: 5 tries of up to 60 s each, waits of up to 60 s between them."""
        return cls(**kwargs)

    @classmethod
    def for_budget(cls, budget: str | None = None, **kwargs) -> RetryPolicy:
        budget = budget or current_budget()
        if budget == "interactive":
            return cls.interactive(**kwargs)
        if budget == "background":
            return cls.background(**kwargs)
        if budget == "streaming":
            return cls.streaming(**kwargs)
        raise ValueError(f"unknown provider budget {budget!r}")

    def backoff(self, attempt: int) -> float:
        """Exponential backoff with "equal jitter": between half and all of base * 2**(attempt-1)."""
        ceiling = min(self.backoff_cap, self.backoff_base * (2 ** (attempt - 1)))
        return ceiling / 2 + self.random() * ceiling / 2


class ProviderHTTP:
    """Sends requests for one adapter: base URL, bearer key, retry policy, error mapping."""

    def __init__(
        self,
        *,
        client: httpx.Client,
        base_url: str,
        api_key: str,
        provider_name: str,
        retry: RetryPolicy | None = None,
        extra_headers: dict[str, str] | None = None,
    ):
        self.client = client
        self.base_url = base_url.rstrip("/")
        self._api_key = api_key
        self.provider_name = provider_name
        self.retry = retry or RetryPolicy()
        self.extra_headers = extra_headers or {}

    # --- public helpers -------------------------------------------------------------------
    def url(self, path: str) -> str:
        return path if path.startswith(("http://", "https://")) else f"{self.base_url}/{path.lstrip('/')}"

    def request_json(self, method: str, path: str, *, subject: str = "the request", **kwargs) -> Any:
        response = self.request(method, path, subject=subject, **kwargs)
        return self.parse_json(response)

    def request_object(self, method: str, path: str, *, subject: str = "the request", **kwargs) -> dict:
        body = self.request_json(method, path, subject=subject, **kwargs)
        if not isinstance(body, dict):
            raise MalformedResponse(
                f"{self.provider_name} sent an answer fineweb could not read (expected an object, got {type(body).__name__})."
            )
        return body

    def upload_object(
        self, path: str, *, file_path: Path, filename: str, content_type: str, data: dict, subject: str
    ) -> dict:
        """POST a file as multipart. Each try (retries included) opens the file afresh, and every
        handle is closed whatever happens."""
        handles: list = []

        def files() -> dict:
            handle = file_path.open("rb")
            handles.append(handle)
            return {"file": (filename, handle, content_type)}

        try:
            return self.request_object(
                "POST", path, subject=subject, data=data, files=files, timeout=UPLOAD_TIMEOUT
            )
        finally:
            for handle in handles:
                handle.close()

    def parse_json(self, response: httpx.Response) -> Any:
        try:
            return response.json()
        except (json.JSONDecodeError, UnicodeDecodeError, ValueError) as exc:
            raise MalformedResponse(
                f"{self.provider_name} sent an answer fineweb could not read ({_describe_body(response)}).",
                status_code=response.status_code,
            ) from exc

    def request(
        self,
        method: str,
        path: str,
        *,
        subject: str = "the request",
        json: Any = None,
        params: dict | None = None,
        data: dict | None = None,
        files: Callable[[], dict] | None = None,
        headers: dict | None = None,
        timeout: httpx.Timeout | float | None = None,
        stream: bool = False,
    ) -> httpx.Response:
        """Send with retries; return a 2xx response (open and unread when stream=True) or raise.

        `files` is a callable building the multipart files afresh for every attempt (a retried
        upload must re-read the file from its start).
        """
        url = self.url(path)
        all_headers = {"Authorization": f"Bearer {self._api_key}", **self.extra_headers, **(headers or {})}
        policy = self.retry
        deadline = time.monotonic() + policy.total if policy.total is not None else None
        last_error: ProviderError | None = None
        for attempt in range(1, policy.max_attempts + 1):
            request = self.client.build_request(
                method,
                url,
                json=json,
                params=params,
                data=data,
                files=files() if files else None,
                headers=all_headers,
                timeout=_capped(timeout or policy.timeout or DEFAULT_TIMEOUT, deadline),
            )
            logger.debug(
                "%s %s %s attempt %d headers=%s",
                self.provider_name,
                method,
                url,
                attempt,
                masked_headers(request.headers),
            )
            token = netguard.DEADLINE.set(deadline)
            try:
                response = self.client.send(request, stream=stream)
            except netguard.AddressNotAllowed as exc:
                logger.warning("%s %s %s refused: %s", self.provider_name, method, url, exc)
                raise AddressNotAllowed(netguard.refusal_sentence(exc)) from None
            except httpx.TimeoutException as exc:
                if deadline is not None:
                    last_error = ProviderUnavailable(
                        f"{self.provider_name} did not answer within {policy.total:.0f} seconds "
                        f"({attempt} {'try' if attempt == 1 else 'tries'}). It may be down or overloaded, "
                        "or the base URL may be wrong; try again in a moment."
                    )
                else:
                    last_error = ProviderUnavailable(
                        f"{self.provider_name} did not answer in time after {attempt} tries. It may be "
                        "overloaded; fineweb will try again later."
                    )
                wait = policy.backoff(attempt)
                logger.warning(
                    "%s %s %s timed out (%s); attempt %d",
                    self.provider_name,
                    method,
                    url,
                    type(exc).__name__,
                    attempt,
                )
            except httpx.TransportError as exc:
                last_error = ProviderUnavailable(
                    f"fineweb could not reach {self.provider_name} at {self.base_url} after {attempt} tries "
                    f"({type(exc).__name__}). Check the base URL and the network."
                )
                wait = policy.backoff(attempt)
                logger.warning(
                    "%s %s %s failed (%s); attempt %d",
                    self.provider_name,
                    method,
                    url,
                    type(exc).__name__,
                    attempt,
                )
            else:
                logger.debug("%s %s %s -> %d", self.provider_name, method, url, response.status_code)
                if response.is_success:
                    return response
                if stream:
                    response.read()
                    response.close()
                error = self._error_for(response, subject=subject, attempts=attempt)
                if response.status_code not in RETRY_STATUSES or isinstance(error, QuotaExceeded):
                    raise error
                last_error = error
                retry_after = parse_retry_after(response.headers)
                wait = (
                    min(retry_after, policy.max_retry_after)
                    if retry_after is not None
                    else policy.backoff(attempt)
                )
                logger.warning(
                    "%s %s %s -> %d; attempt %d",
                    self.provider_name,
                    method,
                    url,
                    response.status_code,
                    attempt,
                )
            finally:
                netguard.DEADLINE.reset(token)
            if deadline is not None and time.monotonic() + wait >= deadline:
                break  # no time left for another try
            if attempt < policy.max_attempts:
                logger.info("%s: retrying in %.2fs", self.provider_name, wait)
                policy.sleep(wait)
        assert last_error is not None
        raise last_error

    def stream_lines(self, response: httpx.Response) -> Iterator[str]:
        try:
            yield from response.iter_lines()
        except httpx.TransportError as exc:
            raise ProviderUnavailable(
                f"The connection to {self.provider_name} broke in the middle of the answer ({type(exc).__name__})."
            ) from exc
        finally:
            response.close()

    # --- errors ---------------------------------------------------------------------------
    def scrub(self, text: str) -> str:
        """Remove the key from provider text, fold it onto one line, and cut it to an excerpt."""
        if self._api_key:
            text = text.replace(self._api_key, mask_secret(self._api_key))
        text = " ".join(text.split())
        if len(text) > MAX_PROVIDER_MESSAGE:
            text = text[: MAX_PROVIDER_MESSAGE - 1].rstrip() + "…"
        return text

    def _error_for(self, response: httpx.Response, *, subject: str, attempts: int) -> ProviderError:
        status = response.status_code
        message, code, error_type = _error_fields(response)
        message = self.scrub(message)
        name = self.provider_name
        detail = f": {message}" if message else "."
        common: dict[str, Any] = {"status_code": status, "provider_message": message, "code": code}
        if status in (401, 403) and not (status == 403 and "context" in message.lower()):
            return AuthError(
                f"{name} refused the API key (HTTP {status}){detail} Check the key on this connection.",
                **common,
            )
        if status == 402 or code == "insufficient_quota" or error_type == "insufficient_quota":
            return QuotaExceeded(
                f"The {name} account is out of credit or over its spending limit{detail}", **common
            )
        if status == 429:
            retry_after = parse_retry_after(response.headers)
            return RateLimited(
                f"{name} is limiting how fast fineweb may call it (HTTP 429, {attempts} tries). fineweb will try again later.",
                retry_after=retry_after,
                **common,
            )
        if status == 404:
            return NotFound(f"{name} answered “not found” for {subject}{detail}", **common)
        if status in RETRY_STATUSES:
            return ProviderUnavailable(
                f"{name} is having trouble (HTTP {status} after {attempts} tries){detail} fineweb will try again later.",
                **common,
            )
        if 400 <= status < 500:
            return BadRequest(f"{name} rejected {subject}{detail}", **common)
        return ProviderUnavailable(f"{name} answered HTTP {status}{detail}", **common)


def _capped(timeout: httpx.Timeout | float, deadline: float | None) -> httpx.Timeout:
    """`timeout` with every phase cut to what is left before `deadline`."""
    timeout = timeout if isinstance(timeout, httpx.Timeout) else httpx.Timeout(timeout)
    if deadline is None:
        return timeout
    left = max(deadline - time.monotonic(), 0.001)

    def cap(value: float | None) -> float:
        return left if value is None else min(value, left)

    return httpx.Timeout(
        connect=cap(timeout.connect), read=cap(timeout.read), write=cap(timeout.write), pool=cap(timeout.pool)
    )


def _error_fields(response: httpx.Response) -> tuple[str, str | None, str | None]:
    """(message, code, type) from a JSON error: `{"error": {...}}`, `{"message": ...}`, `{"detail": ...}`.

    Anything else (plain text, HTML, an internal service's page) gives no message at all: a
    provider's raw body is never shown, only the status code and our own sentence.
    """
    try:
        response.read()
        body = response.json()
    except Exception:
        body = None
    if isinstance(body, dict):
        err = body.get("error", body)
        if isinstance(err, str):
            return err, None, None
        if isinstance(err, dict):
            message = err.get("message") or err.get("detail") or body.get("detail") or ""
            if not isinstance(message, str):
                message = json.dumps(message)[:MAX_PROVIDER_MESSAGE]
            code = err.get("code")
            etype = err.get("type")
            return message, str(code) if code is not None else None, str(etype) if etype is not None else None
    return "", None, None


def _looks_like_html(text: str, response: httpx.Response) -> bool:
    return "html" in response.headers.get("content-type", "") or text.lstrip()[:15].lower().startswith(
        ("<!doctype", "<html")
    )


def _describe_body(response: httpx.Response) -> str:
    text = response.text if response.content else ""
    if not text.strip():
        return "an empty body"
    if _looks_like_html(text, response):
        return "an HTML page instead of JSON"
    return "JSON that is cut off or invalid"
