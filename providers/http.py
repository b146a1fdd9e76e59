"""The HTTP core every adapter shares: timeouts, retries with backoff and jitter, typed errors.

Retries: 408, 409, 429, 5xx, timeouts and connection errors, up to `max_attempts` tries in all.
The wait before a retry is the provider's `Retry-After` (or `retry-after-ms`; seconds or an
HTTP date), capped at `max_retry_after`, or else exponential backoff with jitter. The API key
only ever travels in the Authorization header; logs show it masked, and provider messages that
echo it are scrubbed.
"""

from __future__ import annotations

import email.utils
import json
import logging
import random
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx

from providers.errors import (
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
MAX_PROVIDER_MESSAGE = 500


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
                timeout=timeout or DEFAULT_TIMEOUT,
            )
            logger.debug(
                "%s %s %s attempt %d headers=%s",
                self.provider_name,
                method,
                url,
                attempt,
                masked_headers(request.headers),
            )
            try:
                response = self.client.send(request, stream=stream)
            except httpx.TimeoutException as exc:
                last_error = ProviderUnavailable(
                    f"{self.provider_name} did not answer in time after {attempt} tries. It may be overloaded; "
                    "fineweb will try again later."
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
        """Remove the key (and the provider's own partly-masked echo of it) from provider text."""
        if self._api_key:
            text = text.replace(self._api_key, mask_secret(self._api_key))
        return text[:MAX_PROVIDER_MESSAGE]

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


def _error_fields(response: httpx.Response) -> tuple[str, str | None, str | None]:
    """(message, code, type) from `{"error": {...}}`, `{"message": ...}`, `{"detail": ...}` or plain text."""
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
    text = response.text.strip() if response.content else ""
    if not text or _looks_like_html(text, response):
        return "", None, None
    return text, None, None


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
