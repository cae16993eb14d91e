"""The analysis objects a worker or a command runs, built from the settings: the data files read, the
stores opened and handed in. `analysis/` itself reads no settings and opens no file."""

from __future__ import annotations

from functools import cache
from pathlib import Path

from analysis.bursts import BurstTracker
from analysis.enrich import Analyzer, Enricher
from analysis.gazetteer import Gazetteer
from analysis.language import Language
from analysis.segment import Segmenter
from stores.language import load_keyword_table, load_segmenter, load_sentiment_model
from stores.state import open_analysis_state, open_burst_memory
from stores.tables import process_keeper
from workers.runner import collector_paused
from yuqing.config import Settings
from yuqing.config.datafiles import Watchlist, load_gazetteer_file, load_policies, load_watchlists
from yuqing.schema import Policy

ANALYSIS_STATE_FILE = "analysis.sqlite3"


@cache
def shipped_segmenter() -> Segmenter:
    """The process's segmenter: one, because the terms every gazetteer, watchlist and policy adds to
    it are then tokens wherever the process segments (the analyzer, its gazetteer, the burst tracker's)."""
    return load_segmenter(process_keeper())


@cache
def shipped_language() -> Language:
    """The process's segmenter, keyword table and sentiment model, loaded once on first use; derived
    tables through the table keeper the entry point chose (`stores.tables.use_keeper`)."""
    return Language(shipped_segmenter(), load_keyword_table(), load_sentiment_model(keeper=process_keeper()))


def load_gazetteer(path: Path, segmenter: Segmenter | None) -> Gazetteer:
    return Gazetteer(load_gazetteer_file(path), segmenter)


def configured_policies(settings: Settings) -> list[Policy]:
    return load_policies(settings.policies_file) if settings.policies_file.exists() else []


def configured_watchlists(settings: Settings) -> list[Watchlist]:
    return load_watchlists(settings.watchlists_file) if settings.watchlists_file.exists() else []


def analyzer_from_settings(settings: Settings, state_file: Path | None) -> Analyzer:
    """The configured analyzer; when `state_file` is given it remembers events across runs, in that file or (with
    `state: postgres`) in the shared state database."""
    language = shipped_language()
    # What a start decodes (the events held, some hundred thousand dicts and lists) lives as long as the analyzer:
    # collected while it piles up, it would be walked again and again for nothing, with all the process holds.
    with collector_paused():
        return Analyzer(
            language, configured_policies(settings), configured_watchlists(settings),
            load_gazetteer(settings.gazetteer_file, language.segmenter),
            open_analysis_state(settings, state_file) if state_file is not None else None,
        )


def burst_tracker_from_settings(settings: Settings, own_memory: bool = True) -> BurstTracker:
    """The configured tracker; with `own_memory` its counts are kept in the state store (`state` in the settings),
    without, whoever runs it keeps them (the alert worker: with its rules' memory and offsets)."""
    return BurstTracker(
        load_watchlists(settings.watchlists_file),
        gazetteer=load_gazetteer(settings.gazetteer_file, None),  # places' lineage only: no words read
        memory=open_burst_memory(settings) if own_memory else None,
        policies=configured_policies(settings),
    )


def enricher_from_settings(settings: Settings) -> Enricher:
    """The configured enricher, knowing the configured policies and those crawled so far."""
    language = shipped_language()
    return Enricher(language, [*configured_policies(settings), *stored_policies(settings)],
                    configured_watchlists(settings), load_gazetteer(settings.gazetteer_file, language.segmenter))


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
