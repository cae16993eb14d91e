"""Every figure a report states, with the query that produced it, so anyone can recompute it.

Reports read the index only through a `Ledger`: each count, breakdown, curve or tally is computed by
one function of `OPERATIONS` from a `SearchQuery` and recorded with its key, its query and its value;
each post a report quotes is recorded with its id, link and a digest of its text, and what it states
about each alert with the moment it was cut at. The manifest written beside a report holds all of it,
and `verify` runs the same functions again and lists what no longer matches. Nothing is sampled:
counts and facets are aggregates over every match, and the tallies that need the posts themselves
stream over all of them.
"""

from __future__ import annotations

import hashlib
import json
from collections import Counter
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from search.base import COUNT_ALL, FacetName, Index, SearchQuery, body_text, reach
from yuqing.config import ConfigError
from yuqing.schema import BOARD_ANSWERED, SHANGHAI, EnrichedPost, Platform, SentimentLabel

MANIFEST_SUFFIX = ".manifest.json"
MANIFEST_VERSION = 1


def count(index: Index, query: SearchQuery) -> int:
    return index.count(query)


def counts_by(index: Index, query: SearchQuery, *, field: str) -> dict[str, int]:
    return index.counts_by(field, query)  # type: ignore[arg-type]


def histogram(index: Index, query: SearchQuery, *, interval: str, starts: Sequence[str]) -> list[int]:
    """Counts per hour or day for each bucket start (ISO, Beijing time), empty buckets as 0."""
    found = {start.astimezone(SHANGHAI).isoformat(): n
             for start, n in index.histogram(query, interval)}  # type: ignore[arg-type]
    return [found.get(start, 0) for start in starts]


def stream(index: Index, query: SearchQuery) -> Iterator[EnrichedPost]:
    """Every post matching the query, however many (the backend's keyset or search_after paging)."""
    return index.scan(query)


def tally(index: Index, query: SearchQuery) -> dict[str, Any]:
    """Posts per place, all and negative (the index's facet counts: a post counts once per place it
    names), and board messages still unanswered (a streaming pass over the board's posts)."""
    named = _facet(index, query, "places")
    negative = _facet(index, query.model_copy(update={"sentiments": [SentimentLabel.NEGATIVE]}), "places")
    board = query.model_copy(update={"platforms": [Platform.BOARD.value]})
    unanswered = sum(post.extra.get(BOARD_ANSWERED) is False for post in stream(index, board))
    ordered = sorted(named.items(), key=lambda item: (-item[1], item[0]))
    return {"places": [[p, n, negative.get(p, 0)] for p, n in ordered], "unanswered_board": unanswered}


def _facet(index: Index, query: SearchQuery, name: FacetName, size: int = COUNT_ALL) -> dict[str, int]:
    """The facet's values, most frequent first (ties by value)."""
    return {v.value: v.count for v in index.facets(query, (name,), size=size).values[name]}


# The events facet is first asked for this many values per event ranked, and for more while the values
# returned end in a tie that could hide an event that ranks.
EVENTS_ASKED_PER_RANKED = 4
# Events named in one `events` filter when counting the posts of many at once.
EVENTS_PER_FILTER = 500


def _counted_events(index: Index, query: SearchQuery, events: Sequence[str]) -> dict[str, int]:
    """Matches of the query under each of `events` (those with none left out), a bounded number of events a filter."""
    counted: dict[str, int] = {}
    for at in range(0, len(events), EVENTS_PER_FILTER):
        chosen = list(events[at:at + EVENTS_PER_FILTER])
        counted.update(_facet(index, query.model_copy(update={"events": chosen}), "events", len(chosen)))
    return counted


def top_events(index: Index, query: SearchQuery, *, limit: int, min_posts: int) -> list[list[Any]]:
    """The `limit` events with the most matches, as [event id, matches, negative matches]; ties go to the one
    with more negative matches, then to the lower id. An event with fewer than `min_posts` posts up to the
    query's end (the query without its `since`) is left out.

    Aggregates only: the events facet of the matches (each post counted under the event it counts under now),
    asked for more values while they end in a tie that could hide an event that ranks, then the negative
    matches of the events in the running and the earlier posts of those with few matches."""
    size = EVENTS_ASKED_PER_RANKED * limit
    while True:
        counted = _facet(index, query, "events", size)
        # Any event with `min_posts` matches is in; below that, even one match may be enough.
        last_ranked = list(counted.values())[limit - 1] if len(counted) >= limit else 1
        last_ranked = last_ranked if last_ranked >= min_posts else 1
        # Events not returned have at most as many matches as the last one returned.
        cut = len(counted) == size and size < COUNT_ALL
        if not (cut and min(counted.values()) >= last_ranked):
            break
        size = min(size * EVENTS_ASKED_PER_RANKED, COUNT_ALL)
    running = [event for event, n in counted.items() if n >= last_ranked]
    few = [event for event in running if counted[event] < min_posts]
    if few:
        total = _counted_events(index, query.model_copy(update={"since": None}), few)
        running = [event for event in running if counted[event] >= min_posts or total.get(event, 0) >= min_posts]
    negative = _counted_events(index, query.model_copy(update={"sentiments": [SentimentLabel.NEGATIVE]}), running)
    ranked = sorted(running, key=lambda event: (-counted[event], -negative.get(event, 0), event))
    return [[event, counted[event], negative.get(event, 0)] for event in ranked[:limit]]


# Words in a verified account's description that mark an official or a media account.
OFFICIAL_MARKS = ("政府", "政务", "官方", "公安", "发布", "委员会", "办公室", "人民法院", "检察院")
MEDIA_MARKS = ("媒体", "日报", "晚报", "新闻", "电视", "广播", "记者", "报社", "融媒")
VOICES = ("media", "official", "netizen")


def voice(post: EnrichedPost) -> str:
    """Who is speaking: officials (government sites, verified government accounts), media (news sites,
    verified media accounts) or netizens (everyone else)."""
    reason = f"{post.author.verified_reason or ''}{post.author.name or ''}" if post.author.verified else ""
    if post.platform == Platform.GOV or any(mark in reason for mark in OFFICIAL_MARKS):
        return "official"
    if post.platform == Platform.NEWS or any(mark in reason for mark in MEDIA_MARKS):
        return "media"
    return "netizen"


def event_tally(index: Index, query: SearchQuery, *, accounts: int) -> dict[str, Any]:
    """One streaming pass over an event's posts: its first post, reprints, the accounts that carried it
    furthest (named only when verified), what each voice said (posts, negative, the post that reached
    furthest and the furthest-reaching negative one) and board messages still unanswered."""
    first: tuple[float, str] | None = None
    reprints = reposts = unanswered = posts = 0
    carriers: dict[tuple[str, str], list[Any]] = {}
    spoke: Counter[str] = Counter()
    spoke_negative: Counter[str] = Counter()
    best: dict[tuple[str, bool], tuple[int, str]] = {}
    for post in stream(index, query):
        posts += 1
        moment = (post.when.timestamp(), post.id)
        first = moment if first is None or moment < first else first
        reprints += post.reply_to is not None
        reposts += post.metrics.reposts
        negative = bool(post.sentiment and post.sentiment.label == SentimentLabel.NEGATIVE)
        if post.platform == Platform.BOARD and post.extra.get(BOARD_ANSWERED) is False:
            unanswered += 1
        who = voice(post)
        spoke[who] += 1
        spoke_negative[who] += negative
        ranked = (reach(post), post.id)
        for key in ((who, False), (who, True)) if negative else ((who, False),):
            if key not in best or ranked > best[key]:
                best[key] = ranked
        author = post.author.id or post.author.name
        if author:
            entry = carriers.setdefault((post.platform.value, author), [
                post.author.name if post.author.verified else None, post.platform.value, 0, 0, post.author.followers or 0])
            entry[2] += 1
            entry[3] += reach(post)
            entry[4] = max(entry[4], post.author.followers or 0)
    voices = {who: {"posts": spoke[who], "negative": spoke_negative[who],
                    "top": best[(who, False)][1] if (who, False) in best else None,
                    "top_negative": best[(who, True)][1] if (who, True) in best else None} for who in VOICES}
    ranked_carriers = sorted(carriers.values(), key=lambda c: (-c[3], -c[4], -c[2], c[1], c[0] or ""))
    return {"posts": posts, "first": first[1] if first else None, "reprints": reprints, "reposts": reposts,
            "unanswered_board": unanswered, "accounts": ranked_carriers[:accounts], "voices": voices}


OPERATIONS: dict[str, Callable[..., Any]] = {
    "count": count,
    "counts_by": counts_by,
    "histogram": histogram,
    "tally": tally,
    "event_tally": event_tally,
    "top_events": top_events,
}


def post_digest(post: EnrichedPost) -> str:
    """What a quoted post said (masked text and title), so an edited or replaced post is noticed."""
    return hashlib.sha256(body_text(post).encode("utf-8")).hexdigest()[:16]


@dataclass
class Figure:
    key: str
    op: str
    query: dict[str, Any]
    args: dict[str, Any]
    value: Any

    def recompute(self, index: Index) -> Any:
        return OPERATIONS[self.op](index, SearchQuery.model_validate(self.query), **self.args)


def _query_form(query: SearchQuery) -> dict[str, Any]:
    return query.model_dump(mode="json", exclude_defaults=True, exclude={"limit", "offset"})


@dataclass
class Ledger:
    """The index as a report sees it: every figure read through here is kept for the manifest."""

    index: Index
    figures: dict[str, Figure] = field(default_factory=dict)
    quoted: dict[str, dict[str, str]] = field(default_factory=dict)
    alerts: dict[str, dict[str, Any]] = field(default_factory=dict)

    def _record(self, key: str, op: str, query: SearchQuery, **args: Any) -> Any:
        if key in self.figures:
            existing = self.figures[key]
            if existing.op == op and existing.query == _query_form(query) and existing.args == args:
                return existing.value
            raise ValueError(f"two different figures named {key!r}")
        value = OPERATIONS[op](self.index, query, **args)
        # Stored in its JSON form, so the value kept is the value verify compares with.
        self.figures[key] = Figure(key, op, _query_form(query), args, json.loads(json.dumps(value)))
        return value

    def count(self, key: str, query: SearchQuery) -> int:
        return self._record(key, "count", query)

    def counts_by(self, key: str, field: str, query: SearchQuery) -> dict[str, int]:
        return self._record(key, "counts_by", query, field=field)

    def histogram(self, key: str, query: SearchQuery, interval: str, starts: Sequence[datetime]) -> list[int]:
        return self._record(key, "histogram", query, interval=interval,
                            starts=[s.astimezone(SHANGHAI).isoformat() for s in starts])

    def tally(self, key: str, query: SearchQuery) -> dict[str, Any]:
        return self._record(key, "tally", query)

    def event_tally(self, key: str, query: SearchQuery, accounts: int) -> dict[str, Any]:
        return self._record(key, "event_tally", query, accounts=accounts)

    def top_events(self, key: str, query: SearchQuery, limit: int, min_posts: int) -> list[list[Any]]:
        return self._record(key, "top_events", query, limit=limit, min_posts=min_posts)

    def quote(self, post: EnrichedPost) -> EnrichedPost:
        self.quoted[post.id] = {"url": post.url, "digest": post_digest(post)}
        return post

    def get(self, post_id: str) -> EnrichedPost | None:
        """A stored post to quote (recorded), or None when the index no longer has it."""
        post = self.index.get(post_id)
        return self.quote(post) if post else None

    def first(self, query: SearchQuery, limit: int) -> list[EnrichedPost]:
        """The newest posts matching the query, to quote."""
        return [self.quote(p) for p in self.index.search(query.model_copy(update={"limit": limit})).hits]

    def note_alert(self, alert_id: str, cutoff: datetime, state: Mapping[str, Any]) -> None:
        """What the report states about an alert as it stood at the cutoff (its clocks, its responses)."""
        self.alerts[alert_id] = {"cutoff": cutoff.isoformat(), **json.loads(json.dumps(state))}

    def manifest(self, *, kind: str, title: str, window: Mapping[str, str], files: Sequence[Path],
                 generated_at: datetime, extra: Mapping[str, Any] | None = None) -> dict[str, Any]:
        return {
            "version": MANIFEST_VERSION, "kind": kind, "title": title, "window": dict(window),
            "generated_at": generated_at.isoformat(),
            "files": {p.name: file_digest(p) for p in files},
            "figures": [vars(f) for f in self.figures.values()],
            "posts": [{"id": pid, **info} for pid, info in self.quoted.items()],
            "alerts": [{"id": aid, **state} for aid, state in self.alerts.items()],
            **(extra or {}),
        }


def file_digest(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def manifest_path(report: Path) -> Path:
    """`yuqing-daily-2026-11-26.manifest.json` beside any of the report's files (or the manifest itself)."""
    if report.name.endswith(MANIFEST_SUFFIX):
        return report
    return report.with_name(report.name.split(".", 1)[0] + MANIFEST_SUFFIX)


def write_manifest(report_files: Sequence[Path], manifest: Mapping[str, Any]) -> Path:
    path = manifest_path(report_files[0])
    partial = path.with_name(path.name + ".part")
    partial.write_text(json.dumps(manifest, ensure_ascii=False, indent=1), encoding="utf-8")
    partial.replace(path)
    return path


@dataclass(frozen=True)
class Difference:
    what: str  # figure key, post id or file name
    recorded: Any
    found: Any
    reason: str

    def line(self) -> str:
        return f"{self.what}: {self.reason}（报告为 {_short(self.recorded)}，现为 {_short(self.found)}）"


def _short(value: Any, limit: int = 120) -> str:
    text = json.dumps(value, ensure_ascii=False) if not isinstance(value, str) else value
    return text if len(text) <= limit else text[:limit] + "…"


class ReportError(ConfigError):
    """A report cannot be written or checked for a reason the user can fix: one line, exit code 2."""

    def __init__(self, text: str) -> None:
        self.text = text
        super().__init__("report", "", text)

    @property
    def message(self) -> str:
        return self.text


class ManifestError(ReportError):
    """No manifest beside the file, or one that cannot be read."""


def load_manifest(report: Path) -> tuple[Path, dict[str, Any]]:
    path = manifest_path(report)
    if not path.exists():
        raise ManifestError(f"{report}: 旁边没有清单文件 {path.name} (no manifest beside the report)")
    try:
        manifest = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise ManifestError(f"{path}: 清单文件无法读取 (unreadable manifest): {exc}") from exc
    if not isinstance(manifest, dict) or manifest.get("version") != MANIFEST_VERSION:
        raise ManifestError(f"{path}: 不是本系统的报告清单 (not a report manifest of version {MANIFEST_VERSION})")
    return path, manifest


AlertState = Callable[[str, datetime], Mapping[str, Any] | None]


def verify(index: Index, manifest_file: Path, manifest: Mapping[str, Any], alert_state: AlertState | None = None
           ) -> tuple[int, list[Difference]]:
    """Recompute every figure, look up every quoted post, check every file against its digest and, given
    `alert_state` (an alert's state at a moment, from the alert store), every alert's clocks and responses.
    Returns how many things were checked and what differs."""
    differences: list[Difference] = []
    checked = 0
    for name, digest in manifest.get("files", {}).items():
        checked += 1
        path = manifest_file.with_name(name)
        if not path.exists():
            differences.append(Difference(name, digest[:12], None, "报告文件缺失"))
        elif (found := file_digest(path)) != digest:
            differences.append(Difference(name, digest[:12], found[:12], "报告文件在生成后被修改"))
    for data in manifest.get("figures", []):
        checked += 1
        try:
            figure = Figure(**data)
            found = json.loads(json.dumps(figure.recompute(index)))
        except (TypeError, KeyError, ValueError) as exc:
            raise ManifestError(f"{manifest_file}: 清单中的数字记录无法读取 (garbled figure {data!r:.120}): {exc}") from exc
        if found != figure.value:
            differences.append(Difference(figure.key, figure.value, found, "数字与索引不符"))
    for quoted in manifest.get("posts", []):
        checked += 1
        post = index.get(quoted["id"])
        if post is None:
            differences.append(Difference(quoted["id"], quoted["url"], None, "引用的信息已不在索引中"))
        elif post_digest(post) != quoted["digest"]:
            differences.append(Difference(quoted["id"], quoted["digest"], post_digest(post), "引用的信息内容已改变"))
    if alert_state is not None:
        for recorded in manifest.get("alerts", []):
            checked += 1
            stated = {k: v for k, v in recorded.items() if k not in ("id", "cutoff")}
            state = alert_state(recorded["id"], datetime.fromisoformat(recorded["cutoff"]))
            if state is None:
                differences.append(Difference(recorded["id"], stated, None, "预警已不在预警库中"))
            elif (as_stored := json.loads(json.dumps(state))) != stated:
                differences.append(Difference(recorded["id"], stated, as_stored, "预警的处置时限或回应与预警库不符"))
    return checked, differences
