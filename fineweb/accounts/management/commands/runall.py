"""Start the web server and the Celery workers (with beat) in one foreground process group.

Ctrl-C (SIGINT) or SIGTERM stops every child cleanly. A child that dies is started again after a
pause that grows on quick repeated failures (`fineweb.lib.supervisor`), so one crashed worker never
stops the product.

The terminal stays quiet: every line the children write goes to `DATA_DIR/logs/fineweb.log`
(named once at start-up), and only warnings, errors, restarts and one line per job status change
are copied to the terminal (`fineweb.lib.console`).
"""

from __future__ import annotations

import http.client
import logging
import os
import signal
import sys
import threading
import time
from collections.abc import Callable

from django.conf import settings
from django.core.management.base import BaseCommand

from fineweb.lib.console import CONSOLE_LOGGER, ConsoleFilter
from fineweb.lib.supervisor import Supervisor


def _serves(host: str, port: int, timeout: float = 10) -> bool:
    """Whether the web server answers an HTTP request. A port that accepts connections is not
    enough: uvicorn with several workers binds it in its parent while the workers are still
    loading Django (10 s and more on a busy machine), and a URL announced then hangs in the browser."""
    connection = http.client.HTTPConnection(host, port, timeout=timeout)
    try:
        connection.request("GET", "/favicon.ico")
        connection.getresponse().read()
        return True
    except (OSError, http.client.HTTPException):
        return False
    finally:
        connection.close()


class _Relay(logging.Handler):
    """A logging handler that hands each formatted record to `write`."""

    def __init__(self, write: Callable[[str], None]) -> None:
        super().__init__()
        self.write = write

    def emit(self, record: logging.LogRecord) -> None:
        self.write(self.format(record))


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
        log_path = settings.DATA_DIR / "logs" / "fineweb.log"
        log_path.parent.mkdir(parents=True, exist_ok=True)
        self._log = open(log_path, "a", buffering=1, encoding="utf-8")  # noqa: SIM115 (open until the end)
        self._lock = threading.Lock()
        self._filter = ConsoleFilter()
        self._tell(f"Logs of the web server and workers: {log_path}")
        # runall's own log records (kombu's, while it sends the first heartbeats) take the same way.
        relay = _Relay(lambda line: self._child_output("runall", line))
        relay.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
        logging.getLogger().handlers = [relay]
        supervisor = Supervisor(commands=commands, env=env, say=self._say, output=self._child_output)
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

        def announce() -> None:
            # In a thread of its own: a request waits while the web workers load, and the
            # supervisor must not wait with it.
            while not stopping and not _serves(host, port):
                time.sleep(0.5)
            if not stopping:
                # Last on the screen, below the workers' start-up lines, where a new user looks.
                self._tell(f"\nfineweb is running at {url}  (log in as owner; Ctrl-C stops everything)\n")

        threading.Thread(target=announce, name="announce", daemon=True).start()
        try:
            while not stopping:
                supervisor.poll()
                time.sleep(0.5)
        finally:
            supervisor.stop()
        self._tell("fineweb stopped.")
        self._log.close()

    def _tell(self, line: str) -> None:
        """A line of our own: on the terminal and in the log file."""
        with self._lock:
            self._log.write(line.strip("\n") + "\n")
            self.stdout.write(line)
            self.stdout.flush()

    def _say(self, line: str) -> None:
        with self._lock:
            self._log.write(f"runall | {line}\n")
            self.stderr.write(line)
            self.stderr.flush()

    def _child_output(self, name: str, line: str) -> None:
        with self._lock:
            self._log.write(f"{name} | {line}\n")
            if not self._filter.passes(name, line):
                return
            _, marker, message = line.partition(f"{CONSOLE_LOGGER}: ")
            self.stdout.write(f"{time.strftime('%H:%M:%S')} {message}" if marker else f"{name}: {line}")
            self.stdout.flush()
