"""The analyzer's memory and its state file stay the size of its windows, whatever the arrival order, and a
restart reads one window, not the whole history."""

from __future__ import annotations

import random
from datetime import datetime, timedelta
from pathlib import Path

from analysis.enrich import Analyzer
from analysis.events import ACTIVE_FOR
from stores.analysis_state import AnalysisStateStore
from workers.build import load_gazetteer, shipped_language, shipped_segmenter
from yuqing.config.settings import DEFAULT_DATA
from yuqing.schema import SHANGHAI, Post

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


def test_draining_a_backlog_partition_by_partition_keeps_memory_and_state_bounded(tmp_path: Path) -> None:
    state = tmp_path / "analysis.sqlite3"
    analyzer = Analyzer(shipped_language(), [], [], load_gazetteer(DEFAULT_DATA / "gazetteer.yaml", shipped_segmenter()), AnalysisStateStore(state))
    # What one window holds when fed live: every partition's posts of the last ACTIVE_FOR. The bound leaves
    # room for the posts taken between two prunes; holding the backlog (20,000 posts) breaks it.
    window = POSTS * (ACTIVE_FOR / timedelta(days=DAYS))
    bound = int(window) + 2 * 2_000
    peak: dict[str, int] = {}
    for partition in backlog(random.Random(7)):  # the embedded log empties its partitions one after another
        for start in range(0, len(partition), 200):
            for post in partition[start:start + 200]:
                analyzer.enrich(post)
            analyzer.changed_events()  # one batch
            for name, count in analyzer.held().items():
                peak[name] = max(peak.get(name, 0), count)
    assert peak["fingerprints"] > window / 2  # the window itself is held: the bound is not trivially met
    for name, count in peak.items():
        per_post = 2 if name == "threads" else 1  # a post's id and its page's address
        assert count <= per_post * bound, (name, count, bound)
    analyzer.close()

    # The state file keeps what the windows need: posts and events of the last window (and a margin).
    store = AnalysisStateStore(state)
    kept_posts = store.db.execute("SELECT COUNT(*) FROM posts").fetchone()[0]
    kept_events = store.db.execute("SELECT COUNT(*) FROM events").fetchone()[0]
    store.close()
    assert kept_posts <= bound and kept_events <= bound, (kept_posts, kept_events, bound)

    # A restart reads that window and knows the posts in it.
    again = Analyzer(shipped_language(), [], [], load_gazetteer(DEFAULT_DATA / "gazetteer.yaml", shipped_segmenter()), AnalysisStateStore(state))
    assert window / 2 < again.held()["fingerprints"] <= bound
    last = backlog(random.Random(7))[-1][-1]
    assert again.enrich(last).event_id is not None
    again.close()


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
    store.save([], [(pid, when, None, None, None) for pid, when in times.items()], [])
    assert {pid for pid, *_ in store.posts_since(cutoff)} == {"after-shanghai", "after-utc"}
    store.forget_before(cutoff)
    kept = {pid for pid, *_ in store.posts_since(cutoff - timedelta(days=30))}
    # Nothing at or after the cutoff is forgotten; what is far older is.
    assert {"after-shanghai", "after-utc"} <= kept and "long-before-utc" not in kept
    store.close()
