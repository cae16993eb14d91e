"""What SQLite plans for the statements a piece of code runs: for tests that a read stays on an index as the
history a store keeps grows (how much that saves is bench.startup's to measure)."""

from __future__ import annotations

import sqlite3
from collections.abc import Callable


def plans_of(conn: sqlite3.Connection, work: Callable[[], object]) -> dict[str, list[str]]:
    """Each statement `work` runs on `conn` (as run, its values bound) -> the steps of its query plan."""
    statements: list[str] = []
    conn.set_trace_callback(statements.append)
    try:
        work()
    finally:
        conn.set_trace_callback(None)
    return {sql: [row[3] for row in conn.execute(f"EXPLAIN QUERY PLAN {sql}")] for sql in statements}


def full_scans(plans: dict[str, list[str]], table: str) -> list[str]:
    """The statements that read every row of `table` (a SCAN not through an index)."""
    return [sql for sql, steps in plans.items()
            if any((step + " ").startswith(f"SCAN {table} ") and "INDEX" not in step for step in steps)]


def steps_of(conn: sqlite3.Connection, work: Callable[[], object]) -> tuple[int, object]:
    """How many steps of SQLite's virtual machine `work` takes on `conn` (those of the statements a virtual table
    such as FTS5 runs to read its own tables included), and what it returned: work counted without a clock."""
    steps = 0

    def step() -> int:
        nonlocal steps
        steps += 1
        return 0  # go on

    conn.set_progress_handler(step, 1)
    try:
        result = work()
    finally:
        conn.set_progress_handler(None, 1)
    return steps, result
