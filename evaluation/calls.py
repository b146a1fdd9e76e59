"""Concurrent provider calls under per-connection limits, with no Django in the threads.

`run_calls` sends each `Call` on worker threads (at most `max_concurrent` per connection at
once, at most `per_minute` started in any 60 seconds) and hands the outcomes to `on_done` on the
caller's thread, which is the only one that touches the database: a list of every outcome that
has arrived since the last hand-over, so that one INSERT stores all of them (at 16 at once,
one INSERT per reply made the caller's thread the bottleneck). A call answered with 429 after
the HTTP layer's own retries pauses its whole connection for the provider's Retry-After (or a
backoff) and is sent again; it is never stored twice, because only `on_done` stores. When
`should_stop()` turns true, no new call starts; the ones in flight finish and are handed over.
"""

from __future__ import annotations

import queue
import threading
import time
from collections import deque
from collections.abc import Callable, Hashable, Iterable
from dataclasses import dataclass

from providers.base import ChatReply
from providers.errors import ProviderError, RateLimited

# A call that keeps getting 429 is given up (stored as an error) after this many pauses.
MAX_RATE_LIMIT_PAUSES = 30
DEFAULT_PAUSE_S = 2.0


Outcome = tuple["Call", ChatReply | None, ProviderError | None]
# At most this many outcomes are handed over (and stored) at once.
MAX_BATCH = 200


@dataclass(frozen=True)
class Limit:
    max_concurrent: int
    per_minute: int


@dataclass
class Call:
    key: Hashable
    connection_id: int
    send: Callable[[], ChatReply]  # runs on a worker thread: no database access


class Limiter:
    """Requests per minute (a sliding 60-second window) and a pause shared by one connection."""

    def __init__(self, per_minute: int, *, clock: Callable[[], float] = time.monotonic):
        self.per_minute = max(1, per_minute)
        self.clock = clock
        self.started: deque[float] = deque()
        self.paused_until = 0.0
        self.lock = threading.Lock()

    def acquire(self, stop: threading.Event) -> bool:
        """Wait for a slot; False when `stop` is set first."""
        while True:
            with self.lock:
                now = self.clock()
                while self.started and self.started[0] <= now - 60:
                    self.started.popleft()
                wait = self.paused_until - now
                if wait <= 0 and len(self.started) < self.per_minute:
                    self.started.append(now)
                    return True
                if wait <= 0:
                    wait = self.started[0] + 60 - now
            if stop.wait(min(max(wait, 0.001), 0.25)):
                return False

    def pause(self, seconds: float) -> None:
        with self.lock:
            self.paused_until = max(self.paused_until, self.clock() + seconds)


def _send(
    call: Call, limiter: Limiter, stop: threading.Event
) -> tuple[ChatReply | None, ProviderError | None] | None:
    """One call with its 429 pauses; None when stopped before it was sent."""
    pauses = 0
    while True:
        if not limiter.acquire(stop):
            return None
        try:
            return call.send(), None
        except RateLimited as exc:
            pauses += 1
            if pauses > MAX_RATE_LIMIT_PAUSES:
                return None, exc
            limiter.pause(exc.retry_after if exc.retry_after is not None else DEFAULT_PAUSE_S)
        except ProviderError as exc:
            return None, exc


def run_calls(
    calls: Iterable[Call],
    *,
    limits: dict[int, Limit],
    on_done: Callable[[list[Outcome]], None],
    should_stop: Callable[[], bool],
    on_tick: Callable[[], None] = lambda: None,
    tick_s: float = 1.0,
) -> bool:
    """Send every call; True when all were sent, False when stopped first."""
    by_connection: dict[int, deque[Call]] = {}
    for call in calls:
        by_connection.setdefault(call.connection_id, deque()).append(call)
    if not by_connection:
        return True
    limiters = {cid: Limiter(limits[cid].per_minute) for cid in by_connection}
    stop = threading.Event()
    n_threads = {cid: max(1, min(limits[cid].max_concurrent, len(q))) for cid, q in by_connection.items()}

    if sum(n_threads.values()) == 1:  # one at a time: on this thread (the local provider in-process)
        ((cid, pending),) = by_connection.items()
        last_tick = time.monotonic()
        while pending:
            if should_stop():
                return False
            call = pending.popleft()
            outcome = _send(call, limiters[cid], stop)
            if outcome is not None:
                on_done([(call, *outcome)])
            if time.monotonic() - last_tick >= tick_s:
                on_tick()
                last_tick = time.monotonic()
        return True

    outcomes: queue.Queue = queue.Queue()

    def worker(cid: int) -> None:
        pending = by_connection[cid]
        while not stop.is_set():
            try:
                call = pending.popleft()  # deque.popleft is thread-safe
            except IndexError:
                return
            try:
                outcome = _send(call, limiters[cid], stop)
            except Exception as exc:  # noqa: BLE001 - handed to the caller's thread, not lost
                outcome = (None, ProviderError(f"The call failed unexpectedly: {type(exc).__name__}."))
            if outcome is None:
                pending.appendleft(call)
                return
            outcomes.put((call, *outcome))

    threads = [
        threading.Thread(target=worker, args=(cid,), daemon=True, name=f"eval-{cid}-{i}")
        for cid, n in n_threads.items()
        for i in range(n)
    ]
    for thread in threads:
        thread.start()
    last_tick = time.monotonic()
    stopped = False
    while True:
        alive = any(t.is_alive() for t in threads)
        try:
            batch = [outcomes.get(timeout=0.1)]
        except queue.Empty:
            if not alive:
                break
        else:
            while len(batch) < MAX_BATCH:
                try:
                    batch.append(outcomes.get_nowait())
                except queue.Empty:
                    break
            on_done(batch)
        if time.monotonic() - last_tick >= tick_s:
            on_tick()
            last_tick = time.monotonic()
            if not stopped and should_stop():
                stopped = True
                stop.set()
    rest = []
    while not outcomes.empty():
        rest.append(outcomes.get())
    if rest:
        on_done(rest)
    return not stopped and not any(by_connection.values())
