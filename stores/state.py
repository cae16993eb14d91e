"""The state store chosen by the settings: `state: embedded` keeps each store in its SQLite file under
data_dir (one machine), `state: postgres` in the shared PostgreSQL database (replicas on several
machines, `yuqing state setup` first)."""

from __future__ import annotations

from pathlib import Path

from analysis.bursts import BurstMemory
from stores.analysis_state import AnalysisStateStore, PostgresAnalysisState
from stores.bursts import PostgresBurstStore, SqliteBurstStore
from stores.seen import PostgresSeenStore, SeenStore, SqliteSeenStore
from yuqing.config import Settings

SEEN_FILE = "crawl-seen.sqlite3"
BURSTS_FILE = "bursts.sqlite3"


def open_seen_store(settings: Settings) -> SeenStore:
    """The crawler's seen-store."""
    if settings.state == "postgres":
        return PostgresSeenStore(settings.postgres)
    return SqliteSeenStore(settings.path(SEEN_FILE))


def open_burst_memory(settings: Settings) -> BurstMemory:
    """Where a burst tracker that keeps its own counts keeps them."""
    if settings.state == "postgres":
        return PostgresBurstStore(settings.postgres)
    return SqliteBurstStore(settings.path(BURSTS_FILE))


def open_analysis_state(settings: Settings, state_file: Path) -> AnalysisStateStore | PostgresAnalysisState:
    """The analyzer's memory of events, reprints and crawled policies: `state_file` when embedded."""
    if settings.state == "postgres":
        return PostgresAnalysisState(settings.postgres)
    return AnalysisStateStore(state_file)
