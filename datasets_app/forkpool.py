"""Run one function over a list of tasks in forked child processes; results come back in order.

Why not a library pool: multiprocessing.Pool and concurrent.futures.ProcessPoolExecutor (fork or
forkserver) refuse to start children inside a daemonic process, and every Celery prefork child
is one ("daemonic processes are not allowed to have children"). billiard's Pool works there, but
closing it waits for its supervisor thread to wake up: 0.8-1.0 s per pool, measured, against a
few milliseconds for this. The children are plain os.fork() copies: they start with the parent's
memory (a loaded tokenizer, the task list), so only task numbers and results cross the pipes.

Only fork from a process without other threads: a thread could hold a lock that the child
would inherit locked forever.
"""

from __future__ import annotations

import contextlib
import os
import signal
import traceback
from collections.abc import Callable, Iterator, Sequence
from multiprocessing.connection import Connection, Pipe, wait
from typing import Any, cast


class WorkerError(RuntimeError):
    """A child process failed: its task raised (the message holds the child's traceback), or it
    died before answering."""


class ForkPool:
    """`with ForkPool(func, tasks, processes) as pool: for result in pool.results(): ...`

    Each child takes the next task as soon as it is free, so a slow chunk does not hold the
    others up. Leaving the `with` block, normally or on an exception (a task error, a Celery
    time limit), stops and reaps every child.
    """

    def __init__(self, func: Callable[[Any], Any], tasks: Sequence[Any], processes: int):
        self._func = func
        self._tasks = tasks
        self._children: dict[Connection, int] = {}  # our end of each child's pipe -> its pid
        self._next_task = 0
        try:
            for _ in range(max(1, min(processes, len(tasks)))):
                self._start_child()
        except BaseException as exc:  # fork failed (out of memory, process limit): stop the others
            self.__exit__(type(exc), exc, exc.__traceback__)
            raise

    def _start_child(self) -> None:
        ours, theirs = Pipe()
        pid = os.fork()
        if pid == 0:  # the child: never returns into the caller's code
            status = 1
            try:
                ours.close()
                for other in self._children:
                    other.close()
                self._serve(theirs)
                status = 0
            finally:
                os._exit(status)
        theirs.close()  # so that the child's death reads as end-of-file on `ours`
        self._children[ours] = pid

    def _serve(self, conn: Connection) -> None:
        signal.signal(signal.SIGINT, signal.SIG_DFL)  # Ctrl-C: the parent reports, children just stop
        while True:
            try:
                index = conn.recv()
            except EOFError:
                return
            if index is None:
                return
            try:
                conn.send((index, True, self._func(self._tasks[index])))
            except Exception:
                conn.send((index, False, traceback.format_exc()))

    def _send_next(self, conn: Connection) -> bool:
        if self._next_task >= len(self._tasks):
            return False
        conn.send(self._next_task)
        self._next_task += 1
        return True

    def results(self) -> Iterator[Any]:
        """The result of each task, in the order of the tasks."""
        busy = [conn for conn in self._children if self._send_next(conn)]
        done: dict[int, Any] = {}
        n_out = 0
        while n_out < len(self._tasks):
            while n_out in done:
                yield done.pop(n_out)
                n_out += 1
            if n_out == len(self._tasks):
                break
            # wait() returns the connections it was given that are ready.
            for conn in cast("list[Connection]", wait(busy)):
                try:
                    index, ok, value = conn.recv()
                except (EOFError, OSError) as exc:
                    raise WorkerError(
                        f"a worker process (pid {self._children[conn]}) died before finishing its part"
                    ) from exc
                if not ok:
                    raise WorkerError(f"a worker process failed:\n{value}")
                done[index] = value
                if not self._send_next(conn):
                    busy.remove(conn)

    def __enter__(self) -> ForkPool:
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        for conn, pid in self._children.items():
            if exc_type is not None:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)
            else:
                with contextlib.suppress(OSError):
                    conn.send(None)
            conn.close()
        for pid in self._children.values():
            with contextlib.suppress(ChildProcessError):
                os.waitpid(pid, 0)
        self._children.clear()
