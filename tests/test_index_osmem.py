"""The shared behaviour suite against a real server process: osmem-server, an in-memory
OpenSearch-compatible server whose binary ships in the `osmem-server` wheel (dev extra).

The server is started once per session on loopback by the `osmem_server` fixture of the wheel's
pytest plugin; each test works in its own clone (`osmem_clone`), so tests never see each other's
documents. Two known gaps of the server, handled here and nowhere else:
- it refuses the ES 8 client's `application/vnd.elasticsearch+json; compatible-with=8` media type:
  the index is opened with `plain_json=True` (see `search.elastic.PlainJsonNode`);
- it has no `update_by_query` with a script: the checks that merge events are skipped;
- its `search_after` after a `_score` repeats hits of equal score (seen with 0.1.6): paging by
  relevance is checked on SQLite and on a live Elasticsearch only.
"""

import pytest

pytest.importorskip("osmem_server", reason="osmem-server is not installed (pip install -e '.[dev]')")

from search.elastic import ElasticIndex
from tests.index_suite import IndexSuite
from yuqing.config.settings import ElasticsearchSettings


@pytest.fixture
def empty_index(osmem_clone):
    ix = ElasticIndex(ElasticsearchSettings(url=osmem_clone.url, index="yuqing-test"), refresh="wait_for",
                      plain_json=True, initial_backoff=0.05, max_retries=0)
    ix.setup()
    yield ix
    ix.close()


class TestOsmemIndex(IndexSuite):
    """The shared checks against osmem-server (`empty_index` above), but for its known gaps."""

    @pytest.mark.skip(reason="osmem-server has no update_by_query with a script (the live Elasticsearch suite runs it)")
    def test_posts_of_a_merged_event_follow_it_along_a_chain_of_merges(self):
        pass

    @pytest.mark.skip(reason="osmem-server has no update_by_query with a script, which merging an event sends")
    def test_events_upsert_and_merged_are_hidden(self):
        pass

    @pytest.mark.skip(reason="osmem-server has no update_by_query with a script, which merging an event sends")
    def test_a_post_arriving_after_its_event_was_merged_away_is_indexed_under_the_survivor(self):
        pass

    @pytest.mark.skip(reason="osmem-server has no update_by_query with a script, which merging an event sends")
    def test_a_merged_away_event_is_not_read_by_id(self):
        pass

    @pytest.mark.parametrize("sort", ["newest", "reach", "relevance"])
    def test_cursors_page_through_every_sort(self, corpus, sort):
        if sort == "relevance":
            pytest.skip("osmem-server's search_after after a _score repeats hits of equal score")
        super().test_cursors_page_through_every_sort(corpus, sort)
