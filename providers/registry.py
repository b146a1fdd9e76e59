"""Build the adapter for a provider kind. Connections call this; nothing else should need to."""

from __future__ import annotations

import httpx

from providers.base import Provider
from providers.http import RetryPolicy

KINDS = ("openai", "openai_compatible", "together", "local")


def provider_build(
    *, kind: str, client: httpx.Client, api_key: str, base_url: str = "", retry: RetryPolicy | None = None
) -> Provider:
    """The adapter for `kind` ("openai", "openai_compatible", "together" or "local")."""
    from providers.openai import OpenAIProvider

    if kind == "openai":
        return OpenAIProvider(client=client, api_key=api_key, base_url=base_url, kind=kind, retry=retry)
    if kind in ("openai_compatible", "local"):
        if not base_url:
            raise ValueError(f"a {kind} provider needs a base URL")
        name = "the built-in local provider" if kind == "local" else "the OpenAI-compatible server"
        return OpenAIProvider(
            client=client, api_key=api_key, base_url=base_url, kind=kind, display_name=name, retry=retry
        )
    if kind == "together":
        from providers.together import TogetherProvider

        return TogetherProvider(client=client, api_key=api_key, base_url=base_url, retry=retry)
    raise ValueError(f"unknown provider kind {kind!r}")
