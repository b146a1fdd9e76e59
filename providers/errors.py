"""Typed provider errors. `user_message` is a sentence a non-engineer can act on; show it as is."""

from __future__ import annotations


class ProviderError(Exception):
    """Base of every error an adapter raises. Never carries the API key."""

    default_message = "The provider could not complete the request."
    # Worth retrying later (a Celery task may use this to decide autoretry).
    retryable = False
    # Seconds the provider asked us to wait before the next call (RateLimited's Retry-After).
    retry_after: float | None = None

    def __init__(
        self,
        user_message: str | None = None,
        *,
        status_code: int | None = None,
        provider_message: str = "",
        code: str | None = None,
    ):
        message = user_message or self.default_message
        self.user_message = message[:1].upper() + message[1:]
        self.status_code = status_code
        self.provider_message = provider_message
        self.code = code
        super().__init__(self.user_message)


class AuthError(ProviderError):
    default_message = "The provider refused the API key. Check the key on this connection."


class RateLimited(ProviderError):
    default_message = "The provider is limiting how fast we may call it. fineweb will try again shortly."
    retryable = True

    def __init__(self, user_message: str | None = None, *, retry_after: float | None = None, **kwargs):
        super().__init__(user_message, **kwargs)
        self.retry_after = retry_after


class QuotaExceeded(ProviderError):
    default_message = "The provider account is out of credit or over its spending limit."


class ProviderUnavailable(ProviderError):
    default_message = "The provider did not answer. It may be down; fineweb will try again later."
    retryable = True


class BadRequest(ProviderError):
    default_message = "The provider rejected the request."


class NotFound(ProviderError):
    default_message = "The provider does not know this item (it may have been deleted)."


class MalformedResponse(ProviderError):
    default_message = "The provider sent an answer fineweb could not read."
    retryable = True


class AddressNotAllowed(ProviderError):
    """The base URL is, or resolves to, an address fineweb does not call (providers/netguard.py)."""

    default_message = "fineweb does not call private, loopback or link-local addresses."
