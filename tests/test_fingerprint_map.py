"""stores.fingerprint_map and the embedded analysis state's key lookups through it: every stored fingerprint sharing a
key asked is found, through saves, merges, deletions and another process's saves."""

import random
from datetime import datetime, timedelta
from pathlib import Path

import pytest

from analysis.events import Fingerprint, fingerprint_keys
from stores import fingerprint_map
from stores.analysis_state import AnalysisStateStore, _signed
from stores.fingerprint_map import FingerprintMap, key_arrays
from yuqing.schema import SHANGHAI

AT = datetime(2026, 3, 1, 9, 0, tzinfo=SHANGHAI)


def test_the_keys_of_many_fingerprints_are_those_of_each():
    import numpy as np

    rng = random.Random(5)
    values = [rng.getrandbits(64) for _ in range(200)] + [0, (1 << 64) - 1, 1 << 63]
    arrays = key_arrays(np.array(values, dtype=np.uint64))
    assert [[(pair, int(keys[n])) for pair, keys in enumerate(arrays)] for n in range(len(values))] == [
        list(fingerprint_keys(value)) for value in values]


def test_rows_are_found_by_any_of_their_keys_across_merges_and_until_forgotten(monkeypatch):
    monkeypatch.setattr(fingerprint_map, "FRESH_MIN", 40)  # a merge every few adds
    rng = random.Random(7)
    values = {row: rng.getrandbits(64) for row in range(1, 301)}
    leads = {row: rng.getrandbits(64) for row in range(1, 301, 3)}
    keys = FingerprintMap()
    for first in range(1, 301, 25):  # saves of 25 posts
        rows = range(first, first + 25)
        keys.add(0, list(rows), [_signed(values[row]) for row in rows])
        led = [row for row in rows if row in leads]
        keys.add(1, led, [_signed(leads[row]) for row in led])
    for row, value in values.items():
        assert row in keys.rows_keyed(0, fingerprint_keys(value)[3:4])
        assert row not in keys.rows_keyed(1, fingerprint_keys(value))  # a text's keys are not its lead's
    for row, lead in leads.items():
        assert row in keys.rows_keyed(1, fingerprint_keys(lead)[7:8])
    keys.forget(range(1, 101))
    keys.add(0, [301], [_signed(values[1])])  # SQLite may give the next row a deleted one's id: not here, 301
    keys.add(0, [100], [_signed(values[2])])  # ...but here: row 100's keys are now those of value 2
    for _ in range(3):  # merges take the forgotten rows out, not the row that took a forgotten id
        keys.add(0, list(range(400, 420)), [_signed(rng.getrandbits(64)) for _ in range(20)])
    assert keys.rows_keyed(0, fingerprint_keys(values[1])) == {301}
    assert keys.rows_keyed(0, fingerprint_keys(values[2])) == {100}
    assert keys.rows_keyed(0, fingerprint_keys(values[150])) == {150}
    assert keys.rows_keyed(0, []) == set()
    with pytest.raises(ValueError, match="row id"):  # beyond what an entry keeps: refused, not cut
        keys.add(0, [1 << fingerprint_map.ROW_BITS], [5])
    # Rows 101-300, 301, 100 and three adds of 20; the leads of rows 101-300; and row 100's former value and lead,
    # kept with the id (the store reads the row back and checks its keys).
    assert keys.entries() == 10 * (200 + 2 + 60) + 10 * len([row for row in leads if row > 100]) + 10 * 2
    assert keys.rows_keyed(0, fingerprint_keys(values[100])) == {100}


def test_a_merge_leaving_out_forgotten_rows_needs_little_memory_beyond_the_runs_it_makes(monkeypatch):
    """From the second week, each merge leaves out the rows the window forgot. Tested a whole run at a time, that took
    several temporary arrays of the run's size: the events stage's peak rose by tens of MB on day 8 of bench.soak at
    100,000 posts a day (700,000 entries a run)."""
    import tracemalloc

    import numpy as np

    monkeypatch.setattr(fingerprint_map, "FILTERED_AT_ONCE", 4096)
    rows = np.arange(1, 200_001, dtype=np.int64)
    values = np.random.default_rng(3).integers(-(1 << 63), (1 << 63) - 1, size=len(rows), dtype=np.int64)
    keys = FingerprintMap([(rows, values), (rows[:0], values[:0])])
    keys.forget(range(1, 50_001))
    run_bytes = 8 * len(rows)
    tracemalloc.start()
    try:
        keys.add(0, [300_000], [5])
        keys._merge()
        made, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert made >= 10 * 8 * 150_000  # the runs made: those of the rows kept (the runs they replace were made before)
    # The forgotten rows, as an array, and the look-ups of them (the runs are cut and grown in place: `made`).
    assert peak - made < 3 * 8 * 50_000 < run_bytes
    assert keys.rows_keyed(0, fingerprint_keys(int(values[0]) % (1 << 64))) == set()
    assert keys.rows_keyed(0, fingerprint_keys(int(values[-1]) % (1 << 64))) == {200_000}
    assert keys.entries() == 10 * (150_000 + 1)


def test_a_merge_grows_each_run_in_place_as_np_insert_would_fill_a_new_one(monkeypatch):
    """A merge put each run's fresh entries in a new array: the old and new arrays of a run and the insert's masks at
    once, 11 MB above what the map ends with at each merge of a week at 100,000 posts a day. Grown in place, it needs
    little beyond the fresh entries, and the runs are those np.insert makes (equal entries: a row saved again)."""
    import tracemalloc

    import numpy as np

    monkeypatch.setattr(fingerprint_map, "FILTERED_AT_ONCE", 4096)
    generator = np.random.default_rng(5)
    rows = np.arange(1, 200_001, dtype=np.int64)
    values = generator.integers(-(1 << 63), (1 << 63) - 1, size=len(rows), dtype=np.int64)
    fresh_rows = np.concatenate([np.arange(200_001, 210_001), rows[:200]])
    fresh_values = np.concatenate([generator.integers(-(1 << 63), (1 << 63) - 1, size=10_000), values[:200]])
    tracemalloc.start()  # before the runs are made: the arrays a merge replaces are counted
    try:
        keys = FingerprintMap([(rows, values), (rows[:0], values[:0])])
        expected = [np.insert(large.entries, np.searchsorted(large.entries, fresh.entries), fresh.entries)
                    for large, fresh in zip(keys._large, FingerprintMap([(fresh_rows, fresh_values)])._large, strict=False)]
        keys.add(0, fresh_rows.tolist(), fresh_values.tolist())
        tracemalloc.reset_peak()
        keys._merge()
        made, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    # The fresh entries and their places, and a few thousand entries moved at a time: not the size of a run.
    assert peak - made < 6 * 8 * len(fresh_rows) + 4 * 8 * 4096 < 8 * len(rows) // 2
    for run, inserted in zip(keys._large, expected, strict=False):
        assert np.array_equal(run.entries, inserted)
    assert keys.entries() == 10 * len(rows) + 10 * len(fresh_rows)


def test_rows_forgotten_wait_for_the_next_merge_in_a_few_bytes_each():
    """From day 8 the window forgets rows every hour, and they wait for the next merge (up to a day's rows at 100,000
    posts a day): as a set of Python ints they took 84 bytes each, 6.7 MB at the top of each wait (bench.soak's
    events stage, whose peak rose on day 8)."""
    import tracemalloc

    keys = FingerprintMap()
    tracemalloc.start()
    try:
        for first in range(1, 80_001, 4_000):  # an hour's rows at a time, as the analyzer's prunes forget them
            keys.forget(range(first, first + 4_000))
        held, _ = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert held < 12 * 80_000
    keys.add(0, [5], [_signed(7)])  # an id forgotten and given again (see the test above): its keys stay
    keys._merge()
    assert keys.rows_keyed(0, fingerprint_keys(7)) == {5}


def _saved(store: AnalysisStateStore, number: int, value: int, hours: float = 0) -> Fingerprint:
    when = AT + timedelta(hours=hours)
    fingerprint = Fingerprint(f"news:{number}", value, when, f"news:{number}", "evt-1")
    store.save([], [(fingerprint.post_id, when, "evt-1", None, fingerprint, None)], [])
    return fingerprint


def test_a_store_finds_what_another_process_saved_since_its_keys_were_read(tmp_path: Path):
    """A standby opened the state and read its keys; the active worker saved more before the standby took over."""
    rng = random.Random(2)
    active, standby = AnalysisStateStore(tmp_path / "analysis.sqlite3"), AnalysisStateStore(tmp_path / "analysis.sqlite3")
    first = _saved(active, 1, rng.getrandbits(64))
    assert standby.fingerprints_keyed(fingerprint_keys(first.value), []) == [first]
    second = _saved(active, 2, rng.getrandbits(64))
    assert standby.fingerprints_keyed(fingerprint_keys(second.value), []) == [second]
    third = _saved(standby, 3, second.value ^ 0b101)  # the standby, now active, keeps its map up by its saves
    assert active.fingerprints_keyed(fingerprint_keys(second.value), []) == [second, third]
    fourth = _saved(active, 4, first.value ^ 1)  # and reads the table again when the other saved in between
    assert standby.fingerprints_keyed(fingerprint_keys(first.value), []) == [first, fourth]
    active.close()
    standby.close()


def test_a_post_deleted_or_saved_again_with_another_fingerprint_is_found_by_what_the_table_holds(tmp_path: Path):
    rng = random.Random(4)
    store = AnalysisStateStore(tmp_path / "analysis.sqlite3")
    old = _saved(store, 1, rng.getrandbits(64), hours=-200)
    kept = _saved(store, 2, rng.getrandbits(64))
    assert store.fingerprints_keyed(fingerprint_keys(old.value), []) == [old]  # the keys are read
    store.forget_before(AT - timedelta(days=3))
    assert store.fingerprints_keyed(fingerprint_keys(old.value), []) == []
    moved = _saved(store, 2, kept.value ^ (1 << 64) - 1)  # every block differs: no key of the old value left
    assert store.fingerprints_keyed(fingerprint_keys(kept.value), []) == []
    assert store.fingerprints_keyed(fingerprint_keys(moved.value), []) == [moved]
    store.close()


def test_the_store_holds_the_keys_of_the_window_not_those_of_the_files_margin(tmp_path: Path, monkeypatch):
    """The file keeps posts OFFSET_MARGIN (2 days) past the 7-day window; no lookup takes them, so their keys leave
    the map when the window passes them (at its next merge), not two days later: its memory stops growing with the
    window."""
    from analysis.events import ACTIVE_FOR, KEY_PAIRS

    monkeypatch.setattr(fingerprint_map, "FRESH_MIN", 100)  # merges come at an eighth of the map, as at volume
    store = AnalysisStateStore(tmp_path / "analysis.sqlite3")
    store.fingerprints_keyed([(0, 0)], [])  # the map is built at the first lookup, then kept up by each save
    rng = random.Random(3)
    hours = [AT + timedelta(hours=n) for n in range(10 * 24)]
    for n, when in enumerate(hours):  # as the analyzer saves and forgets: each hour, the newest's time less the window
        ids = [f"weibo:{n}-{k}" for k in range(5)]
        store.save([], [(pid, when, None, None, Fingerprint(pid, rng.getrandbits(64), when, pid, None), None)
                        for pid in ids], [])
        store.forget_before(when - ACTIVE_FOR)
    in_window = 5 * sum(when >= hours[-1] - ACTIVE_FOR for when in hours)
    # The window's keys, and those forgotten since the last merge (an eighth of the map at most); 9 days of 7 before.
    assert store._key_map().entries() <= in_window * len(KEY_PAIRS) * 1.2
    store.close()
