"""Keep a few child processes running: restart one that exits, with a growing pause.

`make run` (the `runall` command) owns the web server and the Celery workers. A worker that dies
(killed by the OOM killer, a bug, a broker hiccup) must not take the product down: it is started
again after `backoff` seconds, doubled on each quick failure up to `max_backoff`, and reset once the
process has stayed up for `stable_after` seconds. Each exit and restart is one log line.
"""

from __future__ import annotations

import signal
import subprocess
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field


@dataclass
class Child:
    name: str
    command: Sequence[str]
    process: subprocess.Popen | None = None
    started_at: float = 0.0
    restarts: int = 0
    delay: float = 0.0
    restart_at: float | None = None


@dataclass
class Supervisor:
    commands: Mapping[str, Sequence[str]]
    env: Mapping[str, str]
    say: Callable[[str], None]
    backoff: float = 1.0
    max_backoff: float = 60.0
    stable_after: float = 60.0
    clock: Callable[[], float] = time.monotonic
    children: dict[str, Child] = field(default_factory=dict)

    def start(self) -> None:
        for name, command in self.commands.items():
            child = Child(name, command)
            self.children[name] = child
            self._spawn(child)

    def _spawn(self, child: Child) -> None:
        child.process = subprocess.Popen(list(child.command), env=dict(self.env))
        child.started_at = self.clock()
        child.restart_at = None

    def poll(self) -> None:
        """Notice exited children and restart those whose pause is over. Call this often."""
        now = self.clock()
        for child in self.children.values():
            if child.restart_at is not None:
                if now >= child.restart_at:
                    child.restarts += 1
                    self.say(f"{child.name}: restarting (restart {child.restarts}).")
                    self._spawn(child)
                continue
            assert child.process is not None
            code = child.process.poll()
            if code is None:
                continue
            if now - child.started_at >= self.stable_after:
                child.delay = 0.0  # it ran well for a while: this is a new failure, not a loop
            child.delay = min(self.max_backoff, child.delay * 2 if child.delay else self.backoff)
            child.restart_at = now + child.delay
            self.say(f"{child.name} exited with code {code}; restarting it in {child.delay:g} s.")

    def stop(self, timeout: float = 20.0) -> None:
        running = [c.process for c in self.children.values() if c.process and c.process.poll() is None]
        for process in running:
            process.send_signal(signal.SIGTERM)
        deadline = self.clock() + timeout
        for process in running:
            try:
                process.wait(timeout=max(0.1, deadline - self.clock()))
            except subprocess.TimeoutExpired:
                process.kill()
