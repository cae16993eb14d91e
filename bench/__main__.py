"""`python -m bench`: run every benchmark with its defaults, one after the other, each in its own process.

`python -m bench NAME ...` runs only those (e.g. `python -m bench crawl_throughput alert_latency`).
Each benchmark prints its figures against a baseline it measures in the same run.
"""

from __future__ import annotations

import pkgutil
import subprocess
import sys
from pathlib import Path

HELPERS = {"real_pages", "hostile_inputs"}  # modules the benchmarks share, not benchmarks themselves


def benchmarks() -> list[str]:
    return sorted(m.name for m in pkgutil.iter_modules([str(Path(__file__).parent)])
                  if m.name not in HELPERS and not m.name.startswith("_"))


def main(names: list[str]) -> int:
    available = benchmarks()
    unknown = sorted(set(names) - set(available))
    if unknown:
        print(f"unknown benchmark(s) {', '.join(unknown)}; available: {', '.join(available)}", file=sys.stderr)
        return 2
    failed = []
    for name in names or available:
        print(f"\n===== bench.{name} =====", flush=True)
        if subprocess.run([sys.executable, "-m", f"bench.{name}"]).returncode != 0:
            failed.append(name)
    if failed:
        print(f"\nfailed: {', '.join(failed)}", file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
