"""The daily briefing end to end: a realistic index over 14 days with a burst today, alerts, crawl health."""

from __future__ import annotations

import random
import re
import xml.etree.ElementTree as ET
from datetime import date, datetime, time, timedelta
from pathlib import Path

import pytest

import yuqing.cli.main
from reports.advice import LISTED_ADVICE, recommend
from reports.briefing import (
    LISTED_ALERTS,
    MIN_EVENT_POSTS,
    DailyBriefing,
    ReportWindow,
    between,
    gather_briefing,
)
from reports.daily import build_daily_report, daily_document
from reports.document import Table
from reports.figures import Ledger
from search.sqlite_fts import SqliteIndex
from yuqing.schema import (
    BOARD_ANSWERED,
    SHANGHAI,
    Alert,
    AlertLevel,
    AlertResponse,
    AlertStatus,
    Author,
    CrawlHealth,
    Deadline,
    EnrichedPost,
    Event,
    Policy,
    PolicyLink,
    ResponseKind,
    Sentiment,
)

DAY = date(2026, 11, 26)
START = datetime.combine(DAY, time(0), SHANGHAI)
NOW = START + timedelta(hours=18)
RAW_PHONE = "13812345678"
MASKED_PHONE = "138****5678"
PRIVATE_AUTHOR = "张小明"

POLICIES = [
    Policy(id="hz-lxxq", title="菏泽市老旧小区改造实施方案", doc_number="菏政办发〔2026〕12号", department="市住房城乡建设局"),
    Policy(id="hz-bzf", title="菏泽市保障性租赁住房管理办法", department="市住房城乡建设局",
           interpretation_url="https://www.heze.gov.cn/jd/bzf.html"),
    Policy(id="hz-quiet", title="菏泽市古树名木保护办法"),
]
SCORES = {"negative": 0.1, "neutral": 0.5, "positive": 0.9}


class Factory:
    """Enriched posts with known counts: a quiet fortnight, then a negative burst about one policy today."""

    def __init__(self) -> None:
        self.posts: list[EnrichedPost] = []
        self.rng = random.Random(7)

    def add(self, when: datetime, *, label: str = "neutral", platform: str = "weibo", source: str = "weibo-search",
            text: str = "菏泽今天天气不错", masked: str | None = None, places: tuple[str, ...] = (),
            policies: tuple[str, ...] = (), event: str | None = None, title: str | None = None,
            author: Author | None = None, extra: dict | None = None) -> EnrichedPost:
        n = len(self.posts)
        post = EnrichedPost(
            url=f"https://example.org/{platform}/{n}", platform=platform, source=source, text=text,
            masked_text=masked if masked is not None else text, title=title, published_at=when,
            fetched_at=when + timedelta(minutes=5), author=author or Author(),
            sentiment=Sentiment(score=SCORES[label], label=label), places=list(places),
            policies=[PolicyLink(id=p, score=0.8) for p in policies], event_id=event, extra=extra or {},
        )
        self.posts.append(post)
        return post

    def baseline(self) -> None:
        """13 quiet days before today: 8-12 posts a day, about one in five negative."""
        for back in range(13, 0, -1):
            day_start = START - timedelta(days=back)
            for i in range(8 + back % 5):
                label = "negative" if i % 5 == 0 else ("positive" if i % 3 == 0 else "neutral")
                policies = ("hz-lxxq",) if i % 4 == 0 else ()
                self.add(day_start + timedelta(hours=7 + i, minutes=self.rng.randrange(60)), label=label,
                         platform=("weibo", "news", "board")[i % 3], text=f"菏泽日常信息{back}-{i}",
                         places=("牡丹区",) if i % 2 else ("曹县",), policies=policies)

    def burst_today(self) -> list[EnrichedPost]:
        """60 posts about the stalled renovation between 09:00 and 17:00, 70 % negative, on four platforms."""
        burst = []
        for i in range(60):
            label = "negative" if i % 10 < 7 else "neutral"
            platform = ("weibo", "news", "board", "forum")[i % 4]
            extra = {BOARD_ANSWERED: False} if platform == "board" else {}
            burst.append(self.add(
                START + timedelta(hours=9, minutes=8 * i), label=label, platform=platform,
                source={"weibo": "weibo-search", "news": "hzrb", "board": "hz-board", "forum": "heze-bbs"}[platform],
                text=f"牡丹区老旧小区改造停工三个月，路面挖开没人管，第{i}条", places=("牡丹区",),
                policies=("hz-lxxq",), event="ev-lxxq", extra=extra,
                title="老旧小区改造停工" if platform == "news" else None,
                author=Author(name="菏泽发布", verified=True) if i == 1 else None,
            ))
        return burst

    def ordinary_today(self) -> None:
        for i in range(10):
            self.add(START + timedelta(hours=8, minutes=30 * i), label="positive" if i % 2 else "neutral",
                     platform="news", source="hzrb", text=f"保障性租赁住房申请顺利{i}", policies=("hz-bzf",),
                     places=("定陶区",), event="ev-bzf")


@pytest.fixture(scope="module")
def factory() -> Factory:
    f = Factory()
    f.baseline()
    f.burst = f.burst_today()
    f.ordinary_today()
    # A private phone number the analysis masked, from an unverified private account.
    f.private = f.add(START + timedelta(hours=11), label="negative", platform="board", source="hz-board",
                      text=f"联系电话{RAW_PHONE}，小区门口的路一直没修", masked=f"联系电话{MASKED_PHONE}，小区门口的路一直没修<script>x</script>",
                      places=("牡丹区",), policies=("hz-lxxq",), event="ev-lxxq",
                      author=Author(name=PRIVATE_AUTHOR, id="u1"), extra={BOARD_ANSWERED: False})
    # After the cut: must not be counted in today's figures.
    f.add(START + timedelta(hours=19), label="negative", text="晚上的帖子")
    return f


def events(f: Factory) -> list[Event]:
    burst_ids = [p.id for p in f.burst]
    return [
        Event(id="ev-lxxq", label="老旧小区改造停工", keywords=["老旧小区", "停工", "牡丹区"],
              first_seen=START + timedelta(hours=9), last_seen=START + timedelta(hours=17),
              size=61, platforms={"weibo": 15, "news": 15, "board": 16, "forum": 15}, places=["牡丹区"],
              sentiment_mix={"negative": 43, "neutral": 18}, policies=["hz-lxxq"],
              representative_posts=[f.private.id, burst_ids[1]]),
        Event(id="ev-bzf", label="保租房申请", first_seen=START + timedelta(hours=8),
              last_seen=START + timedelta(hours=12, minutes=30), size=10, platforms={"news": 10},
              places=["定陶区"], sentiment_mix={"positive": 5, "neutral": 5}, policies=["hz-bzf"]),
    ]


def alerts() -> list[Alert]:
    fired = START + timedelta(hours=10)
    overdue = Alert(
        id="a-major", rule="policy-negative-surge", rule_type="negative_surge", group_key="surge:hz-lxxq",
        title="老旧小区改造实施方案负面舆情激增", level=AlertLevel.MAJOR, subject_kind="policy", subject_id="hz-lxxq",
        fired_at=fired, status=AlertStatus.NOTIFIED,
        deadlines=[Deadline(name="发布权威信息", started_at=fired, due_at=fired + timedelta(hours=5)),
                   Deadline(name="召开新闻发布会", started_at=fired, due_at=fired + timedelta(hours=24))],
    )
    answered_at = START + timedelta(hours=9)
    answered = Alert(
        id="a-general", rule="board-unanswered", rule_type="unanswered_complaints", group_key="board:ev-bzf",
        title="保租房留言待回复", level=AlertLevel.GENERAL, subject_kind="event", subject_id="ev-bzf",
        fired_at=START - timedelta(hours=12), status=AlertStatus.RESPONDED,
        acknowledged_by="值班员", acknowledged_at=START - timedelta(hours=11), assigned_to="市住房城乡建设局",
        deadlines=[Deadline(name="回应关切", due_at=START + timedelta(hours=36), met_at=answered_at)],
        responses=[AlertResponse(kind=ResponseKind.BOARD_REPLY, at=answered_at, by="市住房城乡建设局")],
    )
    closed_long_ago = Alert(
        id="a-closed", rule="r", rule_type="volume_burst", group_key="g", title="上周的旧预警",
        level=AlertLevel.LARGE, fired_at=START - timedelta(days=5), status=AlertStatus.CLOSED,
        closed_at=START - timedelta(days=4),
    )
    routine = Alert(
        id="a-routine", rule="doc-interpretation", rule_type="policy_without_interpretation", group_key="doc:1",
        title="政策文件未同步发布解读", level=AlertLevel.LARGE, subject_kind="document", subject_id="gov:3f9a1c",
        fired_at=START + timedelta(hours=8), status=AlertStatus.NOTIFIED,
    )
    return [answered, overdue, closed_long_ago, routine]


def health() -> list[CrawlHealth]:
    def run(source: str, kind: str, finished: datetime, items: int, silent: int = 0, blind: bool = False,
            problems: dict | None = None) -> CrawlHealth:
        return CrawlHealth(source=source, kind=kind, started_at=finished - timedelta(minutes=3),
                           finished_at=finished, items=items, new_items=items // 2, silent_runs=silent,
                           blind=blind, problems=problems or {})

    return [
        run("hzrb", "news", NOW - timedelta(minutes=20), 30),
        run("weibo-search", "weibo", NOW - timedelta(minutes=10), 0, silent=4, blind=True,
            problems={"login_wall": 3, "http_403": 1}),
        run("hz-board", "board", NOW - timedelta(hours=30), 12),
    ]


@pytest.fixture(scope="module")
def index(tmp_path_factory, factory):
    """One index for the module: reports only read it."""
    ix = SqliteIndex(tmp_path_factory.mktemp("index") / "index.sqlite3")
    ix.upsert(factory.posts)
    ix.upsert_events(events(factory))
    yield ix
    ix.close()


@pytest.fixture(scope="module")
def report_dir(index, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("reports")
    path = build_daily_report(index, alerts=alerts(), policies=POLICIES, health=health(), day=DAY, now=NOW,
                              out_dir=out, source_titles={"hzrb": "菏泽日报"})
    assert path.name == "yuqing-daily-2026-11-26.html"
    return out


@pytest.fixture(scope="module")
def report(report_dir) -> str:
    return (report_dir / "yuqing-daily-2026-11-26.html").read_text(encoding="utf-8")


def today_posts(f: Factory) -> list[EnrichedPost]:
    return [p for p in f.posts if START <= p.when < NOW]


def section(html: str, anchor: str) -> str:
    match = re.search(rf'<section id="{anchor}">(.*?)</section>', html, re.S)
    assert match, f"section {anchor} missing"
    return match.group(1)


def test_every_section_is_present(report):
    for heading in ("今日舆情概况", "重点舆情", "政策关注度", "预警与处置", "地域分布", "信息来源", "研判建议"):
        assert heading in report
    assert "<title>舆情日报 2026年11月26日</title>" in report


def test_volume_change_and_negative_share_match_the_factory(report, factory):
    posts = today_posts(factory)
    negative = sum(p.sentiment.label == "negative" for p in posts)
    yesterday = [p for p in factory.posts if START - timedelta(days=1) <= p.when < NOW - timedelta(days=1)]
    change = (len(posts) - len(yesterday)) / len(yesterday)
    assert len(posts) == 71  # 60 burst + 10 ordinary + 1 private; the 19:00 post is after the cut
    assert f"共监测到相关信息<strong>{len(posts)}</strong>条" in report
    assert f"较昨日同期增加{change * 100:.1f}%" in report
    assert f'负面信息<strong class="neg">{negative}</strong>条，占{negative / len(posts) * 100:.1f}%' in report


def test_figures_in_the_briefing_object(index, factory):
    window = ReportWindow.for_day(DAY, NOW)
    b = gather_briefing(index, alerts=alerts(), policies=POLICIES, health=health(), window=window)
    posts = today_posts(factory)
    assert sum(p.total for p in b.hourly) == sum(1 for p in factory.posts if NOW - timedelta(hours=24) <= p.when < NOW)
    assert len(b.hourly) == 24 and b.hourly[-1].start == START + timedelta(hours=17)
    assert len(b.daily) == 14 and b.daily[-1].total == len(posts)
    assert [d.total for d in b.daily[:-1]] == [8 + back % 5 for back in range(13, 0, -1)]
    lxxq = next(a for a in b.policies if a.policy.id == "hz-lxxq")
    assert lxxq.mentions == 61 and lxxq.negative == 43
    assert b.quiet_policies == 1
    assert b.places[0].place == "牡丹区" and b.places[0].count == 61
    assert b.unanswered_board == 16
    assert [e.event.id for e in b.events] == ["ev-lxxq", "ev-bzf"]
    assert {a.alert.id for a in b.alerts} == {"a-major", "a-general", "a-routine"}


def test_overdue_alert_is_flagged_and_advised(report):
    alerts_html = section(report, "alerts")
    articles = alerts_html.split("<article")[1:]
    major = next(a for a in articles if "老旧小区改造实施方案负面舆情激增" in a)
    answered = next(a for a in articles if "保租房留言待回复" in a)
    assert '<span class="flag">已超时</span>' in major
    assert "已超时" not in answered
    assert "✘ 已超时 3小时，尚未完成" in alerts_html  # due 15:00, report cut at 18:00
    assert "进行中，剩余 16小时" in alerts_html  # the press conference is due tomorrow 10:00
    assert "✔ 按时完成" in alerts_html
    assert "上周的旧预警" not in report
    advice = section(report, "advice")
    assert "“发布权威信息”已超时3小时，建议立即发布权威信息" in advice
    assert "尚无人签收" in advice
    # The overdue, major alert comes first.
    assert alerts_html.index("老旧小区改造实施方案负面舆情激增") < alerts_html.index("保租房留言待回复")


def test_every_alert_has_a_line_and_those_needing_action_a_card(report):
    alerts_html = section(report, "alerts")
    table = alerts_html.split("</table>")[0]
    for title in ("老旧小区改造实施方案负面舆情激增", "保租房留言待回复", "政策文件未同步发布解读"):
        assert title in table
    assert "发布权威信息已超时3小时" in table and "均已完成" in table
    cards = alerts_html.split("<article")[1:]
    assert len(cards) == 2 and not any("政策文件未同步发布解读" in c for c in cards)
    assert "gov:3f9a1c" not in report  # a hash means nothing to a reader


def test_responses_are_listed_without_effect_figures(report):
    alerts_html = section(report, "alerts")
    assert "回复留言" in alerts_html and "市住房城乡建设局" in alerts_html
    assert "回应效果：暂无评估数据" in alerts_html


def test_advice_rests_on_the_data(report):
    advice = section(report, "advice")
    assert "《菏泽市老旧小区改造实施方案》今日相关信息61条，负面占比70.5%" in advice
    assert "尚未关联解读材料" in advice
    assert "已在" in advice and "4个平台传播" in advice
    assert "“weibo-search”已连续4次采集无数据" in advice
    assert "今日留言板有16条留言尚未回复" in advice
    assert "总体平稳" not in advice


def test_hot_event_quotes_its_representative_posts(report, factory):
    events_html = section(report, "events")
    assert events_html.index("老旧小区改造停工") < events_html.index("保租房申请")
    assert "今日 <strong>61</strong> 条" in events_html
    assert "新闻网站 · 菏泽日报 · 菏泽发布" in events_html  # source by its title, a verified account by name
    assert f'href="{factory.burst[1].url}"' in events_html
    assert "《菏泽市老旧小区改造实施方案》" in events_html


def test_blind_source_is_reported(report):
    sources = section(report, "sources")
    assert "监测盲区" in sources and "盲区（连续4次无数据）" in sources
    assert "另有1个信息源处于监测盲区" in report  # said in the lead paragraph too
    assert "超过24小时未采集" in sources
    assert "菏泽日报" in sources
    assert "需要登录 3次；网站返回 403 错误 1次" in sources


def test_personal_data_stays_masked(report, report_dir):
    markdown = (report_dir / "yuqing-daily-2026-11-26.md").read_text(encoding="utf-8")
    for text in (report, markdown):
        assert MASKED_PHONE in text
        assert RAW_PHONE not in text
        assert PRIVATE_AUTHOR not in text


def test_charts_are_valid_inline_svg(report):
    charts = re.findall(r"<svg class=\"chart\".*?</svg>", report, re.S)
    # hourly, daily, sentiment, platforms, places, and one sparkline per mentioned policy
    assert len(charts) == 7
    for chart in charts:
        root = ET.fromstring(chart)
        assert root.tag.endswith("svg") and root.get("viewBox")
    ids = re.findall(r'\sid="([^"]+)"', report)
    assert len(ids) == len(set(ids)), "element ids must be unique across the inline charts"
    assert "<img" not in report and "http-equiv" not in report
    assert "<link" not in report and "<script" not in report  # self-contained: no external files
    assert "没修&lt;script&gt;x&lt;/script&gt;" in report  # post text is escaped, never markup


def test_masthead_and_print_css(report):
    assert "@page { size: A4" in report
    assert "@media print" in report


def test_empty_day_says_there_is_nothing(tmp_path):
    with SqliteIndex(tmp_path / "empty.sqlite3") as ix:
        path = build_daily_report(ix, alerts=[], policies=POLICIES, health=[], day=DAY, now=NOW, out_dir=tmp_path)
    html = path.read_text(encoding="utf-8")
    assert "未监测到相关信息" in html
    assert "今日未发现重点舆情事件" in html and "今日无预警" in html and "暂无采集记录" in html
    assert "建议核查各信息源采集是否正常运行" in html
    assert "近14日政策文件库中的政策均无相关信息" in html
    assert len(re.findall(r"<svg class=\"chart\"", html)) == 2  # the two volume trends, all zero


@pytest.fixture
def main(monkeypatch):
    """The `yuqing` entry point with only this command, so other commands' imports cannot break it."""
    monkeypatch.setattr(yuqing.cli.main, "command_modules", lambda: ["yuqing.cli.commands.report"])
    return yuqing.cli.main.main


def test_cli_writes_the_report(tmp_path, monkeypatch, factory, main):
    monkeypatch.setenv("YUQING_DATA_DIR", str(tmp_path / "var"))
    policies = tmp_path / "policies.yaml"
    policies.write_text("policies:\n  - id: hz-lxxq\n    title: 菏泽市老旧小区改造实施方案\n", encoding="utf-8")
    sources = tmp_path / "sources.yaml"
    sources.write_text("sources:\n  - name: hzrb\n    kind: news\n    title: 菏泽日报\n", encoding="utf-8")
    monkeypatch.setenv("YUQING_POLICIES_FILE", str(policies))
    monkeypatch.setenv("YUQING_SOURCES_FILE", str(sources))
    with SqliteIndex(tmp_path / "var" / "index.sqlite3") as ix:
        ix.upsert(factory.posts)
        ix.upsert_events(events(factory))
        ix.record_health(health())
    out = tmp_path / "out"
    # The day before the factory's "today": a whole past day whenever the test runs.
    assert main(["report", "daily", "--date", "2026-11-25", "--format", "html", "--out", str(out)]) == 0
    html = (out / "yuqing-daily-2026-11-25.html").read_text(encoding="utf-8")
    assert (out / "yuqing-daily-2026-11-25.md").exists()
    day_total = sum(1 for p in factory.posts if START - timedelta(days=1) <= p.when < START)
    assert f"全天，共监测到相关信息<strong>{day_total}</strong>条" in html
    assert "《菏泽市老旧小区改造实施方案》" in section(html, "policies")
    assert "菏泽日报" in section(html, "sources") and "盲区（连续4次无数据）" in html


def test_cli_rejects_a_bad_date(tmp_path, monkeypatch, capsys, main):
    monkeypatch.setenv("YUQING_DATA_DIR", str(tmp_path / "var"))
    assert main(["report", "daily", "--date", "26/11/2026", "--out", str(tmp_path)]) == 2
    assert "YYYY-MM-DD" in capsys.readouterr().err


def test_report_on_a_past_day_covers_the_whole_day(index, tmp_path, factory):
    yesterday = DAY - timedelta(days=1)
    path = build_daily_report(index, alerts=alerts(), policies=POLICIES, health=health(), day=yesterday, now=NOW,
                              out_dir=tmp_path)
    html = path.read_text(encoding="utf-8")
    assert path.name == "yuqing-daily-2026-11-25.html"
    count = sum(1 for p in factory.posts if START - timedelta(days=1) <= p.when < START)
    assert f"2026年11月25日全天，共监测到相关信息<strong>{count}</strong>条" in html
    alerts_html = section(html, "alerts")
    # Only the alert fired before midnight; its reply came the next morning, so at midnight the clock still ran.
    assert "保租房留言待回复" in alerts_html and "老旧小区改造实施方案负面舆情激增" not in alerts_html
    assert "回应关切剩余1天12小时" in alerts_html and "回复留言" not in alerts_html


def effect_figures(verdict: str, complete: bool = False) -> dict:
    """What the alert store gives (alerts.effect.ResponseEffect.as_dict())."""
    return {"responded_at": (START + timedelta(hours=9)).isoformat(),
            "before": {"posts": 20, "negative": 10, "negative_share": 0.5, "hours": 24.0},
            "after": {"posts": 30, "negative": 21, "negative_share": 0.7, "hours": 9.0},
            "verdict": verdict, "complete": complete}


def test_effect_figures_from_the_alert_store_are_shown_and_advised(index, tmp_path, factory):
    path = build_daily_report(index, alerts=alerts(), policies=POLICIES, health=health(), day=DAY, now=NOW,
                              out_dir=tmp_path, effects={"a-general": effect_figures("仍在发酵")})
    html = path.read_text(encoding="utf-8")
    alerts_html = section(html, "alerts")
    assert "回应前 20 条，负面占比 50.0%" in alerts_html
    assert "回应后9小时（观察中） 30 条，负面占比 70.0%" in alerts_html
    assert '<strong class="neg">仍在发酵</strong>' in alerts_html
    assert "保租房留言待回复：回应后舆情仍在发酵（负面占比50.0%→70.0%，信息量20→30条）" in section(html, "advice")
    markdown = path.with_suffix(".md").read_text(encoding="utf-8")
    assert "回应效果：仍在发酵（负面占比 50.0% → 70.0%，观察中）" in markdown


def test_a_response_after_the_reported_day_is_not_shown(index, tmp_path):
    path = build_daily_report(index, alerts=alerts(), policies=POLICIES, health=health(), day=DAY - timedelta(days=1),
                              now=NOW, out_dir=tmp_path, effects={"a-general": effect_figures("回应见效", True)})
    alerts_html = section(path.read_text(encoding="utf-8"), "alerts")
    assert "回应见效" not in alerts_html and "回复留言" not in alerts_html


def test_policy_table_lists_the_most_mentioned_only(index, monkeypatch):
    monkeypatch.setattr("reports.briefing.TOP_POLICIES", 1)
    b = gather_briefing(index, alerts=[], policies=POLICIES, health=[], window=ReportWindow.for_day(DAY, NOW))
    assert [a.policy.id for a in b.policies] == ["hz-lxxq"]
    assert (b.unlisted_policies, b.quiet_policies) == (1, 1)


def test_places_and_unanswered_messages_are_counted_over_every_post(index, factory):
    b = gather_briefing(index, alerts=[], policies=POLICIES, health=[], window=ReportWindow.for_day(DAY, NOW))
    posts = today_posts(factory)
    places = {place: sum(place in p.places for p in posts) for p in posts for place in p.places}
    assert {p.place: p.count for p in b.places} == places and places["牡丹区"] == 61
    assert {p.place: p.negative for p in b.places} == {
        place: sum(place in p.places and p.sentiment.label == "negative" for p in posts) for place in places}
    assert b.unanswered_board == sum(p.extra.get(BOARD_ANSWERED) is False for p in posts) == 16


def test_platforms_with_their_negative_posts(index, factory):
    b = gather_briefing(index, alerts=[], policies=[], health=[], window=ReportWindow.for_day(DAY, NOW))
    posts = today_posts(factory)
    assert b.overview.platforms == {p: sum(x.platform == p for x in posts) for p in {x.platform.value for x in posts}}
    assert b.overview.negative_platforms["board"] == sum(
        x.platform == "board" and x.sentiment.label == "negative" for x in posts)


def test_a_lone_post_is_not_a_hot_event(tmp_path):
    f = Factory()
    for i in range(3):
        f.add(START + timedelta(hours=9, minutes=i), label="negative", text=f"化肥厂家属院停工{i}", event="ev-pair")
    f.add(START + timedelta(hours=10), label="negative", text="周末去牡丹园拍汉服", event="ev-lone")
    at = START + timedelta(hours=9)
    lone = Event(id="ev-lone", label="牡丹园 汉服", first_seen=at, last_seen=at, size=1)
    pair = Event(id="ev-pair", label="化肥厂家属院 停工", first_seen=at, last_seen=at, size=3)
    with SqliteIndex(tmp_path / "index.sqlite3") as ix:
        ix.upsert(f.posts)
        ix.upsert_events([lone, pair])
        b = gather_briefing(ix, alerts=[], policies=[], health=[], window=ReportWindow.for_day(DAY, NOW))
    assert [item.event.id for item in b.events] == ["ev-pair"]


# More events seen on the day than the report read when it chose its top events from the most recently seen.
SEEN_EVENTS = 1_200


def test_the_busiest_event_leads_however_many_events_were_seen_after_it(tmp_path):
    """The event with the most posts today was seen first, then 1,200 quieter ones: it is still the first top
    event, with its posts counted exactly, and the runners-up come from the rest by their posts."""
    f = Factory()
    busy_at = START + timedelta(hours=1)
    for i in range(9):  # its last post came at 01:08
        f.add(busy_at + timedelta(minutes=i), label="negative" if i < 4 else "neutral", text=f"供暖不热{i}",
              event="ev-busy")
    f.add(START - timedelta(days=2), label="negative", text="供暖不热，前天", event="ev-busy")
    quiet = []
    for n in range(SEEN_EVENTS):
        at = START + timedelta(hours=2, seconds=20 * n)
        posts = 3 if n % 400 == 0 else 1  # three of them with three posts, the others a lone post
        for i in range(posts):
            f.add(at, label="negative" if i == 0 and n == 800 else "neutral", text=f"日常{n}-{i}", event=f"ev-{n:04}")
        quiet.append(Event(id=f"ev-{n:04}", label=f"日常{n}", first_seen=at, last_seen=at, size=posts))
    busy = Event(id="ev-busy", label="供暖不热", first_seen=START - timedelta(days=2),
                 last_seen=busy_at + timedelta(minutes=8), size=10)
    with SqliteIndex(tmp_path / "index.sqlite3") as ix:
        ix.upsert(f.posts)
        ix.upsert_events([busy, *quiet])
        b = gather_briefing(ix, alerts=[], policies=[], health=[], window=ReportWindow.for_day(DAY, NOW))
    assert [(e.event.id, e.today, e.negative_today, e.total) for e in b.events] == [
        ("ev-busy", 9, 4, 10), ("ev-0800", 3, 1, 3), ("ev-0000", 3, 0, 3), ("ev-0400", 3, 0, 3)]
    assert b.events[0].sentiment == {"neutral": 5, "negative": 5}


def test_top_events_are_found_past_a_tie_at_the_end_of_the_events_facet(tmp_path):
    """Forty events of two posts each today: the events facet lists ties by id, so the only angry one, ev-39,
    comes after the values it is first asked for; it must still lead."""
    f = Factory()
    for n in range(40):
        for i in range(2):
            f.add(START + timedelta(hours=2, minutes=n), label="negative" if n == 39 else "neutral",
                  text=f"事件{n}-{i}", event=f"ev-{n:02}")
    with SqliteIndex(tmp_path / "index.sqlite3") as ix:
        ix.upsert(f.posts)
        ranked = Ledger(ix).top_events("events.top", between(START, NOW), 3, MIN_EVENT_POSTS)
    assert ranked == [["ev-39", 2, 2], ["ev-00", 2, 0], ["ev-01", 2, 0]]


BACKLOG = 60  # well over the listed alerts, as in an office that has fallen behind


def backlog() -> list[Alert]:
    """`BACKLOG` open, overdue, unacknowledged major alerts: each calls for two urgent suggestions."""
    def late(i: int) -> Alert:
        fired = START - timedelta(hours=1 + i)
        return Alert(id=f"a-backlog-{i}", rule="r", rule_type="negative_surge", group_key=f"backlog:{i}",
                     title=f"积压预警{i:03d}", level=AlertLevel.MAJOR, fired_at=fired, status=AlertStatus.NOTIFIED,
                     deadlines=[Deadline(name="发布权威信息", started_at=fired, due_at=fired + timedelta(hours=2))])
    return alerts() + [late(i) for i in range(BACKLOG)]


@pytest.fixture(scope="module")
def backlog_dir(index, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("backlog")
    build_daily_report(index, alerts=backlog(), policies=POLICIES, health=health(), day=DAY, now=NOW, out_dir=out)
    return out


def backlog_briefing(index) -> DailyBriefing:
    return gather_briefing(index, alerts=backlog(), policies=POLICIES, health=health(),
                           window=ReportWindow.for_day(DAY, NOW))


def test_a_backlog_of_alerts_lists_the_most_urgent_and_counts_every_one(index, backlog_dir):
    live = len(backlog()) - 1  # the alert closed last week is not in the day's report
    overdue = BACKLOG + 1  # and the fixture's major alert
    html = (backlog_dir / "yuqing-daily-2026-11-26.html").read_text(encoding="utf-8")
    alerts_html = section(html, "alerts")
    rows = alerts_html.split("<tbody>")[1].split("</tbody>")[0].count("<tr")
    assert rows == LISTED_ALERTS
    assert f"另有 {live - LISTED_ALERTS} 条预警未列出，完整列表见控制台“预警处置”页。" in alerts_html
    # The listed ones are the overdue ones; the answered alert is counted but not listed.
    assert "保租房留言待回复" not in alerts_html
    assert alerts_html.count("<article") <= LISTED_ALERTS
    # Counts over every alert, not over the listed ones.
    assert f'<div class="stat-value">{live}</div><div class="stat-label">预警</div>' in html
    assert f"超时未处置 {overdue} 条" in html
    lead = html.split('<section class="stats">')[0]
    assert f"在办预警{live}条" in lead and f"{overdue}条已超过处置时限" in lead

    markdown = (backlog_dir / "yuqing-daily-2026-11-26.md").read_text(encoding="utf-8")
    listed_md = markdown.split("## 四、预警与处置")[1].split("## 五")[0]
    assert len(re.findall(r"^- 【", listed_md, re.M)) == LISTED_ALERTS
    assert f"另有 {live - LISTED_ALERTS} 条预警未列出" in listed_md

    word = daily_document(backlog_briefing(index), recommend(backlog_briefing(index)), NOW)
    [table] = [t for t in word.blocks if isinstance(t, Table) and t.head[:2] == ("级别", "预警")]
    assert len(table.rows) == LISTED_ALERTS and len(table.flagged) == LISTED_ALERTS
    assert f"另有 {live - LISTED_ALERTS} 条预警未列出" in word.text()
    assert f"预警{live}条" in word.text()


def test_a_backlog_of_suggestions_lists_the_most_urgent_and_counts_the_rest(index, backlog_dir):
    advice = recommend(backlog_briefing(index))
    assert len(advice) > 2 * BACKLOG  # late and unacknowledged, for every backlog alert
    unlisted = f"另有 {len(advice) - LISTED_ADVICE} 条建议未列出"
    html = (backlog_dir / "yuqing-daily-2026-11-26.html").read_text(encoding="utf-8")
    advice_html = section(html, "advice")
    assert advice_html.count("<li>") == LISTED_ADVICE
    assert advice_html.count("紧急</span>") == LISTED_ADVICE  # the most urgent first
    assert unlisted in advice_html and "控制台“预警处置”页" in advice_html

    markdown = (backlog_dir / "yuqing-daily-2026-11-26.md").read_text(encoding="utf-8")
    advice_md = markdown.split("## 七、研判建议")[1]
    assert len(re.findall(r"^\d+\. 【紧急】", advice_md, re.M)) == LISTED_ADVICE
    assert f"{LISTED_ADVICE + 1}. " not in advice_md and unlisted in advice_md

    word = daily_document(backlog_briefing(index), advice, NOW).text()
    assert f"{LISTED_ADVICE}. 【紧急】" in word and f"{LISTED_ADVICE + 1}. " not in word and unlisted in word


def test_a_short_list_has_no_line_about_more(report):
    assert "未列出" not in section(report, "alerts") and "未列出" not in section(report, "advice")
