"""The embedded index's behavioural checks, run against a real Elasticsearch (and Kibana).

Set YUQING_ES_URL (credentials as usual: YUQING_ELASTICSEARCH__API_KEY or __USERNAME/__PASSWORD)
and, for the dashboards, YUQING_KIBANA_URL (YUQING_KIBANA__API_KEY...). Each run works in indices
of its own (`yuqing-test-<random>`) and deletes them afterwards.

`TestLiveElastic` runs the shared checks of tests/index_suite.py (its base class), so every backend
answers to the same expectations, with this module's `empty_index` fixture; and what only a live
cluster shows.
"""

import os
import uuid
from datetime import timedelta

import pytest
import requests

from dashboards.kibana import KibanaClient, load_saved_objects
from search.base import SearchQuery
from search.elastic import ElasticIndex
from tests.index_suite import SEED, T0, IndexSuite
from yuqing.config import load_settings
from yuqing.schema import CrawlHealth, Event

ES_URL = os.environ.get("YUQING_ES_URL")
KIBANA_URL = os.environ.get("YUQING_KIBANA_URL")

pytestmark = pytest.mark.live


@pytest.fixture
def empty_index():
    if not ES_URL:
        pytest.skip("set YUQING_ES_URL to run against a live Elasticsearch")
    settings = load_settings().elasticsearch.model_copy(
        update={"url": ES_URL, "index": f"yuqing-test-{uuid.uuid4().hex[:10]}"})
    ix = ElasticIndex(settings, refresh="wait_for", initial_backoff=0.2)
    ix.setup()
    yield ix
    for name in (ix.posts_index, ix.events_index, ix.health_index):
        ix.client.options(ignore_status=404).indices.delete(index=name)
        ix.client.options(ignore_status=404).indices.delete_index_template(name=name)
    ix.close()


class TestLiveElastic(IndexSuite):
    """The shared checks, and what only a live cluster shows."""

    def test_setup_twice_changes_nothing(self, index):
        assert [s.created for s in index.setup()] == [False, False, False]
        assert index.search(SearchQuery()).total == len(SEED)

    def test_get_and_missing_post(self, index):
        assert index.get(SEED[0].id) == SEED[0]
        assert index.get("weibo:does-not-exist") is None

    def test_latest_crawl_run_wins_even_when_it_arrived_first(self, index):
        def run(hours, items):
            return CrawlHealth(source="hzrb", kind="news", started_at=T0 + timedelta(hours=hours),
                               finished_at=T0 + timedelta(hours=hours), items=items)
        index.record_health([run(5, 7)])
        index.record_health([run(2, 1)])  # older, delivered late
        assert [(h.source, h.items) for h in index.crawl_health()] == [("hzrb", 7)]

    def test_events_page_past_one_request(self, index):
        events = [Event(id=f"ev-{n}", label=f"事件{n}", first_seen=T0, last_seen=T0 + timedelta(minutes=n), size=n)
                  for n in range(7)]
        index.upsert_events(events)
        index.page_size = 3
        assert [e.id for e in index.events(limit=100)] == [f"ev-{n}" for n in reversed(range(7))]
        assert len(index.events(limit=5)) == 5


@pytest.mark.skipif(not KIBANA_URL, reason="set YUQING_KIBANA_URL to run the import against a live Kibana")
def test_kibana_import_is_idempotent():
    settings = load_settings()
    client = KibanaClient(settings.kibana.model_copy(update={"url": KIBANA_URL}))
    objects = load_saved_objects(settings.elasticsearch.index)
    try:
        assert client.import_objects(objects).success_count == len(objects)
        assert client.import_objects(objects).success_count == len(objects)
        found = client.session.get(f"{client.base_url}/api/saved_objects/dashboard/yuqing-dashboard-overview",
                                   timeout=30)
        assert found.status_code == 200, found.text
        assert found.json()["attributes"]["title"].startswith("舆情总览")
    except requests.RequestException as exc:
        pytest.fail(f"Kibana at {KIBANA_URL}: {exc}")
    finally:
        client.close()
