from __future__ import annotations

from celery import shared_task

from evaluation import services


@shared_task(name="evaluation.run_evaluation")
def run_evaluation_task(run_id: int) -> None:
    """Send a run's missing calls, judge, summarize (resumable; see services.run_execute)."""
    services.run_execute(run_id=run_id)


@shared_task(name="evaluation.resume_stalled_runs")
def resume_stalled_runs_task() -> None:
    """Beat: runs whose worker stopped reporting go to another worker."""
    services.runs_resume_stalled()
