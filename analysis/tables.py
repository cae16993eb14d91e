"""Derived tables (jieba's prefix dictionary, the sentiment model's ratios) and who keeps them.

Building a table costs a fraction of a second per process; a `TableKeeper` handed in by the
process's entry point (`stores.tables.PrivateTableCache` for the `yuqing` command) may keep it
between processes. Without one, each process builds its tables itself: analysis opens no cache.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol, TypeVar

T = TypeVar("T")


class TableKeeper(Protocol):
    def kept_table(self, name: str, key: str, build: Callable[[], T], valid: Callable[[object], bool]) -> T:
        """Table `name` derived from inputs described by `key`: a kept copy that passes `valid`,
        else `build()` (kept for next time if the keeper can)."""
        ...


class BuildEachTime:
    """Keeps nothing: every process builds its tables."""

    def kept_table(self, name: str, key: str, build: Callable[[], T], valid: Callable[[object], bool]) -> T:
        return build()


_keeper: TableKeeper = BuildEachTime()


def use_keeper(keeper: TableKeeper) -> None:
    """Keep tables with `keeper` from now on (tables already built in this process stay)."""
    global _keeper
    _keeper = keeper


def kept_table(name: str, key: str, build: Callable[[], T], valid: Callable[[object], bool]) -> T:
    return _keeper.kept_table(name, key, build, valid)
