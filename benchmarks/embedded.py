"""What the benchmarks that drive the real server share: wait for `runall` to say it is up, and a
logged-in client (the login form, with its CSRF token, as a browser sends it)."""

from __future__ import annotations

import socket
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx


def free_port() -> int:
    """A TCP port on loopback that nothing listens on now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_until_running(proc: subprocess.Popen, log_path: Path, *, timeout: float) -> bool:
    """True once the server's log says "running at"; False (the log's tail printed) if the
    process ends or `timeout` seconds pass first."""
    deadline = time.monotonic() + timeout
    while "running at" not in log_path.read_text(errors="replace"):
        if proc.poll() is not None or time.monotonic() > deadline:
            print(log_path.read_text(errors="replace")[-3000:])
            return False
        time.sleep(0.5)
    return True


@contextmanager
def logged_in_client(base: str, password: str, username: str = "owner") -> Iterator[httpx.Client]:
    with httpx.Client(base_url=base, follow_redirects=False, timeout=30) as web:
        yield _log_in(web, base, password, username)


def _log_in(web: httpx.Client, base: str, password: str, username: str) -> httpx.Client:
    web.get("/login/")
    web.post(
        "/login/",
        data={"username": username, "password": password, "csrfmiddlewaretoken": web.cookies["csrftoken"]},
        headers={"Referer": f"{base}/login/"},
    )
    return web


@contextmanager
def uvicorn_server(env: dict, data: Path, *, key: str, root: Path) -> Iterator[str | None]:
    """fineweb's ASGI app under uvicorn on a free loopback port (one process, no lifespan), for the
    benches that stream from it: yields its base URL once `/local/v1/models` answers (None, with the
    tail of its log printed, when it never came up); stops its process group at the end."""
    import os
    import signal
    import socket
    import sys

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    log_path = data / "uvicorn.log"
    with open(log_path, "wb") as log:
        server = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "uvicorn",
                "fineweb.asgi:application",
                "--port",
                str(port),
                "--lifespan",
                "off",
            ],
            cwd=root,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )
        base = f"http://127.0.0.1:{port}"
        try:
            deadline = time.monotonic() + 120
            while True:
                try:
                    httpx.get(
                        base + "/local/v1/models", headers={"Authorization": f"Bearer {key}"}, timeout=5
                    )
                    break
                except httpx.TransportError:
                    if server.poll() is not None or time.monotonic() > deadline:
                        print(log_path.read_text()[-3000:])
                        yield None
                        return
                    time.sleep(0.5)
            yield base
        finally:
            os.killpg(server.pid, signal.SIGINT)
            try:
                server.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(server.pid, signal.SIGKILL)
