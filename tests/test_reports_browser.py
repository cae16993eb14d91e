"""The daily briefing as a leader sees it: rendered by Debian's Chromium, driven by Playwright.

Needs `/usr/bin/chromium` (Debian package `chromium`; `make test` installs it when run as root) and the
`playwright` Python package (dev extras). No browser is downloaded: Playwright drives the system one.
"""

import shutil
from pathlib import Path

import pytest

from tests.test_reports_daily import factory, index, report_dir  # noqa: F401 - module fixtures reused

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
pytestmark = pytest.mark.skipif(not Path(CHROMIUM).exists(),
                                reason="Debian's chromium is not installed (apt-get install chromium)")


@pytest.fixture(scope="module")
def page(report_dir):  # noqa: F811 - the imported module fixture
    sync_api = pytest.importorskip("playwright.sync_api")
    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=CHROMIUM,
            args=["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                  "--disable-sync", "--no-first-run"],
        )
        tab = browser.new_page(viewport={"width": 1200, "height": 900})
        tab.goto((report_dir / "yuqing-daily-2026-11-26.html").as_uri())
        yield tab
        browser.close()


def test_report_opens_with_its_title_and_sections(page):
    assert "舆情日报" in page.title()
    headings = page.locator("h2").all_inner_texts()
    assert any("今日舆情概况" in h for h in headings) and any("预警" in h for h in headings)


def test_every_chart_is_drawn_with_a_real_size(page):
    charts = page.locator("svg.chart")
    assert charts.count() >= 4
    for i in range(charts.count()):
        chart = charts.nth(i)
        box = chart.bounding_box()
        assert box and box["width"] > 50 and box["height"] > 15, box  # sparklines are the smallest
        if chart.get_attribute("aria-label").startswith(("近24小时", "近14日信息量")):
            assert box["width"] > 300 and box["height"] > 100, box


def test_chinese_chart_labels_are_rendered_as_text(page):
    # matplotlib writes SVG text as text; the browser lays it out with its own fonts.
    widths = page.eval_on_selector_all(
        "svg.chart text", "els => els.filter(e => /[\\u4e00-\\u9fff]/.test(e.textContent))"
                          ".map(e => e.getBBox().width)")
    assert widths and all(w > 0 for w in widths)


def test_report_prints_on_a4(page, tmp_path):
    pdf = tmp_path / "briefing.pdf"
    page.pdf(path=str(pdf), format="A4")
    assert pdf.read_bytes().startswith(b"%PDF") and pdf.stat().st_size > 10_000
    page.screenshot(path=str(tmp_path / "briefing.png"), full_page=True)
