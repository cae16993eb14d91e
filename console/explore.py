"""What analysts see: a search with facets, highlighted snippets and paging, and the trends of any query.
Links narrow: a facet value, a bar or a word adds itself to the query."""

from __future__ import annotations

import re
from collections import Counter
from datetime import datetime, timedelta
from html import escape
from typing import Any, Literal
from urllib.parse import urlencode

from pydantic import BaseModel, Field

from console.views import BadInput, Names, event_title, local, post_view, trend
from reports.labels import platform_name, sentiment_name
from search.base import Index, SearchQuery
from yuqing.schema import SHANGHAI, SentimentLabel

PAGE_SIZE = 20
SNIPPET_CHARS = 160
TREND_SAMPLE = 1000  # newest matches read to rank keywords, events, places and policies
FACETS: dict[str, tuple[Literal["platform", "source", "sentiment"], str]] = {
    "platform": ("platform", "平台"), "source": ("source", "来源"), "sentiment": ("sentiment", "情感倾向"),
}


class Filters(BaseModel):
    """The query string of the search and trends pages (and of /api/search, /api/trends)."""

    q: str = Field(default="", max_length=500, description="words to find (every word must match)")
    platform: list[str] = Field(default_factory=list)
    source: list[str] = Field(default_factory=list)
    sentiment: list[SentimentLabel] = Field(default_factory=list)
    place: list[str] = Field(default_factory=list)
    policy: list[str] = Field(default_factory=list)
    event: list[str] = Field(default_factory=list)
    since: str = Field(default="", description="a day (2026-12-06) or an ISO time; from its start")
    until: str = Field(default="", description="a day (included) or an ISO time (excluded)")
    page: int = Field(default=1, ge=1, le=500)
    by: Literal["hour", "day"] = "day"

    def params(self, **changes: Any) -> dict[str, Any]:
        """These filters as query parameters, with some changed; the page goes back to 1 unless given."""
        values = {**self.model_dump(mode="json", exclude_defaults=True), "page": 1, **changes}
        return {k: v for k, v in values.items() if v not in (None, "", []) and (k, v) != ("page", 1)}

    def link(self, path: str, **changes: Any) -> str:
        params = self.params(**changes)
        return f"{path}?{urlencode(params, doseq=True)}" if params else path

    def chosen(self, name: str) -> list[str]:
        return [str(v) for v in getattr(self, name)]

    def adding(self, name: str, value: str) -> dict[str, Any]:
        current = self.chosen(name)
        return {name: current if value in current else [*current, value]}

    def removing(self, name: str, value: str) -> dict[str, Any]:
        return {name: [v for v in self.chosen(name) if v != value]}

    def toggling(self, name: str, value: str) -> dict[str, Any]:
        return self.removing(name, value) if value in self.chosen(name) else self.adding(name, value)

    def bounds(self) -> tuple[datetime | None, datetime | None]:
        return _bound(self.since, end=False), _bound(self.until, end=True)

    def query(self, limit: int = PAGE_SIZE, offset: int = 0) -> SearchQuery:
        since, until = self.bounds()
        return SearchQuery(text=self.q.strip() or None, platforms=self.platform, sources=self.source,
                           sentiments=self.sentiment, places=self.place, policies=self.policy, events=self.event,
                           since=since, until=until, limit=limit, offset=offset)


def _bound(value: str, end: bool) -> datetime | None:
    """A day means its start (since) or the start of the next day (until); a time is taken as it is."""
    if not value:
        return None
    try:
        moment = datetime.fromisoformat(value)
    except ValueError as exc:
        raise BadInput(f"日期格式应为 2026-12-06 或 2026-12-06T09:00 (got {value!r})") from exc
    moment = moment if moment.tzinfo else moment.replace(tzinfo=SHANGHAI)
    return moment + timedelta(days=1) if end and len(value) == 10 else moment


def highlight(text: str, words: list[str], width: int = SNIPPET_CHARS) -> str:
    """HTML: a piece of `text` around the first word found, every word in <mark>; the text is escaped."""
    lowered = text.lower()
    first = min((i for w in words if (i := lowered.find(w.lower())) >= 0), default=0)
    start = max(0, first - width // 4)
    piece = text[start:start + width]
    out = ["…" if start else ""]
    last = 0
    if words:
        pattern = re.compile("|".join(re.escape(w) for w in sorted(words, key=len, reverse=True)), re.IGNORECASE)
        for match in pattern.finditer(piece):
            out += [escape(piece[last:match.start()]), f"<mark>{escape(match.group())}</mark>"]
            last = match.end()
    out += [escape(piece[last:]), "…" if start + width < len(text) else ""]
    return "".join(out)


def facet_counts(index: Index, filters: Filters, names: Names) -> dict[str, dict[str, Any]]:
    """Counts per platform, source and sentiment among the matches (each facet counted without its own
    selection, so the other values stay visible to switch to)."""
    facets = {}
    for name, (field, title) in FACETS.items():
        counts = index.counts_by(field, filters.model_copy(update={name: []}).query(limit=0))
        label = {"platform": platform_name, "sentiment": sentiment_name, "source": names.source}[name]
        facets[name] = {"title": title, "values": [
            {"value": value, "label": label(value), "count": count, "on": value in filters.chosen(name),
             "link": filters.link("/search", **filters.toggling(name, value))}
            for value, count in counts.items()]}
    return facets


def search(index: Index, filters: Filters, names: Names) -> dict[str, Any]:
    result = index.search(filters.query(offset=(filters.page - 1) * PAGE_SIZE))
    words = [w for w in filters.q.split() if not w.startswith("-")]
    shown = [post_view(post, names) for post in result.hits]
    hits = [{**view, "snippet": highlight(view["text"], words)} for view in shown]
    pages = max(1, -(-result.total // PAGE_SIZE))
    return {
        "total": result.total, "page": filters.page, "pages": pages, "hits": hits,
        "facets": facet_counts(index, filters, names),
        "previous": filters.link("/search", page=filters.page - 1) if filters.page > 1 else None,
        "next": filters.link("/search", page=filters.page + 1) if filters.page < pages else None,
        "chosen": [{"name": name, "value": value, "link": filters.link("/search", **filters.removing(name, value))}
                   for name in ("place", "policy", "event") for value in filters.chosen(name)],
    }


def trends(index: Index, filters: Filters, names: Names, now: datetime) -> dict[str, Any]:
    """Volume and sentiment per hour or day, and what the matches are about: top keywords, events, places,
    sources and policies. Every bar and word links to the search narrowed to it."""
    since, until = filters.bounds()
    end = min(until, now) if until else now
    start = since or end - (timedelta(days=14) if filters.by == "day" else timedelta(hours=48))
    query = filters.query(limit=0)
    points = trend(index, query, start, end, filters.by)
    step = timedelta(days=1) if filters.by == "day" else timedelta(hours=1)
    buckets = [{"start": p.start, "posts": p.total, "negative": p.negative,
                "link": filters.link("/search", since=p.start.isoformat(), until=(p.start + step).isoformat())}
               for p in points]
    window = query.model_copy(update={"since": start, "until": end})
    negative = window.model_copy(update={"sentiments": [SentimentLabel.NEGATIVE]})
    breakdown: dict[str, list[dict[str, Any]]] = {}
    for name in ("platform", "source"):
        field = FACETS[name][0]
        totals, negatives = index.counts_by(field, window), index.counts_by(field, negative)
        label = platform_name if name == "platform" else names.source
        breakdown[name] = [{"value": v, "label": label(v), "posts": n, "negative": negatives.get(v, 0),
                            "link": filters.link("/search", **filters.adding(name, v))}
                           for v, n in list(totals.items())[:10]]
    sample = index.search(window.model_copy(update={"limit": TREND_SAMPLE})).hits
    keywords, events, places, policy_ids = Counter[str](), Counter[str](), Counter[str](), Counter[str]()
    for post in sample:
        keywords.update(post.keywords)
        places.update(post.places)
        policy_ids.update(p.id for p in post.policies)
        if post.event_id:
            events[post.event_id] += 1
    titles = {e.id: event_title(e) for e in index.events(since=start, limit=1000)}
    return {
        "since": local(start), "until": local(end), "by": filters.by, "buckets": buckets,
        "total": sum(p.total for p in points), "negative": sum(p.negative for p in points),
        "sentiment": {k: v for k, v in index.counts_by("sentiment", window).items()},
        "platforms": breakdown["platform"], "sources": breakdown["source"], "sampled": len(sample),
        "keywords": [{"value": w, "count": n, "link": filters.link("/search", q=f"{filters.q} {w}".strip())}
                     for w, n in keywords.most_common(30)],
        "events": [{"value": e, "label": titles.get(e, e), "count": n, "link": f"/events/{e}"}
                   for e, n in events.most_common(10)],
        "places": [{"value": p, "count": n, "link": filters.link("/search", **filters.adding("place", p))}
                   for p, n in places.most_common(12)],
        "policies": [{"value": p, "label": names.policy(p), "count": n,
                      "link": filters.link("/search", **filters.adding("policy", p))}
                     for p, n in policy_ids.most_common(10)],
    }
