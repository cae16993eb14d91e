"""The analysis objects a worker or a command runs, built from the settings: the data files read, the
stores opened and handed in. `analysis/` itself reads no settings and opens no file."""

from __future__ import annotations

from pathlib import Path

from analysis.bursts import BurstTracker
from analysis.enrich import Analyzer, Enricher
from analysis.gazetteer import Gazetteer
from stores.state import open_analysis_state, open_burst_memory
from yuqing.config import Settings
from yuqing.config.datafiles import Watchlist, load_gazetteer_file, load_policies, load_watchlists
from yuqing.schema import Policy

ANALYSIS_STATE_FILE = "analysis.sqlite3"


def load_gazetteer(path: Path) -> Gazetteer:
    return Gazetteer(load_gazetteer_file(path))


def configured_policies(settings: Settings) -> list[Policy]:
    return load_policies(settings.policies_file) if settings.policies_file.exists() else []


def configured_watchlists(settings: Settings) -> list[Watchlist]:
    return load_watchlists(settings.watchlists_file) if settings.watchlists_file.exists() else []


def analyzer_from_settings(settings: Settings, state_file: Path | None) -> Analyzer:
    """The configured analyzer; when `state_file` is given it remembers events across runs, in that file or (with
    `state: postgres`) in the shared state database."""
    return Analyzer(
        configured_policies(settings), configured_watchlists(settings), load_gazetteer(settings.gazetteer_file),
        open_analysis_state(settings, state_file) if state_file is not None else None,
    )


def burst_tracker_from_settings(settings: Settings, own_memory: bool = True) -> BurstTracker:
    """The configured tracker; with `own_memory` its counts are kept in the state store (`state` in the settings),
    without, whoever runs it keeps them (the alert worker: with its rules' memory and offsets)."""
    return BurstTracker(
        load_watchlists(settings.watchlists_file),
        gazetteer=load_gazetteer(settings.gazetteer_file),
        memory=open_burst_memory(settings) if own_memory else None,
        policies=configured_policies(settings),
    )


def enricher_from_settings(settings: Settings) -> Enricher:
    """The configured enricher, knowing the configured policies and those crawled so far."""
    return Enricher([*configured_policies(settings), *stored_policies(settings)], configured_watchlists(settings),
                    load_gazetteer(settings.gazetteer_file))


def stored_policies(settings: Settings) -> list[Policy]:
    """The policy documents crawled so far, as the events stage keeps them."""
    path = settings.path(ANALYSIS_STATE_FILE)
    if settings.state != "postgres" and not path.exists():
        return []
    store = open_analysis_state(settings, path)
    try:
        return store.policies()
    finally:
        store.close()
