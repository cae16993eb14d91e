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
    from workers.stages import AnalyzeStage
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
        worker = Worker(transport, AnalyzeStage(transport, analyzer), batch_size=1, poll_timeout=0.05)
        runs.append(worker.run(until_idle=True))
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
