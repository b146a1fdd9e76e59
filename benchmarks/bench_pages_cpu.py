"""Server CPU time per page request: what a page costs the web process, however loaded the machine.

One uvicorn process of fineweb's ASGI app (what `make run` starts per core) on a throwaway SQLite
data folder, filled like bench_pages_load.py (the demo team's dataset, a finished job with 300
events and 300 metric points), driven by wrk with 4 clients for a few seconds per page; the
process's own CPU time (utime + stime from /proc) over that run, divided by the requests it
answered. Latency on a shared machine moves with the other work on it; this number moves much
less, so it compares two versions of the code in one run. The peer: a static file, the floor of
the stack (middleware, handler, uvicorn).

    python benchmarks/bench_pages_cpu.py [--rounds 2] [--seconds 6] [--compare /path/to/other/checkout]

`--compare` measures another checkout the same way in the same run, rounds alternating.
Bounded: every wrk run has a fixed duration; each server is stopped after its round.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
from bench_pages_load import prepare_site, wrk
from embedded import free_port, logged_in_client

ROOT = Path(__file__).resolve().parent.parent


def _cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _round(
    root: Path, env: dict, password: str, pages: dict[str, str], data: Path, seconds: int
) -> dict[str, float]:
    port = free_port()
    server = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "uvicorn",
            "fineweb.asgi:application",
            "--port",
            str(port),
            "--log-level",
            "warning",
        ],
        cwd=root,
        env=env,
        start_new_session=True,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        for _ in range(300):
            try:
                httpx.get(base + "/login/", timeout=5)
                break
            except httpx.HTTPError:
                time.sleep(0.2)
        with logged_in_client(base, password) as web:
            cookie = "; ".join(f"{k}={v}" for k, v in web.cookies.items())
            for path in pages.values():
                assert web.get(path).status_code == 200, path
            script = re.search(r'src="(/static/[^"]+\.js)"', web.get("/datasets/").text)
            assert script is not None, "no script on the datasets page"
        measured = {}
        for name, path in {**pages, "peer: a static file": script.group(1)}.items():
            wrk(base, [path], cookie, 2, 4, data)  # warm: templates, connections, kept fragments
            before = _cpu_seconds(server.pid)
            result = wrk(base, [path], cookie, seconds, 4, data)
            measured[name] = (_cpu_seconds(server.pid) - before) / max(result["requests"], 1) * 1000
            if result["non2xx"] or result["socket"]:
                print(f"  {name}: {int(result['non2xx'])} non-2xx, {int(result['socket'])} socket errors")
        return measured
    finally:
        os.killpg(server.pid, signal.SIGINT)
        try:
            server.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(server.pid, signal.SIGKILL)


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--seconds", type=int, default=6)
    parser.add_argument("--compare", type=Path, help="another checkout, measured in the same run")
    args = parser.parse_args()
    if not shutil.which("wrk") or not Path("/proc/self/stat").exists():
        print("wrk or /proc is missing (Linux, apt-get install wrk); skipping the CPU-per-request benchmark")
        return 0
    trees = [ROOT] + ([args.compare.resolve()] if args.compare else [])
    prepared = {tree: prepare_site(tree, "fineweb-cpu-") for tree in trees}
    print(f"load average before: {open('/proc/loadavg').read().split()[:3]}")
    results: dict[tuple[Path, str], list[float]] = {}
    for _ in range(args.rounds):
        for tree in trees:
            env, password, pages, data = prepared[tree]
            for name, ms in _round(tree, env, password, pages, data, args.seconds).items():
                results.setdefault((tree, name), []).append(ms)
    print(f"load average after: {open('/proc/loadavg').read().split()[:3]}")
    print(
        f"server CPU per request, one uvicorn process, 4 clients, {args.seconds} s a page, {args.rounds} rounds"
    )
    for tree in trees:
        print(f"{tree}:")
        floor = min(results[(tree, "peer: a static file")])
        for name in ("datasets list", "version page", "job page", "peer: a static file"):
            values = results[(tree, name)]
            ratio = f"  {min(values) / floor:4.1f}x the static file" if name != "peer: a static file" else ""
            print(f"  {name:<22} " + " ".join(f"{v:6.2f}" for v in values) + f" ms{ratio}")
    for _, _, _, data in prepared.values():
        shutil.rmtree(data, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
