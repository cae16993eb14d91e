"""The response workflow as pure transitions: fired → notified → acknowledged → assigned →
responded → closed. Each returns the changed alert or raises `WorkflowError` with a message the
officer can act on; the service stores the result with compare-and-set and an audit entry."""

from __future__ import annotations

from datetime import datetime

from alerts.config import AlertConfig
from alerts.severity import meet_deadlines
from yuqing.schema import SHANGHAI, Alert, AlertResponse, AlertStatus, ResponseKind


class WorkflowError(ValueError):
    """The transition is not allowed in the alert's current state."""


def _local(value: datetime | None) -> str:
    return value.astimezone(SHANGHAI).strftime("%Y-%m-%d %H:%M:%S") if value else "?"


def _require_open(alert: Alert) -> None:
    if alert.status == AlertStatus.CLOSED:
        raise WorkflowError(f"预警 {alert.id} 已于 {_local(alert.closed_at)} 由 {alert.closed_by} 办结")


def _acknowledged(alert: Alert, who: str, at: datetime) -> dict:
    """Acting on an alert acknowledges it if nobody had yet."""
    if alert.acknowledged_at is not None:
        return {}
    return {"acknowledged_by": who, "acknowledged_at": at}


def mark_notified(alert: Alert, at: datetime) -> Alert:
    if alert.status != AlertStatus.FIRED:
        raise WorkflowError(f"预警 {alert.id} 状态为 {alert.status.value}，无需标记为已通知")
    return alert.model_copy(update={"status": AlertStatus.NOTIFIED, "updated_at": at})


def acknowledge(alert: Alert, who: str, at: datetime) -> Alert:
    _require_open(alert)
    if alert.acknowledged_at is not None:
        raise WorkflowError(f"预警 {alert.id} 已由 {alert.acknowledged_by} 于 {_local(alert.acknowledged_at)} 签收")
    status = AlertStatus.ACKNOWLEDGED if alert.status in (AlertStatus.FIRED, AlertStatus.NOTIFIED) else alert.status
    return alert.model_copy(update={"status": status, "updated_at": at, **_acknowledged(alert, who, at)})


def assign(alert: Alert, department: str, who: str, at: datetime) -> Alert:
    _require_open(alert)
    if not department.strip():
        raise WorkflowError("请指明承办部门 (department must not be blank)")
    status = alert.status if alert.status == AlertStatus.RESPONDED else AlertStatus.ASSIGNED
    return alert.model_copy(update={"status": status, "assigned_to": department, "assigned_at": at,
                                    "updated_at": at, **_acknowledged(alert, who, at)})


def respond(config: AlertConfig, alert: Alert, kind: ResponseKind, who: str, at: datetime,
            link: str | None = None, note: str | None = None) -> Alert:
    _require_open(alert)
    response = AlertResponse(kind=kind, link=link, at=at, by=who, note=note)
    alert = meet_deadlines(config, alert, kind, at)
    return alert.model_copy(update={"status": AlertStatus.RESPONDED, "responses": [*alert.responses, response],
                                    "updated_at": at, **_acknowledged(alert, who, at)})


def close(alert: Alert, who: str, at: datetime) -> Alert:
    _require_open(alert)
    return alert.model_copy(update={"status": AlertStatus.CLOSED, "closed_by": who, "closed_at": at,
                                    "updated_at": at, **_acknowledged(alert, who, at)})
