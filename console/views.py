"""What each console page and its API route show, gathered from the alert store, the index and the reports
folder. Plain data (dicts of plain values and datetimes): the pages render it, the API returns it as JSON."""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from pathlib import Path
from typing import Any

from alerts.config import AlertConfig
from alerts.durations import human_duration
from alerts.effect import measure_effect, subject_query
from alerts.engine import refer_to_policy
from alerts.service import SYSTEM
from alerts.store import AuditEntry
from reports.briefing import TrendPoint, deadline_state
from reports.labels import (
    local,
    platform_name,
    problem_name,
    sentiment_name,
    source_kind_name,
    status_name,
    subject_name,
)
from search.base import COUNT_ALL, Index, Interval, SearchQuery
from yuqing.config.datafiles import Source
from yuqing.schema import SHANGHAI, Alert, AlertStatus, EnrichedPost, Event, Policy, SentimentLabel, aware

EVIDENCE_SHOWN = 30
EVIDENCE_READ = 120  # ids looked up per page view (one request each on Elasticsearch)
# Subjects whose id is the name people use (a policy or an event id is not: the title names those).
READABLE_SUBJECTS = ("place", "keyword", "source", "department")
TIMELINE_HOURS = 48


class NotFound(LookupError):
    """No such event or report file; the message names what was asked for."""


class BadInput(ValueError):
    """A form or query value the console cannot read; the message says what is expected."""


def parse_local_time(value: str) -> datetime:
    """A time as typed in a form (`2026-12-06T09:30`), on Beijing time unless it names its zone."""
    try:
        return aware(datetime.fromisoformat(value))
    except ValueError as exc:
        raise BadInput(f"时间格式应为 2026-12-06T09:30 (got {value!r})") from exc


@dataclass(frozen=True)
class Names:
    """What ids are called: a policy by its registry entry, a source by its title in the sources file."""

    policies: dict[str, Policy] = field(default_factory=dict)
    sources: dict[str, str] = field(default_factory=dict)

    def policy(self, policy_id: str) -> str:
        found = self.policies.get(policy_id)
        return found.title if found else policy_id

    def source(self, name: str) -> str:
        return self.sources.get(name, name)


def web_link(value: str | None) -> str | None:
    """A link an officer records (where the response was published): http(s) only, since pages link to it."""
    value = (value or "").strip()
    if not value:
        return None
    if not re.match(r"^https?://[^\s/]+", value, re.IGNORECASE):
        raise BadInput(f"回应链接应以 http:// 或 https:// 开头 (got {value!r})")
    return value


# --- alerts ------------------------------------------------------------------------------------


def deadline_view(alert: Alert, now: datetime) -> list[dict[str, Any]]:
    """Each clock with its state at `now`: met, met_late, overdue or pending (a closed alert's clocks stop)."""
    clocks = []
    for deadline in alert.deadlines:
        state = deadline_state(deadline, alert.fired_at, now).state
        running = state in ("pending", "overdue") and alert.status != AlertStatus.CLOSED
        clocks.append({"name": deadline.name, "due_at": deadline.due_at, "met_at": deadline.met_at,
                       "state": state if running or deadline.met_at else "stopped", "running": running})
    return clocks


def alert_row(alert: Alert, now: datetime) -> dict[str, Any]:
    clocks = deadline_view(alert, now)
    running = [c for c in clocks if c["running"]]
    return {
        "id": alert.id, "title": alert.title, "level": alert.level.value, "level_rank": alert.level.rank,
        "status": alert.status.value, "status_label": status_name(alert.status.value),
        "rule": alert.rule, "subject_kind": alert.subject_kind, "subject_label": subject_name(alert.subject_kind),
        "subject_id": alert.subject_id,
        "subject_shown": alert.subject_kind in READABLE_SUBJECTS and bool(alert.subject_id),
        "fired_at": alert.fired_at, "updated_at": alert.updated_at,
        "posts": len(alert.post_ids), "updates": alert.updates, "assigned_to": alert.assigned_to,
        "acknowledged_by": alert.acknowledged_by, "deadlines": clocks,
        "overdue": any(c["state"] == "overdue" for c in running),
        "next_due": min((c["due_at"] for c in running), default=None),
    }


def sort_for_officers(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Overdue first, then the higher level, then the nearest deadline, then the newest."""
    far = datetime.max.replace(tzinfo=SHANGHAI)
    rows = sorted(rows, key=lambda r: r["fired_at"], reverse=True)
    return sorted(rows, key=lambda r: (not r["overdue"], -r["level_rank"], r["next_due"] or far))


def alert_rows(alerts: Iterable[Alert], now: datetime) -> list[dict[str, Any]]:
    return sort_for_officers([alert_row(alert, now) for alert in alerts])


def post_view(post: EnrichedPost, names: Names) -> dict[str, Any]:
    """A post as the console shows it: masked text only, never the raw text."""
    text = " ".join((post.masked_text or post.text).split())
    label = post.sentiment.label.value if post.sentiment else None
    return {
        "id": post.id, "title": post.title, "text": text, "url": post.url, "source": post.source,
        "source_title": names.source(post.source),
        "platform": post.platform.value, "platform_label": platform_name(post.platform.value),
        "when": post.when, "sentiment": label, "sentiment_label": sentiment_name(label or "unknown"),
        "event_id": post.event_id, "places": post.places, "policies": [p.id for p in post.policies],
        "author": post.author.name if post.author.verified else None,
    }


def bucket_starts(start: datetime, end: datetime, interval: Interval) -> list[datetime]:
    """The hours or days (Beijing time) from the one holding `start` to the one holding `end`."""
    first = local(start).replace(minute=0, second=0, microsecond=0)
    if interval == "day":
        first = first.replace(hour=0)
        return [first + timedelta(days=d) for d in range((local(end).date() - first.date()).days + 1)]
    return [first + timedelta(hours=h) for h in range(int((end - first).total_seconds() // 3600) + 1)]


def trend(index: Index, query: SearchQuery, start: datetime, end: datetime, interval: Interval = "hour"
          ) -> list[TrendPoint]:
    """Posts and negative posts per hour or day from `start` to `end`, empty buckets included."""
    window = query.model_copy(update={"since": start, "until": end, "limit": 0, "offset": 0})
    totals = dict(index.histogram(window, interval))
    negatives = dict(index.histogram(window.model_copy(update={"sentiments": [SentimentLabel.NEGATIVE]}), interval))
    return [TrendPoint(s, totals.get(s, 0), negatives.get(s, 0)) for s in bucket_starts(start, end, interval)]


def alert_detail(alert: Alert, index: Index, names: Names, now: datetime) -> dict[str, Any]:
    """Everything the alert page shows but the audit history: evidence posts (newest first), timeline, policy,
    findings, effect."""
    # Ids are appended as posts arrive, so the last ones are the latest news; they are then shown by time.
    read = alert.post_ids[-EVIDENCE_READ:]
    found = [post for pid in read if (post := index.get(pid))]
    evidence = sorted(found, key=lambda post: post.when, reverse=True)[:EVIDENCE_SHOWN]
    query = subject_query(alert)
    timeline: list[TrendPoint] = []
    if query is not None:
        start = max(alert.fired_at - timedelta(hours=24), now - timedelta(hours=TIMELINE_HOURS))
        timeline = trend(index, query, start, now)
    linked = alert.evidence.get("policy")
    policy = names.policies.get(linked["id"]) if linked else None
    effect = measure_effect(index, alert, now)
    # Findings name the alert's policy as 该政策, as the CLI does: the title above names it already.
    findings = [{"rule": name, "rule_title": c.get("rule_title"), "title": refer_to_policy(c.get("title", ""), linked),
                 "summary": refer_to_policy(c.get("summary") or "", linked),
                 "level": c.get("level"), "magnitude": c.get("magnitude"),
                 "at": datetime.fromisoformat(c["at"]) if c.get("at") else None}
                for name, c in alert.evidence.get("rules", {}).items()]
    departments = sorted({d for post in evidence for d in post.departments})
    return {
        **alert_row(alert, now),
        "summary": alert.summary,
        "evidence": [post_view(post, names) for post in evidence],
        "evidence_missing": len(read) - len(found),
        "timeline": [{"start": p.start, "posts": p.total, "negative": p.negative,
                      "negative_share": round(p.negative / p.total, 3) if p.total else None} for p in timeline],
        "policy": {"id": linked["id"], "title": linked["title"], "doc_number": linked.get("doc_number"),
                   "interpretation": linked.get("interpretation"),
                   "department": policy.department if policy else None,
                   "url": policy.url if policy else None} if linked else None,
        "departments": departments,
        "findings": findings,
        "responses": [r.model_dump() for r in alert.responses],
        "acknowledged_at": alert.acknowledged_at, "assigned_at": alert.assigned_at,
        "closed_by": alert.closed_by, "closed_at": alert.closed_at,
        "effect": effect.as_dict() if effect else None,
    }


# --- events ------------------------------------------------------------------------------------


def day_bounds(day: date) -> tuple[datetime, datetime]:
    start = datetime.combine(day, time(0), SHANGHAI)
    return start, start + timedelta(days=1)


def events_of_day(index: Index, day: date, names: Names, now: datetime, limit: int = 30) -> list[dict[str, Any]]:
    """The events with posts on `day` (Beijing time), busiest that day first (on a tie the bigger event, then the
    lower id), each with its hours up to `now`, posts, places and policies. Ranked by the events facet of all the
    day's posts, not among the most recently seen events: an event busy in the morning and quiet since is still the
    day's busiest."""
    start, end = day_bounds(day)
    facet = index.facets(SearchQuery(since=start, until=end), ("events",), size=COUNT_ALL).values["events"]
    today = {value.value: value.count for value in facet}
    # The events tied with the last one shown are read too: their sizes decide which of them are shown.
    last_shown = facet[limit - 1].count if len(facet) >= limit else 0
    running = index.events_by_id([event_id for event_id, posts in today.items() if posts >= last_shown])
    rows = sorted(((today[event.id], event) for event in running), key=lambda r: (-r[0], -r[1].size, r[1].id))
    return [event_view(index, event, names, start, min(end, now), posts) for posts, event in rows[:limit]]


def event_view(index: Index, event: Event, names: Names, start: datetime, end: datetime,
               today: int | None = None) -> dict[str, Any]:
    representative = [post_view(p, names) for pid in event.representative_posts[:5] if (p := index.get(pid))]
    return {
        "id": event.id, "title": event.headline, "label": event.label, "keywords": event.keywords,
        "first_seen": event.first_seen, "last_seen": event.last_seen, "size": event.size, "today": today,
        "platforms": [{"platform": k, "label": platform_name(k), "posts": v}
                      for k, v in sorted(event.platforms.items(), key=lambda kv: -kv[1])],
        "sentiment": {sentiment_name(k): v for k, v in event.sentiment_mix.items()},
        "places": event.places,
        "policies": [{"id": pid, "title": names.policy(pid)} for pid in event.policies],
        "representative": representative,
        "timeline": [{"start": p.start, "posts": p.total, "negative": p.negative}
                     for p in trend(index, SearchQuery(events=[event.id]), start, end)],
    }


def latest_event_day(index: Index) -> date | None:
    """The last day (Beijing time) an event was seen, to offer when the day asked for has none."""
    newest = index.events(limit=1)
    return local(newest[0].last_seen).date() if newest else None


EVENT_SPAN = timedelta(hours=72)


def event_span(event: Event) -> tuple[datetime, datetime]:
    """The hours an event page draws: its life, at most its last 72 hours."""
    end = max(event.last_seen, event.first_seen) + timedelta(hours=1)
    return max(event.first_seen, end - EVENT_SPAN), end


def find_event(index: Index, event_id: str) -> Event | None:
    """The event by id (a merged-away id is not shown)."""
    return next(iter(index.events_by_id([event_id])), None)


# --- reports -----------------------------------------------------------------------------------

REPORT_STEM = re.compile(r"^(?P<kind>yuqing-(?:daily|weekly|event))-(?P<rest>[\w\-.]+)$")
REPORT_KINDS = {"yuqing-daily": "舆情日报", "yuqing-weekly": "舆情周报", "yuqing-event": "舆情专报"}
FORMAT_ORDER = ("html", "pdf", "docx", "md")
FORMAT_NAMES = {"html": "网页", "pdf": "PDF", "docx": "Word", "md": "Markdown"}
DAY_IN_NAME = re.compile(r"\d{4}-\d{2}-\d{2}")


def _report_stem(name: str) -> tuple[re.Match[str], str] | None:
    """The name's (kind match, format) when it is a report file the console lists, else None."""
    stem, _, ext = name.rpartition(".")
    match = REPORT_STEM.match(stem)
    return (match, ext) if match and ext in FORMAT_ORDER else None


def _report_title(folder: Path, stem: str, kind: str, rest: str) -> str:
    """The title the report's manifest records (weekly and special reports name their week or incident),
    else the kind's name with what the file name says."""
    manifest = folder / f"{stem}.manifest.json"
    if manifest.is_file():
        try:
            title = json.loads(manifest.read_text(encoding="utf-8")).get("title")
        except (OSError, ValueError, AttributeError):
            title = None
        if isinstance(title, str) and title:
            return title
    return REPORT_KINDS[kind] if kind == "yuqing-daily" else f"{REPORT_KINDS[kind]} {rest}"


def report_files(folder: Path) -> list[dict[str, Any]]:
    """The briefings on disk by day, newest first: [{day, reports: [{kind, title, files: {format: name}}]}].
    A report is listed under the day its name gives, else the day it was written (Beijing time)."""
    if not folder.is_dir():
        return []
    reports: dict[str, dict[str, Any]] = {}
    for path in folder.iterdir():
        found = _report_stem(path.name)
        if found is None or not path.is_file():
            continue
        match, ext = found
        entry = reports.setdefault(match.group(0), {"kind": match["kind"], "stem": match.group(0), "files": {},
                                                    "written": 0.0})
        entry["files"][ext] = path.name
        entry["written"] = max(entry["written"], path.stat().st_mtime)
    by_day: dict[str, list[dict[str, Any]]] = {}
    for entry in reports.values():
        rest = entry["stem"].removeprefix(entry["kind"] + "-")
        in_name = DAY_IN_NAME.search(rest)
        day = in_name.group(0) if in_name else f"{datetime.fromtimestamp(entry['written'], SHANGHAI):%Y-%m-%d}"
        by_day.setdefault(day, []).append({
            "kind": entry["kind"], "title": _report_title(folder, entry["stem"], entry["kind"], rest),
            "files": {ext: entry["files"][ext] for ext in FORMAT_ORDER if ext in entry["files"]},
            "written": datetime.fromtimestamp(entry["written"], SHANGHAI)})
    order = list(REPORT_KINDS)
    return [{"day": day, "reports": sorted(by_day[day], key=lambda r: (order.index(r["kind"]), r["title"]))}
            for day in sorted(by_day, reverse=True)]


def report_path(folder: Path, name: str) -> Path | None:
    """The report file of this name in the folder, or None: only names the listing shows are served."""
    if Path(name).name != name or _report_stem(name) is None:
        return None
    path = folder / name
    return path if path.is_file() else None


# --- rules -------------------------------------------------------------------------------------


def rules_view(config: AlertConfig, rules_file: Path) -> dict[str, Any]:
    """The alert rules in force, their response clocks per level and the planned silences."""
    return {
        "file": str(rules_file),
        "rules": [{"name": r.name, "type": r.type, "enabled": r.enabled, "level": r.level.value,
                   "levels": {level.value: threshold for level, threshold in r.levels.items()},
                   "cooldown": human_duration(config.cooldown_of(r)), "clocks": r.deadlines,
                   "channels": config.channels_of(r), "escalate_to": config.escalation_of(r)}
                  for r in config.rules],
        "deadlines": [{"level": level.value, "clocks": [{"name": d.name, "within": human_duration(d.within),
                                                          "met_by": [k.value for k in d.met_by]} for d in clocks]}
                      for level, clocks in sorted(config.deadlines.items(), key=lambda kv: -kv[0].rank)],
        "silences": [{"rule": s.rule, "subject": s.subject, "start": s.start, "end": s.end, "reason": s.reason}
                     for s in config.silences],
    }


# --- sources -----------------------------------------------------------------------------------


def sources_health(sources: Sequence[Source], health: Sequence[Any], now: datetime) -> list[dict[str, Any]]:
    """Every source with its last crawl: blind ones first, then those with problems, the healthy ones, and
    those never crawled (by name within each; disabled ones last)."""
    runs = {run.source: run for run in health}
    configured = {s.name: s for s in sources}
    rows = []
    for name in sorted(set(configured) | set(runs)):
        source, run = configured.get(name), runs.get(name)
        problems = sorted(((problem_name(k), v) for k, v in (run.problems if run else {}).items()),
                          key=lambda kv: -kv[1])
        if run is None:
            state, label = "never", "尚未采集"
        elif run.blind:
            state, label = "blind", "失明"
        elif problems or run.silent_runs:
            state, label = "warning", "有问题"
        else:
            state, label = "ok", "正常"
        kind = source.kind if source else run.kind if run else ""
        rows.append({
            "name": name, "title": source.title if source and source.title else name,
            "kind": kind, "kind_label": source_kind_name(str(kind)), "enabled": source.enabled if source else None,
            "last_crawl": run.finished_at if run else None, "item_count": run.items if run else None,
            "new_items": run.new_items if run else None, "silent_runs": run.silent_runs if run else None,
            "problems": [{"reason": r, "count": c} for r, c in problems], "state": state, "state_label": label,
        })
    order = {"blind": 0, "warning": 1, "ok": 2, "never": 3}
    return sorted(rows, key=lambda r: (r["enabled"] is False, order[r["state"]]))


def audit_view(history: Sequence[AuditEntry]) -> list[dict[str, Any]]:
    """The audit log, newest first; a run of identical entries (a busy incident updates its alert on every
    new post) is one line with its count."""
    lines: list[dict[str, Any]] = []
    for entry in history:
        last_at = entry.last_at or entry.at  # the store keeps a run of quiet updates as one entry already
        if lines and entry.action in ("updated", "notified") and (
                lines[-1]["actor"], lines[-1]["action"], lines[-1]["from"], lines[-1]["to"]) == (
                entry.actor, entry.action, entry.from_status, entry.to_status):
            lines[-1]["times"] += entry.times
            lines[-1]["last_at"] = last_at
            continue
        lines.append({"at": entry.at, "last_at": last_at, "actor": entry.actor,
                      "actor_label": "系统" if entry.actor == SYSTEM else entry.actor, "action": entry.action,
                      "from": entry.from_status, "to": entry.to_status, "details": entry.details, "times": entry.times,
                      "from_label": status_name(entry.from_status) if entry.from_status else None,
                      "to_label": status_name(entry.to_status)})
    return lines[::-1]
