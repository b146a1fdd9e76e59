"""The lease on a local job: which process trains it and when it last said so.

A worker that dies leaves a lease that goes stale (no heartbeat for FINEWEB_LOCAL_LEASE_SECONDS)
or, on the same host, one whose process no longer exists; either way another worker may take the
job over (see `localtuner.training`).
"""

from __future__ import annotations

import logging
import os
import secrets
import socket
import threading
from datetime import timedelta
from pathlib import Path

from django.conf import settings
from django.db import close_old_connections, connection
from django.utils import timezone

from localtuner.models import LocalJob

log = logging.getLogger(__name__)
HEARTBEAT_EVERY_S = 5.0


def owner_id() -> str:
    return f"{socket.gethostname()}:{os.getpid()}:{secrets.token_hex(4)}"


def _pid_alive(pid: int) -> bool:
    """Whether process `pid` runs. A zombie does not: a SIGKILLed pool process whose parent died
    too waits for PID 1 to reap it, which in a container may take long or never happen."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return True  # no /proc (not Linux): signal 0 is all we can know
    state = stat.rsplit(")", 1)[-1].split()[:1]
    return state not in (["Z"], ["X"])


def lease_is_dead(job: LocalJob) -> bool:
    """True when nobody is working on `job` any more: no owner, a stale heartbeat, or an owner
    process on this host that no longer exists (a SIGKILLed worker is noticed at once)."""
    if not job.lease_owner:
        return True
    stale_before = timezone.now() - timedelta(seconds=settings.FINEWEB_LOCAL_LEASE_SECONDS)
    if job.heartbeat_at is None or job.heartbeat_at < stale_before:
        return True
    host, _, rest = job.lease_owner.partition(":")
    pid = rest.partition(":")[0]
    return host == socket.gethostname() and pid.isdigit() and not _pid_alive(int(pid))


class Heartbeat:
    """Refresh the job's lease every few seconds from a thread while the worker holds it."""

    def __init__(self, job_pk: int, owner: str):
        self.job_pk, self.owner = job_pk, owner
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name=f"heartbeat-{job_pk}", daemon=True)

    def _run(self) -> None:
        try:
            while not self._stop.wait(HEARTBEAT_EVERY_S):
                try:
                    LocalJob.objects.filter(pk=self.job_pk, lease_owner=self.owner).update(
                        heartbeat_at=timezone.now()
                    )
                except Exception:  # a database hiccup must not kill training; the next beat retries
                    log.warning("heartbeat for local job %s failed", self.job_pk, exc_info=True)
                    close_old_connections()
        finally:
            connection.close()

    def __enter__(self) -> Heartbeat:
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join(timeout=30)
