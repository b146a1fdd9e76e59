"""The embedded default, as `make run` starts it: SQLite + filesystem broker, no server needed."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import time
from pathlib import Path

import httpx
import pytest

from tests import processes
from tests.matching import search
from tests.processes import free_port, manage, runall_start, runall_stop, wait_for


@pytest.fixture
def embedded_env(tmp_path):
    return processes.embedded_env(tmp_path / "data")


@pytest.mark.worker
def test_make_run_starts_web_and_workers_on_sqlite_and_stops_cleanly_on_ctrl_c(embedded_env, tmp_path):
    manage(embedded_env, "migrate", "--noinput", "-v", "0")
    first = manage(embedded_env, "bootstrap_demo")
    password = search(r"LOGIN username=owner password=(\S+)", first).group(1)
    second = manage(embedded_env, "bootstrap_demo")
    assert "password=" not in second, "the password is printed once only"
    assert (Path(embedded_env["FINEWEB_DATA_DIR"]) / "fineweb.sqlite3").exists()

    port = free_port()
    proc = runall_start(embedded_env, port, tmp_path / "runall.log")
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
        code = runall_stop(proc)  # what Ctrl-C sends to the foreground process group
    assert code == 0, (tmp_path / "runall.log").read_text()[-3000:]
    assert "fineweb stopped." in (tmp_path / "runall.log").read_text()

    def session_empty():
        return (
            subprocess.run(["pgrep", "-s", str(proc.pid)], capture_output=True, text=True).stdout.strip()
            == ""
        )

    wait_for(session_empty, timeout=15, message="every child of make run to exit")


@pytest.mark.worker
def test_make_run_keeps_the_terminal_quiet_and_writes_everything_to_the_log_file(embedded_env, tmp_path):
    manage(embedded_env, "migrate", "--noinput", "-v", "0")
    port = free_port()
    console = tmp_path / "runall.log"
    log_file = Path(embedded_env["FINEWEB_DATA_DIR"]) / "logs" / "fineweb.log"
    proc = runall_start(embedded_env, port, console)
    try:
        wait_for(lambda: "running at" in console.read_text(), timeout=90, message="the web server")
        # Let the start-up settle (both workers ready: start-up warnings come before), then watch
        # ~20 s of idling, beat ticking every 5 s.
        wait_for(
            lambda: re.search(r"default@\S+ ready", log_file.read_text())
            and re.search(r"training@\S+ ready", log_file.read_text()),
            timeout=90,
            message="both workers ready",
        )
        before_console, before_log = console.read_text(), log_file.read_text()
        time.sleep(20)
        gained_console = console.read_text()[len(before_console) :]
        gained_log = log_file.read_text()[len(before_log) :]
    finally:
        code = runall_stop(proc)
    text = console.read_text()
    assert code == 0, text[-3000:]
    assert text.count(f"Logs of the web server and workers: {log_file}") == 1, text
    assert gained_console == "", gained_console
    assert "INFO" not in text, text  # no worker or beat INFO line at start-up either
    assert "Scheduler: Sending due task" in gained_log and "INFO" in gained_log, gained_log[-2000:]
