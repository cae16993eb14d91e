"""Durations as people write them in rule files: 90s, 30m, 6h, 3d (or plain seconds)."""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Annotated

from pydantic import BeforeValidator

_UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days", "w": "weeks"}
_PATTERN = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([smhdw])\s*$")


def parse_duration(value: object) -> timedelta:
    """'6h' -> 6 hours; a bare number is seconds; a timedelta passes through."""
    if isinstance(value, timedelta):
        return value
    if isinstance(value, int | float) and not isinstance(value, bool):
        return timedelta(seconds=float(value))
    if isinstance(value, str):
        match = _PATTERN.match(value)
        if match:
            return timedelta(**{_UNITS[match.group(2)]: float(match.group(1))})
    raise ValueError(f"expected a duration like 90s, 30m, 6h or 3d, got {value!r}")


Duration = Annotated[timedelta, BeforeValidator(parse_duration)]


def human_duration(span: timedelta) -> str:
    """A duration in Chinese for messages: 3天, 24小时, 30分钟, 45秒."""
    seconds = int(span.total_seconds())
    for size, unit in ((86400, "天"), (3600, "小时"), (60, "分钟")):
        if seconds >= size and seconds % size == 0 and not (unit == "天" and seconds < 3 * 86400):
            return f"{seconds // size}{unit}"
    if seconds >= 3600:
        return f"{seconds / 3600:.1f}小时"
    return f"{seconds}秒" if seconds < 60 else f"{seconds / 60:.0f}分钟"
