"""What the events stage's reprint recall costs as the analysis state's window grows.

    python -m bench.band_recall [--stored 10000,70000,200000,480000] [--batches 4] [--seed 1]

The events stage asks its state store, once a batch, for every fingerprint sharing a key with a batch post's
fingerprint (`ReprintDetector.recall`, `fingerprints_keyed`; analysis.events: ten keys, each two of five
blocks of bits): two fingerprints within 3 bits share at least one key, but so does any stored fingerprint by
chance, with odds of about 2 in 10 million (with the four 16-bit bands keys replaced, 4 in 65,536). The store
holds a window (a week) of posts, so the rows each post reads back grow with the posts a week brings: at
100,000 posts a day, about 480,000 with a fingerprint (bench.soak: seven in ten posts have one).

The store is filled with random fingerprints up to each size of `--stored` in turn, and batches of 500 random
fingerprints (none within 3 bits of a stored one but by a one in 10^14 chance: every row read is one the
clusterer then drops) are recalled against it. Per size it prints the key rows read back per post and the
recall's CPU milliseconds per post, and its ratio to the first size (the baseline, measured in the same run);
then what the other side of the lookup costs, keeping the keys up (the SQLite file holds them in memory:
stores.fingerprint_map): the CPU milliseconds (user and system: the pages written) per post of saving 2,000 more
in saves of 500, as the analyzer flushes. The first lookup reads the keys stored (once a process).
"""

from __future__ import annotations

import argparse
import random
import resource
import shutil
import tempfile
import time
from collections.abc import Sequence
from datetime import datetime, timedelta
from pathlib import Path

from analysis.enrich import FLUSH_EVERY
from analysis.events import Fingerprint, ReprintDetector
from stores.analysis_state import AnalysisStateStore
from yuqing.schema import SHANGHAI

BATCH = 500
SAVE_CHUNK = 50_000  # posts a save writes while filling the store, as the analyzer's flushes would over a day
SAVES_MEASURED = 4  # saves of FLUSH_EVERY posts timed at each size


class CountingStore(AnalysisStateStore):
    """The SQLite state store, counting the fingerprints its key lookups answer."""

    keyed_rows = 0

    def fingerprints_keyed(
        self, value_keys: Sequence[tuple[int, int]], lead_keys: Sequence[tuple[int, int]]
    ) -> list[Fingerprint]:
        found = super().fingerprints_keyed(value_keys, lead_keys)
        self.keyed_rows += len(found)
        return found


def fill(store: CountingStore, first: int, last: int, rng: random.Random, start: datetime,
         chunk_size: int = SAVE_CHUNK) -> None:
    """Save posts number first..last-1 with random fingerprints (each its own original, in one event), in saves of
    `chunk_size`."""
    for chunk in range(first, last, chunk_size):
        posts = []
        for n in range(chunk, min(chunk + chunk_size, last)):
            when = start + timedelta(seconds=n)
            posts.append((f"p{n}", when, "e1", None, Fingerprint(f"p{n}", rng.getrandbits(64), when, f"p{n}", "e1"), None))
        store.save([], posts, [])


def recall_cost(store: CountingStore, batches: int, rng: random.Random) -> tuple[float, float]:
    """(CPU milliseconds, key rows read back) per post, over `batches` batches of random fingerprints."""
    cpu = 0.0
    store.keyed_rows = 0
    for batch in range(batches):
        detector = ReprintDetector(memory=store)
        ids = [f"q{batch}-{n}" for n in range(BATCH)]
        hashes = [(rng.getrandbits(64), None) for _ in ids]
        began = time.process_time()
        detector.recall(ids, hashes)
        cpu += time.process_time() - began
    posts = batches * BATCH
    return cpu / posts * 1000, store.keyed_rows / posts


def save_cost(store: CountingStore, first: int, rng: random.Random, start: datetime) -> float:
    """CPU milliseconds (user and system) per post of saving posts `first`.. in SAVES_MEASURED saves of
    FLUSH_EVERY."""
    before = resource.getrusage(resource.RUSAGE_SELF)
    fill(store, first, first + SAVES_MEASURED * FLUSH_EVERY, rng, start, FLUSH_EVERY)
    after = resource.getrusage(resource.RUSAGE_SELF)
    seconds = after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime
    return seconds / (SAVES_MEASURED * FLUSH_EVERY) * 1000


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--stored", default="10000,70000,200000,480000",
                        help="fingerprints stored, comma-separated, rising (the first is the baseline)")
    parser.add_argument("--batches", type=int, default=4)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    sizes = [int(size) for size in args.stored.split(",")]
    if sizes != sorted(sizes) or sizes[0] <= 0:
        parser.error("--stored: sizes must be positive and rising")
    rng = random.Random(args.seed)
    start = datetime(2026, 11, 1, tzinfo=SHANGHAI)
    workdir = Path(tempfile.mkdtemp(prefix="yuqing-band-recall-"))
    store = CountingStore(workdir / "analysis.sqlite3")
    baseline: float | None = None
    try:
        held = 0
        for size in sizes:
            fill(store, held, size, rng, start)
            ms, rows = recall_cost(store, args.batches, rng)
            saving = save_cost(store, size, rng, start)
            held = size + SAVES_MEASURED * FLUSH_EVERY
            baseline = baseline or ms
            print(f"band-recall: {size:8d} stored: {rows:6.1f} key rows/post, {ms:.3f} ms CPU/post "
                  f"(x{ms / baseline:.2f} the {sizes[0]}-fingerprint baseline); saving {saving:.3f} ms CPU/post",
                  flush=True)
    finally:
        store.close()
        shutil.rmtree(workdir, ignore_errors=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
