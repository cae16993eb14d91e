"""The console's routes and their guards: every route of the app, enumerated from the app itself, refuses a
missing session and the wrong role; state changes need the CSRF token; logins lock after repeated failures;
actions land in the alert audit log under the officer's name."""

from __future__ import annotations

import re
from datetime import datetime

import pytest
from fastapi.routing import APIRoute
from fastapi.testclient import TestClient

from console.accounts import (
    GRANTS,
    MAX_FAILURES_PER_ACCOUNT,
    MAX_FAILURES_PER_CLIENT,
    Permission,
    Role,
    open_accounts,
)
from console.app import create_app
from console.security import SESSION_COOKIE, Guard
from tests.console_data import EVENT, PASSWORD, USERS, build, cheap_hashing, fire_another
from yuqing.schema import SHANGHAI

PUBLIC = {("GET", "/login"), ("POST", "/login")}
SPARE_USER = "临时用户"


@pytest.fixture(scope="module", autouse=True)
def _cheap_hashing():
    with cheap_hashing():
        yield


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    built = build(tmp_path_factory.mktemp("console"))
    accounts = open_accounts(built.settings)
    accounts.add(SPARE_USER, Role.ANALYST, PASSWORD, actor="test")
    accounts.close()
    return built


@pytest.fixture(scope="module")
def app(data):
    application = create_app(data.settings)
    with TestClient(application):  # runs the lifespan once for the module
        yield application


@pytest.fixture(params=["embedded", "postgres"])
def state(request) -> dict:
    """What `build` puts in the settings for each state store: nothing (SQLite files), or a set-up PostgreSQL."""
    if request.param == "embedded":
        return {}
    from stores import postgres

    database = request.getfixturevalue("postgres_settings")
    postgres.setup(database)
    return {"state": "postgres", "postgres": database}


def client(app, role: Role | None = None, https: bool = False) -> TestClient:
    browser = TestClient(app, base_url="https://testserver" if https else "http://testserver")
    if role is not None:
        login(browser, USERS[role])
    return browser


def login(browser: TestClient, name: str, password: str = PASSWORD):
    form = browser.get("/login")
    token = re.search(r'name="csrf_token" value="([^"]+)"', form.text).group(1)
    return browser.post("/login", data={"name": name, "password": password, "csrf_token": token},
                        follow_redirects=False)


def csrf(browser: TestClient) -> str:
    return browser.get("/api/me").json()["csrf_token"]


def guard_of(route: APIRoute) -> Guard | None:
    pending = list(route.dependant.dependencies)
    while pending:
        dependency = pending.pop()
        if isinstance(dependency.call, Guard):
            return dependency.call
        pending.extend(dependency.dependencies)
    return None


def api_routes(candidates) -> list[APIRoute]:
    """Every APIRoute of the app, also inside included routers (which newer FastAPI keeps as one entry)."""
    found = []
    for route in candidates:
        if isinstance(route, APIRoute):
            found.append(route)
        elif hasattr(route, "original_router"):
            found.extend(api_routes(route.original_router.routes))
    return found


def routes(app) -> list[tuple[str, str, Permission | None]]:
    found = []
    for route in api_routes(app.routes):
        guard = guard_of(route)
        found.extend((method, route.path, guard.permission if guard else None) for method in route.methods)
    return sorted(found, key=lambda r: (r[1], r[0]))


def concrete(path: str, data) -> str:
    report = next(p.name for p in data.settings.reports_path.iterdir() if p.suffix == ".html")
    values = {"alert_id": data.alert.id, "event_id": EVENT,
              "name": report if path.startswith("/reports") else SPARE_USER}
    return re.sub(r"\{(\w+)\}", lambda m: values[m.group(1)], path)


def test_every_route_but_the_login_page_is_guarded(app):
    listed = routes(app)
    assert len(listed) > 30
    unguarded = {(method, path) for method, path, permission in listed if permission is None}
    assert unguarded == PUBLIC
    # The API is documented, and the document itself is behind the login too.
    assert ("GET", "/api/openapi.json", Permission.READ) in listed


def test_no_route_answers_without_a_session(app, data):
    anonymous = client(app)
    for method, path, permission in routes(app):
        if permission is None:
            continue
        reply = anonymous.request(method, concrete(path, data), follow_redirects=False)
        if path.startswith("/api/"):
            assert reply.status_code == 401, (method, path, reply.status_code)
        else:
            assert reply.status_code == 303 and reply.headers["location"].startswith("/login"), (method, path)


def test_a_forged_or_expired_session_is_no_session(app, data):
    forged = client(app)
    forged.cookies.set("yuqing_session", "not-a-session")
    assert forged.get("/api/alerts").status_code == 401


@pytest.mark.parametrize("role", list(Role))
def test_every_route_checks_the_role(app, data, role: Role):
    browser = client(app, role)
    token = csrf(browser)
    for method, path, permission in routes(app):
        if permission is None or path == "/logout":
            continue
        reply = browser.request(method, concrete(path, data), headers={"X-CSRF-Token": token},
                                follow_redirects=False)
        if permission in GRANTS[role]:
            assert reply.status_code not in (401, 403), (role, method, path, reply.status_code, reply.text[:200])
        else:
            assert reply.status_code == 403, (role, method, path, reply.status_code)


def test_state_changes_are_refused_without_the_csrf_token(app, data):
    admin = client(app, Role.ADMIN)  # holds every permission: only the token is missing
    changing = [(m, p) for m, p, permission in routes(app) if permission is not None and m not in ("GET", "HEAD")]
    assert len(changing) >= 10
    for method, path in changing:
        for headers in ({}, {"X-CSRF-Token": "forged"}):
            reply = admin.request(method, concrete(path, data), headers=headers, data={"csrf_token": "x"},
                                  follow_redirects=False)
            assert reply.status_code == 403, (method, path, headers)
            assert "CSRF" in reply.text


def test_login_form_needs_its_own_token(app):
    browser = client(app)
    reply = browser.post("/login", data={"name": USERS[Role.OFFICER], "password": PASSWORD, "csrf_token": "x"},
                         follow_redirects=False)
    assert reply.status_code == 401 and "yuqing_session" not in reply.headers.get("set-cookie", "")


def test_session_cookie_is_httponly_samesite_and_secure_over_https(app):
    plain = login(client(app), USERS[Role.LEADER]).headers["set-cookie"]
    assert "HttpOnly" in plain and "SameSite=lax" in plain and "Secure" not in plain
    secure = login(client(app, https=True), USERS[Role.LEADER]).headers["set-cookie"]
    assert "HttpOnly" in secure and "Secure" in secure


def test_each_role_lands_on_its_own_page(app):
    homes = {Role.OFFICER: "/alerts", Role.ANALYST: "/search", Role.LEADER: "/reports", Role.ADMIN: "/alerts"}
    for role, home in homes.items():
        assert login(client(app), USERS[role]).headers["location"] == home


def test_login_locks_after_repeated_failures(tmp_path, state):
    built = build(tmp_path, report=False, **state)
    application = create_app(built.settings)
    with TestClient(application):
        browser = client(application)
        for _ in range(MAX_FAILURES_PER_ACCOUNT):
            reply = login(browser, USERS[Role.OFFICER], "wrong password")
            assert reply.status_code == 401 and "用户名或密码错误" in reply.text
        locked = login(browser, USERS[Role.OFFICER])  # the right password, too late
        assert locked.status_code == 401 and "登录失败次数过多" in locked.text
        # Another account from the same address still logs in until the address itself is over its limit.
        assert login(browser, USERS[Role.ANALYST]).status_code == 303
        for n in range(MAX_FAILURES_PER_CLIENT):
            login(browser, f"guess{n}", "wrong password")
        assert "登录失败次数过多" in login(browser, USERS[Role.LEADER]).text


def test_officer_works_an_alert_and_the_audit_log_names_them(tmp_path, state):
    built = build(tmp_path, report=False, **state)
    application = create_app(built.settings)
    with TestClient(application):
        analyst = client(application, Role.ANALYST)
        refused = analyst.post(f"/alerts/{built.alert.id}/acknowledge", data={"csrf_token": csrf(analyst)})
        assert refused.status_code == 403
        officer = client(application, Role.OFFICER)
        token = csrf(officer)
        alert_id = built.alert.id
        assert officer.post(f"/alerts/{alert_id}/acknowledge", data={"csrf_token": token}).status_code == 200
        officer.post(f"/alerts/{alert_id}/assign", data={"csrf_token": token, "department": "市住建局"})
        script = officer.post(f"/api/alerts/{alert_id}/respond", headers={"X-CSRF-Token": token},
                              json={"kind": "发布权威信息", "link": "javascript:alert(1)"})
        assert script.status_code == 400 and "http" in script.json()["detail"]
        api = officer.post(f"/api/alerts/{alert_id}/respond", headers={"X-CSRF-Token": token},
                           json={"kind": "发布权威信息", "link": "https://gov.example.cn/hf/1"})
        assert api.status_code == 200 and api.json()["status"] == "responded"
        page = officer.get(f"/alerts/{alert_id}")
        assert "已完成" in page.text and "回应效果将在" in page.text  # no verdict right after the response
        officer.post(f"/alerts/{alert_id}/close", data={"csrf_token": token, "reason": "已回应"})
        history = officer.get(f"/api/alerts/{alert_id}").json()["history"]
        actions = {h["action"]: h["actor"] for h in history}
        assert actions["fired"] == "yuqing"
        assert {actions[a] for a in ("acknowledged", "assigned", "responded", "closed")} == {USERS[Role.OFFICER]}
        closed = officer.get("/api/alerts?view=closed").json()
        assert [a["id"] for a in closed] == [alert_id] and not officer.get("/api/alerts").json()
        # A second click on a closed alert is one clear message, not a crash.
        again = officer.post(f"/alerts/{alert_id}/close", data={"csrf_token": token})
        assert again.status_code == 409 and "已于" in again.text


def test_alert_page_shows_evidence_timeline_policy_and_findings(app, data):
    page = client(app, Role.LEADER).get(f"/alerts/{data.alert.id}").text
    assert "138****5678" in page and "13812345678" not in page  # masked text only
    assert "化肥厂家属院" in page and "原文" in page
    assert 'class="chart"' in page and "负面占比" in page
    assert "老旧小区改造工作实施方案" in page and "尚未发布政策解读" in page
    assert "政策负面舆情上升" in page
    assert "/respond\"" not in page and "/close\"" not in page  # a leader gets no action forms


def test_rows_fragment_shows_a_newly_fired_alert(tmp_path):
    built = build(tmp_path, report=False)
    application = create_app(built.settings)
    with TestClient(application):
        officer = client(application, Role.OFFICER)
        before = officer.get("/alerts/rows").text
        assert before.count('data-id="') == 1
        new = fire_another(built.settings)
        after = officer.get("/alerts/rows").text
        assert after.count('data-id="') == 2 and new.id in after


def test_overdue_alerts_come_first_and_red(tmp_path):
    from datetime import timedelta

    built = build(tmp_path, report=False)
    fire_another(built.settings, now=built.now - timedelta(hours=6))  # its 5-hour clock has run out
    application = create_app(built.settings)
    with TestClient(application):
        rows = client(application, Role.OFFICER).get("/api/alerts").json()
        assert [r["overdue"] for r in rows] == [True, False]
        html = client(application, Role.OFFICER).get("/alerts").text
        assert html.index('class="overdue"') < html.index(built.alert.id)


def test_reports_are_listed_by_day_and_served_only_by_listed_name(app, data):
    leader = client(app, Role.LEADER)
    [day] = leader.get("/api/reports").json()
    [daily] = day["reports"]
    assert daily["title"].startswith("舆情日报") and set(daily["files"]) == {"html", "md"}
    shown = leader.get(f"/reports/files/{daily['files']['html']}")
    assert shown.status_code == 200 and "舆情日报" in shown.text
    assert "sandbox" in shown.headers["content-security-policy"]
    download = leader.get(f"/reports/files/{daily['files']['md']}?download=1")
    assert download.headers["content-disposition"].startswith("attachment")
    assert leader.get("/reports/files/..%2Fconsole.sqlite3").status_code == 404
    assert leader.get("/reports/files/console.sqlite3").status_code == 404


def test_sources_page_puts_blind_sources_first_with_named_problems(app, data):
    rows = client(app, Role.ANALYST).get("/api/sources").json()
    assert rows[0]["name"] == "heze-gov-zcwj" and rows[0]["state"] == "blind"
    news = next(r for r in rows if r["name"] == "heze-gov-news")
    assert {p["reason"] for p in news["problems"]} == {"访问超时", "未提取到正文"}


def test_events_page_shows_the_days_events(app, data):
    events = client(app, Role.ANALYST).get("/api/events").json()
    [event] = [e for e in events if e["id"] == EVENT]
    assert event["title"] == "化肥厂家属院改造停工三个月" and event["label"] == "化肥厂家属院 停工 老旧小区"
    assert event["today"] > 0
    assert event["policies"][0]["title"].startswith("菏泽市人民政府办公室关于印发菏泽市2022年城镇老旧小区")
    assert len(event["representative"]) == 3


def test_admin_manages_accounts_and_others_cannot(tmp_path, state):
    built = build(tmp_path, report=False, **state)
    application = create_app(built.settings)
    with TestClient(application):
        admin = client(application, Role.ADMIN)
        token = csrf(admin)
        made = admin.post("/api/users", headers={"X-CSRF-Token": token},
                          json={"name": "赵新", "role": "officer", "password": "一个足够长的口令123"})
        assert made.status_code == 201
        newcomer = client(application)
        assert login(newcomer, "赵新", "一个足够长的口令123").status_code == 303
        admin.post("/users/赵新/disable", data={"csrf_token": token})
        assert newcomer.get("/api/me").status_code == 401  # disabling ends the sessions
        assert login(client(application), "赵新", "一个足够长的口令123").status_code == 401
        short = admin.post("/api/users", headers={"X-CSRF-Token": token},
                           json={"name": "钱", "role": "leader", "password": "short"})
        assert short.status_code == 400 and "至少" in short.json()["detail"]
        self_disable = admin.post(f"/api/users/{USERS[Role.ADMIN]}/disable", headers={"X-CSRF-Token": token})
        assert self_disable.status_code == 400


@pytest.mark.parametrize("state", ["embedded", "postgres"])
def test_users_command_reads_the_password_from_stdin(state, request, tmp_path, monkeypatch, capsys):
    """On either state store: on PostgreSQL after `yuqing state setup`, as the scale-out README says."""
    import io

    from yuqing.cli.main import main
    from yuqing.config import load_settings

    monkeypatch.setenv("YUQING_DATA_DIR", str(tmp_path))
    for name in ("YUQING_CONFIG", "YUQING_STATE"):
        monkeypatch.delenv(name, raising=False)
    if state == "postgres":
        database = request.getfixturevalue("postgres_settings")
        monkeypatch.setenv("YUQING_STATE", "postgres")
        monkeypatch.setenv("YUQING_POSTGRES__URL", database.url)
        monkeypatch.setenv("YUQING_POSTGRES__PASSWORD", database.password.get_secret_value())
        assert main(["state", "setup"]) == 0
    monkeypatch.setattr("sys.stdin", io.StringIO("口令足够长的密码abc\n"))
    assert main(["users", "add", "孙敏", "--role", "officer"]) == 0
    monkeypatch.setattr("sys.stdin", io.StringIO("short\n"))
    assert main(["users", "add", "周", "--role", "admin"]) == 2
    assert "至少" in capsys.readouterr().err
    assert main(["users", "disable", "孙敏"]) == 0
    assert main(["users", "list", "--json"]) == 0
    listed = capsys.readouterr().out
    assert '"name": "孙敏"' in listed and '"disabled": true' in listed
    assert main(["users", "passwd", "没有这人"]) == 2
    settings = load_settings(None, data_dir=tmp_path)
    assert settings.state == state
    accounts = open_accounts(settings)
    assert accounts.get("孙敏").disabled
    accounts.close()
    if state == "postgres":
        assert not (tmp_path / "console.sqlite3").exists(), "the accounts went to a file beside the database"


def test_search_facets_count_what_they_narrow_to(app, data):
    analyst = client(app, Role.ANALYST)
    everything = analyst.get("/api/search", params={"q": "老旧小区"}).json()
    weibo = next(v for v in everything["facets"]["platform"]["values"] if v["value"] == "weibo")
    narrowed = analyst.get(weibo["link"].replace("/search", "/api/search")).json()
    assert narrowed["total"] == weibo["count"] < everything["total"]
    assert {hit["platform"] for hit in narrowed["hits"]} == {"weibo"}
    assert all("<mark>老旧小区</mark>" in hit["snippet"] for hit in narrowed["hits"])
    assert everything["pages"] == 2 and everything["next"].endswith("page=2")


def test_snippets_escape_what_people_wrote(tmp_path):
    from alerts.testing import make_post
    from search import open_index

    built = build(tmp_path, report=False)
    with open_index(built.settings) as index:
        index.upsert([make_post('停水了<script>alert("x")</script><b>停水</b>', platform="forum")])
    application = create_app(built.settings)
    with TestClient(application):
        page = client(application, Role.ANALYST).get("/search", params={"q": "停水"}).text
        assert "<script>alert" not in page and "&lt;script&gt;" in page
        assert "<mark>停水</mark>" in page


def test_trend_bars_and_words_narrow_the_search(app, data):
    analyst = client(app, Role.ANALYST)
    trends = analyst.get("/api/trends", params={"q": "老旧小区", "by": "hour"}).json()
    busiest = max(trends["buckets"], key=lambda b: b["posts"])
    narrowed = analyst.get(busiest["link"].replace("/search", "/api/search")).json()
    assert narrowed["total"] == busiest["posts"] > 0
    assert trends["total"] == sum(b["posts"] for b in trends["buckets"])
    assert trends["events"][0]["label"] == "化肥厂家属院改造停工三个月"
    place = trends["places"][0]
    assert place["value"] == "牡丹区" and "place=" in place["link"]
    page = analyst.get("/trends", params={"q": "老旧小区"}).text
    assert page.count("<a xlink:href=\"/search?") >= 2  # bars are links


def test_report_listing_takes_every_kind_and_format_the_reports_folder_holds(tmp_path):
    import json
    import os

    from console.views import report_files, report_path

    for name in ("yuqing-daily-2026-12-05.html", "yuqing-daily-2026-12-05.md", "yuqing-daily-2026-12-05.docx",
                 "yuqing-daily-2026-12-05.pdf", "yuqing-weekly-2026-W49.html", "yuqing-weekly-2026-W49.pdf",
                 "yuqing-event-E-huafeichang.docx", "yuqing-daily-2026-12-06.html.part", "notes.txt"):
        (tmp_path / name).write_text("x", encoding="utf-8")
    (tmp_path / "yuqing-weekly-2026-W49.manifest.json").write_text(
        json.dumps({"title": "舆情周报（2026年第49周）"}, ensure_ascii=False), encoding="utf-8")
    written = datetime(2026, 12, 7, 9, 0, tzinfo=SHANGHAI).timestamp()
    for name in ("yuqing-weekly-2026-W49.html", "yuqing-weekly-2026-W49.pdf", "yuqing-event-E-huafeichang.docx"):
        os.utime(tmp_path / name, (written, written))
    days = report_files(tmp_path)
    assert [d["day"] for d in days] == ["2026-12-07", "2026-12-05"]
    weekly, special = days[0]["reports"]
    assert weekly["title"] == "舆情周报（2026年第49周）" and list(weekly["files"]) == ["html", "pdf"]
    assert special["title"] == "舆情专报 E-huafeichang" and list(special["files"]) == ["docx"]
    [daily] = days[1]["reports"]
    assert list(daily["files"]) == ["html", "pdf", "docx", "md"]
    assert report_path(tmp_path, "yuqing-daily-2026-12-05.pdf") is not None
    for refused in ("notes.txt", "yuqing-daily-2026-12-06.html.part", "yuqing-weekly-2026-W49.manifest.json",
                    "../yuqing-daily-2026-12-05.pdf"):
        assert report_path(tmp_path, refused) is None


def test_console_command_serves_the_login_page_and_says_when_the_port_is_taken(tmp_path):
    import os
    import socket
    import subprocess
    import sys
    import time
    import urllib.request

    env = {**os.environ, "YUQING_DATA_DIR": str(tmp_path)}
    env.pop("YUQING_CONFIG", None)
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    command = [sys.executable, "-m", "yuqing.cli.main", "console", "--port", str(port)]
    server = subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/alerts") as reply:  # redirected to the login
                    assert reply.status == 200 and "/login" in reply.url and "登录" in reply.read().decode()
                break
            except OSError:
                assert server.poll() is None and time.monotonic() < deadline, server.stderr
                time.sleep(0.2)
        taken = subprocess.run(command, env=env, capture_output=True, text=True, timeout=60)
        assert taken.returncode == 2 and "Traceback" not in taken.stderr
        assert f"cannot listen on 127.0.0.1:{port}" in taken.stderr and len(taken.stderr.strip().splitlines()) == 1
    finally:
        server.terminate()
        out, _ = server.communicate(timeout=30)
    assert "yuqing users add" in out  # no account yet: it says how to make the first one


def test_search_speaks_the_query_language_and_explains_a_malformed_query(app, data):
    analyst = client(app, Role.ANALYST)
    typed = analyst.get("/api/search", params={"q": "老旧小区 platform:微博 -改造进度"}).json()
    assert typed["total"] > 0 and {hit["platform"] for hit in typed["hits"]} == {"weibo"}
    assert all("改造进度" not in hit["text"] for hit in typed["hits"])
    by_reach = analyst.get("/api/search", params={"q": "老旧小区", "sort": "reach"}).json()
    assert by_reach["sort"] == "reach" and by_reach["total"] == 36
    broken = analyst.get("/api/search", params={"q": "(老旧小区"})
    assert broken.status_code == 400 and "查询语句第" in broken.json()["detail"]
    page = analyst.get("/search", params={"q": "(老旧小区"})
    assert page.status_code == 400 and "查询语句第" in page.text and 'value="(老旧小区"' in page.text


def test_a_day_without_events_points_to_the_last_day_with_some(app, data):
    page = client(app, Role.ANALYST).get("/events", params={"day": "2020-01-01"}).text
    today = data.now.date()
    assert "这一天没有事件" in page and f'href="/events?day={today.isoformat()}"' in page


def test_a_fresh_installation_shows_empty_pages_not_errors(tmp_path):
    from yuqing.config import load_settings

    settings = load_settings(None, data_dir=str(tmp_path))
    accounts = open_accounts(settings)
    accounts.add(USERS[Role.ADMIN], Role.ADMIN, PASSWORD, actor="test")
    accounts.close()
    application = create_app(settings)
    with TestClient(application):
        admin = client(application, Role.ADMIN)
        for path in ("/alerts", "/alerts?view=closed", "/search", "/trends", "/events", "/reports", "/sources",
                     "/users", "/api/alerts", "/api/search", "/api/trends", "/api/events", "/api/reports"):
            reply = admin.get(path)
            assert reply.status_code == 200, (path, reply.text[:300])
        assert "暂无待处置的预警" in admin.get("/alerts").text
        assert "还没有报告" in admin.get("/reports").text


def test_rules_page_shows_the_rules_in_force_and_their_clocks(app, data):
    rules = client(app, Role.OFFICER).get("/api/rules").json()
    assert "政策负面舆情上升" in [r["name"] for r in rules["rules"]]
    [major] = [d for d in rules["deadlines"] if d["level"] == "重大"]
    assert [(c["name"], c["within"]) for c in major["clocks"]] == [("发布权威信息", "5小时"), ("新闻发布会", "24小时")]
    page = client(app, Role.OFFICER).get("/rules").text
    assert "规则由管理员维护" in page and "5小时内发布权威信息" in page


def test_two_consoles_on_the_postgres_state_share_logins_and_logouts(tmp_path, postgres_settings):
    """Two console replicas behind one address, each with its own data directory: a login on one is a session on
    the other, and a logout on either ends it on both."""
    from stores import postgres
    from yuqing.config import load_settings

    postgres.setup(postgres_settings)
    first, second = (load_settings(None, data_dir=tmp_path / name, state="postgres", postgres=postgres_settings)
                     for name in ("a", "b"))
    accounts = open_accounts(first)
    accounts.add(USERS[Role.ANALYST], Role.ANALYST, PASSWORD, actor="test")
    accounts.close()
    one, other = create_app(first), create_app(second)
    with TestClient(one), TestClient(other):
        browser = client(one, Role.ANALYST)
        replica = TestClient(other, cookies={SESSION_COOKIE: browser.cookies[SESSION_COOKIE]})
        me = replica.get("/api/me").json()
        assert me["name"] == USERS[Role.ANALYST] and me["csrf_token"] == csrf(browser)  # the same session
        logout = replica.post("/logout", headers={"X-CSRF-Token": me["csrf_token"]}, follow_redirects=False)
        assert logout.status_code == 303
        assert browser.get("/api/me").status_code == 401
    assert not (tmp_path / "a" / "console.sqlite3").exists() and not (tmp_path / "b" / "console.sqlite3").exists()
