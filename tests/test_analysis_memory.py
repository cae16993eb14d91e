"""The analyzer's memory stays small whatever its windows hold and whatever the arrival order (the store answers
for what it lets go, with the same events), its state file stays the size of its windows, and a restart reads
only the events joined last."""

from __future__ import annotations

import json
import random
from datetime import datetime, timedelta
from pathlib import Path

from analysis.enrich import FLUSH_EVERY, Analyzer
from analysis.events import ACTIVE_FOR, EVENTS_HELD
from stores.analysis_state import AnalysisStateStore
from workers.build import load_gazetteer, shipped_language, shipped_segmenter
from yuqing.config.settings import DEFAULT_DATA
from yuqing.schema import SHANGHAI, Post

FIXTURES = Path(__file__).parent / "fixtures" / "analysis"
START = datetime(2026, 3, 1, tzinfo=SHANGHAI)
DAYS = 60
POSTS = 20_000
PARTITIONS = 4
SUBJECTS = ["老旧小区改造", "供暖", "物业费", "学校招生", "医保报销", "道路施工", "拆迁补偿", "公交线路", "停水", "垃圾清运"]
PLACES = ["牡丹区", "定陶区", "曹县", "单县", "成武县", "巨野县", "郓城县", "鄄城县", "东明县"]
WORDS = ["居民", "反映", "问题", "投诉", "回复", "部门", "处理", "希望", "尽快", "解决", "社区", "情况", "已经", "多次"]


def backlog(rng: random.Random) -> list[list[Post]]:
    """POSTS posts over DAYS days, spread over partitions by id: each partition in time order, as a log holds it."""
    partitions: list[list[Post]] = [[] for _ in range(PARTITIONS)]
    step = timedelta(days=DAYS) / POSTS
    for n in range(POSTS):
        words = "".join(rng.choices(WORDS, k=12))
        text = f"{rng.choice(PLACES)}{rng.choice(SUBJECTS)}{words}{rng.choice(SUBJECTS)}第{n}次"
        partitions[n % PARTITIONS].append(Post(
            id=f"weibo:{n}", url=f"https://example.org/weibo/{n}", platform="weibo", source="weibo_source",
            text=text, published_at=START + n * step))
    return partitions


def analyzer_on(state: Path | None, events_held: int = EVENTS_HELD) -> Analyzer:
    analyzer = Analyzer(shipped_language(), [], [], load_gazetteer(DEFAULT_DATA / "gazetteer.yaml", shipped_segmenter()),
                        AnalysisStateStore(state) if state is not None else None)
    analyzer.clusterer.events_held = events_held
    return analyzer


def test_draining_a_backlog_partition_by_partition_keeps_memory_and_state_bounded(tmp_path: Path) -> None:
    state = tmp_path / "analysis.sqlite3"
    analyzer = analyzer_on(state, events_held=500)
    # What one window holds when fed live: every partition's posts of the last ACTIVE_FOR.
    window = POSTS * (ACTIVE_FOR / timedelta(days=DAYS))
    bound = int(window) + 2 * 2_000
    peak: dict[str, int] = {}
    for partition in backlog(random.Random(7)):  # the embedded log empties its partitions one after another
        for start in range(0, len(partition), 200):
            for post in partition[start:start + 200]:
                analyzer.enrich(post)
                if start % 1_000 == 0:  # between two saves: what waits to be saved is held too
                    for name, count in analyzer.held().items():
                        peak[name] = max(peak.get(name, 0), count)
            analyzer.changed_events()  # one batch
            for name, count in analyzer.held().items():
                peak[name] = max(peak.get(name, 0), count)
    # The store answers for the window: memory holds the posts not yet saved and the events joined last,
    # however many the window has (it holds thousands of posts and events here).
    assert peak["events"] <= 500 + FLUSH_EVERY, peak
    assert 0 < peak["fingerprints"] <= FLUSH_EVERY and 0 < peak["threads"] <= 2 * FLUSH_EVERY, peak
    analyzer.close()

    # The state file keeps what the windows need: posts and events of the last window (and a margin).
    store = AnalysisStateStore(state)
    kept_posts = store.db.execute("SELECT COUNT(*) FROM posts").fetchone()[0]
    kept_events = store.db.execute("SELECT COUNT(*) FROM events").fetchone()[0]
    store.close()
    assert window / 2 < kept_posts <= bound and kept_events <= bound, (kept_posts, kept_events, bound)

    # A restart reads only the events joined last, and still knows every post of the window.
    again = analyzer_on(state, events_held=500)
    assert again.held()["events"] <= 500 and again.held()["fingerprints"] == 0
    last = backlog(random.Random(7))[-1][-1]
    assert again.enrich(last).event_id is not None
    again.close()


WEEK = [(f"{place}{subject}", place) for place in PLACES[:4] for subject in SUBJECTS[:5]]
NEWS = ["牡丹区何楼街道幸福小区多名居民反映，小区在老旧小区改造中更换的屋面防水层出现大面积漏水，顶楼住户家中天花板发霉脱落，"
        "记者实地走访发现楼道墙面渗水明显。",
        "曹县青菏街道老旧小区改造工程停工两个月了，路面挖开没人管，老人出门都困难，社区表示正在协调施工单位尽快复工。",
        "菏泽市医保局发布通知，自下月起门诊慢特病报销比例提高，参保群众可在定点医院直接结算，无需再垫付费用。"]


CHATTER = [json.loads(line)["text"] for line in (FIXTURES / "weibo_sample.jsonl").read_text(encoding="utf-8").splitlines()]


def mixed_stream(rng: random.Random, count: int) -> list[Post]:
    """Incidents, reprints (some arriving before their original), replies and comments on a page, over nine
    days: every path by which a post finds what came before it."""
    posts: list[Post] = []
    step = timedelta(days=9) / count
    for n in range(count):
        when = START + n * step
        roll = rng.random()
        reply_to = url = None
        if roll < 0.15:  # a reprint of a story, its source named
            text = f"{rng.choice(NEWS)}（来源：{rng.choice(['菏泽日报', '牡丹晚报'])}）"
            if rng.random() < 0.3:  # crawled before the article it copies
                when -= timedelta(hours=rng.randint(1, 30))
        elif roll < 0.30 and n > 10:  # a reply to an earlier post, or a comment on its page
            parent = rng.randrange(max(0, n - 400), n)
            reply_to = f"weibo:{parent}" if rng.random() < 0.5 else None
            url = f"https://example.org/weibo/{parent}#floor{n}" if reply_to is None else None
            text = rng.choice(["顶", "同问", "我们这也是", "什么时候能解决"])
        elif roll < 0.60:
            subject, _ = rng.choice(WEEK)
            text = f"{subject}{''.join(rng.choices(WORDS, k=8))}"
        else:  # chatter: many small events, and copies of what others wrote
            text = f"{rng.choice(CHATTER)} {rng.choice(PLACES)}"
        posts.append(Post(id=f"weibo:{n}", url=url or f"https://example.org/weibo/{n}", platform="weibo",
                          source="weibo_source", text=text, reply_to=reply_to, published_at=when))
    return posts


def test_what_is_read_back_from_the_store_gives_the_events_that_holding_it_gave(tmp_path: Path) -> None:
    stream = mixed_stream(random.Random(11), 4_000)
    outcomes = []
    for held, state in ((None, None), (40, tmp_path / "analysis.sqlite3")):
        analyzer = analyzer_on(state, events_held=held or EVENTS_HELD)
        posts = {}
        for start in range(0, len(stream), 100):
            posts.update({p.id: (p.event_id, p.reprint_of) for p in map(analyzer.enrich, stream[start:start + 100])})
            analyzer.changed_events()
        relinked = {link.post_id: link.reprint_of for link in analyzer.take_relinked()}
        outcomes.append((posts, relinked, analyzer.held()))
        analyzer.close()
    (held_posts, held_links, everything), (read_posts, read_links, little) = outcomes
    assert read_posts == held_posts and read_links == held_links
    # Not trivially equal: memory-only held thousands of posts, events were read back, reprints and threads found.
    assert everything["fingerprints"] > 300 and little["fingerprints"] < 100 and little["events"] <= 40 + 100
    assert sum(1 for _, reprint_of in held_posts.values() if reprint_of) > 100
    assert len({event_id for event_id, _ in held_posts.values()}) > 200


def test_an_event_is_published_once_per_change_of_substance_not_per_post() -> None:
    analyzer = Analyzer(shipped_language(), [], [], load_gazetteer(DEFAULT_DATA / "gazetteer.yaml", shipped_segmenter()))
    rng = random.Random(3)
    published: list[tuple[int, int]] = []  # (posts so far, size published)
    event_id = None
    for n in range(400):  # one incident, trickling in: a batch of one post every 20 seconds
        text = f"牡丹区幸福小区楼顶漏水{''.join(rng.choices(WORDS, k=6))}"
        post = Post(id=f"weibo:{n}", url=f"https://example.org/weibo/{n}", platform="weibo", source="weibo_source",
                    text=text, published_at=START + timedelta(seconds=20 * n))
        event_id = event_id or analyzer.enrich(post).event_id
        if n:
            analyzer.enrich(post)
        published += [(n + 1, e.size) for e in analyzer.changed_events() if e.id == event_id]
    assert published[0] == (1, 1)  # a new event goes out at once
    assert len(published) < 400 / 4  # was one message per post
    # Small events go out at every post; larger ones when they grow by a tenth, so the index is never far behind.
    assert [size for _, size in published[:20]] == list(range(1, 21))
    posts, size = published[-1]
    assert size >= 400 / 1.1 - 1


def test_the_state_store_reads_and_forgets_by_instant_whatever_the_offset(open_analysis_state) -> None:
    from datetime import UTC

    store = open_analysis_state()
    cutoff = datetime(2026, 3, 10, 12, 0, tzinfo=SHANGHAI)
    # Times stored as they came: Beijing time, UTC, and naive (Beijing) text, on both sides of the cutoff.
    times = {
        "before-shanghai": cutoff - timedelta(minutes=1),
        "after-shanghai": cutoff + timedelta(minutes=1),
        "before-utc": (cutoff - timedelta(minutes=1)).astimezone(UTC),
        "after-utc": (cutoff + timedelta(minutes=1)).astimezone(UTC),
        "long-before-utc": (cutoff - timedelta(days=3)).astimezone(UTC),
    }
    store.save([], [(pid, when, "evt-1", None, None, pid) for pid, when in times.items()], [])
    assert {pid for pid in times if store.thread(pid, cutoff)} == {"after-shanghai", "after-utc"}
    store.forget_before(cutoff)
    kept = {pid for pid in times if store.assigned(pid)}
    # Nothing at or after the cutoff is forgotten; what is far older is.
    assert {"after-shanghai", "after-utc"} <= kept and "long-before-utc" not in kept
    store.close()


def test_the_title_an_event_is_published_with_is_saved_with_it(tmp_path: Path) -> None:
    # The shown title stays while nearly the best: an event let go and read back must know which one it was.
    analyzer = analyzer_on(tmp_path / "analysis.sqlite3")
    rng = random.Random(5)
    published = []
    for start in range(0, 300, 50):
        for n in range(start, start + 50):
            title = f"{rng.choice(PLACES)}{rng.choice(SUBJECTS)}问题"
            analyzer.enrich(Post(id=f"news:{n}", url=f"https://example.org/news/{n}", platform="news",
                                 source="news_source", title=title, text=f"{title}，{''.join(rng.choices(WORDS, k=20))}",
                                 published_at=START + timedelta(minutes=n)))
        published += analyzer.changed_events()
    assert analyzer.store is not None and len(published) > 20
    assert all(event.title for event in published)
    latest = {event.id: event.title for event in published}
    assert {event_id: analyzer.store.event(event_id).title for event_id in latest} == latest  # type: ignore[union-attr]
    analyzer.close()


def test_an_event_saved_again_is_updated_in_place(tmp_path: Path) -> None:
    """Most of a batch's saved events took a post before: their rows are updated where they are (a row replaced
    is deleted and written anew at the table's end, its old space left free), and read back as saved last."""
    from collections import Counter

    from analysis.events import EventState

    store = AnalysisStateStore(tmp_path / "analysis.sqlite3")
    event = EventState("evt-1", START, START, Counter({"漏水": 1.0}), size=1, first_post="news:1")
    store.save([event, EventState("evt-2", START, START, size=1, first_post="news:2")], [], [])
    row_ids = dict(store.db.execute("SELECT id, rowid FROM events"))
    event.size, event.last_seen = 2, START + timedelta(hours=1)
    store.save([event], [], [])
    assert dict(store.db.execute("SELECT id, rowid FROM events")) == row_ids
    assert store.event("evt-1").to_json() == event.to_json()  # type: ignore[union-attr]
    assert store.newest() == event.last_seen
    store.close()


def test_a_restart_holds_the_events_joined_last_as_saved_posted_as_one_by_one(tmp_path: Path) -> None:
    """A restart decodes the events joined last without copying what the decoder made, and fills their postings
    in one pass: each event must write back the very text it was read from (numbers of the same types, pairs and
    headlines whole), and the postings must be those posting the events one by one, oldest first, gave."""
    from analysis.events import Postings
    from stores.analysis_state import STATE_BYTES, _event_text

    state = tmp_path / "analysis.sqlite3"
    stream = mixed_stream(random.Random(3), 3_000)
    live = analyzer_on(state, events_held=100)
    for start in range(0, len(stream), 100):
        for post in stream[start:start + 100]:
            live.enrich(post)
        live.changed_events()
    live.close()

    restarted = analyzer_on(state)
    clusterer, store = restarted.clusterer, restarted.store
    assert isinstance(store, AnalysisStateStore)
    held = list(clusterer.events.values())  # the least recently joined first, as restored
    assert len(held) > 100  # all those of the window: fewer than EVENTS_HELD
    saved = dict(store.db.execute(f"SELECT id, {STATE_BYTES} FROM events"))
    assert [_event_text(event).encode() for event in held] == [saved[event.id] for event in held]
    assert any(event.headlines for event in held) and any(event.scored_terms for event in held)
    for postings, name in ((clusterer._by_term, "centroid"), (clusterer._by_anchor, "anchors"),
                           (clusterer._by_resident, "residents")):
        one_by_one = Postings()
        for event in held:
            if not event.merged_into:
                one_by_one.add_all(getattr(event, name), event.id)
        keys = {key for event in held for key in getattr(event, name)}
        assert {key: list(postings.get(key)) for key in keys} == {key: list(one_by_one.get(key)) for key in keys}
    restarted.close()


def test_the_analyzer_is_built_with_the_collector_paused_and_collecting_after(tmp_path: Path, monkeypatch) -> None:
    """What a start decodes lives as long as the analyzer: the cyclic collector, which would walk it again and
    again as it piles up, is paused while the analyzer is built, and runs again after."""
    import gc
    from collections import Counter

    from analysis.events import EventState
    from workers.build import analyzer_from_settings
    from yuqing.config import load_settings

    store = AnalysisStateStore(tmp_path / "analysis.sqlite3")
    store.save([EventState("evt-1", START, START, Counter({"漏水": 1.0}), size=1, first_post="news:1")], [], [])
    store.close()
    collecting: list[bool] = []
    read_latest = AnalysisStateStore.latest_events

    def watched(self: AnalysisStateStore, limit: int) -> list[EventState]:
        collecting.append(gc.isenabled())
        return read_latest(self, limit)

    monkeypatch.setattr(AnalysisStateStore, "latest_events", watched)
    settings = load_settings(data_dir=tmp_path, policies_file=tmp_path / "none.yaml")
    assert gc.isenabled()
    analyzer = analyzer_from_settings(settings, tmp_path / "analysis.sqlite3")
    assert collecting == [False]
    assert gc.isenabled()
    assert list(analyzer.clusterer.events) == ["evt-1"]
    analyzer.close()
