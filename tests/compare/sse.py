"""Reading the compare screen's server-sent events in tests, as the browser's EventSource does."""

from __future__ import annotations

import json

from asgiref.sync import async_to_sync
from django.test import AsyncClient


def parse_events(raw: bytes) -> list[tuple[str, dict]]:
    """(event name, data) of every event in a text/event-stream body; comments and retry: skipped."""
    events = []
    for block in raw.decode().split("\n\n"):
        name, data = "message", None
        for line in block.splitlines():
            if line.startswith("event:"):
                name = line[6:].strip()
            elif line.startswith("data:"):
                data = json.loads(line[5:].strip())
        if data is not None:
            events.append((name, data))
    return events


def stream(user, url: str) -> tuple[int, list[tuple[str, dict]], list[bytes]]:
    """GET the stream under ASGI (Django's AsyncClient): status, events, and the raw frames as sent."""

    async def run():
        client = AsyncClient()
        await client.aforce_login(user)
        response = await client.get(url)
        if response.status_code != 200:
            return response.status_code, []
        return 200, [part async for part in response.streaming_content]  # type: ignore[attr-defined]

    status, frames = async_to_sync(run)()
    return status, parse_events(b"".join(frames)), frames
