"""What the daily briefing says, gathered from the index, the alerts and the crawl health.

`gather_briefing` is the only place that reads the index, and it reads it through a `Ledger` that keeps
every figure with its query for the report's manifest; everything after it (advice, charts, templates)
works on the plain `DailyBriefing` it returns, so it can be tested without a server.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from typing import Any

from reports.figures import Ledger
from search.base import Index, Interval, SearchQuery
from yuqing.schema import (
    SHANGHAI,
    Alert,
    AlertLevel,
    AlertResponse,
    AlertStatus,
    CrawlHealth,
    Deadline,
    EnrichedPost,
    Event,
    Policy,
    SentimentLabel,
    aware,
)

TREND_DAYS = 14
TOP_EVENTS = 5
# A lone post is not yet an event worth a leader's attention (analysis.events keeps it apart anyway).
MIN_EVENT_POSTS = 2
TOP_POLICIES = 20
# A briefing lists this many alerts, most urgent first, and counts the rest: a backlog of thousands of
# open alerts made a 2,000-page daily report nobody reads (the console's alert page lists them all).
LISTED_ALERTS = 20
POSTS_PER_EVENT = 3
EXCERPT_CHARS = 90
# A source whose last crawl finished this long before the cutoff is reported as stale.
STALE_AFTER = timedelta(hours=24)


class CutAtNow:
    """A span reported on (a day, a week) and the moment the report is cut at: subclasses give `start`,
    `end` and `now`."""

    now: datetime

    @property
    def start(self) -> datetime:
        raise NotImplementedError

    @property
    def end(self) -> datetime:
        raise NotImplementedError

    @property
    def cutoff(self) -> datetime:
        """The end of the span, or now when the span is not over yet."""
        return max(self.start, min(self.end, self.now))

    @property
    def partial(self) -> bool:
        return self.cutoff < self.end


@dataclass(frozen=True)
class ReportWindow(CutAtNow):
    """The day reported on (Beijing time) and the moment the report is cut at."""

    day: date
    now: datetime

    @property
    def start(self) -> datetime:
        return datetime.combine(self.day, time(0), SHANGHAI)

    @property
    def end(self) -> datetime:
        return self.start + timedelta(days=1)

    @classmethod
    def for_day(cls, day: date | None, now: datetime | None) -> ReportWindow:
        now = (now or datetime.now(SHANGHAI)).astimezone(SHANGHAI)
        return cls(day=day or now.date(), now=now)


@dataclass(frozen=True)
class Overview:
    total: int
    previous: int  # the same span of the day before
    sentiment: dict[str, int]
    platforms: dict[str, int]
    negative_platforms: dict[str, int]
    sources: dict[str, int]

    @property
    def change(self) -> float | None:
        return None if not self.previous else (self.total - self.previous) / self.previous

    @property
    def negative(self) -> int:
        return self.sentiment.get(SentimentLabel.NEGATIVE, 0)

    @property
    def negative_share(self) -> float | None:
        return self.negative / self.total if self.total else None


@dataclass(frozen=True)
class TrendPoint:
    start: datetime
    total: int
    negative: int


@dataclass(frozen=True)
class PostRef:
    """A representative post as the briefing quotes it: masked text only."""

    id: str
    title: str | None
    excerpt: str
    source: str
    platform: str
    url: str
    when: datetime
    sentiment: str | None
    author: str | None  # only a verified (media or government) account is named

    @classmethod
    def of(cls, post: EnrichedPost) -> PostRef:
        text = " ".join((post.masked_text or post.text).split())
        excerpt = text if len(text) <= EXCERPT_CHARS else text[:EXCERPT_CHARS] + "…"
        return cls(
            id=post.id, title=post.title, excerpt=excerpt, source=post.source, platform=post.platform.value,
            url=post.url, when=post.when, sentiment=post.sentiment.label.value if post.sentiment else None,
            author=post.author.name if post.author.verified else None,
        )


@dataclass(frozen=True)
class EventSummary:
    event: Event
    today: int
    negative_today: int
    total: int  # every post of the event up to the cutoff
    platforms: dict[str, int]  # of those posts, most first
    sentiment: dict[str, int]
    policies: list[str]  # titles
    posts: list[PostRef]

    @property
    def negative_share(self) -> float | None:
        return self.negative_today / self.today if self.today else None


@dataclass(frozen=True)
class PolicyAttention:
    policy: Policy
    mentions: int
    negative: int
    daily: list[int]  # mentions per day over the trend window, the report day last

    @property
    def negative_share(self) -> float | None:
        return self.negative / self.mentions if self.mentions else None

    @property
    def baseline(self) -> float:
        """Mean daily mentions over the seven days before the report day."""
        before = self.daily[-8:-1]
        return sum(before) / len(before) if before else 0.0


@dataclass(frozen=True)
class PlaceCount:
    place: str
    count: int
    negative: int


@dataclass(frozen=True)
class DeadlineState:
    deadline: Deadline
    state: str  # met, met_late, overdue, pending
    allowed: timedelta | None  # the length of the clock, e.g. 5 h
    late_by: timedelta | None = None  # overdue or met late: by how much
    remaining: timedelta | None = None  # pending: how long is left


def deadline_state(deadline: Deadline, fired_at: datetime, now: datetime) -> DeadlineState:
    """Whether a response clock was met, met late, missed, or is still running at `now`."""
    allowed = deadline.due_at - (deadline.started_at or fired_at)
    # A clock met after `now` (a report on a past day) was still running at `now`.
    if deadline.met_at is not None and deadline.met_at <= now:
        if deadline.met_at <= deadline.due_at:
            return DeadlineState(deadline, "met", allowed)
        return DeadlineState(deadline, "met_late", allowed, late_by=deadline.met_at - deadline.due_at)
    if deadline.due_at <= now:
        return DeadlineState(deadline, "overdue", allowed, late_by=now - deadline.due_at)
    return DeadlineState(deadline, "pending", allowed, remaining=deadline.due_at - now)


class EffectFiguresError(ValueError):
    """Response-effect figures that do not have the agreed shape."""


@dataclass(frozen=True)
class ResponseEffect:
    """Did the response work? The alert store's figures for the alert's subject in the 24 h before its
    first response and the hours after it (up to 24), with the store's verdict; the report shows them
    as given and does not measure them again.

    The mapping form is `alerts.effect.ResponseEffect.as_dict()`: `responded_at` (ISO time),
    `before`/`after` each `{posts, negative, hours}`, `verdict` (e.g. 回应见效, 变化不明显, 仍在发酵,
    暂无数据), `complete` (the 24 h after have passed).
    """

    responded_at: datetime
    before_count: int
    before_negative: int
    after_count: int
    after_negative: int
    after_hours: float
    verdict: str
    complete: bool

    @property
    def before_share(self) -> float | None:
        return self.before_negative / self.before_count if self.before_count else None

    @property
    def after_share(self) -> float | None:
        return self.after_negative / self.after_count if self.after_count else None

    @classmethod
    def from_mapping(cls, data: Mapping[str, Any]) -> ResponseEffect:
        try:
            before, after = data["before"], data["after"]
            responded_at = data["responded_at"]
            return cls(
                responded_at=aware(responded_at if isinstance(responded_at, datetime)
                                   else datetime.fromisoformat(responded_at)),
                before_count=int(before["posts"]), before_negative=int(before["negative"]),
                after_count=int(after["posts"]), after_negative=int(after["negative"]),
                after_hours=float(after["hours"]), verdict=str(data["verdict"]), complete=bool(data["complete"]),
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise EffectFiguresError(f"response-effect figures lack or garble {exc}: {dict(data)!r}") from exc


@dataclass(frozen=True)
class AlertSummary:
    alert: Alert
    subject: str | None  # what the alert is about, in words: a policy title, an event label, a place
    deadlines: list[DeadlineState]
    responses: list[AlertResponse]  # those made before the cutoff
    effect: ResponseEffect | None  # of the first response, when the alert store measured it

    @property
    def overdue(self) -> list[DeadlineState]:
        return [d for d in self.deadlines if d.state == "overdue"]

    @property
    def is_open(self) -> bool:
        return self.alert.status != AlertStatus.CLOSED

    @property
    def next_clock(self) -> DeadlineState | None:
        """The clock that matters now: the longest overdue one, else the next one due."""
        running = [d for d in self.deadlines if d.state in ("overdue", "pending")]
        return min(running, key=lambda d: d.deadline.due_at, default=None)

    @property
    def needs_detail(self) -> bool:
        """Worth a card of its own, beyond its line in the overview table."""
        return bool((self.overdue and self.is_open) or self.alert.level.rank >= AlertLevel.MAJOR.rank
                    or self.responses)


@dataclass(frozen=True)
class SourceHealth:
    health: CrawlHealth
    title: str
    stale: bool
    posts_today: int


@dataclass
class DailyBriefing:
    window: ReportWindow
    overview: Overview
    hourly: list[TrendPoint]
    daily: list[TrendPoint]
    events: list[EventSummary]
    policies: list[PolicyAttention]
    quiet_policies: int  # registry policies with no mention over the whole trend window
    unlisted_policies: int  # mentioned, but fewer times than the TOP_POLICIES listed
    places: list[PlaceCount]
    alerts: list[AlertSummary]
    sources: list[SourceHealth]
    unanswered_board: int  # board messages of the day not yet answered
    policy_titles: dict[str, str] = field(default_factory=dict)
    source_titles: dict[str, str] = field(default_factory=dict)

    @property
    def empty(self) -> bool:
        return self.overview.total == 0

    @property
    def listed_alerts(self) -> list[AlertSummary]:
        """The alerts the briefing shows one by one: the most urgent `LISTED_ALERTS`."""
        return self.alerts[:LISTED_ALERTS]

    @property
    def unlisted_alerts(self) -> int:
        return len(self.alerts) - len(self.listed_alerts)

    def source_title(self, name: str) -> str:
        return self.source_titles.get(name, name)


def between(start: datetime, until: datetime, **filters: object) -> SearchQuery:
    return SearchQuery(since=start, until=until, limit=0, **filters)


def negative_only(query: SearchQuery) -> SearchQuery:
    return query.model_copy(update={"sentiments": [SentimentLabel.NEGATIVE]})


def trend(ledger: Ledger, key: str, query: SearchQuery, interval: Interval, starts: list[datetime]
          ) -> list[TrendPoint]:
    """Counts per bucket, empty buckets filled in, all posts and the negative ones."""
    totals = ledger.histogram(f"{key}.total", query, interval, starts)
    negatives = ledger.histogram(f"{key}.negative", negative_only(query), interval, starts)
    return [TrendPoint(s, t, n) for s, t, n in zip(starts, totals, negatives, strict=True)]


def _hour_starts(cutoff: datetime) -> list[datetime]:
    """The 24 hourly buckets ending with the one that holds the cutoff (or ends at it)."""
    last = (cutoff - timedelta(microseconds=1)).replace(minute=0, second=0, microsecond=0)
    return [last - timedelta(hours=h) for h in range(23, -1, -1)]


def _day_starts(window: ReportWindow) -> list[datetime]:
    return [datetime.combine(window.day - timedelta(days=d), time(0), SHANGHAI)
            for d in range(TREND_DAYS - 1, -1, -1)]


def alerts_between(alerts: Sequence[Alert], start: datetime, cutoff: datetime) -> list[Alert]:
    """Alerts live during a span: fired before the cutoff and not closed before the span began."""
    return [a for a in alerts if a.fired_at < cutoff and (a.closed_at is None or a.closed_at >= start)]


def subject_label(alert: Alert, policy_titles: Mapping[str, str], event_labels: Mapping[str, str]) -> str | None:
    """What the alert is about in words; None when its subject id means nothing to a reader (a hash)."""
    subject = alert.subject_id
    if subject is None:
        return None
    if alert.subject_kind == "policy":
        return f"《{policy_titles[subject]}》" if subject in policy_titles else subject
    if alert.subject_kind == "event":
        return f"“{event_labels[subject]}”" if subject in event_labels else None
    return subject if alert.subject_kind in ("place", "keyword", "department", "source") else None


def summarise_alert(alert: Alert, cutoff: datetime, subject: str | None,
                    effect: ResponseEffect | None) -> AlertSummary:
    """The alert as it stood at the cutoff: its clocks, the responses made by then and their effect."""
    # A clock started after the cutoff (an escalation the next day) did not exist yet.
    deadlines = [deadline_state(d, alert.fired_at, cutoff) for d in alert.deadlines
                 if d.started_at is None or d.started_at < cutoff]
    responses = [r for r in alert.responses if r.at < cutoff]
    if effect is not None and effect.responded_at >= cutoff:
        effect = None
    return AlertSummary(alert, subject, deadlines, responses, effect)


def summarise_alerts(alerts: Sequence[Alert], start: datetime, cutoff: datetime,
                     subject: Callable[[Alert], str | None], ledger: Ledger,
                     effects: Mapping[str, Mapping[str, Any]] | None = None) -> list[AlertSummary]:
    """The alerts live during the span, as they stood at its cutoff, overdue and open ones first; what the
    report states about each is noted in the ledger.

    `effects` maps an alert id to its response-effect figures (see `ResponseEffect`)."""
    effect_of = {alert_id: ResponseEffect.from_mapping(data) for alert_id, data in (effects or {}).items() if data}
    summaries = sorted((summarise_alert(a, cutoff, subject(a), effect_of.get(a.id))
                        for a in alerts_between(alerts, start, cutoff)), key=_alert_order)
    for summary in summaries:
        ledger.note_alert(summary.alert.id, cutoff, stated_state(summary))
    return summaries


def _minutes(span: timedelta | None) -> int | None:
    return None if span is None else int(span.total_seconds() // 60)


def stated_state(summary: AlertSummary) -> dict[str, Any]:
    """What a report states about an alert at its cutoff: each clock's state with how late or how much
    time was left (minutes), and how many responses had been made; what `verify` checks."""
    return {"clocks": [[d.deadline.name, d.state, _minutes(d.late_by), _minutes(d.remaining)]
                       for d in summary.deadlines],
            "responses": len(summary.responses)}


def alert_state_at(alert: Alert, cutoff: datetime) -> dict[str, Any]:
    """`stated_state` of an alert as read from the store now, at a past cutoff."""
    return stated_state(summarise_alert(alert, cutoff, None, None))


def _alert_order(summary: AlertSummary) -> tuple:
    return (not summary.overdue, not summary.is_open, -summary.alert.level.rank, -summary.alert.fired_at.timestamp())


def gather_briefing(
    index: Index,
    *,
    alerts: Sequence[Alert],
    policies: Sequence[Policy],
    health: Sequence[CrawlHealth],
    window: ReportWindow,
    effects: Mapping[str, Mapping[str, Any]] | None = None,
    source_titles: Mapping[str, str] | None = None,
    ledger: Ledger | None = None,
) -> DailyBriefing:
    """Read everything the briefing for `window` says.

    `effects` maps an alert id to its response-effect figures (see `ResponseEffect`). The figures
    are recorded in `ledger` (a fresh one over `index` when not given).
    """
    ledger = ledger or Ledger(index)
    start, cutoff = window.start, window.cutoff
    today = between(start, cutoff)
    overview = overview_of(ledger, "day", today, between(start - timedelta(days=1), cutoff - timedelta(days=1)))
    hour_starts = _hour_starts(cutoff)
    hourly = trend(ledger, "hourly", between(hour_starts[0], cutoff), "hour", hour_starts)
    day_starts = _day_starts(window)
    daily = trend(ledger, "daily", between(day_starts[0], cutoff), "day", day_starts)

    titles = {p.id: p.title for p in policies}
    events = top_events(ledger, window.start, cutoff, titles, TOP_EVENTS)
    attention = [_policy_attention(ledger, p, window, day_starts) for p in policies]
    mentioned = sorted((a for a in attention if sum(a.daily)), key=lambda a: (-a.mentions, -a.negative, -sum(a.daily)))
    tallied = ledger.tally("day.tally", today)

    event_labels = event_headlines(index, alerts_between(alerts, start, cutoff))
    summaries = summarise_alerts(alerts, start, cutoff, lambda a: subject_label(a, titles, event_labels), ledger,
                                 effects)

    titles_of_sources = dict(source_titles or {})
    return DailyBriefing(
        window=window, overview=overview, hourly=hourly, daily=daily, events=events,
        policies=mentioned[:TOP_POLICIES], quiet_policies=len(attention) - len(mentioned),
        unlisted_policies=max(0, len(mentioned) - TOP_POLICIES),
        places=places_of(tallied), alerts=summaries,
        sources=source_health(health, titles_of_sources, cutoff, overview.sources),
        unanswered_board=tallied["unanswered_board"], policy_titles=titles, source_titles=titles_of_sources,
    )


def overview_of(ledger: Ledger, key: str, span: SearchQuery, before: SearchQuery) -> Overview:
    """Volume, tone, platforms and sources of a span, against the span `before` it."""
    return Overview(
        total=ledger.count(f"{key}.total", span), previous=ledger.count(f"{key}.previous", before),
        sentiment=ledger.counts_by(f"{key}.sentiment", "sentiment", span),
        platforms=ledger.counts_by(f"{key}.platforms", "platform", span),
        negative_platforms=ledger.counts_by(f"{key}.negative_platforms", "platform", negative_only(span)),
        sources=ledger.counts_by(f"{key}.sources", "source", span),
    )


def places_of(tallied: Mapping[str, Any]) -> list[PlaceCount]:
    return [PlaceCount(place, n, negative) for place, n, negative in tallied["places"]]


def source_health(health: Sequence[CrawlHealth], titles: Mapping[str, str], cutoff: datetime,
                  posts: Mapping[str, int]) -> list[SourceHealth]:
    """Each source's last crawl, blind and stale ones first."""
    return sorted(
        (SourceHealth(h, titles.get(h.source, h.source), cutoff - h.finished_at > STALE_AFTER, posts.get(h.source, 0))
         for h in health),
        key=lambda s: (not s.health.blind, not s.stale, s.health.source),
    )


def event_headlines(index: Index, alerts: Sequence[Alert]) -> dict[str, str]:
    """The headlines of the events these alerts are about, by event id."""
    about = [a.subject_id for a in alerts if a.subject_kind == "event" and a.subject_id is not None]
    return {e.id: e.headline for e in index.events_by_id(about)}


def top_events(ledger: Ledger, start: datetime, cutoff: datetime, titles: Mapping[str, str], limit: int
               ) -> list[EventSummary]:
    """The events with the most posts between start and cutoff; ties go to the angrier one, then the lower id.
    They are ranked over every post of the span by one aggregate (`figures.top_events`), and only the ranked
    events are read."""
    ranked = [event_id for event_id, _, _ in ledger.top_events("events.top", between(start, cutoff), limit,
                                                               MIN_EVENT_POSTS)]
    return [summarise_event(ledger, event, start, cutoff, titles) for event in ledger.index.events_by_id(ranked)]


def summarise_event(ledger: Ledger, event: Event, start: datetime, cutoff: datetime, titles: Mapping[str, str]
                    ) -> EventSummary:
    """An event's posts between start and cutoff, and all of them up to the cutoff, with the posts to quote."""
    key = f"event.{event.id}"
    span = between(start, cutoff, events=[event.id])
    whole = between(event.first_seen, cutoff, events=[event.id])
    posts = [p for p in (ledger.get(pid) for pid in event.representative_posts[:POSTS_PER_EVENT]) if p]
    if not posts:
        posts = ledger.first(span, POSTS_PER_EVENT)
    return EventSummary(
        event=event, today=ledger.count(f"{key}.span", span),
        negative_today=ledger.count(f"{key}.negative_span", negative_only(span)),
        total=ledger.count(f"{key}.total", whole),
        platforms=ledger.counts_by(f"{key}.platforms", "platform", whole),
        sentiment=ledger.counts_by(f"{key}.sentiment", "sentiment", whole),
        policies=[titles.get(pid, pid) for pid in event.policies], posts=[PostRef.of(p) for p in posts],
    )


def _policy_attention(ledger: Ledger, policy: Policy, window: ReportWindow, day_starts: list[datetime]
                      ) -> PolicyAttention:
    today = between(window.start, window.cutoff, policies=[policy.id])
    key = f"policy.{policy.id}"
    return PolicyAttention(
        policy=policy, mentions=ledger.count(f"{key}.mentions", today),
        negative=ledger.count(f"{key}.negative", negative_only(today)),
        daily=ledger.histogram(f"{key}.daily", between(day_starts[0], window.cutoff, policies=[policy.id]), "day",
                               day_starts),
    )
