"""Keep a few child processes running: restart one that exits, with a growing pause.

`make run` (the `runall` command) owns the web server and the Celery workers. A worker that dies
(killed by the OOM killer, a bug, a broker hiccup) must not take the product down: it is started
again after `backoff` seconds, doubled on each quick failure up to `max_backoff`, and reset once the
process has stayed up for `stable_after` seconds. Each exit and restart is one log line.

With `output`, each child's stdout and stderr are piped and every line it writes (without its
newline) is handed to `output(name, line)` from a reader thread, one child's lines in order.
"""

from __future__ import annotations

import signal
import subprocess
import threading
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
    reader: threading.Thread | None = None


@dataclass
class Supervisor:
    commands: Mapping[str, Sequence[str]]
    env: Mapping[str, str]
    say: Callable[[str], None]
    backoff: float = 1.0
    max_backoff: float = 60.0
    stable_after: float = 60.0
    clock: Callable[[], float] = time.monotonic
    output: Callable[[str, str], None] | None = None
    children: dict[str, Child] = field(default_factory=dict)

    def start(self) -> None:
        for name, command in self.commands.items():
            child = Child(name, command)
            self.children[name] = child
            self._spawn(child)

    def _spawn(self, child: Child) -> None:
        if self.output is None:
            child.process = subprocess.Popen(list(child.command), env=dict(self.env))
        else:
            child.process = subprocess.Popen(
                list(child.command), env=dict(self.env), stdout=subprocess.PIPE, stderr=subprocess.STDOUT
            )
            child.reader = threading.Thread(
                target=self._read, args=(child.name, child.process.stdout), daemon=True
            )
            child.reader.start()
        child.started_at = self.clock()
        child.restart_at = None

    def _read(self, name: str, stream) -> None:
        assert self.output is not None
        for raw in stream:  # ends when every process holding the pipe (pool children too) is gone
            self.output(name, raw.decode(errors="replace").rstrip("\r\n"))

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
        for child in self.children.values():
            if child.reader is not None:
                child.reader.join(timeout=2)  # the last lines of output, written before we return
