"""The one item schema of Yuqing: every stage imports its types from here.

A `Post` is what a spider saw; an `EnrichedPost` adds what analysis found; a `Policy` is a
document of the registry; an `Event` groups posts about one happening; an `Alert` is what a
press officer must act on.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterable
from datetime import UTC, datetime, timedelta, timezone, tzinfo
from enum import StrEnum
from typing import Any
from urllib.parse import urlsplit, urlunsplit
from zoneinfo import ZoneInfo

import orjson
from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator
from pydantic_core import TzInfo, to_jsonable_python

SHANGHAI = ZoneInfo("Asia/Shanghai")


def now() -> datetime:
    """The current time, timezone-aware (UTC)."""
    return datetime.now(UTC)


def aware(value: datetime) -> datetime:
    """Attach Asia/Shanghai to a naive datetime: Chinese pages give local time without a zone."""
    return value.replace(tzinfo=SHANGHAI) if value.tzinfo is None else value


def canonical_url(url: str) -> str:
    """Lower-case scheme and host, drop the fragment and a trailing slash, so one page has one id."""
    parts = urlsplit(url.strip())
    path = parts.path.rstrip("/") or "/"
    return urlunsplit((parts.scheme.lower(), parts.netloc.lower(), path, parts.query, ""))


def post_id_for(platform: str, url: str, platform_id: str | None = None) -> str:
    """Stable id: the platform's own id when it has one, else a hash of the canonical URL."""
    if platform_id:
        return f"{platform}:{platform_id}"
    digest = hashlib.sha1(canonical_url(url).encode("utf-8")).hexdigest()[:20]
    return f"{platform}:{digest}"


# The times a post may carry. Earlier is a misread date (year 1, a zero field); later than a day
# ahead is a misread or a wrong clock. Either breaks every window computed from it (a year-1 time
# minus a week overflows), so such a post is refused, or its published time dropped by the crawl.
EARLIEST_TIME = datetime(1900, 1, 1, tzinfo=UTC)
FUTURE_SLACK = timedelta(days=1)


class RefusedPost(ValueError):
    """A post that can never be analysed as it is; `reason` is the counted name of why."""

    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(f"{reason}: {detail}")
        self.reason = reason


_EARLIEST_TIMESTAMP = EARLIEST_TIME.timestamp()
_FUTURE_SLACK_SECONDS = FUTURE_SLACK.total_seconds()


def time_in_range(value: datetime, at: datetime | None = None) -> bool:
    """Whether `value` (timezone-aware) lies in the sane window: from EARLIEST_TIME to a day after `at` (now)."""
    # Compared as POSIX seconds: one UTC-offset look-up per time, where each comparison of aware times in two
    # zones looks up both (the enrich step checks every post's two times).
    return _EARLIEST_TIMESTAMP <= value.timestamp() <= (at or now()).timestamp() + _FUTURE_SLACK_SECONDS


class Platform(StrEnum):
    NEWS = "news"
    GOV = "gov"
    WEIBO = "weibo"
    BOARD = "board"
    FORUM = "forum"
    OTHER = "other"


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    def to_json(self) -> bytes:
        """The JSON of `model_dump_json`, as bytes and without a str made first: what the stages send."""
        return self.__pydantic_serializer__.to_json(self)


def _fields_of(value: Any) -> Any:
    """orjson's `default`: a model as its fields' values (orjson writes those itself), anything else orjson has no
    form for as pydantic writes it."""
    return value.__dict__ if isinstance(value, BaseModel) else to_jsonable_python(value)


# The zones of one fixed UTC offset (the time's own, parsed from JSON, or the one the analysis shares per offset)
# found in whole minutes so far: told by a look-up, a fifth of the cost of asking a time for its offset.
_FIXED_ZONES = (TzInfo, timezone)
_WHOLE_MINUTE_ZONES: set[tzinfo] = set()


def wire_json(value: Any, times: Iterable[datetime | None], pydantic_json: Callable[[], bytes]) -> bytes:
    """The bytes `pydantic_json` makes of a message the stages send (a model, or a dict of models' values), written
    by orjson in a third of the CPU. `times`: the message's datetimes (its models' datetime fields). Where orjson
    would write other bytes, `pydantic_json` writes them: a time whose UTC offset has seconds (a zone's local mean
    time, such as Shanghai's +08:05:43 before 1901: orjson rounds it to the minute, pydantic cuts the seconds off),
    an int beyond 64 bits; a str that is no Unicode (a lone surrogate) fails there with pydantic's error."""
    for time in times:
        if time is None or (zone := time.tzinfo) is None or zone in _WHOLE_MINUTE_ZONES:
            continue
        offset = time.utcoffset()
        if offset is not None and offset.seconds % 60:
            return pydantic_json()
        if type(zone) in _FIXED_ZONES:
            _WHOLE_MINUTE_ZONES.add(zone)
    try:
        return orjson.dumps(value, default=_fields_of, option=orjson.OPT_UTC_Z)
    except orjson.JSONEncodeError:
        return pydantic_json()


class Author(_Model):
    name: str | None = None
    id: str | None = None
    followers: int | None = Field(default=None, ge=0)
    verified: bool = False
    verified_reason: str | None = None


class Metrics(_Model):
    reposts: int = Field(default=0, ge=0)
    comments: int = Field(default=0, ge=0)
    likes: int = Field(default=0, ge=0)
    views: int = Field(default=0, ge=0)


class Post(_Model):
    """One thing someone published: an article, a policy document, a weibo, a board message."""

    id: str = ""
    url: str
    platform: Platform
    source: str
    author: Author = Field(default_factory=Author)
    title: str | None = None
    text: str = ""
    published_at: datetime | None = None
    # True when the page gave a date without a year (a bare "10-08") and the year was inferred
    # from the page's other dates, its URL or the crawl time.
    published_year_inferred: bool = False
    fetched_at: datetime = Field(default_factory=now)
    metrics: Metrics = Field(default_factory=Metrics)
    reply_to: str | None = None
    # Platform-specific metadata: gov documents keep 索引号, 发文机构, 发文字号, 成文日期,
    # 发布日期, 有效性 here; board messages keep 分类, 是否回复, 回复单位, 回复内容.
    extra: dict[str, Any] = Field(default_factory=dict)

    @field_validator("published_at", "fetched_at")
    @classmethod
    def _timezone_aware(cls, value: datetime | None) -> datetime | None:
        return aware(value) if value is not None else None

    @model_validator(mode="after")
    def _stable_id(self) -> Post:
        if not self.id:
            self.id = post_id_for(self.platform.value, self.url)
        return self

    @property
    def when(self) -> datetime:
        """The time the post counts at: its publication time, else when we fetched it."""
        return self.published_at or self.fetched_at

    def check_times(self, at: datetime | None = None) -> None:
        """Raise RefusedPost('date_out_of_range') when a time of the post is outside the sane window."""
        at = at or now()
        for name in ("published_at", "fetched_at"):
            value = getattr(self, name)
            if value is not None and not time_in_range(value, at):
                raise RefusedPost("date_out_of_range", f"{name} {value.isoformat()} is not between "
                                                       f"{EARLIEST_TIME.date()} and tomorrow")


class SentimentLabel(StrEnum):
    POSITIVE = "positive"
    NEUTRAL = "neutral"
    NEGATIVE = "negative"


class Sentiment(_Model):
    score: float = Field(ge=0.0, le=1.0, description="calibrated probability of positive, were the post polar")
    label: SentimentLabel
    probability: float | None = Field(default=None, ge=0.0, le=1.0, description="calibrated probability of the label")


class PolicyLink(_Model):
    id: str
    score: float = Field(ge=0.0)


class EnrichedPost(Post):
    """A post plus what analysis found. `text` is already masked; nothing raw is kept."""

    masked_text: str = ""
    sentiment: Sentiment | None = None
    keywords: list[str] = Field(default_factory=list)
    # Where it happened (text, title, a board's 地点, the issuing office): what reports and alerts use.
    places: list[str] = Field(default_factory=list)
    # Where the author is from (a profile or screen name such as 曹县汉服小姐姐): kept apart from `places`.
    author_places: list[str] = Field(default_factory=list)
    policies: list[PolicyLink] = Field(default_factory=list)
    departments: list[str] = Field(default_factory=list)
    event_id: str | None = None
    reprint_of: str | None = None

    @classmethod
    def from_post(cls, post: Post, **analysis: Any) -> EnrichedPost:
        return cls(**post.model_dump(), **analysis)

    def text_copy(self) -> set[str]:
        """The field that only repeats another: `masked_text` when it equals `text` (always, once the enrich step
        masked the text before anything else saw it). Left out of what is sent or stored, so the text is kept once;
        `with_text_copy` puts it back."""
        return {"masked_text"} if self.masked_text == self.text else set()

    def with_text_copy(self) -> EnrichedPost:
        """The post, with the `masked_text` that `text_copy` left out of what it was read from put back."""
        fields_set = self.__pydantic_fields_set__
        if "masked_text" not in fields_set:
            # What assigning the field does (the value is the post's text: nothing to validate), without
            # BaseModel.__setattr__'s checks, which cost as much as the rest of reading the post back.
            self.__dict__["masked_text"] = self.text
            fields_set.add("masked_text")
        return self

    def wire_fields(self) -> dict[str, Any]:
        """The post's fields as one stage sends them to another (`wire_json`): its text once (see `text_copy`), its
        models as their fields' values. orjson would hand those to `_fields_of`, but only after asking each for a
        dataclass's fields, which a model answers through BaseModel.__getattr__: about 6 % of the post's encoding."""
        fields = dict(self.__dict__)
        if self.masked_text == self.text:
            del fields["masked_text"]
        fields["author"] = self.author.__dict__
        fields["metrics"] = self.metrics.__dict__
        if self.sentiment is not None:
            fields["sentiment"] = self.sentiment.__dict__
        if self.policies:
            fields["policies"] = [link.__dict__ for link in self.policies]
        return fields

    def to_json(self) -> bytes:
        """The post as one stage sends it to another: its text once."""
        return wire_json(self.wire_fields(), (self.published_at, self.fetched_at),
                         lambda: self.__pydantic_serializer__.to_json(self, exclude=self.text_copy()))

    @classmethod
    def from_json(cls, data: bytes | str) -> EnrichedPost:
        """A post sent with `to_json` (or a whole one), validated in one pass over the JSON: raises pydantic's
        ValidationError for a value that is no enriched post, or no JSON."""
        return cls.model_validate_json(data).with_text_copy()


class ReprintLink(_Model):
    """A post found to be a copy after it was analysed: its original (earliest published) arrived later.
    The index sets the post's `reprint_of` to `reprint_of`."""

    post_id: str
    reprint_of: str


class Validity(StrEnum):
    CURRENT = "现行有效"
    REPEALED = "已废止"
    AMENDED = "已修改"
    UNKNOWN = "未知"


class Policy(_Model):
    """A policy document of the registry, from the policies file or a crawled 政策文件."""

    id: str
    title: str
    doc_number: str | None = Field(default=None, description="文号 / 发文字号")
    department: str | None = Field(default=None, description="发文机构")
    written_at: datetime | None = Field(default=None, description="成文日期")
    published_at: datetime | None = Field(default=None, description="发布日期")
    validity: Validity = Validity.CURRENT
    keywords: list[str] = Field(default_factory=list)
    aliases: list[str] = Field(default_factory=list)
    url: str | None = None
    interpretation_url: str | None = Field(default=None, description="政策解读")

    @field_validator("written_at", "published_at")
    @classmethod
    def _timezone_aware(cls, value: datetime | None) -> datetime | None:
        return aware(value) if value is not None else None


class Event(_Model):
    """Posts about one happening, clustered online; the id survives restarts."""

    id: str
    label: str  # the event's keywords joined: what search matches
    # A headline a person would write (at most 20 characters): what reports, alerts and the console show.
    title: str | None = None
    keywords: list[str] = Field(default_factory=list)
    first_seen: datetime
    last_seen: datetime
    size: int = 0
    reprints: int = Field(default=0, ge=0, description="of `size`, copies (转载) of another post of the event")
    platforms: dict[str, int] = Field(default_factory=dict)
    places: list[str] = Field(default_factory=list)
    sentiment_mix: dict[str, int] = Field(default_factory=dict)
    policies: list[str] = Field(default_factory=list)
    representative_posts: list[str] = Field(default_factory=list)
    merged_into: str | None = None

    @property
    def headline(self) -> str:
        """What a reader sees: the title, else the keyword label."""
        return self.title or self.label

    def to_json(self) -> bytes:
        """The event as the events stage sends it (see `wire_json`)."""
        return wire_json(self.__dict__, (self.first_seen, self.last_seen),
                         lambda: self.__pydantic_serializer__.to_json(self))


class AlertLevel(StrEnum):
    """Levels of 政务舆情 incidents, lowest first."""

    GENERAL = "一般"
    LARGE = "较大"
    MAJOR = "重大"
    EXTRAORDINARY = "特别重大"

    @property
    def rank(self) -> int:
        return _LEVEL_RANKS[self]


# Looked up, not searched for: the alert engine compares levels several times per finding.
_LEVEL_RANKS = {level: rank for rank, level in enumerate(AlertLevel)}


class AlertStatus(StrEnum):
    FIRED = "fired"
    NOTIFIED = "notified"
    ACKNOWLEDGED = "acknowledged"
    ASSIGNED = "assigned"
    RESPONDED = "responded"
    CLOSED = "closed"


class Deadline(_Model):
    """One clock of the response: e.g. 发布权威信息 within 5 h of the alert."""

    name: str
    due_at: datetime
    met_at: datetime | None = None
    started_at: datetime | None = None  # when the clock started; 80 % of due_at - started_at warns
    warned_at: datetime | None = None  # when the 80 % escalation was sent
    missed_at: datetime | None = None  # when the missed-deadline escalation was sent


class ResponseKind(StrEnum):
    """How the office answered, as the 2016 notice names the forms of response."""

    AUTHORITATIVE_INFO = "发布权威信息"
    INTERPRETATION = "政策解读"
    PRESS_CONFERENCE = "新闻发布会"
    BOARD_REPLY = "回复留言"
    OTHER = "其他"


class AlertResponse(_Model):
    kind: ResponseKind
    link: str | None = None
    at: datetime
    by: str | None = None
    note: str | None = None


class Alert(_Model):
    id: str
    rule: str
    rule_type: str
    group_key: str = Field(description="rule plus subject: one group per surge, updated, not repeated")
    title: str
    summary: str = ""
    level: AlertLevel = AlertLevel.GENERAL
    subject_kind: str | None = None  # policy, event, place, keyword, source
    subject_id: str | None = None
    fired_at: datetime = Field(default_factory=now)
    updated_at: datetime = Field(default_factory=now)
    status: AlertStatus = AlertStatus.FIRED
    deadlines: list[Deadline] = Field(default_factory=list)
    post_ids: list[str] = Field(default_factory=list)
    evidence: dict[str, Any] = Field(default_factory=dict)
    updates: int = 0
    notified_at: datetime | None = None  # last notification queued; updates within the cooldown stay quiet
    acknowledged_by: str | None = None
    acknowledged_at: datetime | None = None
    assigned_to: str | None = None  # department
    assigned_at: datetime | None = None
    responses: list[AlertResponse] = Field(default_factory=list)
    closed_by: str | None = None
    closed_at: datetime | None = None


class BurstSignal(_Model):
    """Analysis's judgement that a subject is louder or angrier than its baseline: what alert rules read."""

    subject_kind: str  # event, policy, department, keyword, place
    subject_id: str
    label: str
    window: str = Field(description="e.g. '1h/12h' or '1d/14d': recent window against baseline window")
    count: int = Field(ge=0, description="posts in the recent window")
    negative: int = Field(default=0, ge=0, description="negative posts in the recent window")
    baseline_rate: float = Field(ge=0, description="posts per recent-window length in the baseline")
    negative_share: float = Field(ge=0, le=1)
    baseline_negative_share: float = Field(ge=0, le=1)
    ratio: float = Field(ge=0, description="count / max(baseline_rate, floor)")
    computed_at: datetime = Field(default_factory=now)
    post_ids: list[str] = Field(default_factory=list)


class CrawlHealth(_Model):
    """One crawl run of one source: what it yielded and why anything was lost or refused."""

    source: str
    kind: str
    started_at: datetime
    finished_at: datetime
    items: int = Field(ge=0)
    new_items: int = Field(default=0, ge=0)
    problems: dict[str, int] = Field(default_factory=dict, description="reason -> count")
    silent_runs: int = Field(default=0, ge=0, description="consecutive runs with no item")
    blind: bool = Field(default=False, description="silent for the configured number of runs")


# Keys of Post.extra, named once. Government documents keep the labels of the portal's
# metadata table; board messages keep those of the 留言板.
GOV_INDEX_NO = "索引号"
GOV_TOPIC = "主题分类"
GOV_ISSUER = "发文机构"
GOV_DOC_NUMBER = "发文字号"
GOV_WRITTEN = "成文日期"
GOV_PUBLISHED = "发布日期"
GOV_VALIDITY = "有效性"
GOV_INTERPRETATION = "政策解读"  # URL of the interpretation page, when the portal links one
GOV_ATTACHMENTS = "附件"  # list of {"title", "url"}
GOV_IS_INTERPRETATION = "是解读"  # True on a 政策解读 page itself
BOARD_CATEGORY = "分类"
BOARD_PLACE = "地点"
BOARD_ANSWERED = "已回复"  # bool
BOARD_ANSWERED_AT = "回复时间"  # ISO datetime string
BOARD_REPLY = "回复内容"
BOARD_REPLY_UNIT = "回复单位"
REPRINT_OF = "转载自"  # id of the earliest original, set by near-duplicate detection
