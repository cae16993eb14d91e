"""Each rule type on factory-made posts: fires, does not fire; then, through the engine and a real
store, a repeated trigger groups into one alert, cools down, and escalates its level."""

from __future__ import annotations

import random
from collections.abc import Callable
from datetime import datetime, timedelta
from pathlib import Path

import orjson
import pytest

from alerts.channels import ChannelContext
from alerts.config import build_channels, parse_alert_config
from alerts.rules import RULE_TYPES
from alerts.rules.base import LATENESS, SubjectWindow
from alerts.service import AlertService
from alerts.store import SqliteAlertStore
from alerts.testing import T0, make_health, make_post, make_signal
from yuqing.schema import (
    BOARD_ANSWERED,
    BOARD_PLACE,
    GOV_DOC_NUMBER,
    GOV_INTERPRETATION,
    GOV_IS_INTERPRETATION,
    SHANGHAI,
    AlertLevel,
    BurstSignal,
    CrawlHealth,
    EnrichedPost,
)


def rule_of(type_name: str, **options):
    rule_class = RULE_TYPES[type_name]
    return rule_class(rule_class.options_model.model_validate(options))


# --- keyword with context ------------------------------------------------------------------------

def test_keyword_context_fires_on_term_near_context_per_place():
    rule = rule_of("keyword_context", terms=["拆迁"], context=["维权", "上访", "强拆"], min_posts=2)
    first = rule.on_post(make_post("东关村拆迁户今天集体上访维权", places=["东关村"]))
    second = rule.on_post(make_post("东关村又有拆迁户说要上访", places=["东关村"], at=T0 + timedelta(hours=1)))
    assert first == []  # one post is not yet a pattern
    assert len(second) == 1
    assert (second[0].subject_kind, second[0].subject_id, second[0].magnitude) == ("place", "东关村", 2)
    assert second[0].evidence["matches"] == ["拆迁+上访", "拆迁+维权"]


def test_keyword_context_ignores_term_far_from_context_and_other_places():
    rule = rule_of("keyword_context", terms=["拆迁"], context=["上访"], distance=10, min_posts=1,
                   places=["东关村"])
    far = "地铁三号线拆迁工作进展顺利，沿线居民积极配合。" + "。" * 30 + "另据报道，有人上访。"
    assert rule.on_post(make_post(far, places=["东关村"])) == []
    assert rule.on_post(make_post("西城拆迁户上访", places=["西城"])) == []
    assert rule.on_post(make_post("地铁施工顺利")) == []


def test_keyword_context_counts_a_redelivered_post_once_and_forgets_old_posts():
    rule = rule_of("keyword_context", terms=["拆迁"], context=["上访"], min_posts=2, window="2h")
    post = make_post("拆迁户上访", places=["东关村"])
    assert rule.on_post(post) == []
    assert rule.on_post(post) == []  # at-least-once delivery: the same post again
    late = make_post("拆迁户上访", places=["东关村"], at=T0 + timedelta(hours=3))
    assert rule.on_post(late) == []  # the first one left the 2 h window


# --- negative surge and volume burst -------------------------------------------------------------

def test_negative_surge_fires_on_share_rise_against_baseline():
    rule = rule_of("negative_surge", min_negative=10, min_negative_share=0.4, min_share_rise=0.15)
    [finding] = rule.on_signal(make_signal("P-heat", count=40, negative=24, baseline_negative_share=0.1))
    assert (finding.subject_kind, finding.subject_id, finding.magnitude) == ("policy", "P-heat", 24)
    assert finding.evidence["negative_share"] == 0.6


@pytest.mark.parametrize("signal", [
    make_signal("P-heat", count=40, negative=8),  # too few negative posts
    make_signal("P-heat", count=40, negative=14, baseline_negative_share=0.1),  # share 35 % < 40 %
    make_signal("P-heat", count=40, negative=24, baseline_negative_share=0.5),  # always this angry
    make_signal("E-1", kind="keyword", count=40, negative=24),  # not a watched subject kind
])
def test_negative_surge_does_not_fire(signal: BurstSignal):
    rule = rule_of("negative_surge", subject_kinds=["policy", "event"], min_negative=10)
    assert rule.on_signal(signal) == []


def test_volume_burst_fires_on_ratio_and_count_only():
    rule = rule_of("volume_burst", min_count=20, min_ratio=3.0)
    assert len(rule.on_signal(make_signal("E-1", kind="event", count=40, baseline_rate=5))) == 1
    assert rule.on_signal(make_signal("E-1", kind="event", count=12, baseline_rate=1)) == []
    assert rule.on_signal(make_signal("E-1", kind="event", count=40, baseline_rate=20)) == []
    assert rule.on_signal(make_signal("P-1", kind="policy", count=40, baseline_rate=5)) == []


# --- influential voice ---------------------------------------------------------------------------

def test_influential_voice_fires_on_verified_media_or_big_account_negative_about_watched_policy():
    rule = rule_of("influential_voice", policies=["P-heat"], min_followers=100_000)
    media = make_post("供暖新政让人寒心", sentiment="negative", policies=["P-heat"], verified=True,
                      verified_reason="某某日报官方微博", author="某某日报")
    big = make_post("这个政策不行", sentiment="negative", policies=["P-heat"], followers=2_000_000)
    [first] = rule.on_post(media)
    [second] = rule.on_post(big)
    assert first.subject_id == "P-heat" and "认证机构账号" in first.title
    assert second.magnitude == 2 and len(second.evidence["voices"]) == 2


@pytest.mark.parametrize("post", [
    make_post("不行", sentiment="negative", policies=["P-heat"], followers=300),  # small account
    make_post("好政策", sentiment="positive", policies=["P-heat"], followers=2_000_000),  # not negative
    make_post("不行", sentiment="negative", policies=["P-other"], followers=2_000_000),  # not watched
    make_post("不行", sentiment="negative", policies=["P-heat"], verified=True, verified_reason="美食博主"),
])
def test_influential_voice_does_not_fire(post: EnrichedPost):
    assert rule_of("influential_voice", policies=["P-heat"], min_followers=100_000).on_post(post) == []


# --- cross-platform spread -----------------------------------------------------------------------

def test_cross_platform_fires_when_event_reaches_k_platforms_within_window():
    rule = rule_of("cross_platform", min_platforms=3, window="6h")
    assert rule.on_post(make_post("a", platform="weibo", event="E-9")) == []
    assert rule.on_post(make_post("b", platform="weibo", event="E-9", at=T0 + timedelta(minutes=5))) == []
    assert rule.on_post(make_post("c", platform="forum", event="E-9", at=T0 + timedelta(hours=1))) == []
    [finding] = rule.on_post(make_post("d", platform="news", event="E-9", at=T0 + timedelta(hours=2)))
    assert finding.evidence["platforms"] == ["forum", "news", "weibo"]


def test_cross_platform_does_not_fire_when_spread_is_slower_than_window():
    rule = rule_of("cross_platform", min_platforms=3, window="6h")
    rule.on_post(make_post("a", platform="weibo", event="E-9"))
    rule.on_post(make_post("b", platform="forum", event="E-9", at=T0 + timedelta(hours=5)))
    assert rule.on_post(make_post("c", platform="news", event="E-9", at=T0 + timedelta(hours=12))) == []


# --- unanswered complaints -----------------------------------------------------------------------

def board(text: str, at: datetime, answered: bool = False, place: str = "东关村", post_id: str | None = None):
    return make_post(text, platform="board", at=at, post_id=post_id,
                     extra={BOARD_ANSWERED: answered, BOARD_PLACE: place})


def test_unanswered_complaints_fires_when_a_message_waits_longer_than_n_days():
    rule = rule_of("unanswered_complaints", max_days=5, pile_up=10, group_by="place")
    rule.on_post(board("小区供暖不热，反映多次无人管", T0))
    assert rule.on_tick(T0 + timedelta(days=4)) == []
    [finding] = rule.on_tick(T0 + timedelta(days=6))
    assert (finding.subject_kind, finding.subject_id, finding.evidence["overdue"]) == ("place", "东关村", 1)
    assert rule.on_tick(T0 + timedelta(days=6, hours=1)) == []  # nothing changed: no new finding


def test_unanswered_complaints_forgets_a_message_seen_again_with_an_answer_and_fires_on_pile_up():
    rule = rule_of("unanswered_complaints", max_days=5, pile_up=3, group_by="place")
    rule.on_post(board("供暖不热", T0, post_id="board:1"))
    rule.on_post(board("供暖不热", T0 + timedelta(days=2), answered=True, post_id="board:1"))
    assert rule.on_tick(T0 + timedelta(days=9)) == []
    for hour in range(3):
        rule.on_post(board(f"路灯坏了{hour}", T0 + timedelta(days=9, hours=hour), place="西城"))
    [finding] = rule.on_tick(T0 + timedelta(days=9, hours=4))
    assert (finding.subject_id, finding.magnitude, finding.evidence["overdue"]) == ("西城", 3, 0)



def test_unanswered_complaints_forget_a_message_waiting_longer_than_forget_after_days():
    """The waiting messages are a bounded stretch, not every message a board ever left unanswered: one waiting
    longer than `forget_after_days` leaves the counts, and is not taken back when the board shows it again."""
    rule = rule_of("unanswered_complaints", max_days=5, pile_up=10, group_by="place", forget_after_days=20)
    rule.on_post(board("供暖不热", T0, post_id="board:old"))
    rule.on_post(board("路灯坏了", T0 + timedelta(days=10), post_id="board:new"))
    [finding] = rule.on_tick(T0 + timedelta(days=19))
    assert finding.evidence["unanswered"] == 2
    [finding] = rule.on_tick(T0 + timedelta(days=21))
    assert (finding.evidence["unanswered"], finding.post_ids) == (1, ("board:new",))
    rule.on_post(board("供暖不热", T0, post_id="board:old"))  # the board revisited, still unanswered
    assert rule.on_tick(T0 + timedelta(days=21, hours=1)) == []  # nothing changed
    assert list(rule.memory()["waiting"]) == ["board:new"]
    with pytest.raises(ValueError, match="forget_after_days"):
        rule_of("unanswered_complaints", max_days=5, forget_after_days=5)

def test_unanswered_complaints_count_again_when_the_clock_goes_back():
    """A tick earlier than the last (a clock set back) counts overdue what is overdue at that time."""
    rule = rule_of("unanswered_complaints", max_days=5, pile_up=1, group_by="place")
    rule.on_post(board("供暖不热", T0))
    overdue = [[finding.evidence["overdue"] for finding in rule.on_tick(T0 + timedelta(days=days))]
               for days in (7, 3, 7)]
    assert overdue == [[1], [0], [1]]


def _expected_unanswered(seen: list[tuple[str, str, datetime, bool]], now: datetime, forget_after: timedelta,
                         max_days: float, pile_up: int) -> dict[str, tuple[int, int]]:
    """What the unanswered rule should count at `now`, worked out afresh from every message seen so far
    (id, place, published, answered; in arrival order): a message waits from its first unanswered sighting
    until seen answered or forgotten."""
    waiting: dict[str, tuple[str, datetime]] = {}
    for post_id, place, when, answered in seen:
        if answered:
            waiting.pop(post_id, None)
        elif post_id not in waiting and now - when <= forget_after:
            waiting[post_id] = (place, when)
    figures: dict[str, tuple[int, int]] = {}
    for place, when in waiting.values():
        count, overdue = figures.get(place, (0, 0))
        figures[place] = (count + 1, overdue + (now - when > timedelta(days=max_days)))
    return {place: (count, overdue) for place, (count, overdue) in figures.items() if overdue or count >= pile_up}


def test_unanswered_complaints_on_forty_days_of_a_city_s_boards_count_what_a_fresh_count_finds():
    """Six boards over forty days (a message every half hour, 40 % answered on first sight, revisits of older
    messages answered or not, a restart from memory every eight days): after every tick, each place's last
    reported (unanswered, overdue) equals a count done afresh from every message seen, and a place is reported
    again exactly when its figures changed."""
    rng = random.Random(7)
    places = ["东关村", "西城", "南湖", "北岗", "开发区", "牡丹区"]
    options = {"max_days": 5, "pile_up": 40, "group_by": "place", "forget_after_days": 20}
    rule = rule_of("unanswered_complaints", **options)
    seen: list[tuple[str, str, datetime, bool]] = []
    reported: dict[str, tuple[int, int]] = {}
    findings = 0
    for step in range(40 * 48):
        now = T0 + timedelta(minutes=30 * step)
        if seen and rng.random() < 0.3:  # a board revisited: an older message shown again
            post_id, place, when, _ = rng.choice(seen)
            answered = rng.random() < 0.5
        else:
            post_id, place, when, answered = f"board:{step}", rng.choice(places), now, rng.random() < 0.4
        seen.append((post_id, place, when, answered))
        rule.on_post(board("留言", when, answered=answered, place=place, post_id=post_id))
        if step % 6 == 5:
            for finding in rule.on_tick(now):
                figures = (finding.evidence["unanswered"], finding.evidence["overdue"])
                assert reported.get(finding.subject_id) != figures  # reported again only when changed
                assert finding.magnitude == len(finding.post_ids) == figures[0]
                reported[finding.subject_id] = figures
                findings += 1
            expected = _expected_unanswered(seen, now, timedelta(days=20), max_days=5, pile_up=40)
            assert {place: reported[place] for place in expected} == expected
        if step % (8 * 48) == 8 * 48 - 1:  # a restart: a new rule takes back the memory
            memory = orjson.loads(orjson.dumps(rule.memory()))  # as the engine saves it
            rule = rule_of("unanswered_complaints", **options)
            rule.recall(memory)
    assert findings > 100


# --- policy without interpretation ---------------------------------------------------------------

def gov_doc(title: str, at: datetime = T0, **extra):
    return make_post("为进一步……现印发给你们，请认真贯彻执行。", title=title, platform="gov", at=at,
                     extra={GOV_DOC_NUMBER: "某政办发〔2026〕12号", **extra})


def test_policy_interpretation_fires_when_no_interpretation_after_n_days():
    rule = rule_of("policy_interpretation", days=3)
    rule.on_post(gov_doc("关于印发《城区供暖管理办法》的通知"))
    assert rule.on_tick(T0 + timedelta(days=2)) == []
    [finding] = rule.on_tick(T0 + timedelta(days=3, hours=1))
    assert finding.subject_kind == "document" and "供暖管理办法" in finding.title
    assert rule.on_tick(T0 + timedelta(days=3, hours=5)) == []  # reported; again only a day later
    assert len(rule.on_tick(T0 + timedelta(days=4, hours=1))) == 1


def test_policy_interpretation_is_satisfied_by_link_or_interpretation_page_in_any_order():
    rule = rule_of("policy_interpretation", days=3)
    rule.on_post(gov_doc("关于印发《城区供暖管理办法》的通知"))
    rule.on_post(make_post("一图读懂", title="《城区供暖管理办法》政策解读", platform="gov",
                           extra={GOV_IS_INTERPRETATION: True}, at=T0 + timedelta(days=1)))
    rule.on_post(make_post("解读", title="《物业服务收费办法》解读", platform="gov",
                           extra={GOV_IS_INTERPRETATION: True}))
    rule.on_post(gov_doc("关于印发《物业服务收费办法》的通知", at=T0 + timedelta(hours=2)))
    rule.on_post(gov_doc("关于印发《公交票价调整方案》的通知", **{GOV_INTERPRETATION: "https://gov.example.cn/jd/1"}))
    rule.on_post(make_post("工作动态：市长调研供暖", platform="gov"))  # no 发文字号: not a 政策文件
    assert rule.on_tick(T0 + timedelta(days=10)) == []


# --- crawl health --------------------------------------------------------------------------------

def test_crawl_health_fires_on_a_source_silent_for_n_runs():
    rule = rule_of("crawl_health", silent_runs=3)
    assert rule.on_health(make_health("city-portal", silent_runs=2)) == []
    assert rule.on_health(make_health("city-portal", items=12)) == []
    [finding] = rule.on_health(make_health("city-portal", silent_runs=3, problems={"http 403": 2}))
    assert (finding.subject_kind, finding.subject_id) == ("source", "city-portal")
    assert "http 403×2" in finding.summary


# --- every type through the engine: groups, cools down, escalates ---------------------------------

Feed = tuple[list[EnrichedPost], list[BurstSignal], list[CrawlHealth]]


def _keyword(step: int, at: datetime) -> Feed:
    return [make_post(f"东关村拆迁户上访维权第{step}天", places=["东关村"], at=at)], [], []


def _surge(step: int, at: datetime) -> Feed:
    return [], [make_signal("P-heat", count=20 * step, negative=15 * step, at=at)], []


def _burst(step: int, at: datetime) -> Feed:
    return [], [make_signal("E-1", kind="event", count=30 * step, baseline_rate=2, at=at)], []


def _voice(step: int, at: datetime) -> Feed:
    return [make_post("寒心", sentiment="negative", policies=["P-heat"], followers=10**6, at=at)], [], []


def _spread(step: int, at: datetime) -> Feed:
    # Three platforms at each step inside the window; a day later it is on all six.
    platforms = ["weibo", "news", "forum", "board", "gov", "other"]
    chosen = platforms if step == 4 else platforms[step - 1: step + 2]
    return [make_post("某事件", platform=platform, event="E-2", at=at) for platform in chosen], [], []


def _complaints(step: int, at: datetime) -> Feed:
    return [board(f"供暖不热{step}-{n}", at - timedelta(days=6)) for n in range(3)], [], []


def _no_interpretation(step: int, at: datetime) -> Feed:
    return ([gov_doc("关于印发《城区供暖管理办法》的通知", at=T0 - timedelta(days=3, hours=1), post_id="gov:doc1")]
            if step == 1 else []), [], []


def _blind(step: int, at: datetime) -> Feed:
    return [], [], [make_health("city-portal", silent_runs=2 + step, at=at)]


# type -> (feed for step n at time t, options, level thresholds that step 4 reaches but step 1 does not)
SCENARIOS: dict[str, tuple[Callable[[int, datetime], Feed], dict, dict]] = {
    "keyword_context": (_keyword, {"terms": ["拆迁"], "context": ["上访"], "min_posts": 1}, {"较大": 4}),
    "negative_surge": (_surge, {}, {"重大": 60}),
    "volume_burst": (_burst, {"min_count": 20}, {"较大": 120}),
    "influential_voice": (_voice, {}, {"重大": 4}),
    "cross_platform": (_spread, {"min_platforms": 3}, {"较大": 6}),
    "unanswered_complaints": (_complaints, {"group_by": "place", "pile_up": 100}, {"较大": 12}),
    "policy_interpretation": (_no_interpretation, {"days": 3}, {"较大": 4}),
    "crawl_health": (_blind, {"silent_runs": 3}, {"较大": 6}),
}


def test_every_rule_type_has_a_lifecycle_scenario():
    assert set(SCENARIOS) == set(RULE_TYPES)


@pytest.mark.parametrize("type_name", sorted(SCENARIOS))
def test_rule_groups_cools_down_and_escalates(type_name: str, tmp_path: Path):
    feed, options, levels = SCENARIOS[type_name]
    config = parse_alert_config({
        "defaults": {"channels": ["ops"], "escalate_to": ["leader"], "cooldown": "6h"},
        "channels": [{"name": "ops", "type": "file"}, {"name": "leader", "type": "file"}],
        "rules": [{"name": "r", "type": type_name, "level": "一般", "levels": levels, "options": options}],
    })
    service = AlertService(config, SqliteAlertStore(tmp_path / "alerts.sqlite3"),
                           build_channels(config, ChannelContext(tmp_path)))
    # Steps 1-3 one hour apart (inside the cooldown), step 4 a day later (after it, and at a higher level).
    times = [T0, T0 + timedelta(hours=1), T0 + timedelta(hours=2), T0 + timedelta(days=1)]
    for step, now in enumerate(times, start=1):
        posts, signals, health = feed(step, now)
        service.process(posts, signals, health, now=now)
        alerts = service.store.alerts()
        assert len(alerts) == 1, f"step {step}: one group, not {len(alerts)} alerts"
        if step == 1:
            assert alerts[0].level == AlertLevel.GENERAL
    [alert] = service.store.alerts()
    assert alert.updates >= 1
    outbox = service.store.outbox(alert.id)
    early = [(item.channel, item.message["kind"]) for item in outbox if item.created_at < times[3]]
    late = [(item.channel, item.message["kind"]) for item in outbox if item.created_at >= times[3]]
    # Fired once to ops; updates inside the cooldown stay quiet; the level rise goes to ops and leader.
    assert early == [("ops", "fired")]
    assert ("leader", "level_raised") in late and ("ops", "level_raised") in late
    assert alert.level == (AlertLevel.LARGE if "较大" in levels else AlertLevel.MAJOR)


def test_policy_interpretation_ignores_the_back_catalogue_and_groups_by_policy():
    rule = rule_of("policy_interpretation", days=3, max_age_days=30)
    old = gov_doc("关于印发《2022年工作要点》的通知", at=T0 - timedelta(days=900))
    old = old.model_copy(update={"fetched_at": T0})  # first crawl of the portal reads it today
    rule.on_post(old)
    rule.on_post(make_post("现印发", title="关于印发《供暖办法》的通知", platform="gov", policies=["P-heat"],
                           extra={GOV_DOC_NUMBER: "某政发〔2026〕3号"}))
    [finding] = rule.on_tick(T0 + timedelta(days=4))
    assert (finding.subject_kind, finding.subject_id) == ("policy", "P-heat")


def test_subject_window_ends_at_the_newest_item_whatever_the_arrival_order():
    """A week-old board message crawled after today's weibo must not count as inside today's 6 hours."""
    window = SubjectWindow(timedelta(hours=6))
    today = datetime(2026, 11, 25, 17, 43, tzinfo=SHANGHAI)
    assert window.add("e", today, "a", "weibo")
    assert not window.add("e", today - timedelta(days=7), "b", "forum")  # older than the window: not kept
    assert window.add("e", today - timedelta(hours=2), "c", "board")
    assert window.add("e", today + timedelta(hours=5), "d", "news")  # moves the window: "c" falls out
    assert [item_id for _, item_id, _ in window.items("e")] == ["a", "d"]
    assert not window.add("e", today, "a", "weibo")  # a redelivery
    assert window.add("e", today + timedelta(hours=1), "f", "forum")
    assert window.ids("e") == ("a", "f", "d")  # in time order


def test_subject_window_forgets_subjects_quiet_for_longer_than_the_window_and_the_lateness():
    """Events come and go for as long as the worker runs: a window must not keep the last item of every event
    it ever saw. A subject quiet for less than the window and `LATENESS` still meets its earlier items."""
    window = SubjectWindow(timedelta(hours=6))
    start = datetime(2026, 11, 1, tzinfo=SHANGHAI)
    for day in range(30):
        for n in range(50):  # the day's events, each met once
            window.add(f"e{day}-{n}", start + timedelta(days=day, minutes=n), f"p{day}-{n}")
        assert len(window.to_json()) <= 50 * (LATENESS.days + 2)
    last = start + timedelta(days=29, minutes=49)
    assert "e29-0" in window.to_json() and "e0-0" not in window.to_json()
    # An item late by a day still meets its subject's item within the window.
    late = start + timedelta(days=28, minutes=30)
    assert window.add("e28-10", late, "late")
    assert window.ids("e28-10") == ("p28-10", "late")
    assert last - late < LATENESS


def test_windows_of_a_rules_file_wait_for_late_items_as_long_as_they_may_raise_an_alert():
    """An item older than `stale_after` raises no alert, so a window built from the rules file forgets a subject
    quiet for longer than the window and `stale_after` (not a week: a city's events of a week were ~170,000)."""
    from alerts.config import build_rules

    config = parse_alert_config({"stale_after": "12h", "channels": [{"name": "local_file", "type": "file"}],
                                 "rules": [{"name": "跨平台扩散", "type": "cross_platform", "options": {"window": "6h"}}]})
    [(_, rule)] = build_rules(config)
    start = datetime(2026, 11, 1, tzinfo=SHANGHAI)
    for hour in range(0, 48, 2):
        rule.on_post(make_post("某事", event=f"E-{hour}", at=start + timedelta(hours=hour)))
    kept = sorted(int(subject.split("-")[1]) for subject in rule.memory()["window"])
    assert kept[0] >= 46 - 6 - 12 - 6  # quiet for the window and stale_after, swept once per window of time
    rule.recall(rule.memory())
    assert rule.window.lateness == timedelta(hours=12)  # and after a restart


def test_subject_window_forgets_by_the_clock_when_no_newer_item_comes():
    """A backlog of old posts, or a quiet stretch, must not keep the window's subjects: the rules' tick advances
    it by the clock (it advanced only when a newer item came)."""
    from alerts.config import build_rules

    config = parse_alert_config({"stale_after": "12h", "channels": [{"name": "local_file", "type": "file"}],
                                 "rules": [{"name": "跨平台扩散", "type": "cross_platform", "options": {"window": "6h"}}]})
    [(_, rule)] = build_rules(config)
    start = datetime(2026, 11, 1, tzinfo=SHANGHAI)
    for n in range(100):
        rule.on_post(make_post("某事", event=f"E-{n}", at=start + timedelta(minutes=n)))
    rule.on_tick(start + timedelta(hours=10))
    assert len(rule.memory()["window"]) == 100  # quiet for less than the window and stale_after
    rule.on_tick(start + timedelta(hours=20))
    assert rule.memory()["window"] == {}
    assert rule.on_post(make_post("某事", event="E-1", at=start + timedelta(hours=20))) == []
    assert len(rule.window.ids("E-1")) == 1  # starts afresh


def _interpretation(title: str, at: datetime) -> EnrichedPost:
    return make_post("解读", title=title, platform="gov", extra={GOV_IS_INTERPRETATION: True}, at=at)


def test_policy_interpretation_remembers_interpretations_and_reported_days_only_while_they_matter():
    rule = rule_of("policy_interpretation", days=3, max_age_days=30)
    for day in range(90):  # a page a day, each interpreting its own document
        rule.on_post(_interpretation(f"《第{day}号管理办法》政策解读", T0 + timedelta(days=day)))
        rule.on_tick(T0 + timedelta(days=day, hours=1))
    memory = orjson.loads(orjson.dumps(rule.memory()))
    assert len(memory["interpretations"]) == 30  # the pages of the last 30 days
    # A document whose page came within those days is still interpreted, after a restart too.
    restarted = rule_of("policy_interpretation", days=3, max_age_days=30)
    restarted.recall(memory)
    restarted.on_post(gov_doc("关于印发《第80号管理办法》的通知", at=T0 + timedelta(days=89)))
    assert restarted.on_tick(T0 + timedelta(days=95)) == []
    # A document reported overdue and then interpreted leaves no count of days behind.
    restarted.on_post(gov_doc("关于印发《供热条例》的通知", at=T0 + timedelta(days=90), post_id="gov:late"))
    assert len(restarted.on_tick(T0 + timedelta(days=94))) == 1
    restarted.on_post(_interpretation("《供热条例》政策解读", T0 + timedelta(days=95)))
    assert restarted.memory()["reported_days"] == {}


def test_policy_interpretation_lets_a_document_go_after_forget_after_days():
    rule = rule_of("policy_interpretation", days=3)  # forget_after_days: 30 by default
    rule.on_post(gov_doc("关于印发《城区供暖管理办法》的通知"))
    reported = [day for day in range(90) if rule.on_tick(T0 + timedelta(days=day, hours=1))]
    assert reported == list(range(3, 30))  # overdue from day 3, once a day, while it is watched
    assert rule.memory()["pending"] == {} and rule.memory()["reported_days"] == {}


def test_policy_interpretation_forgets_only_after_it_is_overdue():
    with pytest.raises(ValueError, match="forget_after_days must be longer than days"):
        rule_of("policy_interpretation", days=3, forget_after_days=3)


def test_policy_interpretation_recalls_interpretations_remembered_without_their_time():
    rule = rule_of("policy_interpretation", days=3, max_age_days=30)
    rule.recall({"pending": {}, "interpretations": [[[], "《供热条例》政策解读\n解读"]], "reported_days": {"gone": 2}})
    assert rule.memory()["reported_days"] == {}  # its document no longer waits
    rule.on_tick(T0)  # kept from the first tick on, for max_age_days
    rule.on_post(gov_doc("关于印发《供热条例》的通知", at=T0 + timedelta(days=29)))
    assert rule.on_tick(T0 + timedelta(days=29, hours=1)) == rule.on_tick(T0 + timedelta(days=40)) == []
    assert rule.memory()["interpretations"] == []
