"""Which rows of the embedded analysis state's posts table share a key with a fingerprint, held in memory.

The analyzer looks near copies up by the ten keys of a fingerprint and of a first paragraph's
(`analysis.events.fingerprint_keys`). SQLite kept them in twenty partial expression indexes: every post saved
put an entry at a random place in each, and deleting it a week later took it out again, so once the window held
a few days a batch's commit rewrote most pages of every index (on a 7-day state of 20,000 posts a day the save
took 120 us of the events stage's 430 a post, against 56 on a 1-day state). Here a key costs 8 bytes of a sorted
array and a batch's lookup is a binary search per asked key, whatever the window holds. The table stays the
truth: the rows found are read back from it and their keys checked (`AnalysisStateStore.fingerprints_keyed`), so
an entry of a row deleted or rewritten since only costs its bytes until the next merge.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from itertools import chain

import numpy as np
import numpy.typing as npt

from analysis.events import KEY_PAIRS

# The fingerprint columns keyed: a post's whole text, and its first paragraph (see stores.analysis_state).
COLUMNS = 2
# A batch's new keys go to a small sorted run; it is merged into the large one once it holds more than an eighth
# of it (or this many), so a save costs what the small run holds and a merge comes once per eighth of the window.
FRESH_MIN = 50_000

# An entry is a key and a row id in one unsigned 64-bit number, the key above ROW_BITS bits of row id: sorted, the
# entries of a key are together, and a run is one array (8 bytes a key: 39 MB for a week of 100,000 posts a day).
ROW_BITS = 38  # SQLite gives row ids one above the largest: a quarter of a million million posts
ROW_MASK = np.uint64((1 << ROW_BITS) - 1)
# Entries tested at a time when a merge leaves out the forgotten rows: the test's temporary arrays are this size. Made
# for a whole run at once (700,000 entries a week at 100,000 posts a day), they took several arrays of its size: with
# a week's map, such a merge raised the process's peak 14 MB more than one leaving nothing out, and 32 MB more stayed
# resident (bench.soak's events stage rose 23 MB on day 8, when its window first forgot rows).
FILTERED_AT_ONCE = 1 << 16

Keys = npt.NDArray[np.uint32]
Rows = npt.NDArray[np.int64]
Entries = npt.NDArray[np.uint64]
Stored = npt.NDArray[np.int64]  # fingerprints as the table stores them: signed 64-bit, two's complement
_NO_ROWS: Rows = np.empty(0, dtype=np.int64)


def key_arrays(values: npt.NDArray[np.uint64]) -> list[Keys]:
    """The keys of each of KEY_PAIRS of many fingerprints at once, as `fingerprint_keys` computes one's."""
    keys = []
    for (low_shift, low_width), (high_shift, high_width) in KEY_PAIRS:
        low = (values >> np.uint64(low_shift)) & np.uint64((1 << low_width) - 1)
        high = (values >> np.uint64(high_shift)) & np.uint64((1 << high_width) - 1)
        keys.append((low | (high << np.uint64(low_width))).astype(np.uint32))
    return keys


def _entries(keys: Keys | npt.NDArray[np.uint64], rows: Rows | None = None) -> Entries:
    """Entries of keys (at row 0 when no rows are given: where a key's entries begin)."""
    entries = keys.astype(np.uint64) << np.uint64(ROW_BITS)
    return entries if rows is None else entries | rows.astype(np.uint64)


class _Run:
    """Entries in ascending order: by key, then row."""

    def __init__(self, entries: Entries) -> None:
        self.entries = entries

    @classmethod
    def of(cls, keys: Keys, rows: Rows) -> _Run:
        if len(rows) and int(rows.max()) >> ROW_BITS:
            raise ValueError(f"row id {int(rows.max())} is beyond the {ROW_BITS} bits an entry keeps")
        return cls(np.sort(_entries(keys, rows)))

    def __len__(self) -> int:
        return len(self.entries)

    def with_run(self, other: _Run) -> _Run:
        """This run and `other` in one: `other` put in place (a copy of this run's array, no sort). For a save's fresh
        entries going into the small run: faster than `grown_by`, and the copy costs what that run holds."""
        return _Run(np.insert(self.entries, np.searchsorted(self.entries, other.entries), other.entries))

    def grown_by(self, other: _Run) -> _Run:
        """This run and `other` in one, as `with_run` makes it, in this run's own array (the run is not to be used
        afterwards): for a merge into a large run. `with_run` held its old and new arrays and np.insert's masks at
        once, 11 MB above what the map kept at each merge of a week at 100,000 posts a day. A large array's growth is
        remapped by malloc, not copied; the entries above each of `other`'s move up, FILTERED_AT_ONCE at a time from the
        top, so none is overwritten before it has moved."""
        entries, added = self.entries, other.entries
        size = len(entries)
        at = np.searchsorted(entries, added)  # where each of `added` goes among this run's entries: before equal ones
        entries.resize(size + len(added), refcheck=False)  # this run's array has no views: nothing keeps its old place
        first = int(at[0]) if len(at) else size  # the entries below `first` stay where they are
        for end in range(size, first, -FILTERED_AT_ONCE):
            start = max(end - FILTERED_AT_ONCE, first)
            moving = np.arange(start, end)
            # Up by the count of added entries put before each: those whose place is at or below it.
            entries[moving + np.searchsorted(at, moving, side="right")] = entries[start:end].copy()
        entries[at + np.arange(len(added))] = added
        return _Run(entries)

    def without(self, gone: Rows) -> _Run:
        """This run without the entries of the rows in `gone`, in this run's array: the entries kept are moved down in
        it, FILTERED_AT_ONCE at a time, and it is cut after them (the run is not to be used afterwards)."""
        entries, kept = self.entries, 0
        for start in range(0, len(entries), FILTERED_AT_ONCE):
            part = entries[start : start + FILTERED_AT_ONCE]
            left = part[~np.isin((part & ROW_MASK).astype(np.int64), gone)]  # a copy: moved down below `start`
            entries[kept : kept + len(left)] = left
            kept += len(left)
        entries.resize(kept, refcheck=False)  # cut in place: the views taken above are not used again
        return _Run(entries)

    def rows_of(self, asked: Keys) -> Rows:
        """The rows of the entries whose key is one of `asked`."""
        first = np.searchsorted(self.entries, _entries(asked))
        counts = np.searchsorted(self.entries, _entries(asked.astype(np.uint64) + np.uint64(1))) - first
        found = counts > 0
        first, counts = first[found], counts[found]
        if not len(first):
            return _NO_ROWS
        # Positions first[i], first[i] + 1, ... for counts[i] entries each, in one vector.
        ends = np.cumsum(counts)
        positions = np.arange(ends[-1]) + np.repeat(first - (ends - counts), counts)
        return (self.entries[positions] & ROW_MASK).astype(np.int64)


def _empty_run() -> _Run:
    return _Run(np.empty(0, dtype=np.uint64))


class FingerprintMap:
    """(column, pair, key) -> the rows of posts whose fingerprint in that column (0: the text's, 1: the first
    paragraph's) has that key of KEY_PAIRS[pair]. A superset: a row added stays until `forget` names it and the
    next merge comes; the caller checks what it reads back."""

    def __init__(self, stored: Sequence[tuple[Rows, Stored]] = ()) -> None:
        """`stored`: of each column, the rows and their fingerprints (see `add`) to start from."""
        self._large = [_empty_run() for _ in range(COLUMNS * len(KEY_PAIRS))]
        self._fresh = [_empty_run() for _ in range(COLUMNS * len(KEY_PAIRS))]
        # Rows deleted since the last merge, in the arrays `forget` was given: 8 bytes a row (a set of Python ints took
        # 84: 6.7 MB before a merge from day 8 of bench.soak at 100,000 posts a day), and the largest of them.
        self._gone: list[Rows] = []
        self._gone_top = -1
        for column, (rows, values) in enumerate(stored):
            for pair, run in enumerate(self._runs_of(rows, values)):
                self._large[column * len(KEY_PAIRS) + pair] = run

    @staticmethod
    def _runs_of(rows: Rows, values: Stored) -> list[_Run]:
        return [_Run.of(keys, rows) for keys in key_arrays(values.view(np.uint64))]

    def add(self, column: int, rows: Sequence[int], values: Sequence[int]) -> None:
        """Key the rows by their fingerprints in `column`, as stored (signed 64-bit: two's complement)."""
        if not rows:
            return
        added = np.array(rows, dtype=np.int64)
        # SQLite gives a deleted row's id to the next row when it was the last, and a post saved again keeps its row:
        # that row's keys must stay. Most saves add only rows above every forgotten one, and look at none of them.
        if self._gone and int(added.min()) <= self._gone_top:
            self._gone = [kept for part in self._gone if len(kept := part[~np.isin(part, added)])]
        runs = self._runs_of(added, np.array(values, dtype=np.int64))
        for pair, run in enumerate(runs):
            at = column * len(KEY_PAIRS) + pair
            self._fresh[at] = self._fresh[at].with_run(run)
        if sum(map(len, self._fresh)) > max(FRESH_MIN, sum(map(len, self._large)) // 8):
            self._merge()

    def forget(self, rows: Iterable[int]) -> None:
        """These rows were deleted: their entries go at the next merge."""
        forgotten = np.fromiter(rows, dtype=np.int64)
        if len(forgotten):
            self._gone.append(forgotten)
            self._gone_top = max(self._gone_top, int(forgotten.max()))

    def _merge(self) -> None:
        gone = np.concatenate(self._gone) if self._gone else _NO_ROWS
        self._gone, self._gone_top = [], -1
        for at, (large, fresh) in enumerate(zip(self._large, self._fresh, strict=True)):
            self._large[at] = (large.without(gone) if len(gone) else large).grown_by(fresh.without(gone))
            self._fresh[at] = _empty_run()

    def rows_keyed(self, column: int, asked: Sequence[tuple[int, int]]) -> set[int]:
        """The rows whose fingerprint in `column` has one of the keys asked: (pair, key) as `fingerprint_keys` gives."""
        if not asked:
            return set()
        pairs, keys = np.fromiter(chain.from_iterable(asked), dtype=np.int64, count=2 * len(asked)).reshape(-1, 2).T
        found: list[Rows] = []
        for pair in range(len(KEY_PAIRS)):
            wanted = keys[pairs == pair].astype(np.uint32)
            if len(wanted):
                at = column * len(KEY_PAIRS) + pair
                found += [self._large[at].rows_of(wanted), self._fresh[at].rows_of(wanted)]
        return set(np.concatenate(found).tolist())

    def entries(self) -> int:
        """Keys held (what the map's memory grows with)."""
        return sum(len(run) for run in (*self._large, *self._fresh))
