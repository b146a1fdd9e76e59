"""The embedded broker (fineweb.lib.fsbroker) under concurrent publishers and consumers.

Real processes, real files: several publishers and consumers share one queue folder, as the web
server, beat and the two workers of `make run` do. Every message must arrive exactly once and be
readable.
"""

from __future__ import annotations

import multiprocessing
import os
import time
from pathlib import Path
from queue import Empty

import kombu

from fineweb.lib.fsbroker import CLAIMED, STAGING, UNREADABLE, Transport

PUBLISHERS = 4
CONSUMERS = 3
PER_PUBLISHER = 750  # 3,000 messages in all


def _options(root: Path) -> dict:
    queue = root / "queue"
    queue.mkdir(parents=True, exist_ok=True)
    return {
        "data_folder_in": str(queue),
        "data_folder_out": str(queue),
        "processed_folder": str(root / "processed"),
        "store_processed": False,
        "control_folder": str(root / "control"),
        "polling_interval": 0.01,
    }


def _connection(root: Path) -> kombu.Connection:
    return kombu.Connection("filesystem://", transport=Transport, transport_options=_options(root))


def _publish(root: Path, publisher: int) -> None:
    with _connection(root) as conn:
        queue = conn.SimpleQueue("hammer")
        for i in range(PER_PUBLISHER):
            queue.put({"publisher": publisher, "i": i, "pad": "x" * (i % 97) * 40})
        queue.close()


def _consume(root: Path, done, results) -> None:
    seen: list[tuple[int, int]] = []
    errors: list[str] = []
    with _connection(root) as conn:
        queue = conn.SimpleQueue("hammer")
        idle_since = None
        while True:
            try:
                message = queue.get(block=True, timeout=0.2)
            except Empty:
                if done.is_set():
                    idle_since = idle_since or time.monotonic()
                    if time.monotonic() - idle_since > 1.5:
                        break
                continue
            except Exception as exc:  # an unreadable message would surface here
                errors.append(repr(exc))
                continue
            idle_since = None
            body = message.payload
            seen.append((body["publisher"], body["i"]))
            message.ack()
        queue.close()
    results.put((seen, errors))


def test_concurrent_publishers_and_consumers_lose_double_and_garble_nothing(tmp_path):
    ctx = multiprocessing.get_context("fork")
    done = ctx.Event()
    results = ctx.Queue()
    consumers = [ctx.Process(target=_consume, args=(tmp_path, done, results)) for _ in range(CONSUMERS)]
    publishers = [ctx.Process(target=_publish, args=(tmp_path, p)) for p in range(PUBLISHERS)]
    for process in consumers + publishers:
        process.start()
    for process in publishers:
        process.join(timeout=180)
        assert process.exitcode == 0
    done.set()
    gathered = [results.get(timeout=120) for _ in consumers]
    for process in consumers:
        process.join(timeout=30)
        assert process.exitcode == 0

    received = [item for seen, _ in gathered for item in seen]
    errors = [e for _, errs in gathered for e in errs]
    expected = {(p, i) for p in range(PUBLISHERS) for i in range(PER_PUBLISHER)}
    assert errors == []
    assert len(received) == len(set(received)), "a message was delivered twice"
    assert set(received) == expected, f"{len(expected - set(received))} messages were lost"
    queue_dir = tmp_path / "queue"
    assert [n for n in os.listdir(queue_dir) if n.endswith(".msg")] == []
    assert list((queue_dir / CLAIMED).iterdir()) == []
    assert not (queue_dir / UNREADABLE).exists()
    assert list((queue_dir / STAGING).iterdir()) == []
    # More than one consumer did real work, so the claims really competed.
    assert sum(1 for seen, _ in gathered if seen) >= 2


def test_an_empty_message_file_is_set_aside_and_the_next_message_is_delivered(tmp_path):
    with _connection(tmp_path) as conn:
        queue = conn.SimpleQueue("hammer")
        queue.put({"i": 1})
        # What kombu's own transport leaves for a reader that comes too early: an empty .msg file,
        # named to sort first.
        empty = tmp_path / "queue" / "0_00000000-0000-0000-0000-000000000000.hammer.msg"
        empty.write_bytes(b"")
        message = queue.get(block=True, timeout=2)
        assert message.payload == {"i": 1}
        message.ack()
        queue.close()
    assert (tmp_path / "queue" / UNREADABLE / empty.name).exists()
    assert not empty.exists()


def test_fanout_bindings_survive_concurrent_binds(tmp_path):
    """Every worker binds its queues at start-up; no binding is lost and the table stays valid JSON."""
    ctx = multiprocessing.get_context("fork")

    def bind(n: int) -> None:
        with _connection(tmp_path) as conn:
            exchange = kombu.Exchange("broadcast", type="fanout")
            for k in range(20):
                kombu.Queue(f"q{n}-{k}", exchange).bind(conn.default_channel).declare()

    processes = [ctx.Process(target=bind, args=(n,)) for n in range(4)]
    for process in processes:
        process.start()
    for process in processes:
        process.join(timeout=60)
        assert process.exitcode == 0
    with _connection(tmp_path) as conn:
        table = conn.default_channel.get_table("broadcast")
    assert {q.queue for q in table} == {f"q{n}-{k}" for n in range(4) for k in range(20)}
