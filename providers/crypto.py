"""Provider API keys at rest: MultiFernet over settings.FINEWEB_FERNET_KEYS.

The first key encrypts, every key decrypts, so rotating means: put a new key first, run
`manage.py rotate_provider_keys` (re-encrypts every stored key with it), then drop the old key.
"""

from __future__ import annotations

from functools import lru_cache

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from django.conf import settings

from providers.errors import ProviderError


class KeyUnreadable(ProviderError):
    default_message = (
        "The API key of this connection can no longer be decrypted: the server's FINEWEB_FERNET_KEYS no longer "
        "hold the key it was encrypted with. An owner must enter the API key again."
    )


@lru_cache(maxsize=4)
def _multifernet(keys: tuple[str, ...]) -> MultiFernet:
    return MultiFernet([Fernet(key) for key in keys])


def fernet() -> MultiFernet:
    return _multifernet(tuple(settings.FINEWEB_FERNET_KEYS))


def encrypt(secret: str) -> str:
    return fernet().encrypt(secret.encode()).decode()


def decrypt(token: str) -> str:
    try:
        return fernet().decrypt(token.encode()).decode()
    except InvalidToken as exc:
        raise KeyUnreadable() from exc


def rotate(token: str) -> str:
    """The same secret, re-encrypted with the first key (raises KeyUnreadable if no key reads it)."""
    try:
        return fernet().rotate(token.encode()).decode()
    except InvalidToken as exc:
        raise KeyUnreadable() from exc
