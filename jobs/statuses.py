"""A provider's job status (providers/base.py's vocabulary) as a fineweb job status: the one map.

Each adapter maps its provider's own statuses onto providers/base.py's; this maps those onto
`Job.Status`. "unknown" (a status the adapter doesn't know) maps to None and each caller says
what that means: a submit or an import keeps the job polled as queued, a sync changes nothing.
"""

from __future__ import annotations

import logging

from jobs.models import Job
from providers import base

_FROM_PROVIDER = {
    base.VALIDATING_FILES: Job.Status.VALIDATING_FILES,
    base.QUEUED: Job.Status.QUEUED,
    base.RUNNING: Job.Status.RUNNING,
    base.SUCCEEDED: Job.Status.SUCCEEDED,
    base.FAILED: Job.Status.FAILED,
    base.CANCELLED: Job.Status.CANCELLED,
}

# One line per status change on `make run`'s console (runall lets this logger through).
console = logging.getLogger("fineweb.console")


def job_status_from_provider(status: str) -> Job.Status | None:
    """The job status for an adapter's status; None for "unknown"."""
    return _FROM_PROVIDER.get(status)


def job_status_log(*, job_id: int, old: str, new: str) -> None:
    """Say a job's status change on the console (nothing when it did not change)."""
    if old != new:
        console.info("Job #%s: %s -> %s", job_id, Job.Status(old).label, Job.Status(new).label)
