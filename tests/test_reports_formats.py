"""The daily, weekly and special reports in HTML, Word and PDF, their figures against the fixture, and
`yuqing report verify` on a fresh, a tampered and a stale report.

One set of reports is rendered for the module (PDF rendering takes a few seconds) and only read.
"""

from __future__ import annotations

import json
import re
import shutil
import sqlite3
import subprocess
from datetime import date, datetime, timedelta
from pathlib import Path

import pytest
from docx import Document as open_docx

import yuqing.cli.main
from alerts.store import Change, SqliteAlertStore
from reports.briefing import LISTED_ALERTS
from reports.daily import build_daily_report
from reports.figures import load_manifest, verify
from reports.special import LEAD_MAX, build_special_report
from reports.weekly import Week, build_weekly_report
from search.sqlite_fts import SqliteIndex
from tests.test_reports_daily import DAY, NOW, POLICIES, START, Factory, alerts, backlog, events, health
from yuqing.schema import BOARD_ANSWERED, SHANGHAI

WEEK_START = datetime(2026, 11, 23, tzinfo=SHANGHAI)  # the Monday of DAY's ISO week, 2026-W48
WEEK_NOW = WEEK_START + timedelta(days=8)  # the week is over
EVENT = "ev-lxxq"
DAILY_SECTIONS = ("今日舆情概况", "重点舆情", "政策关注度", "预警与处置", "地域分布", "信息来源与采集情况", "研判建议")
WEEKLY_SECTIONS = ("本周舆情概况", "本周重点事件", "政策关注度", "预警与处置", "地域分布", "监测盲区", "研判建议")
EVENT_SECTIONS = ("事件概况", "传播情况", "观点分析", "预警与回应情况", "研判", "处置建议")


@pytest.fixture(scope="module")
def factory() -> Factory:
    f = Factory()
    f.baseline()
    f.burst = f.burst_today()
    f.ordinary_today()
    f.private = f.add(START + timedelta(hours=11), label="negative", platform="board", source="hz-board",
                      text="联系电话138****5678，小区门口的路一直没修", places=("牡丹区",), policies=("hz-lxxq",),
                      event=EVENT, extra={BOARD_ANSWERED: False})
    f.add(START + timedelta(hours=19), label="negative", text="晚上的帖子")
    return f


@pytest.fixture(scope="module")
def index_file(tmp_path_factory, factory) -> Path:
    path = tmp_path_factory.mktemp("index") / "index.sqlite3"
    with SqliteIndex(path) as ix:
        ix.upsert(factory.posts)
        ix.upsert_events(events(factory))
    return path


@pytest.fixture(scope="module")
def index(index_file):
    ix = SqliteIndex(index_file)
    yield ix
    ix.close()


@pytest.fixture(scope="module")
def out(index, tmp_path_factory) -> Path:
    """The three reports in all three formats, rendered once."""
    folder = tmp_path_factory.mktemp("reports")
    everything = ("html", "docx", "pdf")
    build_daily_report(index, alerts=alerts(), policies=POLICIES, health=health(), day=DAY, now=NOW, out_dir=folder,
                       formats=everything, source_titles={"hzrb": "菏泽日报"})
    build_weekly_report(index, Week.parse("2026-W48", WEEK_NOW), alerts=alerts(), policies=POLICIES,
                        health=health(), out_dir=folder, formats=everything)
    build_special_report(index, EVENT, alerts=alerts(), policies=POLICIES, out_dir=folder, now=NOW,
                         formats=everything)
    return folder


STEMS = {"daily": "yuqing-daily-2026-11-26", "weekly": "yuqing-weekly-2026-W48", "event": f"yuqing-event-{EVENT}"}
SECTIONS = {"daily": DAILY_SECTIONS, "weekly": WEEKLY_SECTIONS, "event": EVENT_SECTIONS}


def docx_text(path: Path) -> tuple[str, list[list[list[str]]]]:
    doc = open_docx(str(path))
    text = "\n".join(p.text for p in doc.paragraphs)
    tables = [[[c.text for c in row.cells] for row in t.rows] for t in doc.tables]
    return text, tables


def pdf_text(path: Path) -> str:
    if shutil.which("pdftotext") is None:
        pytest.skip("pdftotext (Debian's poppler-utils) is not installed")
    # -raw keeps the text in content order, so a sentence broken over two lines is one string again.
    text = subprocess.run(["pdftotext", "-raw", str(path), "-"], capture_output=True, text=True, check=True).stdout
    return re.sub(r"\s+", "", text)


def manifest_of(out: Path, kind: str) -> dict:
    return json.loads((out / f"{STEMS[kind]}.manifest.json").read_text(encoding="utf-8"))


def figure(manifest: dict, key: str):
    return next(f["value"] for f in manifest["figures"] if f["key"] == key)


@pytest.mark.parametrize("kind", ["daily", "weekly", "event"])
def test_every_format_opens_and_holds_every_section(out, kind):
    stem = STEMS[kind]
    html = (out / f"{stem}.html").read_text(encoding="utf-8")
    text, tables = docx_text(out / f"{stem}.docx")
    pdf = pdf_text(out / f"{stem}.pdf")
    for heading in SECTIONS[kind]:
        assert heading in html and heading in text and heading in pdf, heading
    assert tables, "the figures are real Word tables"
    assert set(manifest_of(out, kind)["files"]) == {f"{stem}.html", f"{stem}.docx", f"{stem}.pdf"} | (
        {f"{stem}.md"} if kind == "daily" else set())


def test_word_layout_is_a_government_briefing(out):
    doc = open_docx(str(out / f"{STEMS['event']}.docx"))
    section = doc.sections[0]
    assert (round(section.page_width.mm), round(section.page_height.mm)) == (210, 297)
    assert (round(section.top_margin.mm), round(section.left_margin.mm)) == (37, 28)
    footer = section.footer.paragraphs[0]._p.xml
    assert "PAGE" in footer and "— " in footer  # the page number field, as "— 1 —"
    title = doc.paragraphs[0].runs[0]
    assert title.text == "舆情专报" and title.bold and title.font.size.pt == 22
    fonts = title._element.rPr.rFonts
    assert fonts.get("{http://schemas.openxmlformats.org/wordprocessingml/2006/main}eastAsia")
    assert doc.styles["Normal"].font.size.pt == 14  # 四号
    assert len(doc.inline_shapes) >= 2  # the volume curve and the places, as pictures


def test_chinese_in_the_pdf_is_selectable_text(out):
    pdf = pdf_text(out / f"{STEMS['daily']}.pdf")
    assert "舆情日报" in pdf and "共监测到相关信息71条" in pdf and "老旧小区改造停工" in pdf


def test_daily_figures_in_every_format(out, factory):
    posts = [p for p in factory.posts if START <= p.when < NOW]
    manifest = manifest_of(out, "daily")
    assert figure(manifest, "day.total") == len(posts) == 71
    assert figure(manifest, "day.tally")["unanswered_board"] == 16
    text, _ = docx_text(out / f"{STEMS['daily']}.docx")
    assert "共监测到相关信息71条" in text and "《菏泽市老旧小区改造实施方案》今日相关信息61条，负面占比70.5%" in text
    assert "“发布权威信息”已超时3小时" in text


def test_weekly_figures_against_the_fixture(out, factory):
    week = [p for p in factory.posts if WEEK_START <= p.when < WEEK_START + timedelta(days=7)]
    before = [p for p in factory.posts if WEEK_START - timedelta(days=7) <= p.when < WEEK_START]
    manifest = manifest_of(out, "weekly")
    assert figure(manifest, "week.total") == len(week) == 102  # Mon-Wed baseline 30, Thursday 71 + the late post
    assert figure(manifest, "week.previous") == len(before)
    days = figure(manifest, "days.total")
    assert days == [sum(1 for p in week if WEEK_START + timedelta(days=d) <= p.when < WEEK_START + timedelta(days=d + 1))
                    for d in range(7)]
    assert figure(manifest, "policy.hz-lxxq.mentions") == sum(any(x.id == "hz-lxxq" for x in p.policies) for p in week)
    html = (out / f"{STEMS['weekly']}.html").read_text(encoding="utf-8")
    negative = sum(p.sentiment.label == "negative" for p in week)
    assert f"共监测到相关信息<strong>{len(week)}</strong>条" in html
    assert f'负面信息<strong class="neg">{negative}</strong>条' in html
    assert html.index("老旧小区改造停工") < html.index("保租房申请")  # the top events, biggest first
    # At the week's end both clocks of the major alert had run out; the board reply was on time.
    assert "处置时限3项：按时完成1项、超时未完成2项" in html and "weibo-search" in html and "盲区（连续4次无数据）" in html


def test_special_report_lead_and_sections(out, factory):
    html = (out / f"{STEMS['event']}.html").read_text(encoding="utf-8")
    lead = re.search(r'<p class="lead">(.*?)</p>', html, re.S).group(1)
    lead_text = re.sub(r"<[^>]+>", "", lead)
    assert len(lead_text) <= LEAD_MAX
    assert re.search(r"综合研判，该事件舆情风险(高|较高|一般)：[^。]*。$", lead_text)
    assert "负面占比70.5%" in lead_text and "老旧小区改造停工" in lead_text
    burst = [p for p in factory.burst]
    first = min(burst, key=lambda p: (p.when, p.id))
    manifest = manifest_of(out, "event")
    assert figure(manifest, "event.total") == 61 and figure(manifest, "event.negative") == 43
    assert figure(manifest, "event.tally")["first"] == first.id
    assert figure(manifest, "event.platforms") == {"board": 16, "forum": 15, "news": 15, "weibo": 15}
    # 研判 and 处置建议 restate figures of the report only.
    assert "负面占比70.5%，已在4个平台传播" in html
    assert "“发布权威信息”已超时3小时" in html  # the overdue alert of the event's policy
    assert "留言板有16条相关留言尚未回复" in html


def test_every_quoted_post_is_a_stored_item_with_its_link(out, factory):
    by_id = {p.id: p for p in factory.posts}
    html = (out / f"{STEMS['event']}.html").read_text(encoding="utf-8")
    quoted = re.findall(r'<blockquote data-post="([^"]+)">(.*?)</blockquote>', html, re.S)
    assert quoted
    for post_id, block in quoted:
        assert by_id[post_id].url in block
    assert "【批评】" in html  # the critical voices are quoted too
    manifest = manifest_of(out, "event")
    assert {p["id"] for p in manifest["posts"]} >= {post_id for post_id, _ in quoted}


@pytest.mark.parametrize("kind", ["daily", "weekly", "event"])
def test_a_fresh_report_verifies(out, index, kind):
    manifest_file, manifest = load_manifest(out / f"{STEMS[kind]}.pdf")
    checked, differences = verify(index, manifest_file, manifest)
    assert differences == [] and checked > 10


def test_verify_catches_a_tampered_figure_and_a_tampered_file(out, index, tmp_path):
    for name in (out / STEMS["daily"]).parent.glob(f"{STEMS['daily']}.*"):
        shutil.copy(name, tmp_path / name.name)
    manifest_file = tmp_path / f"{STEMS['daily']}.manifest.json"
    manifest = json.loads(manifest_file.read_text(encoding="utf-8"))
    total = next(f for f in manifest["figures"] if f["key"] == "day.total")
    total["value"] = 17
    manifest_file.write_text(json.dumps(manifest, ensure_ascii=False), encoding="utf-8")
    html = tmp_path / f"{STEMS['daily']}.html"
    html.write_text(html.read_text(encoding="utf-8").replace("<strong>71</strong>", "<strong>17</strong>"),
                    encoding="utf-8")
    _, differences = verify(index, *load_manifest(html))
    assert {d.what for d in differences} == {"day.total", html.name}
    assert next(d for d in differences if d.what == "day.total").found == 71


def test_verify_catches_a_deleted_post_and_a_late_one(out, index_file, tmp_path, factory):
    copy = tmp_path / "index.sqlite3"
    shutil.copy(index_file, copy)
    manifest_file, manifest = load_manifest(out / f"{STEMS['event']}.html")
    quoted = manifest["posts"][0]["id"]
    with sqlite3.connect(copy) as conn:  # a post that can no longer be read: its stored document taken out by hand
        assert conn.execute("DELETE FROM docs WHERE rid = (SELECT rid FROM posts WHERE id = ?)", (quoted,)).rowcount == 1
    with SqliteIndex(copy) as ix:
        assert ix.get(quoted) is None
        _, differences = verify(ix, manifest_file, manifest)
        assert {d.what: d.reason for d in differences}[quoted] == "引用的信息已不在索引中"
        # A post of the event crawled late, inside the reported span: the event's count no longer matches.
        late = factory.burst[0].model_copy(update={"id": "", "url": "https://example.org/late/1",
                                                   "published_at": START + timedelta(hours=12)})
        ix.upsert([late.model_validate(late.model_dump())])
        _, differences = verify(ix, manifest_file, manifest)
    totals = {d.what: (d.recorded, d.found) for d in differences}
    assert totals["event.total"] == (61, 62)


def test_the_empty_day_in_every_format(tmp_path):
    with SqliteIndex(tmp_path / "empty.sqlite3") as ix:
        build_daily_report(ix, alerts=[], policies=POLICIES, health=[], day=DAY, now=NOW, out_dir=tmp_path,
                           formats=("docx", "pdf"))
        manifest_file, manifest = load_manifest(tmp_path / f"{STEMS['daily']}.docx")
        assert verify(ix, manifest_file, manifest)[1] == []
    text, _ = docx_text(tmp_path / f"{STEMS['daily']}.docx")
    assert "未监测到相关信息" in text and "今日无预警" in text and "建议核查各信息源采集是否正常运行" in text
    assert "未监测到相关信息" in pdf_text(tmp_path / f"{STEMS['daily']}.pdf")


@pytest.fixture
def main(monkeypatch):
    monkeypatch.setattr(yuqing.cli.main, "command_modules", lambda: ["yuqing.cli.commands.report"])
    return yuqing.cli.main.main


def test_cli_verify_and_user_errors(out, index_file, tmp_path, monkeypatch, capsys, main):
    data = tmp_path / "var"
    data.mkdir()
    shutil.copy(index_file, data / "index.sqlite3")
    store = SqliteAlertStore(data / "alerts.sqlite3")
    for alert in alerts():
        store.insert(alert, Change("test", "fired"), alert.fired_at)
    monkeypatch.setenv("YUQING_DATA_DIR", str(data))
    assert main(["report", "verify", str(out / f"{STEMS['weekly']}.docx")]) == 0
    assert "核对通过" in capsys.readouterr().out
    # Someone rewrites the board alert's history: its reply and met clock disappear.
    answered = next(a for a in alerts() if a.id == "a-general")
    rewritten = answered.model_copy(update={"responses": [], "deadlines": [
        d.model_copy(update={"met_at": None}) for d in answered.deadlines]})
    store.update(rewritten, 1, Change("test", "edited"), NOW)
    store.close()
    assert main(["report", "verify", str(out / f"{STEMS['weekly']}.docx")]) == 1
    assert "a-general: 预警的处置时限或回应与预警库不符" in capsys.readouterr().out
    for name in out.glob(f"{STEMS['event']}.*"):
        shutil.copy(name, tmp_path / name.name)
    manifest = tmp_path / f"{STEMS['event']}.manifest.json"
    manifest.write_text(manifest.read_text(encoding="utf-8").replace('"value": 61', '"value": 62', 1), encoding="utf-8")
    assert main(["report", "verify", str(manifest)]) == 1
    assert "event.total: 数字与索引不符（报告为 62，现为 61）" in capsys.readouterr().out
    assert main(["report", "event", "no-such-event", "--out", str(tmp_path)]) == 2
    assert main(["report", "weekly", "--week", "2026-49", "--out", str(tmp_path)]) == 2
    assert main(["report", "daily", "--format", "html,odt", "--out", str(tmp_path)]) == 2
    assert main(["report", "verify", str(tmp_path / "nothing.html")]) == 2
    err = capsys.readouterr().err
    assert "no-such-event" in err and "YYYY-Www" in err and "odt" in err and "no manifest" in err
    assert "Traceback" not in err


def test_week_parsing():
    assert Week.parse("2026-W49", datetime(2026, 12, 20, tzinfo=SHANGHAI)).start.date() == date(2026, 11, 30)
    last = Week.parse(None, datetime(2026, 12, 7, 8, 0, tzinfo=SHANGHAI))  # a Monday morning
    assert last.name == "2026-W49" and not last.partial



def test_an_empty_week_is_a_short_correct_report(tmp_path):
    with SqliteIndex(tmp_path / "empty.sqlite3") as ix:
        [html, manifest] = build_weekly_report(ix, Week.parse("2026-W48", WEEK_NOW), alerts=[], policies=POLICIES,
                                               health=[], out_dir=tmp_path, formats=("html",))
    text = html.read_text(encoding="utf-8")
    assert "2026年第48周（11月23日—11月29日）<strong>未监测到相关信息</strong>（上周0条）" in text
    assert "本周未发现重点舆情事件" in text and "本周无预警" in text and "暂无采集记录" in text
    assert manifest.name == "yuqing-weekly-2026-W48.manifest.json"


def test_a_weekly_report_over_a_backlog_lists_the_most_urgent_alerts_and_counts_them_all(index, tmp_path):
    [html, _] = build_weekly_report(index, Week.parse("2026-W48", WEEK_NOW), alerts=backlog(), policies=POLICIES,
                                    health=health(), out_dir=tmp_path, formats=("html",))
    text = html.read_text(encoding="utf-8")
    live = len(backlog()) - 1  # the alert closed on the 22nd, before the week, is not in it
    shown = text.split("四、预警与处置")[1].split("五、地域分布")[0]
    assert shown.split("<tbody>")[1].split("</tbody>")[0].count("<tr") == LISTED_ALERTS
    assert f"本周涉及预警{live}条，处置时限{live}项：按时完成1项、超时未完成{live - 1}项。" in shown
    assert f"另有 {live - LISTED_ALERTS} 条预警未列出，完整列表见控制台“预警处置”页。" in shown
