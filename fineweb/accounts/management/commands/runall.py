"""Start the web server and the Celery workers (with beat) in one foreground process group.

Ctrl-C (SIGINT) or SIGTERM stops every child cleanly. A child that dies is started again after a
pause that grows on quick repeated failures (`fineweb.lib.supervisor`), so one crashed worker never
stops the product.
"""

from __future__ import annotations

import os
import signal
import socket
import sys
import time

from django.conf import settings
from django.core.management.base import BaseCommand

from fineweb.lib.supervisor import Supervisor


def _answers(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=0.5):
            return True
    except OSError:
        return False


class Command(BaseCommand):
    help = "Run uvicorn, a Celery worker with beat (default queue) and a training worker."

    def add_arguments(self, parser):
        parser.add_argument("--port", type=int, default=settings.RUNALL_PORT)
        parser.add_argument("--host", default=settings.RUNALL_HOST)

    def handle(self, *args, port: int, host: str, **options):
        python = sys.executable
        env = dict(os.environ, PYTHONUNBUFFERED="1")
        celery = [python, "-m", "celery", "-A", "fineweb", "--quiet", "worker", "--loglevel", "INFO"]
        commands = {
            "web": [python, "-m", "uvicorn", "fineweb.asgi:application", "--host", host, "--port", str(port)]
            + ["--workers", str(settings.RUNALL_WEB_WORKERS), "--log-level", "warning"],
            "worker": celery
            + ["-B", "-Q", "default", "-c", "2", "-n", "default@%h"]
            + ["-s", settings.CELERY_BEAT_SCHEDULE_FILENAME],
            "training": celery + ["-Q", "training", "-c", "1", "-n", "training@%h"],
        }
        supervisor = Supervisor(commands=commands, env=env, say=self._say)
        stopping = False

        def stop(*_):
            nonlocal stopping
            stopping = True

        signal.signal(signal.SIGINT, stop)
        signal.signal(signal.SIGTERM, stop)
        supervisor.start()
        # Say hello on both queues at once, so the home page shows the workers online without
        # waiting for beat's first 30-second tick.
        from fineweb.accounts.tasks import heartbeat

        heartbeat.apply_async(args=("default",), queue="default")
        heartbeat.apply_async(args=("training",), queue="training")
        url = f"http://{host}:{port}/"
        announced = False
        try:
            while not stopping:
                if not announced and _answers(host, port):
                    # Last on the screen, below the workers' start-up lines, where a new user looks.
                    self.stdout.write(
                        f"\nfineweb is running at {url}  (log in as owner; Ctrl-C stops everything)\n"
                    )
                    self.stdout.flush()
                    announced = True
                supervisor.poll()
                time.sleep(0.5)
        finally:
            supervisor.stop()
        self.stdout.write("fineweb stopped.")

    def _say(self, line: str) -> None:
        self.stderr.write(line)
        self.stderr.flush()
