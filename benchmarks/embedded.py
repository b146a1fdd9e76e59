"""What the benchmarks that drive the real server share: wait for `runall` to say it is up, and a
logged-in client (the login form, with its CSRF token, as a browser sends it)."""

from __future__ import annotations

import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx


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
