"""Pages under load: 20 concurrent clients against the real `make run` server on loopback.

Starts `manage.py runall` (what `make run` starts: uvicorn, the workers, beat) on a throwaway
SQLite data folder, fills it with the demo team's dataset and a finished job with a realistic
history (events, checkpoints, 300 metric points), logs in, and drives it with wrk (Debian's `wrk`):
first the three pages mixed for 60 s (the datasets list, a version page, a job page), then each
page alone, then the peer: a static file served by the same server, the floor of the stack.
Prints requests/s, p50, p95 and p99 latency, errors, and each page's p95 against the static file's.

    python benchmarks/bench_pages_load.py [--seconds 60] [--clients 20]

Bounded: every wrk run has a fixed duration; the server is stopped at the end.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
from pathlib import Path

from embedded import free_port, logged_in_client, wait_until_running

ROOT = Path(__file__).resolve().parent.parent
LUA = """
local paths = {%s}
local i = 0
request = function()
  i = i %% #paths + 1
  return wrk.format("GET", paths[i])
end
done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format("RESULT requests=%%d seconds=%%.2f non2xx=%%d socket=%%d p50=%%.1f p95=%%.1f p99=%%.1f\\n",
    summary.requests, summary.duration / 1e6, e.status, e.connect + e.read + e.write + e.timeout,
    latency:percentile(50) / 1000, latency:percentile(95) / 1000, latency:percentile(99) / 1000))
end
"""

SETUP = """
import numpy as np
from django.utils import timezone
from datasets_app.models import DatasetVersion
from jobs.models import Job, JobEvent, MetricPoint
from providers.models import Connection
version = DatasetVersion.objects.order_by("id").first()
team = version.dataset.team
conn = Connection.objects.filter(team=team).first()
job = Job.objects.create(team=team, dataset_version=version, connection=conn, base_model="SmolLM2-135M-Instruct",
    status="succeeded", provider_job_id="ftjob-bench", fine_tuned_model="ft:bench", finished_at=timezone.now())
steps = np.arange(1, 301)
loss = 2.5 * np.exp(-steps / 60) + 0.3
MetricPoint.objects.bulk_create([MetricPoint(job=job, step=int(s), train_loss=float(v), train_accuracy=0.5,
    valid_loss=float(v + 0.1) if s % 30 == 0 else None) for s, v in zip(steps, loss)])
Job.objects.filter(id=job.id).update(metrics_last_step=300)  # what jobs.metrics keeps as a sync stores points
JobEvent.objects.bulk_create([JobEvent(job=job, provider_event_id=f"ev-{i}", level="info",
    message=f"Step {i}/300: training loss={loss[i-1]:.3f}", created_at=timezone.now()) for i in range(1, 301)])
print(f"IDS dataset={version.dataset_id} version={version.number} job={job.id}")
"""


def wrk(base: str, paths: list[str], cookie: str, seconds: int, clients: int, lua_dir: Path) -> dict:
    script = lua_dir / f"load-{len(paths)}-{abs(hash(tuple(paths)))}.lua"
    script.write_text(LUA % ", ".join(f'"{p}"' for p in paths))
    out = subprocess.run(
        ["wrk", "-t", "2", "-c", str(clients), "-d", f"{seconds}s", "--timeout", "10s"]
        + ["-H", f"Cookie: {cookie}", "-s", str(script), base],
        capture_output=True,
        text=True,
        timeout=seconds + 60,
    ).stdout
    match = re.search(r"RESULT (.*)", out)
    if not match:
        raise RuntimeError(out)
    values = dict(item.split("=") for item in match.group(1).split())
    result = {k: float(v) for k, v in values.items()}
    result["rps"] = result["requests"] / result["seconds"]
    return result


def prepare_site(root: Path, prefix: str) -> tuple[dict, str, dict[str, str], Path]:
    """A throwaway data folder (SQLite) with the demo team and SETUP's dataset, version and job,
    migrated by ``root``'s manage.py: (environment, the owner's password, the three pages' paths,
    the folder)."""
    data = Path(tempfile.mkdtemp(prefix=prefix))
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "CELERY_BROKER_URL")}
    env.update(FINEWEB_DATA_DIR=str(data), PYTHONUNBUFFERED="1")
    manage = [sys.executable, "manage.py"]
    subprocess.run(manage + ["migrate", "--noinput", "-v", "0"], cwd=root, env=env, check=True)
    demo = subprocess.run(
        manage + ["bootstrap_demo"], cwd=root, env=env, check=True, capture_output=True, text=True
    )
    password = re.search(r"password=(\S+)", demo.stdout)
    made = subprocess.run(
        manage + ["shell", "-c", SETUP], cwd=root, env=env, check=True, capture_output=True, text=True
    )
    found = re.search(r"IDS (.*)", made.stdout)
    assert password is not None, "bootstrap_demo printed no password"
    assert found is not None, made.stdout
    ids = dict(pair.split("=") for pair in found.group(1).split())
    pages = {
        "datasets list": "/datasets/",
        "version page": f"/datasets/{ids['dataset']}/v/{ids['version']}/",
        "job page": f"/jobs/{ids['job']}/",
    }
    return env, password.group(1), pages, data


def line(label: str, r: dict, floor: dict | None = None) -> str:
    ratio = f"  p95 {r['p95'] / floor['p95']:5.1f}x the static file" if floor else ""
    return (
        f"{label:<28} {r['rps']:7.1f} req/s  p50 {r['p50']:7.1f} ms  p95 {r['p95']:7.1f} ms  "
        f"p99 {r['p99']:7.1f} ms  errors {int(r['non2xx'] + r['socket'])}{ratio}"
    )


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=int, default=60)
    parser.add_argument("--clients", type=int, default=20)
    args = parser.parse_args()
    if not shutil.which("wrk"):
        print("wrk is not installed (apt-get install wrk); skipping the load benchmark")
        return 0

    env, password, pages, data = prepare_site(ROOT, "fineweb-load-")
    manage = [sys.executable, "manage.py"]

    port = free_port()
    log = open(data / "runall.log", "wb")
    server = subprocess.Popen(
        manage + ["runall", "--port", str(port)],
        cwd=ROOT,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        stdin=subprocess.DEVNULL,
        start_new_session=True,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        if not wait_until_running(server, data / "runall.log", timeout=120):
            return 1
        with logged_in_client(base, password) as web:
            cookie = "; ".join(f"{k}={v}" for k, v in web.cookies.items())
            for path in pages.values():
                response = web.get(path)
                assert response.status_code == 200, (path, response.status_code)
            script = re.search(r'src="(/static/[^"]+\.js)"', web.get("/datasets/").text)
            assert script is not None, "no script on the datasets page"
            static = script.group(1)
        cores = os.cpu_count()
        print(
            f"{args.clients} clients, {args.seconds} s mixed + {args.seconds // 4} s per page, {cores} cores, SQLite"
        )
        # Warm up: every web process has started (runall says "running" once the first one
        # answers; the others may still be importing) and filled its caches.
        wrk(base, list(pages.values()), cookie, 15, args.clients, data)
        for path in pages.values():
            wrk(base, [path], cookie, 2, args.clients, data)
        mixed = wrk(base, list(pages.values()), cookie, args.seconds, args.clients, data)
        floor = wrk(base, [static], cookie, max(5, args.seconds // 4), args.clients, data)
        print(line("3 pages mixed", mixed, floor))
        for name, path in pages.items():
            print(line(name, wrk(base, [path], cookie, max(5, args.seconds // 4), args.clients, data), floor))
        print(line("peer: a static file", floor))
    finally:
        os.killpg(server.pid, signal.SIGINT)
        try:
            server.wait(timeout=40)
        except subprocess.TimeoutExpired:
            os.killpg(server.pid, signal.SIGKILL)
        log.close()
        shutil.rmtree(data, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
