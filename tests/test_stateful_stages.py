"""The split analysis: any number of enrich workers, one active events worker with standbys that take over
from the shared analysis state; the events stage's topic has one partition."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

from analysis.enrich import Analyzer, Annotated
from stores.analysis_state import AnalysisStateStore
from tests.test_analysis_events import ARTICLE, RENOVATION, START, post
from transport.base import ANNOTATED_POSTS, ENRICHED_POSTS, RAW_POSTS
from transport.sqlite_log import SqliteTransport
from workers.build import load_gazetteer, shipped_language, shipped_segmenter
from workers.runner import Worker
from workers.stages import EnrichStage, EventsStage
from yuqing.config.settings import DEFAULT_DATA
from yuqing.schema import GOV_DOC_NUMBER, GOV_ISSUER, EnrichedPost, Post

INCIDENT = "牡丹区何楼街道幸福小区拆迁户第{n}次集体上访维权，补偿款至今未到位，居民情绪激动"


def analyzer(state: Path) -> Analyzer:
    return Analyzer(shipped_language(), [], [], load_gazetteer(DEFAULT_DATA / "gazetteer.yaml", shipped_segmenter()),
                    AnalysisStateStore(state))


def test_a_standby_carries_on_the_active_workers_events(tmp_path: Path) -> None:
    state = tmp_path / "analysis.sqlite3"
    standby = analyzer(state)  # started before the active one wrote anything: its memory is empty
    active = analyzer(state)
    first = [active.enrich(post(n, n, INCIDENT.format(n=n))) for n in range(4)]
    active.changed_events()  # the events stage saves after every batch, before it publishes or commits
    assert len({p.event_id for p in first}) == 1 and first[0].event_id

    # The active worker is gone (no close); the standby is given the partition.
    standby.catch_up()
    redelivered = standby.enrich(post(3, 3, INCIDENT.format(n=3)))  # not committed by the dead worker
    later = standby.enrich(post(9, 9, INCIDENT.format(n=9)))
    assert redelivered.event_id == later.event_id == first[0].event_id
    events = {e.id: e for e in standby.changed_events()}
    assert events[first[0].event_id].size == 5  # four before, one new; the redelivery counted once
    standby.close()


def test_an_analyzer_that_wrote_last_keeps_its_memory(tmp_path: Path) -> None:
    only = analyzer(tmp_path / "analysis.sqlite3")
    only.enrich(post(1, 1, INCIDENT.format(n=1)))
    only.changed_events()
    held = only.clusterer
    only.catch_up()  # nobody else wrote: nothing is read again
    assert only.clusterer is held
    only.close()


def test_the_events_topic_has_one_partition_held_by_one_member(tmp_path: Path) -> None:
    transport = SqliteTransport(tmp_path / "log.sqlite3", partitions=4)
    transport.publish_many(ANNOTATED_POSTS, [(f"p{n}", {"n": n}) for n in range(20)])
    transport.publish_many(RAW_POSTS, [(f"p{n}", {"n": n}) for n in range(20)])
    assert {s.topic: s.messages for s in transport.stats()} == {ANNOTATED_POSTS: 20, RAW_POSTS: 20}
    active = transport.consumer("yuqing-events", [ANNOTATED_POSTS], member="a")
    standby = transport.consumer("yuqing-events", [ANNOTATED_POSTS], member="b")
    got = active.poll(100, 0.1)
    assert len(got) == 20 and {m.partition for m in got} == {0}
    assert standby.poll(100, 0.1) == []
    raw = transport.consumer("yuqing-enrich", [RAW_POSTS], member="c")
    assert len({m.partition for m in raw.poll(100, 0.1)}) > 1  # the raw topic keeps its partitions
    for consumer in (active, standby, raw):
        consumer.close()
    transport.close()


def test_enrich_then_events_make_what_one_analyzer_makes(tmp_path: Path) -> None:
    posts = [post(n, n, INCIDENT.format(n=n)) for n in range(3)] + [post(5, 5, ARTICLE, platform="news")]
    transport = SqliteTransport(tmp_path / "log.sqlite3")
    transport.publish_many(RAW_POSTS, [(p.id, p.model_dump(mode="json")) for p in posts])
    split = analyzer(tmp_path / "split.sqlite3")
    Worker(transport, EnrichStage(transport, split.enricher), poll_timeout=0.05).run(until_idle=True)
    annotated = transport.read(ANNOTATED_POSTS)
    assert all(Annotated.from_json(m.data).post.event_id is None for m in annotated)  # no memory used there
    Worker(transport, EventsStage(transport, split), poll_timeout=0.05).run(until_idle=True)
    piped = {m.value["id"]: EnrichedPost.model_validate(m.value) for m in transport.read(ENRICHED_POSTS)}
    whole = analyzer(tmp_path / "whole.sqlite3")
    direct = {p.id: whole.enrich(p) for p in sorted(posts, key=lambda p: p.when)}
    whole.close()
    transport.close()
    assert {i: (p.event_id, p.keywords, p.sentiment, p.places) for i, p in piped.items()} == {
        i: (p.event_id, p.keywords, p.sentiment, p.places) for i, p in direct.items()}


def test_an_enrich_worker_learns_policies_another_worker_crawled(tmp_path: Path) -> None:
    transport = SqliteTransport(tmp_path / "log.sqlite3")
    enricher = analyzer(tmp_path / "analysis.sqlite3").enricher  # knows no policy yet
    crawled_elsewhere = [RENOVATION]
    stage = EnrichStage(transport, enricher, lambda: crawled_elsewhere, policy_refresh=0)
    asking = post(1, 0, "菏政办发〔2023〕12号说的屋面防水怎么还漏")
    transport.publish(RAW_POSTS, asking.model_dump(mode="json"), key=asking.id)
    Worker(transport, stage, poll_timeout=0.05).run(until_idle=True)
    (message,) = transport.read(ANNOTATED_POSTS)
    assert [link.id for link in Annotated.from_json(message.data).post.policies] == [RENOVATION.id]
    transport.close()


def test_a_policy_document_is_kept_by_the_events_stage(tmp_path: Path) -> None:
    state = tmp_path / "analysis.sqlite3"
    split = analyzer(state)
    document = Post(url="https://www.heze.gov.cn/art/2023/1/1/art_1.html", platform="gov", source="gov",
                    title=RENOVATION.title, text="为推进老旧小区改造……", published_at=START - timedelta(days=1),
                    extra={GOV_DOC_NUMBER: RENOVATION.doc_number, GOV_ISSUER: RENOVATION.department})
    annotated = split.enricher.annotate(document)
    assert annotated.policy is not None and annotated.policy.doc_number == RENOVATION.doc_number
    split.assign(Annotated.from_json(annotated.to_json()))  # as it travels between the stages
    split.close()
    stored = AnalysisStateStore(state)
    assert [p.id for p in stored.policies()] == [document.id]
    stored.close()


def test_a_batch_is_written_to_the_state_once_however_many_posts_up_to_twice_flush_every(tmp_path: Path) -> None:
    from analysis.enrich import FLUSH_EVERY

    store_path = tmp_path / "analysis.sqlite3"
    one = analyzer(store_path)
    assert one.store is not None
    for size in (FLUSH_EVERY, 2 * FLUSH_EVERY):  # a batch of FLUSH_EVERY was written twice: at its last post, then
        # once more for the titles its events chose when taken
        batch = [one.enricher.annotate(post(size + n, size + n, INCIDENT.format(n=n % 40), title=f"拆迁补偿第{n % 40}次"))
                 for n in range(size)]  # each batch later than the one before: no copy's original arrives late
        saves = one.store.saves()
        one.recall(batch)
        for annotated in batch:
            one.assign(annotated)
        assert one.changed_events()
        assert one.store.saves() == saves + 1
    # Bigger than that, it is written as it goes: what waits to be written stays bounded.
    batch = [one.enricher.annotate(post(10_000 + n, 10_000 + n, INCIDENT.format(n=n))) for n in range(2 * FLUSH_EVERY + 1)]
    saves = one.store.saves()
    one.recall(batch)
    for annotated in batch:
        one.assign(annotated)
        assert len(one._pending_posts) <= 2 * FLUSH_EVERY
    one.changed_events()
    assert one.store.saves() == saves + 2
    one.close()
