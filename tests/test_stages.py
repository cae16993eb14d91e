"""Stage adapters: what the index stage does with documents the index refuses."""

import pytest

from search.base import BulkWriteError, DocumentFailure
from search.sqlite_fts import SqliteIndex
from transport.base import ENRICHED_POSTS
from transport.sqlite_log import SqliteTransport
from workers.runner import Worker
from workers.stages import IndexStage
from yuqing.schema import EnrichedPost


class RefusingIndex(SqliteIndex):
    """The embedded index, except that it refuses some ids the way Elasticsearch reports it."""

    def __init__(self, path, refuse, status):
        super().__init__(path)
        self.refuse, self.status, self.calls = refuse, status, 0

    def upsert(self, posts):
        self.calls += 1
        posts = list(posts)
        ok = [p for p in posts if p.id not in self.refuse]
        written = super().upsert(ok)
        bad = [DocumentFailure(p.id, self.status, "mapper_parsing_exception") for p in posts if p.id in self.refuse]
        if bad and not (self.status == 429 and self.calls > 1):
            raise BulkWriteError("posts", written, bad)
        return written + super().upsert([p for p in posts if p.id in self.refuse])


def posts(n):
    return [EnrichedPost(url=f"https://news.example.cn/{i}.html", platform="news", source="s", text=f"第{i}条")
            for i in range(n)]


@pytest.fixture
def transport(tmp_path):
    t = SqliteTransport(tmp_path / "log.sqlite3", partitions=2)
    yield t
    t.close()


def test_documents_refused_for_good_go_to_dead_letters(transport, tmp_path):
    items = posts(4)
    transport.publish_many(ENRICHED_POSTS, [(p.id, p.model_dump(mode="json")) for p in items])
    index = RefusingIndex(tmp_path / "ix.sqlite3", {items[2].id}, 400)
    outcomes = Worker(transport, IndexStage(index), poll_timeout=0.05).run(until_idle=True)
    assert outcomes["processed"] == 3 and outcomes["quarantined"] == 1
    dlq = {s.topic: s.messages for s in transport.stats()}
    assert dlq[ENRICHED_POSTS + ".dlq"] == 1


def test_rejections_that_may_pass_later_are_retried(transport, tmp_path, monkeypatch):
    monkeypatch.setattr("workers.runner.time.sleep", lambda s: None)
    items = posts(3)
    transport.publish_many(ENRICHED_POSTS, [(p.id, p.model_dump(mode="json")) for p in items])
    index = RefusingIndex(tmp_path / "ix.sqlite3", {items[0].id}, 429)
    outcomes = Worker(transport, IndexStage(index), poll_timeout=0.05).run(until_idle=True)
    assert outcomes["backend_down"] >= 1 and outcomes["quarantined"] == 0
    check = SqliteIndex(tmp_path / "ix.sqlite3")
    assert all(check.get(p.id) for p in items)


def raw(post_id, published_at):
    return {"id": post_id, "url": f"https://weibo.com/{post_id}", "platform": "weibo", "source": "s",
            "text": f"郓城县停水了 {post_id}", "published_at": published_at}


@pytest.mark.parametrize("bad_date", ["0001-01-01T00:00:00", "9999-12-31T23:59:59", "1000-01-01T00:00:00"])
def test_a_post_dated_outside_the_sane_window_is_refused_and_its_neighbours_pass(tmp_path, bad_date):
    from analysis.enrich import Analyzer
    from stores.analysis_state import AnalysisStateStore
    from transport.base import RAW_POSTS
    from workers.build import load_gazetteer, shipped_language, shipped_segmenter
    from workers.stages import EnrichStage, EventsStage
    from yuqing.config.settings import DEFAULT_DATA

    # The bad post first, in one partition: it would become the analyzer's newest time, which
    # every later step reads.
    transport = SqliteTransport(tmp_path / "log.sqlite3", partitions=1)
    values = [raw("bad", bad_date), raw("w1", "2026-11-20T10:00:00"), raw("w2", "2026-11-20T10:05:00"),
              raw("w3", "2026-11-20T10:06:00")]
    transport.publish_many(RAW_POSTS, [(v["id"], v) for v in values])
    runs = []
    for _ in range(2):  # a restart must not stumble over the refused post again
        analyzer = Analyzer(shipped_language(), [], [], load_gazetteer(DEFAULT_DATA / "gazetteer.yaml", shipped_segmenter()),
                            AnalysisStateStore(tmp_path / "analysis.sqlite3"))
        worker = Worker(transport, EnrichStage(transport, analyzer.enricher), batch_size=1, poll_timeout=0.05)
        runs.append(worker.run(until_idle=True))
        Worker(transport, EventsStage(transport, analyzer), poll_timeout=0.05).run(until_idle=True)
    first, restarted = runs
    assert first["processed"] == 3 and first["quarantined"] == 1
    assert first["refused:date_out_of_range"] == 1
    assert restarted["processed"] == restarted["quarantined"] == 0
    topics = {s.topic: s.messages for s in transport.stats()}
    assert topics[RAW_POSTS + ".dlq"] == 1
    assert topics[ENRICHED_POSTS] == 3
    transport.close()


def test_alerts_name_an_event_by_its_headline_title(transport, tmp_path):
    from datetime import timedelta

    from alerts.config import parse_alert_config
    from alerts.service import AlertService
    from alerts.store import SqliteAlertStore
    from analysis.bursts import BurstTracker
    from transport.base import EVENTS
    from workers.stages import AlertStage
    from yuqing.schema import Event, now

    moment = now()
    event = Event(id="evt-1", label="化肥厂家属院 停工 牡丹区", title="化肥厂家属院改造停工数月",
                  first_seen=moment, last_seen=moment, size=12)
    transport.publish(EVENTS, event.model_dump(mode="json"), key=event.id)
    transport.publish_many(ENRICHED_POSTS, [
        (f"weibo:{n}", EnrichedPost(url=f"https://m.weibo.cn/status/{n}", platform="weibo", source="s", text="停工",
                                    published_at=moment - timedelta(minutes=n), event_id="evt-1").model_dump(mode="json"))
        for n in range(12)])
    service = AlertService(parse_alert_config({"channels": [{"name": "local_file", "type": "file"}], "rules": []}),
                           SqliteAlertStore(tmp_path / "alerts.sqlite3"), {}, rules_writer=True)
    stage = AlertStage(service, BurstTracker([], min_count=1), deliver=False, checkpoint_every=0)
    Worker(transport, stage, poll_timeout=0.05).run(until_idle=True)
    labels = {s.label for s in stage.bursts.signals(now()) if s.subject_kind == "event"}
    assert labels == {"化肥厂家属院改造停工数月"}


def test_the_index_stage_deletes_the_posts_past_its_retention_and_keeps_the_rest(transport, tmp_path):
    from datetime import timedelta

    from yuqing.schema import now

    moment = now()
    old, recent = (EnrichedPost(url=f"https://news.example.cn/{name}.html", platform="news", source="s", text=name,
                                published_at=moment - age) for name, age in (("old", timedelta(days=40)),
                                                                             ("recent", timedelta(days=20))))
    index = SqliteIndex(tmp_path / "ix.sqlite3")
    index.upsert([old])  # indexed earlier, before the office set a retention
    transport.publish_many(ENRICHED_POSTS, [(p.id, p.model_dump(mode="json")) for p in (recent,)])
    Worker(transport, IndexStage(index, retention=timedelta(days=30)), poll_timeout=0.05).run(until_idle=True)
    with SqliteIndex(tmp_path / "ix.sqlite3") as check:  # the worker closed its stage's index
        assert check.get(old.id) is None and check.get(recent.id) == recent


INCIDENT_POSTS = 400


def analysed_incidents(transport, store=None):
    """INCIDENT_POSTS Weibo posts about four incidents, through the enrich and events stages in batches of 40 (the
    analyzer's memory in `store`, if given), and the index stage; returns the analyzer."""
    import random
    from datetime import timedelta

    from analysis.enrich import Analyzer
    from transport.base import RAW_POSTS
    from workers.build import load_gazetteer, shipped_language, shipped_segmenter
    from workers.stages import EnrichStage, EventsStage
    from yuqing.config.settings import DEFAULT_DATA
    from yuqing.schema import Post, now

    rng = random.Random(5)
    start = now() - timedelta(hours=6)
    incidents = ["牡丹区幸福小区楼顶漏水", "曹县锦绣花园停水三天", "单县阳光新村供暖不热", "定陶区化肥厂家属院拆迁补偿"]
    words = ["居民", "反映", "投诉", "回复", "部门", "处理", "希望", "尽快", "解决", "社区", "多次", "物业"]
    raws = [Post(id=f"weibo:{n}", url=f"https://m.weibo.cn/status/{n}", platform="weibo", source="s",
                 text=f"{rng.choice(incidents)}，{''.join(rng.choices(words, k=6))}",
                 published_at=start + timedelta(seconds=30 * n)) for n in range(INCIDENT_POSTS)]
    transport.publish_many(RAW_POSTS, [(p.id, p.model_dump(mode="json")) for p in raws])
    analyzer = Analyzer(shipped_language(), [], [], load_gazetteer(DEFAULT_DATA / "gazetteer.yaml", shipped_segmenter()),
                        store)
    Worker(transport, EnrichStage(transport, analyzer.enricher), batch_size=40, poll_timeout=0.05).run(until_idle=True)
    Worker(transport, EventsStage(transport, analyzer), batch_size=40, poll_timeout=0.05).run(until_idle=True)
    return analyzer


def assert_indexed_as_analysed(index_file, analyzer):
    """The index holds each live event as the analyzer last left it, in substance."""
    from analysis.enrich import _substance

    final = {e.id: e for e in (state.to_event() for state in analyzer.clusterer.events.values())}
    live = {eid: e for eid, e in final.items() if not e.merged_into}
    with SqliteIndex(index_file) as check:
        indexed = {e.id: e for e in check.events(limit=1000)}
        assert check.event_count() == len(indexed)
    assert live and indexed.keys() == live.keys()
    assert {eid: _substance(e) for eid, e in indexed.items()} == {eid: _substance(e) for eid, e in live.items()}
    return live


def test_every_change_of_substance_reaches_the_index_and_the_alert_stage_in_fewer_messages_than_posts(transport,
                                                                                                       tmp_path):
    """Events go out once per batch and change of substance, not per post; what the index and the alert
    stage end with is still each event as the analyzer last left it."""
    from alerts.config import parse_alert_config
    from alerts.service import AlertService
    from alerts.store import SqliteAlertStore
    from analysis.bursts import BurstTracker
    from transport.base import EVENTS
    from workers.stages import AlertStage

    analyzer = analysed_incidents(transport)
    sent = sum(s.messages for s in transport.stats() if s.topic == EVENTS)
    assert 0 < sent < INCIDENT_POSTS / 2

    index = SqliteIndex(tmp_path / "ix.sqlite3")
    Worker(transport, IndexStage(index), poll_timeout=0.05).run(until_idle=True)
    service = AlertService(parse_alert_config({"channels": [{"name": "local_file", "type": "file"}], "rules": []}),
                           SqliteAlertStore(tmp_path / "alerts.sqlite3"), {}, rules_writer=True)
    alert = AlertStage(service, BurstTracker([], min_count=1), deliver=False, checkpoint_every=0)
    Worker(transport, alert, poll_timeout=0.05).run(until_idle=True)

    live = assert_indexed_as_analysed(tmp_path / "ix.sqlite3", analyzer)
    probe = EnrichedPost(url="https://m.weibo.cn/status/probe", platform="weibo", source="s", text="")
    named = {eid: alert.bursts.subjects_of(probe.model_copy(update={"event_id": eid}))[0][2] for eid in live}
    assert named == {eid: e.headline for eid, e in live.items()}


def test_a_state_store_down_while_a_batch_is_saved_loses_no_change_of_an_event(transport, tmp_path):
    """The analyzer's store fails the first time each batch is saved: each batch is delivered again once the store
    is back, and the events it changed still reach the index (before, they were taken as handed out, and the
    last batch's changes never reached it)."""
    from stores.analysis_state import AnalysisStateStore
    from yuqing.errors import BackendUnavailable

    class DownAtEachFirstTry(AnalysisStateStore):
        outages = 0
        tried = False

        def save(self, events, posts, policies):
            posts = list(posts)
            if posts and not self.tried:
                self.tried, self.outages = True, self.outages + 1
                raise BackendUnavailable("analysis state: connection refused")
            self.tried = False
            return super().save(events, posts, policies)

    store = DownAtEachFirstTry(tmp_path / "state.sqlite3")
    analyzer = analysed_incidents(transport, store)
    assert store.outages == INCIDENT_POSTS // 40
    Worker(transport, IndexStage(SqliteIndex(tmp_path / "ix.sqlite3")), poll_timeout=0.05).run(until_idle=True)
    assert_indexed_as_analysed(tmp_path / "ix.sqlite3", analyzer)


def test_the_index_stage_writes_a_batch_with_the_collector_paused_and_restores_it(transport, tmp_path):
    import gc

    class WatchedIndex(SqliteIndex):
        collecting: list[bool] = []

        def upsert(self, posts):
            self.collecting.append(gc.isenabled())
            return super().upsert(posts)

    items = posts(3)
    transport.publish_many(ENRICHED_POSTS, [(p.id, p.to_json()) for p in items])
    index = WatchedIndex(tmp_path / "ix.sqlite3")
    assert gc.isenabled()
    outcomes = Worker(transport, IndexStage(index), poll_timeout=0.05).run(until_idle=True)
    assert outcomes["processed"] == 3
    assert WatchedIndex.collecting and not any(WatchedIndex.collecting)
    assert gc.isenabled()


def test_the_enrich_stage_analyses_a_batch_with_the_collector_paused_and_restores_it(transport, tmp_path):
    import gc

    from transport.base import ANNOTATED_POSTS, RAW_POSTS
    from workers.build import enricher_from_settings
    from workers.stages import EnrichStage
    from yuqing.config import Settings

    enricher = enricher_from_settings(Settings(data_dir=tmp_path))
    collecting = []
    start = enricher.start

    def watched_start(post):
        collecting.append(gc.isenabled())
        return start(post)

    enricher.start = watched_start
    transport.publish_many(RAW_POSTS, [(v["id"], v) for v in (raw("a", "2026-11-20T10:00:00"),
                                                              raw("b", "2026-11-20T10:05:00"))])
    assert gc.isenabled()
    outcomes = Worker(transport, EnrichStage(transport, enricher), poll_timeout=0.05).run(until_idle=True)
    assert outcomes["processed"] == 2
    assert collecting == [False, False]
    assert gc.isenabled()
    assert {s.topic: s.messages for s in transport.stats()}[ANNOTATED_POSTS] == 2
