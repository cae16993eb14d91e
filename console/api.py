"""The JSON API under /api/: the data of the pages, with the same role checks. A state change needs the
session cookie and the session's CSRF token in the `X-CSRF-Token` header (GET /api/me gives it)."""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field

from alerts.service import OPEN_STATUSES
from console import explore, views
from console.accounts import ROLE_NAMES, Permission, Role
from console.app import Console, IndexDep
from console.security import Admin, Reader, Worker
from yuqing.schema import AlertStatus, ResponseKind, aware

router = APIRouter(prefix="/api")


def _console(request: Request) -> Console:
    return request.app.state.console


class Assignment(BaseModel):
    department: str = Field(min_length=1, description="承办部门, e.g. 市住建局")


class Response(BaseModel):
    kind: ResponseKind
    link: str | None = None
    at: datetime | None = Field(default=None, description="when it was published (default: now)")
    note: str | None = None


class Closing(BaseModel):
    reason: str | None = None


class NewUser(BaseModel):
    name: str
    role: Role
    password: str


class NewPassword(BaseModel):
    password: str


def _user(user: Any) -> dict[str, Any]:
    return {"name": user.name, "role": user.role.value, "role_name": ROLE_NAMES[user.role],
            "disabled": user.disabled, "created_at": user.created_at}


@router.get("/me", summary="The logged-in user, their permissions and the CSRF token for state changes")
def me(session: Reader) -> dict[str, Any]:
    return {**_user(session.user), "permissions": [p.value for p in Permission if session.user.can(p)],
            "csrf_token": session.csrf_token, "session_expires_at": session.expires_at}


@router.get("/openapi.json", summary="This API described as OpenAPI 3")
def openapi(request: Request, session: Reader) -> JSONResponse:
    return JSONResponse(request.app.openapi())


@router.get("/alerts", summary="Alerts: open ones (overdue first, then by level) or recently closed ones")
def alerts(request: Request, session: Reader, view: str = "open") -> list[dict[str, Any]]:
    console = _console(request)
    statuses = OPEN_STATUSES if view != "closed" else (AlertStatus.CLOSED,)
    return views.alert_rows(console.alerts.store.alerts(statuses, limit=200), console.now())


@router.get("/alerts/{alert_id}", summary="One alert: evidence posts, timeline, policy, findings, effect, audit log")
def alert(request: Request, alert_id: str, session: Reader, index: IndexDep) -> dict[str, Any]:
    console = _console(request)
    detail = views.alert_detail(console.alerts.get(alert_id), index, console.names, console.now())
    return {**detail, "history": views.audit_view(console.alerts.store.history(alert_id))}


@router.get("/alerts/{alert_id}/state", summary="One alert's status and clocks, without the evidence (cheap to poll)")
def alert_state(request: Request, alert_id: str, session: Reader) -> dict[str, Any]:
    console = _console(request)
    return views.alert_row(console.alerts.get(alert_id), console.now())


def _row(console: Console, alert: Any) -> dict[str, Any]:
    return views.alert_row(alert, console.now())


@router.post("/alerts/{alert_id}/acknowledge", summary="Acknowledge: someone is on it")
def acknowledge(request: Request, alert_id: str, session: Worker) -> dict[str, Any]:
    console = _console(request)
    return _row(console, console.alerts.acknowledge(alert_id, session.user.name))


@router.post("/alerts/{alert_id}/assign", summary="Assign to the department that answers")
def assign(request: Request, alert_id: str, body: Assignment, session: Worker) -> dict[str, Any]:
    console = _console(request)
    return _row(console, console.alerts.assign(alert_id, body.department.strip(), session.user.name))


@router.post("/alerts/{alert_id}/respond", summary="Record the response (meets the deadlines it satisfies)")
def respond(request: Request, alert_id: str, body: Response, session: Worker) -> dict[str, Any]:
    console = _console(request)
    at = aware(body.at) if body.at else console.now()
    return _row(console, console.alerts.respond(alert_id, body.kind, session.user.name,
                                                link=views.web_link(body.link), note=body.note, now=at))


@router.post("/alerts/{alert_id}/close", summary="Close the alert")
def close(request: Request, alert_id: str, body: Closing, session: Worker) -> dict[str, Any]:
    console = _console(request)
    return _row(console, console.alerts.close_alert(alert_id, session.user.name, reason=body.reason))


@router.get("/events", summary="The events of a day (Beijing time; default today), largest first")
def events(request: Request, session: Reader, index: IndexDep, day: date | None = None) -> list[dict[str, Any]]:
    console = _console(request)
    return views.events_of_day(index, day or console.now().date(), console.names, console.now())


@router.get("/events/{event_id}", summary="One event: title, timeline, platforms, posts, places, policies")
def event(request: Request, event_id: str, session: Reader, index: IndexDep) -> dict[str, Any]:
    found = views.find_event(index, event_id)
    if found is None:
        raise views.NotFound(f"没有编号为 {event_id} 的事件")
    return views.event_view(index, found, _console(request).names, *views.event_span(found))


@router.get("/search", summary="Posts matching a query, a page at a time, with facet counts and snippets")
def search(request: Request, session: Reader, index: IndexDep,
           filters: Annotated[explore.Filters, Query()]) -> dict[str, Any]:
    return explore.search(index, filters, _console(request).names)


@router.get("/trends", summary="Volume and sentiment over time, top keywords, events, places, sources, policies")
def trends(request: Request, session: Reader, index: IndexDep,
           filters: Annotated[explore.Filters, Query()]) -> dict[str, Any]:
    console = _console(request)
    return explore.trends(index, filters, console.names, console.now())


@router.get("/reports", summary="The briefings on disk by day, with their file names per format")
def reports(request: Request, session: Reader) -> list[dict[str, Any]]:
    return views.report_files(_console(request).settings.reports_path)


@router.get("/sources", summary="Every source with its last crawl, problems by reason, and health")
def sources(request: Request, session: Reader, index: IndexDep) -> list[dict[str, Any]]:
    console = _console(request)
    return views.sources_health(console.sources, index.crawl_health(), console.now())


@router.get("/rules", summary="The alert rules in force, the response clocks per level, the planned silences")
def rules(request: Request, session: Reader) -> dict[str, Any]:
    console = _console(request)
    shown = views.rules_view(console.alerts.config, console.settings.rules_file)
    # Where the file lives on the server is for the administrators who edit it.
    return shown if session.user.can(Permission.ADMINISTER) else {**shown, "file": None}


@router.get("/users", summary="Accounts (administrators only)")
def users(request: Request, session: Admin) -> list[dict[str, Any]]:
    return [_user(u) for u in _console(request).accounts.users()]


@router.post("/users", summary="Add an account (administrators only)", status_code=201)
def add_user(request: Request, body: NewUser, session: Admin) -> dict[str, Any]:
    return _user(_console(request).accounts.add(body.name, body.role, body.password, actor=session.user.name))


@router.post("/users/{name}/password", summary="Set an account's password; its sessions end (administrators only)")
def set_password(request: Request, name: str, body: NewPassword, session: Admin) -> dict[str, str]:
    _console(request).accounts.set_password(name, body.password, actor=session.user.name)
    return {"name": name}


@router.post("/users/{name}/disable", summary="Disable an account; its sessions end (administrators only)")
def disable_user(request: Request, name: str, session: Admin) -> dict[str, str]:
    _console(request).accounts.set_disabled(name, True, actor=session.user.name)
    return {"name": name}


@router.post("/users/{name}/enable", summary="Enable an account again (administrators only)")
def enable_user(request: Request, name: str, session: Admin) -> dict[str, str]:
    _console(request).accounts.set_disabled(name, False, actor=session.user.name)
    return {"name": name}
