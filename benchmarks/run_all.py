"""Run every benchmarks/bench_*.py in turn (make bench). Prints numbers; never fails the build."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent


def main() -> int:
    for bench in sorted(HERE.glob("bench_*.py")):
        print(f"\n=== {bench.name} ===", flush=True)
        result = subprocess.run([sys.executable, str(bench)], cwd=HERE.parent)
        if result.returncode != 0:
            print(f"({bench.name} exited with {result.returncode}; continuing)", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
