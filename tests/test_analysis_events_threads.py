"""Events and threads: short replies and comments join their thread's event, in whatever order they
are crawled; a bare "顶" opens no event; an old document does not join a new incident; the candidate
search reads a bounded number of events however many are open; idle events leave memory."""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path

import pytest

from analysis.enrich import Analyzer
from analysis.events import ACTIVE_FOR, POSTINGS_PER_KEY, SCORED_CANDIDATES, EventClusterer, PostTraits
from stores.analysis_state import AnalysisStateStore
from workers.build import load_gazetteer, shipped_language, shipped_segmenter
from yuqing.config.datafiles import load_policies
from yuqing.config.settings import DEFAULT_DATA
from yuqing.schema import Post

START = datetime(2026, 6, 1, 9, 0)
ESTATE = "牡丹区西城街道化肥厂家属院老旧小区改造停工好几个月了，路挖开没人填，施工队都撤了，老人摔进沟里[怒]"


def weibo(n: int, minutes: int, text: str, reply_to: int | None = None, url: str | None = None,
          platform: str = "weibo", title: str | None = None, **extra) -> Post:
    return Post(id=f"{platform}:{n}", url=url or f"https://example.org/{platform}/{n}", platform=platform,
                source=f"{platform}_source", text=text, title=title, extra=extra,
                reply_to=f"{platform}:{reply_to}" if reply_to else None,
                published_at=START + timedelta(minutes=minutes))


@pytest.fixture()
def analyzer(shipped_analyzer: Analyzer) -> Analyzer:
    return shipped_analyzer


SHORT_REPLIES = ["顶", "同问", "什么时候复工？", "三号楼也一样", "太气人了", "心疼老人家", "有人管吗", "转发微博"]


def test_short_replies_join_the_thread_before_or_after_their_original(analyzer: Analyzer) -> None:
    original = weibo(1, 0, ESTATE)
    early = [weibo(10 + i, 5 + i, text, reply_to=1) for i, text in enumerate(SHORT_REPLIES[:4])]  # crawled first
    late = [weibo(20 + i, 30 + i, text, reply_to=1) for i, text in enumerate(SHORT_REPLIES[4:])]
    out = {p.id: analyzer.enrich(p) for p in [*early, original, *late]}
    events = {e.id: e for e in analyzer.changed_events()}
    thread = out[original.id].event_id
    early_events = {out[p.id].event_id for p in early}
    assert {out[p.id].event_id for p in late} == {thread}
    # Replies crawled before their original waited in events of their own, now folded into the thread's.
    assert all(events[e].merged_into == thread for e in early_events - {thread})
    assert events[thread].size == 1 + len(early) + len(late)
    assert events[thread].label.startswith("化肥厂家属院")


def test_a_reply_crawled_first_does_not_drag_a_similar_event_into_the_thread(analyzer: Analyzer) -> None:
    other = [weibo(30 + i, i, f"定陶区纺织厂宿舍老旧小区改造完工了，路平了灯亮了，{tail}[赞]")
             for i, tail in enumerate(["居民很满意", "电梯也装好了", "大家都说好"])]
    reply = weibo(40, 10, "改造改成这样，还不如不改[摊手]", reply_to=41)
    original = weibo(41, 8, ESTATE)  # published first, crawled after its reply
    out = {p.id: analyzer.enrich(p) for p in [*other, reply, original]}
    events = {e.id: e for e in analyzer.changed_events()}
    completed = out[other[0].id].event_id
    assert {out[p.id].event_id for p in other} == {completed}
    assert events[completed].merged_into is None and events[completed].size == len(other)
    assert out[reply.id].event_id == out[original.id].event_id
    assert events[out[original.id].event_id].size == 2
    assert events[out[original.id].event_id].representative_posts[0] == original.id


def test_comments_on_one_page_share_its_event(analyzer: Analyzer) -> None:
    page = "https://tieba.example.org/p/8801234501"
    thread = weibo(1, 0, ESTATE, platform="forum", url=page, title="化肥厂家属院是不是要烂尾了？")
    floor = weibo(2, 20, "三号楼也一样", platform="forum", url=page + "#floor-2")
    elsewhere = weibo(3, 25, "支持！！[赞]", platform="forum")
    out = {p.id: analyzer.enrich(p) for p in (thread, floor, elsewhere)}
    assert out[floor.id].event_id == out[thread.id].event_id
    assert out[elsewhere.id].event_id not in (None, out[thread.id].event_id)  # not on the page: its own


def test_short_complaints_repeated_by_many_make_one_event(analyzer: Analyzer) -> None:
    """One content word each ("停水"), no thread, no anchor: a burst of them is still one happening."""
    posts = [analyzer.enrich(weibo(10 + i, i, text))
             for i, text in enumerate(["又停水了！", "停水了[怒]", "怎么又停水", "停水停水停水", "又停水？？"])]
    assert len({p.event_id for p in posts}) == 1 and posts[0].event_id is not None


def test_short_standalone_posts_open_no_event_but_still_join_by_anchor(analyzer: Analyzer) -> None:
    first = analyzer.enrich(weibo(1, 0, ESTATE))
    junk = [analyzer.enrich(weibo(2 + i, 5 + i, text)) for i, text in enumerate(["顶", "同问", "转发微博", "+1"])]
    anchored = analyzer.enrich(weibo(9, 10, "化肥厂家属院，同问"))
    assert [p.event_id for p in junk] == [None] * 4
    assert anchored.event_id == first.event_id
    assert {e.size for e in analyzer.changed_events() if e.id == first.event_id} == {2}


def test_a_board_place_or_a_title_naming_the_estate_joins_the_incident(analyzer: Analyzer) -> None:
    first = analyzer.enrich(weibo(1, 0, ESTATE))
    board = analyzer.enrich(weibo(2, 30, "我是摔伤老人的女儿，沟槽边没有任何防护和照明，请问施工单位是谁？", platform="board",
                                  title="强烈要求给摔伤老人一个说法", **{"地点": "牡丹区西城街道化肥厂家属院"}))
    titled = analyzer.enrich(weibo(3, 40, "改造时换了一半的水管，新管没接通，旧管一直漏水，门口长期积水", platform="board",
                                   title="化肥厂家属院供水管道漏水"))
    assert board.event_id == titled.event_id == first.event_id


def test_an_old_document_does_not_join_a_new_incident(analyzer: Analyzer) -> None:
    incident = analyzer.enrich(weibo(1, 0, "#化肥厂家属院改造停工# " + ESTATE))
    old_plan = weibo(2, -int(timedelta(days=400).total_seconds() // 60),
                     "菏泽市2022年城镇老旧小区改造工作实施方案：牡丹区西城街道化肥厂家属院等小区纳入改造计划，"
                     "改造内容包括道路、供水管网、楼道整治", platform="gov", title="老旧小区改造工作实施方案")
    assert analyzer.enrich(old_plan).event_id != incident.event_id


def test_event_ids_and_threads_survive_a_restart(tmp_path: Path) -> None:
    state = tmp_path / "analysis.sqlite3"
    policies = load_policies(DEFAULT_DATA / "policies.yaml")
    first = Analyzer(shipped_language(), policies, [], load_gazetteer(DEFAULT_DATA / "gazetteer.yaml", shipped_segmenter()), AnalysisStateStore(state))
    original = first.enrich(weibo(1, 0, ESTATE))
    first.close()
    second = Analyzer(shipped_language(), policies, [], load_gazetteer(DEFAULT_DATA / "gazetteer.yaml", shipped_segmenter()), AnalysisStateStore(state))
    reply = second.enrich(weibo(2, 60, "顶", reply_to=1))
    second.close()
    assert reply.event_id == original.event_id


def traits(n: int, minutes: float, terms: list[str], **extra) -> PostTraits:
    return PostTraits(id=f"p{n}", when=START + timedelta(minutes=minutes), keywords=[(t, 1.0) for t in terms],
                      platform="weibo", **extra)


class CountingClusterer(EventClusterer):
    """Counts the events scored exactly, the work that must not grow with the number of events."""

    scored = 0

    def _similarity(self, vector, event, vector_norm=None):
        self.scored += 1
        return super()._similarity(vector, event, vector_norm)


@pytest.mark.parametrize("open_events", [50, 2_000])
def test_the_candidate_search_reads_a_bounded_number_of_events(open_events: int) -> None:
    clusterer = CountingClusterer()
    # Many open events share the city's name and a topic word; each also has words of its own.
    def own(n: int) -> list[str]:
        return ["菏泽", "疫情", *(f"{word}{n}" for word in ("地点", "话题", "单位", "人物", "诉求", "时间"))]

    for n in range(open_events):
        clusterer.assign(traits(n, n * 0.01, own(n)))
    assert len(clusterer.events) == open_events  # two shared words of eight are not enough to join
    clusterer.scored = 0
    probe = clusterer.assign(traits(10**6, open_events * 0.01, own(7)))
    assert clusterer.scored <= SCORED_CANDIDATES
    # An event that took no post since the postings filled up is still found through its own words.
    assert probe == next(e.id for e in clusterer.events.values() if e.first_post == "p7")


def test_postings_are_capped_and_idle_events_leave_memory() -> None:
    clusterer = EventClusterer()
    for n in range(3 * POSTINGS_PER_KEY):
        clusterer.assign(traits(n, n, ["菏泽", *(f"{word}{n}" for word in ("独有", "另一", "第三", "第四"))]))
    assert len(list(clusterer._by_term.get("菏泽"))) == POSTINGS_PER_KEY
    clusterer.take_changed()
    clusterer.unsaved.clear()  # persisted
    late = START + ACTIVE_FOR + timedelta(minutes=3 * POSTINGS_PER_KEY + 1)
    forgotten = clusterer.prune(late)
    assert len(forgotten) == 3 * POSTINGS_PER_KEY and clusterer.events == {}
    assert list(clusterer._by_term.get("菏泽")) == []
    # A thread whose original was forgotten opens a new event.
    reply = traits(999, (late - START).total_seconds() / 60, ["独有1"], replies_to=["p1"])
    assert clusterer.assign(reply) not in forgotten


def test_unsaved_events_wait_in_memory_until_persisted() -> None:
    clusterer = EventClusterer()
    event_id = clusterer.assign(traits(1, 0, ["暴雨", "积水", "中华路"]))
    late = START + ACTIVE_FOR + timedelta(hours=1)
    assert clusterer.prune(late) == []
    clusterer.take_changed()
    clusterer.unsaved.clear()
    assert clusterer.prune(late) == [event_id]


def test_a_post_older_than_the_window_is_counted_once_after_a_restart(tmp_path: Path) -> None:
    state = tmp_path / "analysis.sqlite3"
    policies = load_policies(DEFAULT_DATA / "policies.yaml")
    old_complaint = weibo(1, 0, "化肥厂家属院改造工程停工很长时间了，院内道路挖开后一直没有回填，水管漏水", platform="board")
    today = [weibo(2 + i, int(ACTIVE_FOR.total_seconds() // 60) + 6 * 60 + i, ESTATE + f"{i}") for i in range(3)]
    first = Analyzer(shipped_language(), policies, [], load_gazetteer(DEFAULT_DATA / "gazetteer.yaml", shipped_segmenter()), AnalysisStateStore(state))
    out = {p.id: first.enrich(p) for p in [old_complaint, *today]}
    first.close()
    second = Analyzer(shipped_language(), policies, [], load_gazetteer(DEFAULT_DATA / "gazetteer.yaml", shipped_segmenter()), AnalysisStateStore(state))
    again = {p.id: second.enrich(p) for p in [old_complaint, *today]}  # the next crawl sees them all again
    changed = second.changed_events()
    second.close()
    assert again == out
    assert changed == []  # nothing counted twice


@pytest.mark.parametrize("resident_first", [False, True])
def test_a_resident_named_after_the_estate_joins_its_incident_only_on_its_subject(
    analyzer: Analyzer, resident_first: bool
) -> None:
    from yuqing.schema import Author

    resident = Author(name="化肥厂家属院老王")
    ours = weibo(2, 30, "给大家说说情况：我们院的改造开工挖了路、换了一半的管子，施工队说工程款没到位就撤了，老人进出只能扶着墙")
    coupons = weibo(3, 40, "下班路过夜市，用掉了最后一张消费券，买了杯奶茶犒劳自己[心]")
    residents_posts = [p.model_copy(update={"author": resident}) for p in (ours, coupons)]
    incident = weibo(1, 0, "#化肥厂家属院改造停工# " + ESTATE)
    stream = [*residents_posts, incident] if resident_first else [incident, *residents_posts]
    out = {p.id: analyzer.enrich(p).event_id for p in stream}
    events = {e.id: e for e in analyzer.changed_events()}
    assert out[ours.id] == out[incident.id]
    assert out[coupons.id] != out[incident.id]
    assert events[out[incident.id]].size == 2


def test_restored_events_merged_or_not_leave_memory_when_idle() -> None:
    first = EventClusterer()
    a = first.assign(traits(1, 0, ["暴雨", "积水", "中华路", "地下通道"]))
    first.assign(traits(2, 5, ["暴雨", "积水", "中华路", "地下通道"]))
    b = first.assign(traits(3, 10, ["地下通道", "车辆", "被困", "救援", "消防"]))
    first.assign(traits(4, 15, ["暴雨", "积水", "中华路", "地下通道", "车辆", "被困", "救援", "消防"]))
    assert first.events[b].merged_into == a
    second = EventClusterer()
    second.restore(first.events.values(), [], [(f"p{n}", a, START) for n in range(1, 5)])
    assert second.assign(traits(5, 20, ["顶"], replies_to=["p3"])) == a
    second.take_changed()
    second.unsaved.clear()
    assert sorted(second.prune(START + ACTIVE_FOR + timedelta(hours=1))) == sorted([a, b])
    assert second.events == {}


def test_an_event_let_go_and_read_back_is_scored_as_when_it_was_held(open_analysis_state) -> None:
    # A big event's top terms are taken again only once it grew by a tenth (`EventClusterer._centroid`): an event let
    # go and read back from the store must be scored with the terms it had when held, or the events a post joins would
    # depend on what memory happened to hold (events_held, a restart, a standby taking over).
    store = open_analysis_state()
    held, let_go = EventClusterer(), EventClusterer(store, events_held=1)
    words = ["停水", "小区", "物业", "居民"]
    posts = [traits(n, n, words) for n in range(10)]  # each scores the event: its top terms taken at size 10
    posts.append(traits(10, 10, [*words, "维修", "水管", "爆裂", "抢修"]))  # joins within a tenth: terms kept
    posts.append(traits(11, 11, ["学校", "招生", "报名", "家长"]))  # another event: the first is let go
    for post in posts:
        for clusterer in (held, let_go):
            clusterer.assign(post)
            if clusterer is let_go:  # as the analyzer saves a batch
                clusterer.take_changed()
                store.save([clusterer.events[e] for e in clusterer.unsaved], [], [])
                clusterer.saved()
    event_id = next(iter(held.events))
    assert event_id not in let_go.events  # let go: read back below
    probe = {"停水": 1.0, "维修": 1.0}
    read_back = let_go._resolve(event_id)
    assert read_back is not None and read_back.size == held.events[event_id].size == 11
    assert let_go._similarity(probe, read_back) == held._similarity(probe, held.events[event_id])
