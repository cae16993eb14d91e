"""The briefing's pure parts: deadline clocks, the report window, effect verdicts, wording, advice, charts."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest

from reports import charts
from reports.advice import CALM, SILENT, recommend
from reports.briefing import (
    DailyBriefing,
    EffectFiguresError,
    Overview,
    ReportWindow,
    ResponseEffect,
    TrendPoint,
    deadline_state,
)
from reports.labels import CRAWL_PROBLEM_NAMES, change, clock, duration, percent, problem_name
from yuqing.schema import SHANGHAI, Deadline

FIRED = datetime(2026, 11, 26, 10, 0, tzinfo=SHANGHAI)
DUE = FIRED + timedelta(hours=5)


@pytest.mark.parametrize(
    ("met_at", "now", "state", "late_by", "remaining"),
    [
        (FIRED + timedelta(hours=4), FIRED + timedelta(hours=8), "met", None, None),
        (FIRED + timedelta(hours=6), FIRED + timedelta(hours=8), "met_late", timedelta(hours=1), None),
        (None, FIRED + timedelta(hours=8), "overdue", timedelta(hours=3), None),
        (None, FIRED + timedelta(hours=2), "pending", None, timedelta(hours=3)),
        (None, DUE, "overdue", timedelta(0), None),
        # Met only after the moment reported on: at that moment it was still running.
        (FIRED + timedelta(hours=4), FIRED + timedelta(hours=1), "pending", None, timedelta(hours=4)),
    ],
)
def test_deadline_state(met_at, now, state, late_by, remaining):
    result = deadline_state(Deadline(name="发布权威信息", due_at=DUE, met_at=met_at), FIRED, now)
    assert (result.state, result.late_by, result.remaining) == (state, late_by, remaining)
    assert result.allowed == timedelta(hours=5)


def test_deadline_length_counts_from_its_own_start():
    started = FIRED + timedelta(hours=1)
    result = deadline_state(Deadline(name="x", started_at=started, due_at=started + timedelta(hours=24)), FIRED,
                            FIRED)
    assert result.allowed == timedelta(hours=24)


def test_report_window_today_is_cut_at_now():
    now = datetime(2026, 11, 26, 18, 30, tzinfo=SHANGHAI)
    w = ReportWindow.for_day(None, now)
    assert w.day == date(2026, 11, 26)
    assert w.start == datetime(2026, 11, 26, 0, 0, tzinfo=SHANGHAI)
    assert w.cutoff == now and w.partial


def test_report_window_uses_beijing_time_for_today():
    # 17:00 UTC is already 01:00 of the next day in Beijing.
    w = ReportWindow.for_day(None, datetime(2026, 11, 26, 17, 0, tzinfo=UTC))
    assert w.day == date(2026, 11, 27)


def test_report_window_past_day_is_whole():
    w = ReportWindow.for_day(date(2026, 11, 25), datetime(2026, 11, 26, 9, 0, tzinfo=SHANGHAI))
    assert w.cutoff == datetime(2026, 11, 26, 0, 0, tzinfo=SHANGHAI) and not w.partial


def test_effect_figures_read_from_the_alert_store_form():
    effect = ResponseEffect.from_mapping({
        "responded_at": "2026-11-26T09:00:00+08:00", "verdict": "回应见效", "complete": True,
        "before": {"posts": 10, "negative": 6, "negative_share": 0.6, "hours": 24.0},
        "after": {"posts": 4, "negative": 1, "negative_share": 0.25, "hours": 24.0},
    })
    assert effect.responded_at == datetime(2026, 11, 26, 9, 0, tzinfo=SHANGHAI)
    assert (effect.before_share, effect.after_share, effect.verdict) == (0.6, 0.25, "回应见效")
    empty_after = ResponseEffect.from_mapping({
        "responded_at": datetime(2026, 11, 26, 9, 0), "verdict": "暂无数据", "complete": False,
        "before": {"posts": 3, "negative": 1, "hours": 24}, "after": {"posts": 0, "negative": 0, "hours": 0},
    })
    assert empty_after.after_share is None and empty_after.responded_at.tzinfo is not None


@pytest.mark.parametrize("broken", [{}, {"responded_at": "yesterday", "before": {}, "after": {}},
                                    {"responded_at": "2026-11-26T09:00:00", "verdict": "x", "complete": True,
                                     "before": {"posts": "many", "negative": 0, "hours": 1},
                                     "after": {"posts": 1, "negative": 0, "hours": 1}}])
def test_garbled_effect_figures_are_a_clear_error(broken):
    with pytest.raises(EffectFiguresError, match="response-effect figures"):
        ResponseEffect.from_mapping(broken)


@pytest.mark.parametrize(
    ("span", "text"),
    [(timedelta(minutes=40), "40分钟"), (timedelta(hours=5), "5小时"), (timedelta(hours=5, minutes=20), "5小时20分钟"),
     (timedelta(days=2), "2天"), (timedelta(days=1, hours=3, minutes=59), "1天3小时"), (timedelta(hours=-2), "0分钟")],
)
def test_duration_wording(span, text):
    assert duration(span) == text


def test_other_wording():
    assert change(0.352) == "增加35.2%" and change(-0.1) == "减少10.0%" and change(0) == "持平"
    assert change(None) == "无可比数据"
    assert percent(0.7049) == "70.5%" and percent(None) == "—"
    assert clock(datetime(2026, 11, 26, 1, 5, tzinfo=SHANGHAI)) == "11月26日 01:05"
    # Shown on Beijing time whatever zone the moment carries.
    assert clock(datetime(2026, 11, 25, 17, 5, tzinfo=UTC), with_date=False) == "01:05"


def briefing(total: int = 0, previous: int = 0) -> DailyBriefing:
    window = ReportWindow.for_day(date(2026, 11, 26), datetime(2026, 11, 26, 18, 0, tzinfo=SHANGHAI))
    overview = Overview(total=total, previous=previous, sentiment={"neutral": total} if total else {},
                        platforms={"weibo": total} if total else {}, negative_platforms={}, sources={})
    return DailyBriefing(window=window, overview=overview, hourly=[], daily=[], events=[], policies=[],
                         quiet_policies=0, unlisted_policies=0, places=[], alerts=[], sources=[], unanswered_board=0)


def test_calm_and_silent_days_get_one_line_each():
    assert recommend(briefing(total=30, previous=28)) == [CALM]
    assert recommend(briefing()) == [SILENT]


@pytest.mark.parametrize(("total", "previous", "surge"), [(40, 20, True), (39, 20, False), (19, 5, False),
                                                           (40, 0, False)])
def test_volume_surge_advice_needs_enough_posts_and_a_doubling(total, previous, surge):
    texts = [a.text for a in recommend(briefing(total, previous))]
    assert any("较昨日同期增长" in t for t in texts) == surge


def _valid_svg(markup: str) -> ET.Element:
    root = ET.fromstring(markup)
    assert root.tag == "{http://www.w3.org/2000/svg}svg"
    assert root.get("viewBox") and root.get("width") is None
    return root


def test_charts_are_valid_svg_with_text_kept_as_text():
    start = datetime(2026, 11, 26, tzinfo=SHANGHAI)
    points = [TrendPoint(start + timedelta(hours=h), h % 5, h % 2) for h in range(24)]
    volume = charts.volume_chart(points, interval="hour", key="t1", name="近24小时信息量")
    bars = charts.bar_chart([("牡丹区", 5, 2), ("曹县", 3, 0)], key="t2", name="地域")
    ring = charts.sentiment_chart({"negative": 3, "neutral": 5}, {"negative": "负面", "neutral": "中性"},
                                  key="t3", name="情感")
    for markup in (volume, bars, ring, charts.sparkline([0, 1, 4], key="t4", name="走势")):
        _valid_svg(markup)
    # The Chinese labels are <text> for the browser to draw, not paths from a font that lacks them.
    assert ">牡丹区</text>" in bars and "负面 38%" in ring and ">15:00</text>" in volume
    assert 'id="t2-' in bars and 'id="t1-' not in bars
    # ...in a font family list the reader's system can draw Chinese with.
    assert "font-family: 'Microsoft YaHei', 'PingFang SC'" in bars


def test_charts_survive_nothing_to_show():
    start = datetime(2026, 11, 26, tzinfo=SHANGHAI)
    empty = charts.volume_chart([TrendPoint(start, 0, 0)] * 14, interval="day", key="z1", name="空")
    _valid_svg(empty)
    assert "−" not in empty and ">0</text>" in empty and ">1</text>" in empty  # no negative ticks
    _valid_svg(charts.sparkline([0] * 14, key="z2", name="空"))
    _valid_svg(charts.bar_chart([("微博", 0, 0)], key="z3", name="空"))


def test_every_crawl_problem_a_spider_counts_has_a_chinese_name():
    """Leaders read the 异常 column: a reason added to a spider without a name would show as an English key."""
    spiders = Path(__file__).resolve().parents[1] / "spiders"
    source = "\n".join(path.read_text(encoding="utf-8") for path in spiders.glob("*.py"))
    counted = set(re.findall(r'(?:problem|ResponseError)\("([a-z_]+)"', source))
    counted |= set(re.findall(r'^\s+return "([a-z_0-9]+)"$', source.split("def classify_failure")[1].split("\ndef ")[0],
                              re.MULTILINE))
    assert len(counted) > 15
    assert sorted(counted - CRAWL_PROBLEM_NAMES.keys()) == []
    assert problem_name("http_404") == "网站返回 404 错误" and problem_name("closed_shutdown") == "采集中止（shutdown）"


def test_word_charts_find_a_chinese_face_installed_after_matplotlib_listed_its_fonts():
    import shutil
    import subprocess

    from matplotlib import font_manager

    from reports import charts

    fc_list = shutil.which("fc-list")
    if fc_list is None or not subprocess.run([fc_list, ":lang=zh"], capture_output=True, text=True).stdout.strip():
        pytest.skip("no Chinese font installed (make report-deps installs fonts-noto-cjk)")
    charts.bar_chart([("牡丹区", 3, 1)], key="t", name="地域", png=True)
    face = font_manager.findfont(font_manager.FontProperties(family=charts.CJK_FONTS), fallback_to_default=False)
    assert "dejavu" not in face.lower()


def test_a_clock_started_after_the_cutoff_is_not_in_a_report_on_the_day_before():
    from reports.briefing import summarise_alert
    from yuqing.schema import Alert, AlertLevel

    fired = datetime(2026, 11, 26, 10, 0, tzinfo=SHANGHAI)
    later = fired + timedelta(days=1)  # a clock an escalation started the next day
    alert = Alert(id="a", rule="r", rule_type="negative_surge", group_key="g", title="t", level=AlertLevel.LARGE,
                  fired_at=fired, deadlines=[Deadline(name="发布权威信息", started_at=fired, due_at=fired + timedelta(hours=5)),
                                             Deadline(name="召开新闻发布会", started_at=later, due_at=later + timedelta(hours=24))])
    summary = summarise_alert(alert, datetime(2026, 11, 27, 0, 0, tzinfo=SHANGHAI), None, None)
    assert [d.deadline.name for d in summary.deadlines] == ["发布权威信息"]
