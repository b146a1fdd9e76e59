"""The diff page between two versions at 1,000 and 100,000 examples.

Version b is what a review makes of version a: 2% of the examples fixed in place, 1% removed,
1% added. Measured, per size, the server work of the diff page's rows (matching, reading and marking the
20 examples of the page, rendering them): on the first view of a pair (both files hashed, their
indexes and the diff written beside the blob store) and on the next views (the stored diff read
back, 40 lines read at their offsets).
Peers in the same run, on the same two files: GNU diff (a process that compares the files line
by line, start-up included) and difflib.SequenceMatcher over the same hashes (the standard
library's alignment, which the diff used first). Numbers only; never fails.

    python benchmarks/bench_dataset_diff.py [--rounds 5]
"""

from __future__ import annotations

import argparse
import difflib
import hashlib
import json
import os
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "fineweb.settings")
os.environ.setdefault("FINEWEB_DATA_DIR", str(Path(tempfile.gettempdir()) / "fineweb-bench-diff"))

_TEXT = (
    "Vielen Dank für Ihre Nachricht Wir helfen Ihnen gern weiter Bitte öffnen Sie die Einstellungen "
    "und wählen Sie den Bereich Konto aus Dort finden Sie alle Optionen für Ihr Abonnement"
)
WORDS = _TEXT.split(" ")
T = TypeVar("T")


def example(rng: random.Random, i: int) -> dict:
    return {
        "messages": [
            {"role": "system", "content": "Du bist der Kundenservice von Acme. Antworte auf Deutsch."},
            {
                "role": "user",
                "content": f"Wie kündige ich Vertrag {i}? Bestellung {rng.randint(1000, 99999)}.",
            },
            {"role": "assistant", "content": " ".join(rng.choice(WORDS) for _ in range(rng.randint(25, 60)))},
        ]
    }


def make_pair(n: int, seed: int = 5) -> tuple[list[dict], list[dict]]:
    rng = random.Random(seed)
    a = [example(rng, i) for i in range(n)]
    b = [dict(e) for e in a]
    for i in rng.sample(range(n), max(1, n // 50)):  # fixed in place
        fixed = json.loads(json.dumps(b[i]))
        fixed["messages"][2]["content"] += " Mit freundlichen Grüßen."
        b[i] = fixed
    for i in sorted(rng.sample(range(len(b)), max(1, n // 100)), reverse=True):  # removed
        del b[i]
    for k in range(max(1, n // 100)):  # added
        b.insert(rng.randrange(len(b)), example(rng, n + k))
    return a, b


def store(lines: list[dict]):
    from datasets_app.models import STORE, Blob

    content = "".join(json.dumps(e, ensure_ascii=False) + "\n" for e in lines).encode()
    sha = hashlib.sha256(content).hexdigest()
    path = STORE.path(sha)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(content)
    return Blob(sha256=sha, size=len(content))


def timed(fn: Callable[[], T], rounds: int) -> tuple[float, T]:
    times: list[float] = []
    for _ in range(rounds):
        start = time.perf_counter()
        result = fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times), result


def measure(n: int, rounds: int) -> float:
    from django.template.loader import render_to_string

    from datasets_app import diffing, selectors
    from datasets_app.models import Dataset, DatasetVersion

    a_lines, b_lines = make_pair(n)
    blob_a, blob_b = store(a_lines), store(b_lines)
    dataset = Dataset(name="bench")
    va = DatasetVersion(dataset=dataset, number=1, blob=blob_a)
    vb = DatasetVersion(dataset=dataset, number=2, blob=blob_b)

    def page() -> tuple[dict, str]:
        ctx = selectors.version_diff_page(va, vb, page=1, show="all")
        html = render_to_string("datasets/diff.html#diff-rows", {**ctx, "a": va, "b": vb})
        return ctx, html

    def cold():
        for blob in (blob_a, blob_b):
            diffing._index_path(blob).unlink(missing_ok=True)
        (diffing.STORE.root / "diffs" / f"{blob_a.sha256}-{blob_b.sha256}").unlink(missing_ok=True)
        return page()

    cold_s, _ = timed(cold, max(1, rounds // 2))
    page_s, (ctx, html) = timed(page, rounds)
    ia, ib = diffing.file_index(blob_a), diffing.file_index(blob_b)
    diff = ctx["diff"]
    gnu_s = float("nan")
    if shutil.which("diff"):
        command = ["diff", str(blob_a.path), str(blob_b.path)]
        gnu_s, _ = timed(lambda: subprocess.run(command, stdout=subprocess.DEVNULL), rounds)
    sm_s, _ = timed(
        lambda: difflib.SequenceMatcher(None, ia.hashes, ib.hashes, autojunk=False).get_opcodes(),
        max(1, rounds // 2),
    )
    print(
        f"{n:>9,} {cold_s * 1e3:>10.1f} ms {page_s * 1e3:>9.1f} ms {gnu_s * 1e3:>7.1f} ms {sm_s * 1e3:>13.1f} ms"
        f"  {page_s / gnu_s:.2f}x / {page_s / sm_s:.2f}x"
    )
    print(
        f"{'':>9} changed {diff.n_changed:,}, added {diff.n_added:,}, removed {diff.n_removed:,},"
        f" unchanged {diff.n_same:,}; page html {len(html) / 1e3:.0f} kB"
    )
    return page_s


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    import django

    django.setup()
    print(
        f"{'examples':>9} {'first view':>13} {'next views':>12} {'GNU diff':>10} {'SequenceMatcher':>16}"
        "  page / GNU diff / SequenceMatcher"
    )
    small, large = measure(1_000, args.rounds), measure(100_000, args.rounds)
    print(f"page at 100,000 / page at 1,000: {large / small:.1f}x")
    return 0


if __name__ == "__main__":
    sys.exit(main())
