"""What analysts see: a search in the query language of `search.query` with facets, snippets, sort and
paging, and the trends of any query. Links narrow: a facet value, a bar or a word adds itself to the query."""

from __future__ import annotations

from datetime import datetime, timedelta
from html import escape
from typing import Any, Literal
from urllib.parse import urlencode

from pydantic import BaseModel, Field

from console.views import BadInput, Names, bucket_starts, local, post_view
from reports.labels import platform_name, sentiment_name
from search.base import FacetName, Facets, FacetValue, Index, SearchQuery, SnippetPart, Sort
from search.query import QueryError
from yuqing.schema import SHANGHAI, SentimentLabel

PAGE_SIZE = 20
MAX_PAGE = 10_000 // PAGE_SIZE  # Elasticsearch pages by offset up to 10,000 hits
SORTS: dict[str, str] = {"newest": "最新发布", "relevance": "最相关", "reach": "传播最广"}
# Facets of the search page: (facet of the index, query parameter that narrows to a value, heading).
SEARCH_FACETS: tuple[tuple[FacetName, str, str], ...] = (
    ("platforms", "platform", "平台"), ("sentiments", "sentiment", "情感倾向"), ("sources", "source", "来源"),
    ("places", "place", "地域"), ("policies", "policy", "政策"), ("events", "event", "事件"),
    ("departments", "department", "部门"),
)
NARROWING = ("platform", "source", "sentiment", "place", "policy", "event", "department")


class Filters(BaseModel):
    """The query string of the search and trends pages (and of /api/search, /api/trends)."""

    q: str = Field(default="", max_length=500, description="the query language: words, OR, \"phrases\", -words, "
                                                           "field:value filters, since:/until:")
    platform: list[str] = Field(default_factory=list)
    source: list[str] = Field(default_factory=list)
    sentiment: list[SentimentLabel] = Field(default_factory=list)
    place: list[str] = Field(default_factory=list)
    policy: list[str] = Field(default_factory=list)
    event: list[str] = Field(default_factory=list)
    department: list[str] = Field(default_factory=list)
    since: str = Field(default="", description="a day (2026-12-06) or an ISO time; from its start")
    until: str = Field(default="", description="a day (included) or an ISO time (excluded)")
    sort: Sort = "newest"
    page: int = Field(default=1, ge=1, le=MAX_PAGE)
    by: Literal["hour", "day"] = "day"

    def params(self, **changes: Any) -> dict[str, Any]:
        """These filters as query parameters, with some changed; the page goes back to 1 unless given."""
        values = {**self.model_dump(mode="json", exclude_defaults=True), "page": 1, **changes}
        return {k: v for k, v in values.items() if v not in (None, "", []) and (k, v) not in (("page", 1),
                                                                                                ("sort", "newest"))}

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

    def bounds(self) -> tuple[datetime | None, datetime | None]:
        return _bound(self.since, end=False), _bound(self.until, end=True)

    def query(self, limit: int = PAGE_SIZE, offset: int = 0, **changes: Any) -> SearchQuery:
        since, until = self.bounds()
        query = SearchQuery(text=self.q.strip() or None, platforms=self.platform, sources=self.source,
                            sentiments=self.sentiment, places=self.place, policies=self.policy, events=self.event,
                            departments=self.department, since=since, until=until, sort=self.sort, limit=limit,
                            offset=offset)
        query = query.model_copy(update=changes) if changes else query
        try:
            query.parsed()
        except QueryError as exc:
            raise BadInput(str(exc)) from exc
        return query


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


def snippet_html(parts: list[SnippetPart]) -> str:
    """The index's snippet as HTML: its text escaped, the words the query asked for in <mark>."""
    return "".join(f"<mark>{escape(p.text)}</mark>" if p.match else escape(p.text) for p in parts)


def _labeller(facet: str, names: Names, events: dict[str, str]) -> Any:
    return {"platforms": platform_name, "sentiments": sentiment_name, "sources": names.source,
            "policies": names.policy, "events": lambda e: events.get(e, e)}.get(facet, str)


def _event_titles(index: Index, facets: Facets) -> dict[str, str]:
    """The headlines of the events the facets list."""
    return {e.id: e.headline for e in index.events_by_id([v.value for v in facets.values.get("events", [])])}


def search(index: Index, filters: Filters, names: Names) -> dict[str, Any]:
    query = filters.query(offset=(filters.page - 1) * PAGE_SIZE)
    result = index.search(query)
    hits = [{**post_view(hit.post, names), "snippet": snippet_html(hit.snippet)} for hit in result.results]
    found = index.facets(query.model_copy(update={"limit": 0, "offset": 0}), [f for f, _, _ in SEARCH_FACETS])
    events = _event_titles(index, found)
    facets = {}
    for facet, param, title in SEARCH_FACETS:
        label = _labeller(facet, names, events)
        chosen = filters.chosen(param)
        values = [{"value": v.value, "label": label(v.value), "count": v.count, "on": v.value in chosen,
                   "link": filters.link("/search", **(filters.removing(param, v.value) if v.value in chosen
                                                      else filters.adding(param, v.value)))}
                  for v in found.values.get(facet, [])]
        facets[param] = {"title": title, "values": values}
    pages = min(MAX_PAGE, max(1, -(-result.total // PAGE_SIZE)))
    return {
        "total": result.total, "page": filters.page, "pages": pages, "hits": hits, "facets": facets,
        "sort": filters.sort, "sorts": {key: {"label": label, "link": filters.link("/search", sort=key)}
                                        for key, label in SORTS.items()},
        "previous": filters.link("/search", page=filters.page - 1) if filters.page > 1 else None,
        "next": filters.link("/search", page=filters.page + 1) if filters.page < pages else None,
    }


def trends(index: Index, filters: Filters, names: Names, now: datetime) -> dict[str, Any]:
    """Volume and sentiment per hour or day, and what the matches are about: top and emerging keywords,
    events, places, policies, departments, platforms and sources. Every bar and word narrows the search."""
    since, until = filters.bounds()
    end = min(until, now) if until else now
    start = since or end - (timedelta(days=14) if filters.by == "day" else timedelta(hours=48))
    window = filters.query(limit=0, since=start, until=end)
    about: Facets = index.facets(window, ["keywords", "emerging", "events", "places", "policies", "departments",
                                          "platforms", "sources", "sentiments"], by=filters.by, size=12)
    angry = index.facets(window.model_copy(update={"sentiments": [SentimentLabel.NEGATIVE]}),
                         ["platforms", "sources"], by=filters.by, size=50)
    counted = {b.start: b for b in about.buckets}
    step = timedelta(days=1) if filters.by == "day" else timedelta(hours=1)
    buckets = []
    for moment in bucket_starts(start, end, filters.by):
        bucket = counted.get(moment)
        buckets.append({"start": moment, "posts": bucket.count if bucket else 0,
                        "negative": bucket.sentiment.get("negative", 0) if bucket else 0,
                        "link": filters.link("/search", since=moment.isoformat(), until=(moment + step).isoformat())})
    events = _event_titles(index, about)

    def ranked(facet: str, param: str | None, negatives: list[FacetValue] | None = None) -> list[dict[str, Any]]:
        label = _labeller(facet, names, events)
        negative = {v.value: v.count for v in negatives or []}
        return [{"value": v.value, "label": label(v.value), "count": v.count, "negative": negative.get(v.value, 0),
                 "link": (f"/events/{v.value}" if facet == "events" else
                          filters.link("/search", **filters.adding(param, v.value)) if param else
                          filters.link("/search", q=f"{filters.q} {v.value}".strip()))}
                for v in about.values.get(facet, [])]

    return {
        "since": local(start), "until": local(end), "by": filters.by, "buckets": buckets,
        "total": about.total, "negative": sum(b["negative"] for b in buckets),
        "sentiment": {v.value: v.count for v in about.values.get("sentiments", [])},
        "platforms": ranked("platforms", "platform", angry.values.get("platforms")),
        "sources": ranked("sources", "source", angry.values.get("sources")),
        "keywords": ranked("keywords", None), "events": ranked("events", "event"),
        "places": ranked("places", "place"), "policies": ranked("policies", "policy"),
        "departments": ranked("departments", "department"),
        "emerging": [{"value": e.value, "count": e.count, "ratio": round(e.ratio, 1),
                      "link": filters.link("/search", q=f"{filters.q} {e.value}".strip())} for e in about.emerging],
    }
