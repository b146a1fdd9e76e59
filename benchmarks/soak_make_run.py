"""Soak the embedded default: the real `make run` under a bounded upload load for ten minutes.

Every upload goes through the Celery task (FINEWEB_DATASET_INLINE_VALIDATE_BYTES=0), so the web
server publishes and the default worker consumes on the filesystem broker all along, while beat
sends its heartbeats and syncs. At the end it reports how many processes runall had to restart and
how many validation tasks were lost (a version still "validating" two minutes after the load).
Both should be zero.

    make soak                                   # 10 minutes
    .venv/bin/python benchmarks/soak_make_run.py --minutes 2 --every 1
"""

from __future__ import annotations

import argparse
import os
import re
import signal
import sqlite3
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx
from embedded import free_port, logged_in_client, wait_until_running

ROOT = Path(__file__).resolve().parent.parent
SAMPLE = ROOT / "datasets_app" / "samples" / "support_german.jsonl"


def statuses(db: Path) -> dict[str, int]:
    with sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=30) as conn:
        rows = conn.execute("SELECT status, count(*) FROM datasets_app_datasetversion GROUP BY status")
        return dict(rows.fetchall())


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--minutes", type=float, default=10.0)
    parser.add_argument("--every", type=float, default=2.0, help="seconds between uploads")
    parser.add_argument("--max-uploads", type=int, default=400)
    args = parser.parse_args()

    data = Path(tempfile.mkdtemp(prefix="fineweb-soak-"))
    port = free_port()
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "CELERY_BROKER_URL")}
    env.update(
        FINEWEB_DATA_DIR=str(data),
        FINEWEB_DATASET_INLINE_VALIDATE_BYTES="0",
        PORT=str(port),
        PYTHONUNBUFFERED="1",
    )
    log_path = data / "make-run.log"
    log = open(log_path, "wb")
    proc = subprocess.Popen(
        ["make", "run", f"PORT={port}"],
        cwd=ROOT,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        stdin=subprocess.DEVNULL,
        start_new_session=True,
    )
    base = f"http://127.0.0.1:{port}"
    uploads = failed_requests = 0
    alive_at_end = False
    final: dict[str, int] = {}
    started = time.monotonic()
    try:
        if not wait_until_running(proc, log_path, timeout=300):
            return 1
        found = re.search(r"password=(\S+)", log_path.read_text(errors="replace"))
        assert found is not None, "bootstrap_demo printed no password"
        password = found.group(1)
        with logged_in_client(base, password) as web:
            content = SAMPLE.read_bytes()
            end = time.monotonic() + args.minutes * 60
            while time.monotonic() < end and uploads < args.max_uploads:
                tick = time.monotonic()
                try:
                    page = web.get("/datasets/upload/")
                    response = web.post(
                        "/datasets/upload/",
                        data={
                            "name": f"soak {uploads}",
                            "method": "supervised",
                            "target_model": "gpt-4o-mini-2024-07-18",
                            "csrfmiddlewaretoken": web.cookies["csrftoken"],
                        },
                        files={"file": (f"soak-{uploads}.jsonl", content, "application/jsonl")},
                        headers={"Referer": f"{base}/datasets/upload/"},
                    )
                    if page.status_code != 200 or response.status_code not in (200, 302):
                        failed_requests += 1
                    uploads += 1
                    web.get("/")
                except httpx.HTTPError:
                    failed_requests += 1
                if proc.poll() is not None:
                    print("make run stopped during the soak")
                    break
                time.sleep(max(0.0, args.every - (time.monotonic() - tick)))
        db = data / "fineweb.sqlite3"
        drain_deadline = time.monotonic() + 120
        while statuses(db).get("validating", 0) and time.monotonic() < drain_deadline:
            time.sleep(2)
        final = statuses(db)
    finally:
        alive_at_end = proc.poll() is None
        if alive_at_end:
            os.killpg(proc.pid, signal.SIGINT)
            try:
                proc.wait(timeout=60)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
        log.close()
    text = log_path.read_text(errors="replace")
    restarts = text.count(": restarting (restart")
    lost = final.get("validating", 0)
    print(f"soak: {time.monotonic() - started:.0f} s of make run, {uploads} uploads through the broker")
    print(f"  versions by status: {final}")
    print(f"  lost validation tasks: {lost}")
    print(f"  process restarts by runall: {restarts}")
    print(f"  failed requests: {failed_requests}")
    print(f"  make run still up at the end: {'yes' if alive_at_end else 'no'}")
    print(f"  log: {log_path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
