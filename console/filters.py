"""Jinja filters of the console pages: times on Beijing time, shares, URLs, the names of states."""

from __future__ import annotations

from datetime import datetime
from typing import Any
from urllib.parse import quote as url_quote
from urllib.parse import urlencode

from reports.labels import duration, percent, platform_name, sentiment_name
from yuqing.schema import SHANGHAI, ResponseKind

AUDIT_ACTIONS = {
    "fired": "触发", "updated": "更新", "level_raised": "升级", "escalated": "时限提醒", "notified": "已通知",
    "acknowledged": "签收", "assigned": "交办", "responded": "记录回应", "closed": "办结",
}
LEVEL_CLASSES = {"一般": "general", "较大": "large", "重大": "major", "特别重大": "extraordinary"}
RESPONSE_KINDS = [kind.value for kind in ResponseKind]


def clock(moment: datetime | str | None, with_date: bool = True) -> str:
    """`12月6日 09:05` on Beijing time; a dash for no moment."""
    if moment is None or moment == "":
        return "—"
    if isinstance(moment, str):
        moment = datetime.fromisoformat(moment)
    moment = moment.astimezone(SHANGHAI)
    return f"{moment.month}月{moment.day}日 {moment:%H:%M}" if with_date else f"{moment:%H:%M}"


def iso(moment: datetime | None) -> str:
    return moment.isoformat() if moment else ""


def local_input(moment: datetime) -> str:
    """The value of a datetime-local input: Beijing time to the minute."""
    return moment.astimezone(SHANGHAI).strftime("%Y-%m-%dT%H:%M")


def quote(value: str) -> str:
    return url_quote(value, safe="/")


def query_string(params: dict[str, Any], **changes: Any) -> str:
    """The current query parameters with some changed (None removes one), as `?a=1&b=2`."""
    merged = {**params, **changes}
    pairs = [(k, v) for k, v in merged.items() if v not in (None, "", [])]
    flat = [(k, item) for k, v in pairs for item in (v if isinstance(v, list) else [v])]
    return "?" + urlencode(flat) if flat else "?"


ALL = {
    "clock": clock, "iso": iso, "local_input": local_input, "quote": quote, "duration": duration, "percent": percent,
    "platform": platform_name, "sentiment": sentiment_name, "audit_action": lambda a: AUDIT_ACTIONS.get(a, a),
    "level_class": lambda level: LEVEL_CLASSES.get(level, "general"), "query_string": query_string,
}
