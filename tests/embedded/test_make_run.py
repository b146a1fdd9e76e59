"""The embedded default, as `make run` starts it: SQLite + filesystem broker, no server needed."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from tests.matching import search
from tests.processes import ROOT, wait_for


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def embedded_env(tmp_path):
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "CELERY_BROKER_URL")}
    env.update(FINEWEB_DATA_DIR=str(tmp_path / "data"), PYTHONUNBUFFERED="1")
    return env


def manage(env, *args) -> str:
    result = subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        stdin=subprocess.DEVNULL,
    )
    assert result.returncode == 0, result.stderr
    return result.stdout


@pytest.mark.worker
def test_make_run_starts_web_and_workers_on_sqlite_and_stops_cleanly_on_ctrl_c(embedded_env, tmp_path):
    manage(embedded_env, "migrate", "--noinput", "-v", "0")
    first = manage(embedded_env, "bootstrap_demo")
    password = search(r"LOGIN username=owner password=(\S+)", first).group(1)
    second = manage(embedded_env, "bootstrap_demo")
    assert "password=" not in second, "the password is printed once only"
    assert (Path(embedded_env["FINEWEB_DATA_DIR"]) / "fineweb.sqlite3").exists()

    port = free_port()
    log = open(tmp_path / "runall.log", "wb")
    proc = subprocess.Popen(
        [sys.executable, "manage.py", "runall", "--port", str(port)],
        cwd=ROOT,
        env=embedded_env,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
        stdin=subprocess.DEVNULL,
    )
    try:
        base = f"http://127.0.0.1:{port}"

        def up():
            try:
                return httpx.get(f"{base}/login/", timeout=2).status_code == 200
            except httpx.HTTPError:
                return False

        wait_for(up, timeout=90, message="the web server")
        wait_for(
            lambda: f"running at http://127.0.0.1:{port}/" in (tmp_path / "runall.log").read_text(),
            timeout=10,
            message="the URL printed once the web server answers",
        )

        with httpx.Client(base_url=base, follow_redirects=True, timeout=10) as web:
            web.get("/login/")
            web.post(
                "/login/",
                data={
                    "username": "owner",
                    "password": password,
                    "csrfmiddlewaretoken": web.cookies["csrftoken"],
                },
                headers={"Referer": f"{base}/login/"},
            )

            # Both workers answer through the filesystem broker and write to SQLite.
            def both_online():
                page = web.get("/").text
                return page.count('badge ok">online') == 2

            wait_for(both_online, timeout=120, interval=1, message="both worker queues online")

            # A worker killed as the OOM killer would is started again; the product stays up.
            def training_pids() -> set[int]:
                found = subprocess.run(
                    ["pgrep", "-s", str(proc.pid), "-f", "training@"], capture_output=True, text=True
                ).stdout.split()
                return {int(p) for p in found}

            killed = wait_for(training_pids, timeout=30, message="the training worker's processes")
            for pid in killed:
                os.kill(pid, signal.SIGKILL)
            wait_for(
                lambda: "training: restarting" in (tmp_path / "runall.log").read_text(),
                timeout=30,
                message="runall to restart the killed worker",
            )
            assert "training exited with code -9; restarting it in" in (tmp_path / "runall.log").read_text()
            wait_for(lambda: training_pids() - killed, timeout=30, message="a new training worker")
            assert proc.poll() is None, "make run must not stop when a worker dies"
            assert web.get("/login/").status_code == 200
    finally:
        os.killpg(proc.pid, signal.SIGINT)  # what Ctrl-C sends to the foreground process group
        try:
            code = proc.wait(timeout=40)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            raise
        log.close()
    assert code == 0, (tmp_path / "runall.log").read_text()[-3000:]
    assert "fineweb stopped." in (tmp_path / "runall.log").read_text()

    def session_empty():
        return (
            subprocess.run(["pgrep", "-s", str(proc.pid)], capture_output=True, text=True).stdout.strip()
            == ""
        )

    wait_for(session_empty, timeout=15, message="every child of make run to exit")
