"""Times as social sites print them: 刚刚, 5分钟前, 昨天 10:31, 06-07, "Tue Jun 07 10:31:00 +0800 2022".

Weibo's mobile API and Tieba's thread lists show recent times relative to the reader's clock and
older ones without a year; every form is resolved against an explicit `now` so the result is
reproducible in tests. Times without a zone are Beijing time.
"""

from __future__ import annotations

import re
from datetime import datetime, timedelta

from yuqing.schema import SHANGHAI, aware

_API_FORMAT = "%a %b %d %H:%M:%S %z %Y"  # the container API's created_at

_AGO_UNITS = {"秒": "seconds", "分钟": "minutes", "分": "minutes", "小时": "hours", "天": "days"}
_AGO = re.compile(r"^(\d+)\s*(秒|分钟|分|小时|天)前$")
_DAY_WORDS = {"今天": 0, "昨天": 1, "前天": 2}
_DAY_WORD = re.compile(r"^(今天|昨天|前天)\s*(?:(\d{1,2}):(\d{2}))?$")
_CLOCK = r"(?:\s+(\d{1,2}):(\d{2})(?::(\d{2}))?)?"
_FULL_DATE = re.compile(r"^(\d{4})[-/.年](\d{1,2})[-/.月](\d{1,2})日?" + _CLOCK + "$")
_MONTH_DAY = re.compile(r"^(\d{1,2})[-/月](\d{1,2})日?" + _CLOCK + "$")
_YEAR_MONTH = re.compile(r"^(\d{4})[-/年](\d{1,2})月?$")
_TIME_ONLY = re.compile(r"^(\d{1,2}):(\d{2})$")


def is_relative_time(text: str | None) -> bool:
    """True for forms that name a moment relative to the reader's clock (刚刚, 5分钟前, 昨天 10:31):
    the same post shows another such text, or a coarser date, when read again later."""
    value = (text or "").strip()
    return value == "刚刚" or bool(_AGO.match(value) or _DAY_WORD.match(value))


def is_year_less(text: str | None) -> bool:
    """True for a date shown without its year (06-07, 6月7日 10:31): its year was inferred."""
    value = re.split(r"\s+来自|\s+发布于", (text or "").strip())[0].strip()
    return bool(_MONTH_DAY.match(value))


def parse_social_time(text: str | None, now: datetime) -> datetime | None:
    """The moment a post time string names, timezone-aware; None when the text is not a time.

    A date without a year is in `now`'s year unless that would lie in the future (a post
    from 12-31 read on 01-02 is from last year). A bare HH:MM is today.
    """
    if not text:
        return None
    # Weibo appends the client or region: "10分钟前 来自 iPhone客户端"; keep only the time part.
    value = re.split(r"\s+来自|\s+发布于", text.strip())[0].strip()
    local_now = now.astimezone(SHANGHAI)
    try:
        return _parse(value, local_now)
    except ValueError:  # e.g. 02-30: looks like a date but is none
        return None


def _parse(value: str, now: datetime) -> datetime | None:
    if value == "刚刚":
        return now.replace(microsecond=0)
    if match := _AGO.match(value):
        moment = now - timedelta(**{_AGO_UNITS[match.group(2)]: int(match.group(1))})
        # No more precise than the form: seconds only when the site counts seconds.
        return moment.replace(microsecond=0) if match.group(2) == "秒" else moment.replace(second=0, microsecond=0)
    if match := _DAY_WORD.match(value):
        day = now - timedelta(days=_DAY_WORDS[match.group(1)])
        if match.group(2) is None:
            return day.replace(hour=0, minute=0, second=0, microsecond=0)
        return day.replace(hour=int(match.group(2)), minute=int(match.group(3)), second=0, microsecond=0)
    if match := _TIME_ONLY.match(value):
        return now.replace(hour=int(match.group(1)), minute=int(match.group(2)), second=0, microsecond=0)
    if match := _FULL_DATE.match(value):
        year, month, day_of_month = (int(g) for g in match.groups()[:3])
        return _at(year, month, day_of_month, match.groups()[3:])
    if match := _YEAR_MONTH.match(value):
        return datetime(int(match.group(1)), int(match.group(2)), 1, tzinfo=SHANGHAI)
    if match := _MONTH_DAY.match(value):
        month, day_of_month = int(match.group(1)), int(match.group(2))
        moment = _at(now.year, month, day_of_month, match.groups()[2:])
        return moment if moment <= now else _at(now.year - 1, month, day_of_month, match.groups()[2:])
    try:
        return datetime.strptime(value, _API_FORMAT)
    except ValueError:
        pass
    try:
        return aware(datetime.fromisoformat(value))
    except ValueError:
        return None


def _at(year: int, month: int, day: int, clock: tuple[str | None, ...]) -> datetime:
    hour, minute, second = (int(part) if part else 0 for part in clock)
    return datetime(year, month, day, hour, minute, second, tzinfo=SHANGHAI)
