"""runall's supervisor restarts a child that exits, with a pause that doubles on quick failures."""

from __future__ import annotations

import os
import sys

from fineweb.lib.supervisor import Supervisor


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def _exited(supervisor: Supervisor, name: str) -> None:
    process = supervisor.children[name].process
    assert process is not None
    process.wait(timeout=30)


def test_a_child_that_keeps_failing_is_restarted_with_a_growing_pause_then_reset_when_stable():
    clock = Clock()
    lines: list[str] = []
    crash = [sys.executable, "-c", "import sys; sys.exit(3)"]
    supervisor = Supervisor(
        commands={"worker": crash}, env=dict(os.environ), say=lines.append, clock=clock, max_backoff=4
    )
    supervisor.start()
    first = supervisor.children["worker"].process
    pauses = []
    for _ in range(4):
        _exited(supervisor, "worker")
        supervisor.poll()
        pauses.append(supervisor.children["worker"].delay)
        supervisor.poll()  # the pause is not over: nothing is started
        assert supervisor.children["worker"].restart_at is not None
        clock.now += supervisor.children["worker"].delay
        supervisor.poll()
    assert pauses == [1, 2, 4, 4]
    assert supervisor.children["worker"].restarts == 4
    assert supervisor.children["worker"].process is not first
    assert lines[0] == "worker exited with code 3; restarting it in 1 s."
    assert lines[1] == "worker: restarting (restart 1)."

    # Once it has run for longer than stable_after, the next failure starts again at 1 s.
    clock.now += supervisor.stable_after + 1
    _exited(supervisor, "worker")
    supervisor.poll()
    assert supervisor.children["worker"].delay == 1
    supervisor.stop()


def test_stop_ends_a_running_child():
    supervisor = Supervisor(
        commands={"sleeper": [sys.executable, "-c", "import time; time.sleep(60)"]},
        env=dict(os.environ),
        say=lambda line: None,
    )
    supervisor.start()
    supervisor.poll()
    process = supervisor.children["sleeper"].process
    assert process is not None and process.poll() is None
    supervisor.stop(timeout=10)
    assert process.poll() is not None
