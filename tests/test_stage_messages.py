"""What the stages send each other, on a realistic stream (`bench.soak.Stream`: platforms, incidents, reprints, board
messages; real texts from ../shared when present, else the sample site's): every value reads back as the object
that was sent, and says what the dict-building encoding it replaced said (kept here as the reference), the
post's text once instead of twice. Broken values still go to the dead-letter topic, with pydantic's reason."""

from __future__ import annotations

import dataclasses
import random
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import orjson
import pytest
from pydantic import TypeAdapter, ValidationError
from pydantic_core import PydanticSerializationError

from analysis.enrich import Analyzer, Annotated
from analysis.events import MIN_REPRINT_FEATURES, reprint_simhashes
from bench.soak import Stream
from transport.base import ANNOTATED_POSTS, ENRICHED_POSTS, RAW_POSTS, dead_letter, encode, undecodable_value
from transport.sqlite_log import SqliteTransport
from workers.build import load_gazetteer, shipped_language, shipped_segmenter
from workers.runner import ERROR_HEADER, Worker
from workers.stages import EnrichStage, EventsStage, IndexStage
from yuqing.config.settings import DEFAULT_DATA
from yuqing.schema import SHANGHAI, EnrichedPost, Event, Policy, Post, ReprintLink, Validity

POSTS = 600


def reference_annotated(annotated: Annotated) -> dict[str, Any]:
    """The annotated message as it was written before it went straight to bytes: a dict of dumps."""
    clues = annotated.clues
    return {"post": annotated.post.model_dump(mode="json"),
            "clues": {"keywords": [list(pair) for pair in clues.keywords], "areas": clues.areas,
                      "anchors": clues.anchors, "author_anchors": clues.author_anchors,
                      "headline": [clues.headline[0], int(clues.headline[1])] if clues.headline else None,
                      "simhash": clues.simhash, "lead_simhash": clues.lead_simhash},
            "policy": annotated.policy.model_dump(mode="json") if annotated.policy else None}


def without_text_copy(post: dict[str, Any]) -> dict[str, Any]:
    return {name: value for name, value in post.items() if name != "masked_text" or value != post["text"]}


@pytest.fixture(scope="module")
def analysed() -> tuple[list[Post], list[Annotated], list[EnrichedPost], list[Event], list[ReprintLink]]:
    stream = Stream(POSTS, random.Random(7))
    start = datetime.combine(datetime.now(SHANGHAI).date() - timedelta(days=1), datetime.min.time(), SHANGHAI)
    posts = list(stream.day(0, start))
    analyzer = Analyzer(shipped_language(), [], [],
                        load_gazetteer(DEFAULT_DATA / "gazetteer.yaml", shipped_segmenter()), None)
    annotated = [analyzer.enricher.annotate(post) for post in posts]
    enriched = [analyzer.assign(item) for item in annotated]
    return posts, annotated, enriched, analyzer.changed_events(), analyzer.take_relinked()


def test_an_annotated_post_reads_back_as_sent_and_says_what_the_dict_encoding_said(analysed) -> None:
    _, annotated, _, _, _ = analysed
    assert any(a.clues.headline for a in annotated) and any(a.clues.keywords for a in annotated)
    for item in annotated:
        sent = item.to_json()
        assert Annotated.from_json(sent) == item
        reference = reference_annotated(item)
        assert orjson.loads(sent) == {**reference, "post": without_text_copy(reference["post"])}
        assert b'"masked_text"' not in sent  # the enrich step masked the text: the copy is left out
        assert b'"features"' not in sent and b'"lead"' not in sent  # their SimHashes are sent instead


def test_an_annotated_post_sent_with_its_words_by_an_earlier_enrich_worker_reads_with_their_simhashes(analysed) -> None:
    """A backlog of the annotated topic written before an upgrade is read, each post with the SimHashes of the words
    it was sent with."""
    _, annotated, _, _, _ = analysed
    item = next(a for a in annotated if a.clues.simhash is not None)
    words = [f"词{number}" for number in range(2 * MIN_REPRINT_FEATURES)]
    earlier = orjson.loads(item.to_json())
    del earlier["clues"]["simhash"], earlier["clues"]["lead_simhash"]
    earlier["clues"].update(features=words, lead=words[:MIN_REPRINT_FEATURES])
    read = Annotated.from_json(orjson.dumps(earlier))
    assert read.clues.simhashes == reprint_simhashes(words, words[:MIN_REPRINT_FEATURES])
    assert None not in read.clues.simhashes and read.clues.simhashes != item.clues.simhashes
    assert read.post == item.post


def test_enriched_posts_events_and_links_read_back_as_sent(analysed) -> None:
    _, _, enriched, events, links = analysed
    assert {p.event_id is not None for p in enriched} == {True} and events
    assert any(p.reprint_of for p in enriched), "the stream has reprints"
    for post in enriched:
        assert EnrichedPost.from_json(post.to_json()) == post
        assert orjson.loads(post.to_json()) == without_text_copy(post.model_dump(mode="json"))
    for item in (*events, *links):
        assert type(item).model_validate_json(item.to_json()) == item
        assert orjson.loads(item.to_json()) == item.model_dump(mode="json")


def test_a_post_whose_masked_text_differs_keeps_it() -> None:
    post = EnrichedPost(url="https://m.weibo.cn/1", platform="weibo", source="w", text="电话138****5678",
                        masked_text="电话138****5678 备注")
    assert b'"masked_text"' in post.to_json()
    assert EnrichedPost.from_json(post.to_json()) == post
    whole = orjson.dumps(post.model_dump(mode="json") | {"masked_text": ""})  # written by another producer
    assert EnrichedPost.from_json(whole).masked_text == ""


def test_the_stages_pass_the_stream_through_the_log_unchanged(analysed, tmp_path: Path) -> None:
    """Through the embedded log (bytes in, bytes out): the events stage makes the posts, events and re-links that
    the analysis makes with no log between its steps."""
    posts, _, enriched, events, links = analysed
    transport = SqliteTransport(tmp_path / "log.sqlite3")
    transport.publish_many(RAW_POSTS, [(p.id, p.to_json()) for p in posts])
    analyzer = Analyzer(shipped_language(), [], [],
                        load_gazetteer(DEFAULT_DATA / "gazetteer.yaml", shipped_segmenter()), None)
    # One batch: the stream is in publication order, so the stages see what the direct analysis saw.
    for stage in (EnrichStage(transport, analyzer.enricher), EventsStage(transport, analyzer)):
        Worker(transport, stage, batch_size=len(posts) * 2, poll_timeout=0.05).run(until_idle=True)
    sent = transport.read(ENRICHED_POSTS, limit=len(posts) * 2)
    assert {p.id: p for p in (EnrichedPost.from_json(m.data) for m in sent if b'"post_id"' not in m.data)} == {
        p.id: p for p in enriched}
    assert sorted((ReprintLink.model_validate_json(m.data) for m in sent if b'"post_id"' in m.data),
                  key=lambda link: link.post_id) == sorted(links, key=lambda link: link.post_id)
    transport.close()
    assert events


def test_broken_values_go_to_the_dead_letter_topic_with_the_reason(tmp_path: Path) -> None:
    transport = SqliteTransport(tmp_path / "log.sqlite3")
    transport.publish_many(ENRICHED_POSTS, [("a", {"id": "x", "url": 3}), ("b", b'{"id": "y", "url": "https://a')])
    analyzer = Analyzer(shipped_language(), [], [],
                        load_gazetteer(DEFAULT_DATA / "gazetteer.yaml", shipped_segmenter()), None)
    transport.publish_many(ANNOTATED_POSTS, [("c", {"post": {"url": "no platform"}, "clues": {}})])
    outcomes = Worker(transport, EventsStage(transport, analyzer), poll_timeout=0.05).run(until_idle=True)
    assert outcomes["quarantined"] == 1

    from search import open_index
    from search.base import SearchQuery
    from yuqing.config import Settings

    index = open_index(Settings(data_dir=tmp_path))
    outcomes = Worker(transport, IndexStage(index), poll_timeout=0.05).run(until_idle=True)
    assert outcomes["quarantined"] == 2
    index = open_index(Settings(data_dir=tmp_path))
    assert index.count(SearchQuery()) == 0
    index.close()
    letters = sorted(transport.read(dead_letter(ENRICHED_POSTS)), key=lambda m: str(m.key))
    assert [m.key for m in letters] == ["a", "b"]
    assert "ValidationError" in letters[0].headers[ERROR_HEADER] and "url" in letters[0].headers[ERROR_HEADER]
    assert "json_invalid" in letters[1].headers[ERROR_HEADER] or "EOF" in letters[1].headers[ERROR_HEADER]
    assert letters[1].value == undecodable_value(b'{"id": "y", "url": "https://a')  # as it came, for `yuqing dlq`
    with pytest.raises(ValidationError):
        Annotated.from_json(transport.read(dead_letter(ANNOTATED_POSTS))[0].data)
    assert encode({"a": 1}) == b'{"a":1}' and encode(b"{}") == b"{}"
    transport.close()


def pydantic_bytes(post: EnrichedPost) -> bytes:
    """What pydantic's own serializer writes of a post as the stages send it: what `to_json` must write."""
    return post.__pydantic_serializer__.to_json(post, exclude=post.text_copy())


def test_a_post_orjson_would_write_otherwise_is_sent_as_pydantic_writes_it() -> None:
    """orjson rounds a UTC offset with seconds to the minute (pydantic cuts them off), and refuses an int beyond 64
    bits, which pydantic reads and writes: such a post is sent in pydantic's bytes. A lone surrogate, which neither
    writes, fails with pydantic's error, as it did."""
    local_mean_time = EnrichedPost(url="https://a.gov.cn/1", platform="gov", source="g", text="文",
                                   published_at=datetime(1900, 6, 1, 9, 30))  # Shanghai was +08:05:43 then
    huge = EnrichedPost(url="https://a.gov.cn/2", platform="gov", source="g", text="文",
                        metrics={"views": 2**70}, extra={"编号": 2**80})
    fixed_seconds = EnrichedPost(url="https://a.gov.cn/3", platform="gov", source="g", text="文",
                                 published_at=datetime(2026, 6, 1, 9, 30, tzinfo=timezone(timedelta(hours=8, seconds=43))))
    for post in (local_mean_time, huge, fixed_seconds, local_mean_time):
        assert post.to_json() == pydantic_bytes(post)
    assert b'"1900-06-01T09:30:00+08:05"' in local_mean_time.to_json()
    assert EnrichedPost.from_json(huge.to_json()) == huge
    with pytest.raises(PydanticSerializationError, match="surrogates"):
        EnrichedPost(url="https://a.gov.cn/4", platform="gov", source="g", text="文\ud800").to_json()


def test_posts_and_events_are_sent_in_the_bytes_pydantic_wrote(analysed) -> None:
    """Written by orjson: the same bytes as pydantic's serializer, so a consumer of another version reads them."""
    _, annotated, enriched, events, _ = analysed
    for post in enriched:
        assert post.to_json() == pydantic_bytes(post)
    policy = Policy(id="hz-2026-1", title="菏泽市物业服务管理办法", doc_number="菏政办发〔2026〕1号",
                    written_at=datetime(2026, 1, 5, tzinfo=SHANGHAI), validity=Validity.AMENDED, keywords=["物业"])
    policy_document = dataclasses.replace(annotated[0], policy=policy)  # the stream has none
    as_pydantic_wrote = TypeAdapter(Annotated).dump_json
    for item in (*annotated, policy_document):
        assert item.to_json() == as_pydantic_wrote(item, exclude={"post": item.post.text_copy(),
                                                                  "clues": {"features", "lead"}})
    for event in events:
        assert event.to_json() == event.__pydantic_serializer__.to_json(event)
