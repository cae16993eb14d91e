"""The console as its users meet it, in Debian's Chromium driven by Playwright (no browser download).

A press officer logs in, sees a newly fired alert appear without reloading, opens it, reads its evidence,
acknowledges it, records the response (the countdown stops) and closes it; an analyst searches, narrows by a
facet and opens the trends; a leader opens the latest briefing. Screenshots at 1366x768 go to
var/screenshots/ for people to look at. The data is written through the stores' and index's APIs.
"""

from __future__ import annotations

import shutil
import socket
import threading
import time
from pathlib import Path

import pytest

from console.accounts import Role
from console.app import create_app
from tests.console_data import PASSWORD, USERS, build, cheap_hashing, fire_another, worsen

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
SCREENSHOTS = Path(__file__).resolve().parents[1] / "var" / "screenshots"
VIEWPORT = {"width": 1366, "height": 768}
pytestmark = pytest.mark.skipif(not Path(CHROMIUM).exists(),
                                reason="Debian's chromium is not installed (apt-get install chromium)")


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    """The console on a loopback port over a fresh data directory, refreshing its alert list every second."""
    import uvicorn

    with cheap_hashing():
        data = build(tmp_path_factory.mktemp("console-browser"))
        server = uvicorn.Server(uvicorn.Config(create_app(data.settings, poll_seconds=1.0), host="127.0.0.1",
                                               port=free_port(), log_level="warning"))
        thread = threading.Thread(target=server.run, daemon=True)
        thread.start()
        deadline = time.monotonic() + 20
        while not server.started and time.monotonic() < deadline:
            time.sleep(0.05)
        assert server.started, "the console did not start"
        yield data, f"http://127.0.0.1:{server.config.port}"
        server.should_exit = True
        thread.join(timeout=10)


@pytest.fixture(scope="module")
def browser():
    sync_api = pytest.importorskip("playwright.sync_api")
    with sync_api.sync_playwright() as playwright:
        chromium = playwright.chromium.launch(
            executable_path=CHROMIUM,
            args=["--headless", "--lang=zh-CN", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                  "--disable-component-update", "--disable-sync", "--no-first-run"])
        yield chromium
        chromium.close()


def shot(page, name: str) -> None:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / f"{name}.png"))


def log_in(browser, base: str, role: Role, first_path: str = "/"):
    page = browser.new_context(viewport=VIEWPORT, locale="zh-CN", timezone_id="Asia/Shanghai").new_page()
    page.set_default_timeout(10_000)
    page.goto(base + first_path)
    assert "/login" in page.url  # a visitor without a session sees the login page
    if role == Role.OFFICER:
        shot(page, "01-login")
    page.fill("input[name=name]", USERS[role])
    page.fill("input[name=password]", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_load_state()
    return page


def test_officer_takes_a_new_alert_from_fired_to_closed(site, browser):
    data, base = site
    page = log_in(browser, base, Role.OFFICER)
    assert page.url.endswith("/alerts")
    assert page.locator("tbody#alert-rows tr[data-id]").count() == 1
    page.evaluate("window.notReloaded = true")
    new = fire_another(data.settings)
    row = page.locator(f"tr[data-id='{new.id}']")
    row.wait_for(timeout=8_000)  # the list refreshes itself every second
    assert page.evaluate("window.notReloaded") is True
    countdown = row.locator(".clock[data-due] .clock-left").first
    first = countdown.inner_text()
    assert first.startswith("剩余")
    page.wait_for_timeout(1_100)
    assert countdown.inner_text() != first  # it counts down live
    shot(page, "02-alerts-new-alert")

    row.locator("td.title a").click()
    page.wait_for_load_state()
    assert new.title in page.locator("h1").inner_text()
    evidence = page.locator("article.post")
    assert evidence.count() == 8
    assert "保障性租赁住房摇号" in evidence.first.inner_text() and "原文" in evidence.first.inner_text()
    assert page.locator("#alert-clocks .clock[data-due]").count() == 2
    shot(page, "03-alert-detail")
    assert worsen(data.settings).updates == 1  # the alert worker updates it while the officer reads
    page.locator(".notice.changed").wait_for(timeout=8_000)
    assert "刷新查看" in page.locator(".notice.changed").inner_text()
    page.click(".notice.changed a")
    page.wait_for_load_state()

    page.click("#ack")
    page.wait_for_load_state()
    assert "已签收" in page.locator(".notice:not(.changed)").inner_text()
    assert page.locator("#alert-status").inner_text() == "已签收"
    page.select_option("#respond-form select[name=kind]", "新闻发布会")
    page.fill("#respond-form input[name=link]", "https://www.heze.gov.cn/fbh/2026-12-06.html")
    page.click("#respond")
    page.wait_for_load_state()
    assert page.locator("#alert-status").inner_text() == "已回应"
    clocks = page.locator("#alert-clocks .clock")
    assert clocks.count() == 2 and page.locator("#alert-clocks .clock[data-due]").count() == 0
    stopped = page.locator("#alert-clocks").inner_text()
    assert stopped.count("已完成") == 2
    page.wait_for_timeout(1_100)
    assert page.locator("#alert-clocks").inner_text() == stopped  # the countdown has stopped
    assert "回应效果将在" in page.locator("body").inner_text()
    shot(page, "04-alert-responded")

    page.fill("input[name=reason]", "已召开新闻发布会，舆情平息")
    page.click("#close")
    page.wait_for_load_state()
    assert page.locator("#alert-status").inner_text() == "已办结"
    audit = page.locator("ol.audit").inner_text()
    for action in ("签收", "记录回应", "办结"):
        assert action in audit and USERS[Role.OFFICER] in audit
    shot(page, "05-alert-closed")
    page.context.close()


def test_analyst_searches_narrows_by_a_facet_and_opens_trends(site, browser):
    _, base = site
    page = log_in(browser, base, Role.ANALYST)
    assert page.url.endswith("/search")
    page.fill("input[name=q]", "老旧小区")
    page.press("input[name=q]", "Enter")
    page.wait_for_load_state()
    everything = int(page.locator("#total").inner_text())
    assert everything > 10
    assert page.locator(".results mark").first.inner_text() == "老旧小区"
    shot(page, "06-search")
    page.locator("[data-facet=platform] a", has_text="微博").click()
    page.wait_for_load_state()
    narrowed = int(page.locator("#total").inner_text())
    assert 0 < narrowed < everything and "platform=weibo" in page.url
    assert all(p == "微博" for p in page.locator(".results .platform").all_inner_texts())
    shot(page, "07-search-facet")
    page.click("#open-trends")
    page.wait_for_load_state()
    assert "/trends" in page.url and "platform=weibo" in page.url
    volume = page.locator("#volume svg.chart")
    box = volume.bounding_box()
    assert box and box["width"] > 500 and box["height"] > 100
    assert page.locator("#volume svg.chart a").count() > 0  # each bar narrows the search
    shot(page, "08-trends")
    page.context.close()


def test_leader_opens_the_latest_briefing(site, browser):
    _, base = site
    page = log_in(browser, base, Role.LEADER)
    assert page.url.endswith("/reports")
    frame = page.frame_locator("iframe.briefing")
    frame.get_by_text("舆情日报").first.wait_for()
    assert "今日舆情概况" in frame.locator("body").inner_text()
    assert page.locator("form[action$='/respond']").count() == 0
    shot(page, "09-leader-briefing")
    page.goto(base + "/events")
    assert "化肥厂家属院" in page.locator("main").inner_text()
    shot(page, "10-events")
    page.goto(base + "/sources")
    assert page.locator("tbody tr").first.locator(".health").inner_text() == "失明"
    shot(page, "11-sources")
    page.goto(base + "/rules")
    assert "政策负面舆情上升" in page.locator("table.rules").inner_text()
    shot(page, "13-rules")
    page.context.close()


def test_admin_adds_an_account_in_the_page(site, browser):
    _, base = site
    page = log_in(browser, base, Role.ADMIN, "/users")
    assert page.url.endswith("/users")
    page.fill("form[action='/users'] input[name=name]", "赵宣传")
    page.select_option("form[action='/users'] select[name=role]", "officer")
    page.fill("form[action='/users'] input[name=password]", "一个足够长的口令2026")
    page.click("form[action='/users'] button[type=submit]")
    page.wait_for_load_state()
    assert "已添加用户 赵宣传" in page.locator(".notice").inner_text()
    assert "赵宣传" in page.locator("table.users").inner_text()
    shot(page, "12-users")
    page.context.close()
