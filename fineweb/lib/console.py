"""Which lines of `make run`'s children reach the terminal; every line goes to the log file.

The terminal keeps warnings and errors (with the lines that follow them, such as a traceback),
and the `fineweb.console` logger's lines (one per job status change). The workers' INFO lines
(beat every few seconds, heartbeats, syncs) and progress bars (the model conversion's tqdm bars)
go to the log file only.
"""

from __future__ import annotations

import re

# Where a log record starts: Celery's "[2026-01-01 10:00:00,123: INFO/MainProcess]", Django's
# "2026-01-01 10:00:00,123 INFO name: ...", uvicorn's "INFO:     ...", Python's warnings
# ("/path/file.py:12: UserWarning: ...").
_RECORD_START = re.compile(r"^(\[\d{4}-\d\d-\d\d |\d{4}-\d\d-\d\d \d\d:|[A-Z]+: |\S+:\d+: \w*Warning: )")
_LOUD = re.compile(r"\b(WARNING|ERROR|CRITICAL)\b|\b\w+Warning: |^Traceback \(most recent call last\)")
_PROGRESS_BAR = re.compile(r"\d+%\|| \d+(\.\d+)?(it/s|s/it)\]")
CONSOLE_LOGGER = "fineweb.console"


class ConsoleFilter:
    """Decides line by line, per child: a record's verdict holds for the lines it continues on."""

    def __init__(self) -> None:
        self._passing: dict[str, bool] = {}

    def passes(self, child: str, line: str) -> bool:
        if _PROGRESS_BAR.search(line):
            return False
        if f"{CONSOLE_LOGGER}: " in line:
            verdict = True
        elif _RECORD_START.match(line) or line.startswith("Traceback"):
            verdict = bool(_LOUD.search(line))
        else:
            return self._passing.get(child, False) and bool(line.strip())
        self._passing[child] = verdict
        return verdict
