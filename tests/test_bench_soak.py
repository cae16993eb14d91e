"""bench.soak's command line."""

import sys

from bench import soak


def test_a_keep_folder_that_does_not_exist_yet_is_made(tmp_path, monkeypatch, capsys):
    """`--keep DIR` with a DIR not made yet ended in a traceback (the free-disk check looked at a missing folder)."""
    folder = tmp_path / "new" / "soak"
    monkeypatch.setattr(sys, "argv", ["soak", "--days", "1", "--per-day", str(10**13), "--keep", str(folder)])
    assert soak.main() == 2, "refused by the free-disk check, before any stage starts"
    assert folder.is_dir()
    assert "needs about" in capsys.readouterr().err


def test_the_last_part_of_a_day_is_profiled_with_that_day():
    from datetime import datetime, timedelta

    from bench.soak import day_of, slice_end_of
    from yuqing.schema import SHANGHAI

    start = datetime(2026, 12, 3, tzinfo=SHANGHAI)
    ends = {slice_end_of(start, start + timedelta(hours=hour), 4) for hour in range(24)}
    assert max(ends) == datetime(2026, 12, 4, tzinfo=SHANGHAI), "the last part ends at the next midnight"
    assert {day_of(end) for end in ends} == {start.date()}


def test_the_memory_watch_keeps_the_peak_of_anonymous_memory_freed_since():
    """The kernel keeps the peak of the resident memory only; the watch samples the anonymous part's."""
    import time

    from bench.soak import MemoryWatch

    watch = MemoryWatch(every=0.01)
    try:
        _, _, before, _ = watch.figures_mb()
        held = bytearray(64 << 20)  # zero pages: resident once written
        held[:: 4096] = b"\x01" * len(range(0, len(held), 4096))
        time.sleep(0.2)
        del held
        _, _, after, peak = watch.figures_mb()
    finally:
        watch.stop()
    assert peak >= before + 60, "the 64 MB held for 0.2 s are in the peak"
    assert after < peak - 60, "and no longer in the anonymous memory now"


def test_a_stage_drains_once_more_after_the_stage_before_is_done():
    """The stages drain a part concurrently: a drain that ran dry while the stage before was still at work goes
    on, and the one that counts is the first to start after the stage before was done."""
    import multiprocessing
    from collections import Counter

    from bench.soak import drain_after

    upstream = multiprocessing.get_context("spawn").Event()

    class Worker:
        drains = 0

        def run(self, *, until_idle: bool, idle_polls: int) -> Counter[str]:
            self.drains += 1
            if self.drains == 2:
                upstream.set()  # the stage before finishes during this drain: messages may have come after it looked
            return Counter(committed=10)

    worker = Worker()
    assert drain_after(worker, upstream) == Counter(committed=30)
    assert worker.drains == 3
    assert drain_after(Worker(), None) == Counter(committed=10), "the first stage has nothing to wait for"
