"""Time to first token that fineweb adds on top of the provider's own (issue 10, point 8).

Two providers, each reached by several "paths"; requests alternate path by path so every path
sees the same machine, and each path's time to first token (TTFT: request sent -> first content
piece in hand) is taken over `--requests` requests:

* **openai-shaped**: a tiny OpenAI-shaped SSE server on loopback (plain asyncio in this process,
  chunked keep-alive HTTP/1.1, answers `POST /v1/chat/completions` at once with a role chunk, 8
  content chunks, a finish chunk, usage and `[DONE]`). Paths: `direct` (httpx, parsing the SSE
  lines itself) and `adapter` (fineweb's `providers` adapter of an OpenAI-compatible connection,
  `Provider.chat(stream=True)`, through `provider_client()` with the netguard address check, the
  loopback network allowed as an operator would with FINEWEB_PROVIDER_ALLOWED_NETWORKS).
* **local**: fineweb's `/local/v1/chat/completions` under uvicorn (`fineweb-tiny`, 4 greedy
  tokens). Paths: `direct` (httpx) and `adapter` (the `local` adapter at that URL, as with
  FINEWEB_LOCAL_BASE_URL).

Prints per path the median and p95 TTFT, and per non-direct path the added time: the median and
p95 of (path - direct) over the alternating pairs. Target: under 20 ms added. Both providers also
have the path `compare`: the compare screen's own server-sent-events endpoint under uvicorn, with a
logged-in session, the conversation made first as the playground's POST makes it (not timed), the
time taken from the GET to the first `token` event: everything fineweb puts between a browser and
the provider.

    python benchmarks/bench_stream_overhead.py [--requests 50]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path

import httpx
from embedded import free_port, uvicorn_server

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
KEY = "fw-local-bench-" + os.urandom(6).hex()
MESSAGES = [{"role": "user", "content": "Say hello."}]


# --------------------------------------------------------------------------- the SSE server


def _sse_events(model: str) -> list[bytes]:
    base = {"id": "chatcmpl-bench", "object": "chat.completion.chunk", "created": 0, "model": model}

    def chunk(delta: dict | None, finish: str | None = None, usage: dict | None = None) -> bytes:
        body = dict(
            base, choices=[] if delta is None else [{"index": 0, "delta": delta, "finish_reason": finish}]
        )
        if usage is not None:
            body["usage"] = usage
        return b"data: " + json.dumps(body).encode() + b"\n\n"

    events = [chunk({"role": "assistant", "content": ""})]
    events += [
        chunk({"content": word}) for word in ["Hello", "!", " How", " can", " I", " help", " you", "?"]
    ]
    events.append(chunk({}, "stop"))
    events.append(chunk(None, usage={"prompt_tokens": 9, "completion_tokens": 8, "total_tokens": 17}))
    events.append(b"data: [DONE]\n\n")
    return events


async def _handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    try:
        while True:
            head = await reader.readuntil(b"\r\n\r\n")
            lines = head.decode("latin-1").split("\r\n")
            length = 0
            for line in lines[1:]:
                name, _, value = line.partition(":")
                if name.strip().lower() == "content-length":
                    length = int(value.strip())
            body = json.loads(await reader.readexactly(length)) if length else {}
            if not lines[0].startswith("POST /v1/chat/completions"):
                writer.write(b"HTTP/1.1 404 Not Found\r\ncontent-length: 0\r\n\r\n")
                await writer.drain()
                continue
            writer.write(
                b"HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\ncache-control: no-cache\r\n"
                b"transfer-encoding: chunked\r\n\r\n"
            )
            for event in _sse_events(body.get("model", "gpt-bench")):
                writer.write(b"%x\r\n%s\r\n" % (len(event), event))
                await writer.drain()
            writer.write(b"0\r\n\r\n")
            await writer.drain()
    except (asyncio.IncompleteReadError, ConnectionError):
        pass
    finally:
        writer.close()


class SSEServer:
    """The OpenAI-shaped server, on its own event loop in a thread."""

    def __init__(self) -> None:
        self.port = free_port()
        self.loop = asyncio.new_event_loop()
        ready = threading.Event()

        def run() -> None:
            asyncio.set_event_loop(self.loop)
            self.server = self.loop.run_until_complete(asyncio.start_server(_handle, "127.0.0.1", self.port))
            ready.set()
            self.loop.run_forever()

        self.thread = threading.Thread(target=run, daemon=True)
        self.thread.start()
        ready.wait(10)

    def stop(self) -> None:
        self.loop.call_soon_threadsafe(self.loop.stop)


# --------------------------------------------------------------------------- paths


def direct_path(base_url: str, key: str, model: str, max_tokens: int) -> Callable[[], float]:
    """httpx straight to the server, the SSE lines parsed here: the provider's own TTFT."""
    client = httpx.Client(base_url=base_url, timeout=120, trust_env=False)
    body = {"model": model, "messages": MESSAGES, "max_tokens": max_tokens, "temperature": 0, "stream": True}

    def call() -> float:
        started = time.perf_counter()
        first = None
        with client.stream(
            "POST", "/chat/completions", json=body, headers={"Authorization": f"Bearer {key}"}
        ) as response:
            for line in response.iter_lines():
                if first is None and line.startswith("data: {"):
                    chunk = json.loads(line[6:])
                    if any(c.get("delta", {}).get("content") for c in chunk.get("choices", [])):
                        first = time.perf_counter() - started
        assert first is not None, "no content"
        return first

    return call


def adapter_path(kind: str, base_url: str, key: str, model: str, max_tokens: int, guarded: bool):
    """fineweb's provider adapter (what the compare screen streams through)."""
    from providers.registry import provider_build
    from providers.services import provider_client

    provider = provider_build(
        kind=kind, client=provider_client(guarded=guarded), api_key=key, base_url=base_url
    )

    def call() -> float:
        started = time.perf_counter()
        first = None
        for item in provider.chat(
            model=model, messages=MESSAGES, max_tokens=max_tokens, temperature=0, stream=True
        ):  # type: ignore[union-attr]
            if first is None and isinstance(item, str):
                first = time.perf_counter() - started
        assert first is not None, "no content"
        return first

    return call


def compare_path(server: str, provider_url: str | None, model: str, max_tokens: int) -> Callable[[], float]:
    """The compare screen's own stream: a conversation made as the playground's POST makes it, then
    `GET /compare/<id>/replies/<reply>/stream/` from the uvicorn server as the browser's EventSource
    does, timed to the first `token` event. `provider_url` None: the team's built-in local provider
    (served in the uvicorn process itself, as under `make run`)."""
    from django.contrib.auth import get_user_model
    from django.test import Client

    from compare.services import ColumnSpec, conversation_create
    from onboarding.services import team_create
    from providers.models import Connection
    from providers.services import connection_create

    user = get_user_model().objects.create_user(f"bench-{os.urandom(4).hex()}", password=os.urandom(8).hex())
    team = team_create(name=f"Bench {user.username}", owner=user)
    if provider_url is None:
        connection = Connection.objects.get(team=team, kind=Connection.Kind.LOCAL)
    else:
        connection = connection_create(
            team=team,
            user=user,
            kind="openai_compatible",
            name="Loopback",
            base_url=provider_url,
            api_key="sk-bench",
        )
    browser = Client()
    browser.force_login(user)
    http = httpx.Client(
        base_url=server,
        cookies={"sessionid": browser.cookies["sessionid"].value},
        timeout=120,
        trust_env=False,
    )

    def call() -> float:
        conversation = conversation_create(
            team=team,
            user=user,
            columns=[
                ColumnSpec(connection=connection, model=model),
                ColumnSpec(connection=connection, model=model),
            ],
            message=MESSAGES[0]["content"],
            temperature=0,
            max_tokens=max_tokens,
        )
        reply = conversation.turns.get().replies.order_by("id").first()
        assert reply is not None
        started = time.perf_counter()
        with http.stream("GET", f"/compare/{conversation.id}/replies/{reply.id}/stream/") as response:
            assert response.status_code == 200, response.status_code
            for line in response.iter_lines():
                if line == "event: token":
                    return time.perf_counter() - started
                if line in ("event: error", "event: done"):
                    break
        raise AssertionError("the compare stream sent no token")

    return call


def paths(provider: str, base_url: str, server: str) -> dict[str, Callable[[], float]]:
    """The ways to reach one provider; the first is the direct call the others are measured against."""
    if provider == "openai-shaped":
        return {
            "direct": direct_path(base_url, "sk-bench", "gpt-bench", 16),
            "adapter": adapter_path("openai_compatible", base_url, "sk-bench", "gpt-bench", 16, guarded=True),
            "compare": compare_path(server, base_url, "gpt-bench", 16),
        }
    return {
        "direct": direct_path(base_url, KEY, "fineweb-tiny", 4),
        "adapter": adapter_path("local", base_url, KEY, "fineweb-tiny", 4, guarded=False),
        "compare": compare_path(server, None, "fineweb-tiny", 4),
    }


def p95(values: list[float]) -> float:
    return statistics.quantiles(values, n=20)[-1] if len(values) >= 2 else values[0]


def measure(provider: str, base_url: str, server: str, requests: int) -> None:
    ways = paths(provider, base_url, server)
    for call in ways.values():  # warm: connections, the local model, imports
        call()
        call()
    times: dict[str, list[float]] = {name: [] for name in ways}
    for _ in range(requests):
        for name, call in ways.items():
            times[name].append(call())
    names = list(ways)
    print(f"\n{provider} ({base_url}), {requests} requests per path, alternating")
    for name in names:
        ms = [t * 1000 for t in times[name]]
        line = f"  {name:<10} TTFT median {statistics.median(ms):7.2f} ms  p95 {p95(ms):7.2f} ms"
        if name != names[0]:
            added = [(a - d) * 1000 for a, d in zip(times[name], times[names[0]], strict=True)]
            verdict = "under" if statistics.median(added) < 20 else "OVER"
            line += (
                f"   added median {statistics.median(added):6.2f} ms  p95 {p95(added):6.2f} ms"
                f"  ({verdict} the 20 ms target)"
            )
        print(line)


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--requests", type=int, default=50)
    parser.add_argument("--cache-dir", type=Path, default=Path(tempfile.gettempdir()) / "fineweb-model-cache")
    args = parser.parse_args()
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))  # a timeout still stops the server

    data = Path(tempfile.mkdtemp(prefix="fineweb-overhead-"))
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "CELERY_BROKER_URL")}
    env.update(
        FINEWEB_DATA_DIR=str(data),
        FINEWEB_MODEL_CACHE_DIR=str(args.cache_dir),
        FINEWEB_LOCAL_API_KEY=KEY,
        FINEWEB_PROVIDER_ALLOWED_NETWORKS="127.0.0.0/8",
        DJANGO_SETTINGS_MODULE="fineweb.settings",
        PYTHONUNBUFFERED="1",
    )
    os.environ.update({k: v for k, v in env.items() if k.startswith(("FINEWEB_", "DJANGO_"))})
    os.environ.pop("DATABASE_URL", None)
    import django

    django.setup()
    subprocess.run(
        [sys.executable, "manage.py", "migrate", "--noinput", "-v", "0"], cwd=ROOT, env=env, check=True
    )

    sse = SSEServer()
    try:
        with uvicorn_server(env, data, key=KEY, root=ROOT) as server_url:
            if server_url is None:
                return 1
            local = f"{server_url}/local/v1"
            print(f"load average {os.getloadavg()[0]:.1f}, {len(os.sched_getaffinity(0))} cores")
            measure("openai-shaped", f"http://127.0.0.1:{sse.port}/v1", server_url, args.requests)
            measure("local", local, server_url, args.requests)
    finally:
        sse.stop()
        shutil.rmtree(data, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
