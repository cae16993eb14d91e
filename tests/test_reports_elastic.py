"""The three reports on the Elasticsearch backend state the same figures as on the embedded index.

Runs against osmem-server (an in-memory OpenSearch-compatible server process, dev extra); see
tests/test_index_osmem.py for the server's known gaps (none of them is used by the reports).
"""

from __future__ import annotations

from datetime import timedelta

import pytest

pytest.importorskip("osmem_server", reason="osmem-server is not installed (pip install -e '.[dev]')")

from reports.daily import build_daily_report
from reports.figures import load_manifest, verify
from reports.special import build_special_report
from reports.weekly import Week, build_weekly_report
from search.elastic import ElasticIndex
from search.sqlite_fts import SqliteIndex
from tests.test_reports_daily import DAY, NOW, POLICIES, START, Factory, alerts, events, health
from yuqing.config.settings import ElasticsearchSettings
from yuqing.schema import BOARD_ANSWERED


def write_all(index, out):
    week = Week.parse("2026-W48", NOW + timedelta(days=5))
    return [
        build_daily_report(index, alerts=alerts(), policies=POLICIES, health=health(), day=DAY, now=NOW, out_dir=out,
                           markdown=False),
        build_weekly_report(index, week, alerts=alerts(), policies=POLICIES, health=health(), out_dir=out,
                            formats=("html",))[0],
        build_special_report(index, "ev-lxxq", alerts=alerts(), policies=POLICIES, out_dir=out, now=NOW,
                             formats=("html",))[0],
    ]


def figures(path):
    manifest = load_manifest(path)[1]
    return {f["key"]: f["value"] for f in manifest["figures"]}, {p["id"] for p in manifest["posts"]}


def test_both_indexes_give_the_same_figures(osmem_clone, tmp_path):
    f = Factory()
    f.baseline()
    f.burst = f.burst_today()
    f.ordinary_today()
    f.private = f.add(START + timedelta(hours=11), label="negative", platform="board", source="hz-board",
                      text="小区门口的路一直没修", places=("牡丹区",), policies=("hz-lxxq",), event="ev-lxxq",
                      extra={BOARD_ANSWERED: False})
    with SqliteIndex(tmp_path / "index.sqlite3") as embedded:
        embedded.upsert(f.posts)
        embedded.upsert_events(events(f))
        on_sqlite = [figures(p) for p in write_all(embedded, tmp_path / "sqlite")]
    elastic = ElasticIndex(ElasticsearchSettings(url=osmem_clone.url, index="yuqing-test"), refresh="wait_for",
                           plain_json=True, initial_backoff=0.05, max_retries=0)
    try:
        elastic.setup()
        elastic.upsert(f.posts)
        elastic.upsert_events(events(f))
        written = write_all(elastic, tmp_path / "elastic")
        on_elastic = [figures(p) for p in written]
        for path in written:
            assert verify(elastic, *load_manifest(path))[1] == []
    finally:
        elastic.close()
    for (sqlite_figures, sqlite_posts), (elastic_figures, elastic_posts) in zip(on_sqlite, on_elastic, strict=True):
        assert elastic_figures == sqlite_figures
        assert elastic_posts == sqlite_posts
    assert on_elastic[0][0]["day.total"] == 71 and on_elastic[2][0]["event.total"] == 61
