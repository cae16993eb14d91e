"""bench.startup fills a data directory as days of a city's volume leave it, through the stores themselves."""

from __future__ import annotations

from pathlib import Path

import pytest

from alerts.service import OPEN_STATUSES
from alerts.store import SqliteAlertStore
from bench import startup
from search.base import SearchQuery
from search.sqlite_fts import SqliteIndex
from stores.analysis_state import AnalysisStateStore
from transport.base import RAW_POSTS
from transport.sqlite_log import SqliteTransport
from workers.stages import stage_groups


def test_the_fill_holds_every_day_in_the_index_and_a_window_in_the_state(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    for name, value in {"TEMPLATE_POSTS": 120, "ALERTS_PER_DAY": 4, "RETAINED_POSTS": 150, "LAG": 7,
                        "WINDOW_DAYS": 2}.items():
        monkeypatch.setattr(startup, name, value)
    templates = startup.make_templates(per_day=300, seed=1)
    assert len(templates.posts) == 120 and templates.events
    held = startup.fill(tmp_path, posts=700, per_day=300, templates=templates, open_days=1)
    assert held["days"] == 3 and held["alerts"] == 12 and held["open_alerts"] == 4

    with SqliteIndex(tmp_path / "index.sqlite3") as index:
        assert index.count(SearchQuery()) == 700
        days = index.facets(SearchQuery(), ()).buckets
        assert [bucket.count for bucket in days if bucket.count] == [300, 300, 100]
        assert index.event_count() > 0
    state = AnalysisStateStore(tmp_path / "analysis.sqlite3")
    (in_state,) = state.db.execute("SELECT count(*) FROM posts").fetchone()
    assert in_state == held["state_posts"] and 100 < in_state < 700  # the last two days', not all
    assert state.latest_events(1)
    state.close()
    alerts = SqliteAlertStore(tmp_path / "alerts.sqlite3", read_only=True)
    assert alerts.count() == 12 and alerts.count(OPEN_STATUSES) == 4
    alerts.close()
    log = SqliteTransport(tmp_path / "transport.sqlite3")
    lag = {stat.topic: stat.lag for stat in log.stats(expected=stage_groups())}
    assert lag[RAW_POSTS] == {"yuqing-enrich": 7}
    assert all(waiting == 0 for topic, groups in lag.items() if topic != RAW_POSTS for waiting in groups.values())
    log.close()
