"""Jinja filters of the console pages: times on Beijing time, shares, URLs, the names of states."""

from __future__ import annotations

from datetime import datetime
from urllib.parse import quote as url_quote

from reports import labels
from yuqing.schema import SHANGHAI, ResponseKind

AUDIT_ACTIONS = {
    "fired": "触发", "updated": "更新", "level_raised": "升级", "escalated": "时限提醒", "notified": "已通知",
    "acknowledged": "签收", "assigned": "交办", "responded": "记录回应", "closed": "办结",
}
LEVEL_CLASSES = {"一般": "general", "较大": "large", "重大": "major", "特别重大": "extraordinary"}
RESPONSE_KINDS = [kind.value for kind in ResponseKind]


def clock(moment: datetime | str | None, with_date: bool = True) -> str:
    """The briefing's `12月6日 09:05` (Beijing time), also for the ISO strings of the effect figures."""
    return labels.clock(datetime.fromisoformat(moment) if isinstance(moment, str) and moment else moment or None,
                        with_date=with_date)


def iso(moment: datetime | None) -> str:
    return moment.isoformat() if moment else ""


def local_input(moment: datetime) -> str:
    """The value of a datetime-local input: Beijing time to the minute."""
    return moment.astimezone(SHANGHAI).strftime("%Y-%m-%dT%H:%M")


def quote(value: str) -> str:
    return url_quote(value, safe="/")


ALL = {
    "clock": clock, "iso": iso, "local_input": local_input, "quote": quote, "duration": labels.duration, "percent": labels.percent,
    "audit_action": lambda a: AUDIT_ACTIONS.get(a, a), "level_class": lambda level: LEVEL_CLASSES.get(level, "general"),
}
