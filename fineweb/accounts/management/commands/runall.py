"""Start the web server and the Celery workers (with beat) in one foreground process group.

Ctrl-C (SIGINT) or SIGTERM stops every child cleanly; if one child dies, the rest are stopped too,
so `make run` never leaves half a system running.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

from django.conf import settings
from django.core.management.base import BaseCommand


class Command(BaseCommand):
    help = "Run uvicorn, a Celery worker with beat (default queue) and a training worker."

    def add_arguments(self, parser):
        parser.add_argument("--port", type=int, default=int(os.environ.get("PORT", "8000")))
        parser.add_argument("--host", default=os.environ.get("HOST", "127.0.0.1"))

    def handle(self, *args, port: int, host: str, **options):
        python = sys.executable
        data = settings.DATA_DIR
        env = dict(os.environ, PYTHONUNBUFFERED="1")
        commands = {
            "web": [
                python,
                "-m",
                "uvicorn",
                "fineweb.asgi:application",
                "--host",
                host,
                "--port",
                str(port),
                "--log-level",
                "warning",
            ],
            "worker": [
                python,
                "-m",
                "celery",
                "-A",
                "fineweb",
                "worker",
                "-B",
                "-Q",
                "default",
                "-c",
                "2",
                "-n",
                "default@%h",
                "--loglevel",
                "INFO",
                "-s",
                str(data / "celerybeat-schedule"),
            ],
            "training": [
                python,
                "-m",
                "celery",
                "-A",
                "fineweb",
                "worker",
                "-Q",
                "training",
                "-c",
                "1",
                "-n",
                "training@%h",
                "--loglevel",
                "INFO",
            ],
        }
        children: dict[str, subprocess.Popen] = {}
        stopping = False

        def stop(*_):
            nonlocal stopping
            stopping = True

        signal.signal(signal.SIGINT, stop)
        signal.signal(signal.SIGTERM, stop)
        for name, cmd in commands.items():
            children[name] = subprocess.Popen(cmd, env=env)
        # Say hello on both queues at once, so the home page shows the workers online without
        # waiting for beat's first 30-second tick.
        from fineweb.accounts.tasks import heartbeat

        heartbeat.apply_async(args=("default",), queue="default")
        heartbeat.apply_async(args=("training",), queue="training")
        self.stdout.write(f"fineweb is running at http://{host}:{port}/  (Ctrl-C stops everything)")
        self.stdout.flush()
        try:
            while not stopping:
                for name, child in children.items():
                    if child.poll() is not None:
                        self.stderr.write(f"{name} exited with code {child.returncode}; stopping the rest.")
                        stopping = True
                time.sleep(0.5)
        finally:
            for child in children.values():
                if child.poll() is None:
                    child.send_signal(signal.SIGTERM)
            deadline = time.monotonic() + 20
            for child in children.values():
                try:
                    child.wait(timeout=max(0.1, deadline - time.monotonic()))
                except subprocess.TimeoutExpired:
                    child.kill()
        self.stdout.write("fineweb stopped.")
