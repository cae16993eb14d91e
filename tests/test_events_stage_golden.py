"""The events stage's outputs on a realistic stream are pinned: the event ids and reprint links it gives the
posts, the copies it re-links, and every event message it publishes, batch by batch, are those the stage gave
when the golden file was written (tests/data/events_stage_golden.json). Work on the stage's speed must leave
them identical; a change of behaviour on purpose comes with a new golden file:

    .venv/bin/python -m tests.test_events_stage_golden
"""

from __future__ import annotations

import hashlib
import json
import random
import sys
from collections.abc import Iterable
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, cast

import orjson
import pytest

from transport.base import ANNOTATED_POSTS, ENRICHED_POSTS, EVENTS, Message, Transport, Value, encode
from yuqing.schema import SHANGHAI, Post

GOLDEN = Path(__file__).parent / "data" / "events_stage_golden.json"
SHARED_DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"
POSTS = 4_000
DAYS = 2
BATCH = 500
FIRST_DAY = datetime(2026, 3, 1, tzinfo=SHANGHAI)


class Recorder:
    """A transport that keeps what is published, in order, as it would be sent (the enrich and events stages only
    publish)."""

    def __init__(self) -> None:
        self.published: list[tuple[str, bytes]] = []

    def publish_many(self, topic: str, values: Iterable[tuple[str | None, Value]]) -> int:
        batch = [(topic, encode(value)) for _, value in values]
        self.published += batch
        return len(batch)

    def take(self) -> list[tuple[str, bytes]]:
        taken, self.published = self.published, []
        return taken


def _digest(values: list[Any]) -> str:
    return hashlib.sha256(orjson.dumps(values, option=orjson.OPT_SORT_KEYS)).hexdigest()


def crawled(posts: list[Post], rng: random.Random) -> list[Post]:
    """The stream with replies and comments (some crawled before what they answer), in crawl order: shuffled
    within spans of three batches, so originals arrive after their copies and posts after their replies."""
    threads = []
    for n, post in enumerate(posts):
        roll = rng.random()
        if n > 10 and roll < 0.15:
            parent = posts[rng.randrange(max(0, n - 300), n)]
            text = rng.choice(["顶", "同问", "我们这也是", "什么时候能解决", "转发微博"])
            if roll < 0.08:
                post = post.model_copy(update={"reply_to": parent.id, "text": text})
            else:
                post = post.model_copy(update={"url": f"{parent.url}#floor{n}", "text": text})
        threads.append(post)
    spans = [threads[start:start + 3 * BATCH] for start in range(0, len(threads), 3 * BATCH)]
    for span in spans:
        rng.shuffle(span)
    return [post for span in spans for post in span]


def stream_posts() -> list[Post]:
    """The bench stream's posts of the golden run, in the order a crawl delivers them."""
    from bench.soak import Stream

    stream = Stream(POSTS // DAYS, random.Random(5))
    return crawled([post for day in range(DAYS) for post in stream.day(day, FIRST_DAY + timedelta(days=day))],
                   random.Random(6))


def stage_outputs(workdir: Path) -> dict[str, Any]:
    """Run the enrich then the events stage over the stream in batches, as workers do; per batch, a digest of
    the posts' (id, event id, reprint_of), of the re-links and of the event messages, and overall counts."""
    from workers.stages import build_stage
    from yuqing.config import Settings

    posts = stream_posts()
    settings = Settings(data_dir=workdir)
    transport = Recorder()
    stages = [build_stage(name, settings, cast(Transport, transport)) for name in ("enrich", "events")]
    enrich, events = stages
    batches, counts = [], {"posts": 0, "with_event": 0, "reprints": 0, "relinked": 0, "event_messages": 0,
                           "merged": 0}
    event_ids: set[str] = set()
    for start in range(0, len(posts), BATCH):
        raw = [Message("raw", 0, n, post.to_json()) for n, post in enumerate(posts[start:start + BATCH])]
        enrich.process(raw)
        annotated = [Message(ANNOTATED_POSTS, 0, n, value) for n, (_, value) in enumerate(transport.take())]
        events.process(annotated)
        assigned, relinked, messages = [], [], []
        for topic, data in transport.take():
            value = orjson.loads(data)
            if topic == EVENTS:
                messages.append(value)
            elif topic == ENRICHED_POSTS and "post_id" in value:
                relinked.append([value["post_id"], value["reprint_of"]])
            elif topic == ENRICHED_POSTS:
                assigned.append([value["id"], value["event_id"], value["reprint_of"], value["extra"].get("reprint_of")])
        batches.append({"posts": _digest(assigned), "relinked": _digest(relinked), "events": _digest(messages)})
        counts["posts"] += len(assigned)
        counts["with_event"] += sum(1 for _, event_id, _, _ in assigned if event_id)
        counts["reprints"] += sum(1 for _, _, reprint_of, _ in assigned if reprint_of)
        counts["relinked"] += len(relinked)
        counts["event_messages"] += len(messages)
        counts["merged"] += sum(1 for m in messages if m["merged_into"])
        event_ids.update(event_id for _, event_id, _, _ in assigned if event_id)
    enrich.close()
    events.close()
    counts["events"] = len(event_ids)
    return {"counts": counts, "batches": batches}


@pytest.fixture
def golden() -> dict[str, Any]:
    if not SHARED_DATA.is_dir():
        pytest.skip(f"the stream's texts come from {SHARED_DATA}, which is absent")
    return json.loads(GOLDEN.read_text(encoding="utf-8"))


def _compare(found: dict[str, Any], golden: dict[str, Any]) -> None:
    assert found["counts"] == golden["counts"]
    for number, (batch, expected) in enumerate(zip(found["batches"], golden["batches"], strict=True)):
        assert batch == expected, f"batch {number} differs"


def test_the_events_stage_gives_what_it_gave_when_the_golden_file_was_written(tmp_path: Path, golden) -> None:
    counts = golden["counts"]
    # Not trivially satisfied: every path of the stage is taken many times on this stream.
    assert counts["posts"] == POSTS and counts["reprints"] > 100 and counts["events"] > 300
    assert counts["merged"] > 0 and counts["event_messages"] > 1_000 and counts["relinked"] > 10
    _compare(stage_outputs(tmp_path), golden)


def test_the_events_stage_leaves_no_garbage_in_cycles(tmp_path: Path, golden) -> None:
    import gc

    from workers.stages import build_stage
    from yuqing.config import Settings

    posts = stream_posts()[:4 * BATCH]
    transport = Recorder()
    enrich, events = (build_stage(name, Settings(data_dir=tmp_path), cast(Transport, transport))
                      for name in ("enrich", "events"))
    batches = []
    for start in range(0, len(posts), BATCH):
        enrich.process([Message("raw", 0, n, post.to_json()) for n, post in enumerate(posts[start:start + BATCH])])
        batches.append([Message(ANNOTATED_POSTS, 0, n, value) for n, (_, value) in enumerate(transport.take())])
    events.process(batches[0])  # what starting leaves (models, tables) is collected first
    transport.take()
    gc.collect()
    gc.disable()
    try:
        for batch in batches[1:]:
            events.process(batch)
            transport.take()
        assert gc.collect() == 0
    finally:
        gc.enable()
    enrich.close()
    events.close()


def test_an_unreadable_message_is_refused_at_its_place_in_the_batch_and_the_others_are_assigned(tmp_path: Path) -> None:
    from workers.stages import build_stage
    from yuqing.config import Settings

    settings = Settings(data_dir=tmp_path)
    transport = Recorder()
    enrich, events = (build_stage(name, settings, cast(Transport, transport)) for name in ("enrich", "events"))
    raw = [Post(id=f"weibo:{n}", url=f"https://weibo.example.cn/{n}", platform="weibo", source="weibo_heze",
                text=f"牡丹区幸福小区停水三天了，物业不管第{n}次", published_at=FIRST_DAY + timedelta(minutes=n))
           for n in range(2)]
    enrich.process([Message("raw", 0, n, post.to_json()) for n, post in enumerate(raw)])
    first, second = (value for _, value in transport.take())
    unreadable = encode({"post": {"id": "weibo:9"}, "clues": {}})  # refused where it was
    result = events.process([Message(ANNOTATED_POSTS, 0, n, value) for n, value in enumerate([second, unreadable, first])])
    assert set(result.poison) == {1} and not result.failed
    assigned = {value["id"]: value["event_id"] for topic, data in transport.take() if topic == ENRICHED_POSTS
                for value in [orjson.loads(data)]}
    assert set(assigned) == {"weibo:0", "weibo:1"} and assigned["weibo:0"] == assigned["weibo:1"] is not None
    enrich.close()
    events.close()


def test_the_collector_is_paused_for_a_batch_only(tmp_path: Path) -> None:
    import gc

    from workers.stages import EventsStage

    class FailingAnalyzer:
        paused: bool | None = None

        def catch_up(self) -> None:
            self.paused = not gc.isenabled()
            raise ConnectionError("the state store is down")

    analyzer = FailingAnalyzer()
    stage = EventsStage(cast(Transport, Recorder()), analyzer)  # type: ignore[arg-type]
    assert gc.isenabled()
    with pytest.raises(ConnectionError):
        stage.process([])
    assert analyzer.paused and gc.isenabled()
    gc.disable()  # a process that runs without the collector keeps it off
    try:
        with pytest.raises(ConnectionError):
            stage.process([])
        assert not gc.isenabled()
    finally:
        gc.enable()


if __name__ == "__main__":
    import tempfile

    with tempfile.TemporaryDirectory() as directory:
        found = stage_outputs(Path(directory))
    GOLDEN.parent.mkdir(exist_ok=True)
    GOLDEN.write_text(json.dumps(found, indent=1) + "\n", encoding="utf-8")
    print(f"wrote {GOLDEN}: {found['counts']}", file=sys.stderr)
