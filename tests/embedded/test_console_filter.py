"""make run's terminal: warnings, errors and job status changes; the rest only in the log file."""

from __future__ import annotations

from fineweb.lib.console import ConsoleFilter


def test_info_lines_stay_off_the_terminal_and_warnings_errors_and_their_tracebacks_reach_it():
    console = ConsoleFilter()
    lines = [
        ("[2026-12-01 10:00:00,001: INFO/MainProcess] celery.beat: Scheduler: Sending due task", False),
        ("[2026-12-01 10:00:00,002: INFO/ForkPoolWorker-1] celery.app.trace: Task succeeded", False),
        (
            "[2026-12-01 10:00:01,000: ERROR/ForkPoolWorker-1] celery.app.trace: Task jobs.sync_job raised",
            True,
        ),
        ("Traceback (most recent call last):", True),
        ('  File "jobs/services.py", line 3, in job_sync', True),
        ("ValueError: boom", True),
        ("[2026-12-01 10:00:02,000: INFO/MainProcess] celery.worker: ready.", False),
        ("/x/site-packages/torch/init.py:5: UserWarning: something deprecated", True),
        ("  warnings.warn(", True),
        ("2026-12-01 10:00:03,000 WARNING django.request: Not Found: /nope", True),
        ("WARNING:  Invalid HTTP request received.", True),
        (
            "[2026-12-01 10:00:04,000: INFO/ForkPoolWorker-1] fineweb.console: Job #3: Queued -> Running",
            True,
        ),
    ]
    assert [(line, console.passes("worker", line)) for line, _ in lines] == lines


def test_progress_bars_go_to_the_file_only_even_when_celery_logs_them_as_warnings():
    console = ConsoleFilter()
    bar = (
        "[2026-12-01 10:00:00,000: WARNING/ForkPoolWorker-1] celery.redirected: Loading: 50%|#####     | 1/2"
    )
    assert not console.passes("training", bar)
    assert not console.passes("training", "Fetching 3 files: 100%|##########| 3/3 [00:00<00:00, 9.1it/s]")


def test_each_child_has_its_own_continuation():
    console = ConsoleFilter()
    assert console.passes("worker", "[2026-12-01 10:00:00,000: ERROR/MainProcess] x: broken")
    assert not console.passes("web", "INFO:     Started server process [12]")
    assert console.passes("worker", "  continued")
    assert not console.passes("web", "  continued")
