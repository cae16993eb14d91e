"""The console's pages, rendered on the server. Each route names the permission it needs (`Guard`)."""

from __future__ import annotations

import secrets
from datetime import date
from typing import Annotated

from fastapi import APIRouter, Form, Query, Request
from fastapi.responses import FileResponse, HTMLResponse, RedirectResponse, Response
from markupsafe import Markup

from console import explore, views
from console.accounts import ROLE_NAMES, AccountStore, LoginRefused, Permission, Role
from console.app import Console, IndexDep, render
from console.filters import RESPONSE_KINDS
from console.security import (
    LOGIN_CSRF_COOKIE,
    SESSION_COOKIE,
    Admin,
    Reader,
    Worker,
    secure_cookies,
    tokens_match,
)
from reports import labels
from reports.briefing import TrendPoint
from reports.charts import bar_chart, sentiment_chart, sparkline, volume_chart
from yuqing.schema import ResponseKind

router = APIRouter(include_in_schema=False)

HOME = {Role.OFFICER: "/alerts", Role.ANALYST: "/search", Role.LEADER: "/reports", Role.ADMIN: "/alerts"}
ACTION_DONE = {"acknowledged": "已签收", "assigned": "已交办", "responded": "已记录回应", "closed": "已办结"}


def _console(request: Request) -> Console:
    return request.app.state.console


def _safe_next(target: str | None) -> str | None:
    """Only a path on this site: never `//elsewhere` or `https://elsewhere`."""
    if target and target.startswith("/") and not target.startswith("//") and "\\" not in target:
        return target
    return None


# --- logging in and out ------------------------------------------------------------------------


@router.get("/login", response_class=HTMLResponse)
def login_page(request: Request, next: str | None = None, error: str | None = None) -> Response:
    # The login form has its own CSRF token (double submit: cookie and field), since there is no session yet.
    token = secrets.token_urlsafe(32)
    response = render(request, "login.html.j2", status_code=401 if error else 200, next=_safe_next(next) or "",
                      error=error, login_csrf=token)
    response.set_cookie(LOGIN_CSRF_COOKIE, token, httponly=True, samesite="strict", secure=secure_cookies(request),
                        path="/login")
    return response


@router.post("/login")
def login(request: Request, name: Annotated[str, Form()], password: Annotated[str, Form()],
          csrf_token: Annotated[str, Form()] = "", next: Annotated[str, Form()] = "") -> Response:
    if not tokens_match(request.cookies.get(LOGIN_CSRF_COOKIE), csrf_token):
        return login_page(request, next, "登录页面已过期，请重新输入")
    accounts: AccountStore = request.app.state.accounts
    client = request.client.host if request.client else "unknown"
    try:
        user = accounts.authenticate(name, password, client)
    except LoginRefused as exc:
        return login_page(request, next, str(exc))
    token, session = accounts.start_session(user)
    response = RedirectResponse(_safe_next(next) or HOME[user.role], status_code=303)
    response.set_cookie(SESSION_COOKIE, token, httponly=True, samesite="lax", secure=secure_cookies(request),
                        expires=session.expires_at, path="/")
    response.delete_cookie(LOGIN_CSRF_COOKIE, path="/login")
    return response


@router.post("/logout")
def logout(request: Request, session: Reader) -> Response:
    token = request.cookies.get(SESSION_COOKIE)
    if token:
        _console(request).accounts.end_session(token)
    response = RedirectResponse("/login", status_code=303)
    response.delete_cookie(SESSION_COOKIE, path="/")
    return response


@router.get("/")
def home(session: Reader) -> Response:
    return RedirectResponse(HOME[session.user.role], status_code=303)


# --- alerts ------------------------------------------------------------------------------------


def _alert_rows(console: Console, view: str) -> list[dict]:
    from alerts.service import OPEN_STATUSES
    from yuqing.schema import AlertStatus

    statuses = OPEN_STATUSES if view != "closed" else (AlertStatus.CLOSED,)
    return views.alert_rows(console.alerts.store.alerts(statuses, limit=200), console.now())


@router.get("/alerts", response_class=HTMLResponse)
def alerts_page(request: Request, session: Reader, view: str = "open") -> Response:
    rows = _alert_rows(_console(request), view)
    return render(request, "alerts.html.j2", rows=rows, view=view)


@router.get("/alerts/rows", response_class=HTMLResponse)
def alerts_rows(request: Request, session: Reader, view: str = "open") -> Response:
    """The table body alone: what the alerts page fetches every few seconds to show new alerts and updates."""
    return render(request, "alert_rows.html.j2", rows=_alert_rows(_console(request), view), view=view)


@router.get("/alerts/{alert_id}", response_class=HTMLResponse)
def alert_page(request: Request, alert_id: str, session: Reader, index: IndexDep, done: str | None = None) -> Response:
    console = _console(request)
    alert = console.alerts.get(alert_id)
    detail = views.alert_detail(alert, index, console.names, console.now())
    history = views.audit_view(console.alerts.store.history(alert_id))
    return render(request, "alert.html.j2", a=detail, history=history, kinds=RESPONSE_KINDS,
                  notice=ACTION_DONE.get(done or ""), can_act=session.user.can(Permission.WORK_ALERTS),
                  timeline_svg=_timeline_svg(detail["timeline"], "timeline", "每小时信息量与负面信息"))


def _timeline_svg(timeline: list[dict], key: str, name: str) -> Markup | None:
    """Posts per hour in blue with the negative ones in red, drawn as the briefings draw it."""
    if not timeline:
        return None
    points = [TrendPoint(p["start"], p["posts"], p["negative"]) for p in timeline]
    return Markup(volume_chart(points, interval="hour", key=key, name=name))


def _after(alert_id: str, action: str) -> Response:
    return RedirectResponse(f"/alerts/{alert_id}?done={action}", status_code=303)


@router.post("/alerts/{alert_id}/acknowledge")
def acknowledge(request: Request, alert_id: str, session: Worker) -> Response:
    _console(request).alerts.acknowledge(alert_id, session.user.name)
    return _after(alert_id, "acknowledged")


@router.post("/alerts/{alert_id}/assign")
def assign(request: Request, alert_id: str, session: Worker, department: Annotated[str, Form()]) -> Response:
    _console(request).alerts.assign(alert_id, department.strip(), session.user.name)
    return _after(alert_id, "assigned")


@router.post("/alerts/{alert_id}/respond")
def respond(request: Request, alert_id: str, session: Worker, kind: Annotated[ResponseKind, Form()],
            link: Annotated[str, Form()] = "", at: Annotated[str, Form()] = "",
            note: Annotated[str, Form()] = "") -> Response:
    console = _console(request)
    when = views.parse_local_time(at) if at else console.now()
    console.alerts.respond(alert_id, kind, session.user.name, link=views.web_link(link), note=note.strip() or None,
                           now=when)
    return _after(alert_id, "responded")


@router.post("/alerts/{alert_id}/close")
def close(request: Request, alert_id: str, session: Worker, reason: Annotated[str, Form()] = "") -> Response:
    _console(request).alerts.close_alert(alert_id, session.user.name, reason=reason.strip() or None)
    return _after(alert_id, "closed")


# --- events, reports, sources ------------------------------------------------------------------


@router.get("/events", response_class=HTMLResponse)
def events_page(request: Request, session: Reader, index: IndexDep, day: date | None = None) -> Response:
    console = _console(request)
    shown = day or console.now().date()
    events = views.events_of_day(index, shown, console.names, console.now())
    latest = None if events else views.latest_event_day(index)
    return render(request, "events.html.j2", day=shown, events=events, sparkline=_sparkline, latest=latest)


def _sparkline(event: dict) -> Markup:
    return Markup(sparkline([p["posts"] for p in event["timeline"]], key=f"spark-{event['id']}",
                            name=f"{event['title']} 每小时信息量"))


@router.get("/events/{event_id}", response_class=HTMLResponse)
def event_page(request: Request, event_id: str, session: Reader, index: IndexDep) -> Response:
    console = _console(request)
    event = views.find_event(index, event_id)
    if event is None:
        raise views.NotFound(f"没有编号为 {event_id} 的事件")
    detail = views.event_view(index, event, console.names, *views.event_span(event))
    return render(request, "event.html.j2", e=detail,
                  timeline_svg=_timeline_svg(detail["timeline"], "event", "事件时间线：每小时信息量与负面信息"))


@router.get("/reports", response_class=HTMLResponse)
def reports_page(request: Request, session: Reader, show: str | None = None) -> Response:
    days = views.report_files(_console(request).settings.reports_path)
    shown = show or next((r["files"]["html"] for d in days for r in d["reports"] if "html" in r["files"]), None)
    return render(request, "reports.html.j2", days=days, shown=shown, formats=views.FORMAT_NAMES)


@router.get("/reports/files/{name}")
def report_file(request: Request, name: str, session: Reader, download: bool = False) -> Response:
    path = views.report_path(_console(request).settings.reports_path, name)
    if path is None:
        raise views.NotFound(f"没有名为 {name} 的报告文件")
    response = FileResponse(path, filename=name, content_disposition_type="attachment" if download else "inline")
    # A briefing is a generated, self-contained page: it may style itself, never run a script or fetch anything.
    response.headers["Content-Security-Policy"] = "sandbox; default-src 'none'; style-src 'unsafe-inline'; img-src data:"
    return response


@router.get("/sources", response_class=HTMLResponse)
def sources_page(request: Request, session: Reader, index: IndexDep) -> Response:
    console = _console(request)
    rows = views.sources_health(console.sources, index.crawl_health(), console.now())
    return render(request, "sources.html.j2", rows=rows)


# --- search and trends ------------------------------------------------------------------------


@router.get("/search", response_class=HTMLResponse)
def search_page(request: Request, session: Reader, index: IndexDep,
                filters: Annotated[explore.Filters, Query()]) -> Response:
    try:
        found = explore.search(index, filters, _console(request).names)
    except views.BadInput as exc:  # a malformed query is shown under the box, to be corrected there
        return render(request, "search.html.j2", status_code=400, f=filters, r=None, error=str(exc),
                      trends_link=filters.link("/trends"), sorts=explore.SORTS)
    return render(request, "search.html.j2", f=filters, r=found, error=None, trends_link=filters.link("/trends"),
                  sorts=explore.SORTS)


@router.get("/trends", response_class=HTMLResponse)
def trends_page(request: Request, session: Reader, index: IndexDep,
                filters: Annotated[explore.Filters, Query()]) -> Response:
    console = _console(request)
    found = explore.trends(index, filters, console.names, console.now())
    return render(request, "trends.html.j2", f=filters, t=found, charts=_trend_charts(found),
                  search_link=filters.link("/search"))


def _trend_charts(found: dict) -> dict[str, Markup | None]:
    points = [TrendPoint(b["start"], b["posts"], b["negative"]) for b in found["buckets"]]
    sentiments = {k: labels.sentiment_name(k) for k in found["sentiment"]}

    def bars(rows: list[dict], key: str, name: str) -> Markup | None:
        if not rows:
            return None
        return Markup(bar_chart([(r["label"], r["count"], r["negative"]) for r in rows], key=key, name=name,
                                urls=[r["link"] for r in rows]))

    return {
        "volume": Markup(volume_chart(points, interval=found["by"], key="volume", name="信息量与负面信息",
                                      urls=[b["link"] for b in found["buckets"]])),
        "sentiment": Markup(sentiment_chart(found["sentiment"], sentiments, key="tone", name="情感倾向"))
        if found["total"] else None,
        "platforms": bars(found["platforms"], "platforms", "平台分布"),
        "sources": bars(found["sources"], "sources", "来源分布"),
    }


@router.get("/rules", response_class=HTMLResponse)
def rules_page(request: Request, session: Reader) -> Response:
    console = _console(request)
    return render(request, "rules.html.j2", r=views.rules_view(console.alerts.config, console.settings.rules_file))


# --- accounts ----------------------------------------------------------------------------------


@router.get("/users", response_class=HTMLResponse)
def users_page(request: Request, session: Admin, done: str | None = None) -> Response:
    accounts = _console(request).accounts
    return render(request, "users.html.j2", users=accounts.users(), log=accounts.history(50), roles=ROLE_NAMES,
                  notice=done)


@router.post("/users")
def add_user(request: Request, session: Admin, name: Annotated[str, Form()], role: Annotated[Role, Form()],
             password: Annotated[str, Form()]) -> Response:
    user = _console(request).accounts.add(name, role, password, actor=session.user.name)
    return RedirectResponse(f"/users?done=已添加用户 {user.name}", status_code=303)


@router.post("/users/{name}/password")
def set_password(request: Request, name: str, session: Admin, password: Annotated[str, Form()]) -> Response:
    _console(request).accounts.set_password(name, password, actor=session.user.name)
    return RedirectResponse(f"/users?done=已重设 {name} 的密码", status_code=303)


@router.post("/users/{name}/disable")
def disable_user(request: Request, name: str, session: Admin) -> Response:
    _console(request).accounts.set_disabled(name, True, actor=session.user.name)
    return RedirectResponse(f"/users?done=已停用 {name}", status_code=303)


@router.post("/users/{name}/enable")
def enable_user(request: Request, name: str, session: Admin) -> Response:
    _console(request).accounts.set_disabled(name, False, actor=session.user.name)
    return RedirectResponse(f"/users?done=已启用 {name}", status_code=303)

