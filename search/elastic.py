"""Scale-out index: Elasticsearch 8 behind the same `Index` interface as the embedded one.

Chinese full text: a stock cluster has no Chinese word segmenter (smartcn and ik are plugins that
hosted clusters may not allow, and they would split words differently from the rest of Yuqing).
So each post carries `search_text`: its title and text segmented by jieba with our user dictionary,
exactly as the embedded index stores them, under a whitespace analyzer; queries are segmented the
same way and every word must match. Both backends therefore find the same posts.

Three indices, named from `settings.elasticsearch.index`: posts (`<index>`), events
(`<index>-events`) and crawl health (`<index>-crawl-health`, one document per source). Their
mappings are index templates in `search/templates/`, installed by `yuqing index setup`.
"""

from __future__ import annotations

import itertools
import json
import logging
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, Literal

import elastic_transport
from elasticsearch import ApiError, Elasticsearch, NotFoundError, helpers

from analysis.segment import plain_words, search_terms
from search.base import (
    BulkWriteError,
    DocumentFailure,
    Index,
    Interval,
    SearchBackendError,
    SearchQuery,
    SearchRefused,
    SearchResult,
    refused_for_good,
)
from yuqing.config.settings import ElasticsearchSettings
from yuqing.schema import REPRINT_OF, SHANGHAI, CrawlHealth, EnrichedPost, Event, ReprintLink

TEMPLATES_DIR = Path(__file__).resolve().parent / "templates"


class _RetryWithoutTraceback(logging.Filter):
    """The client logs each retry with a full traceback; the SearchBackendError we raise already
    says what failed, so the traceback is kept for debug logging only."""

    def filter(self, record: logging.LogRecord) -> bool:
        if not logging.getLogger().isEnabledFor(logging.DEBUG):
            record.exc_info = None
            record.exc_text = None
        return True


logging.getLogger("elastic_transport.transport").addFilter(_RetryWithoutTraceback())

# Fields the index adds to a post's JSON; they are dropped again when a post is read back.
DERIVED_FIELDS = ("when", "search_text")

# Elasticsearch's default `index.max_result_window`: deeper pages need `search_after`.
MAX_WINDOW = 10_000

_COUNT_FIELDS = {"platform": "platform", "source": "source", "sentiment": "sentiment.label"}


@dataclass(frozen=True)
class SetupStep:
    """What `ElasticIndex.setup` did for one index."""

    index: str
    template: str
    created: bool


def load_template(kind: Literal["posts", "events", "crawl_health"]) -> dict[str, Any]:
    """An index template body from `search/templates/`, without its index patterns."""
    return json.loads((TEMPLATES_DIR / f"{kind}.json").read_text(encoding="utf-8"))


def post_document(post: EnrichedPost) -> dict[str, Any]:
    """The indexed form of a post: its JSON plus the time it counts at and its segmented text."""
    doc = post.model_dump(mode="json")
    doc["when"] = post.when.isoformat()
    doc["search_text"] = " ".join(search_terms(f"{post.title or ''}\n{post.masked_text or post.text}"))
    return doc


def post_from_document(source: dict[str, Any]) -> EnrichedPost:
    return EnrichedPost.model_validate({k: v for k, v in source.items() if k not in DERIVED_FIELDS})


def query_dsl(query: SearchQuery) -> dict[str, Any]:
    """The bool query for a `SearchQuery`: the words in `must`, every other condition a filter."""
    must: list[dict[str, Any]] = []
    filters: list[dict[str, Any]] = []
    # The same words as the embedded index; punctuation-only tokens are dropped, so user input
    # is never query syntax (a match query does not parse operators anyway).
    terms = [w for w in plain_words(query.text or "") if any(ch.isalnum() for ch in w)]
    if terms:
        must.append({"match": {"search_text": {"query": " ".join(terms), "operator": "and"}}})
    if query.since or query.until:
        bounds: dict[str, str] = {}
        if query.since:
            bounds["gte"] = query.since.isoformat()
        if query.until:
            bounds["lt"] = query.until.isoformat()
        filters.append({"range": {"when": bounds}})
    for field, values in (("platform", query.platforms), ("source", query.sources),
                          ("sentiment.label", [s.value for s in query.sentiments]),
                          ("places", query.places), ("policies.id", query.policies),
                          ("event_id", query.events)):
        if values:
            filters.append({"terms": {field: list(values)}})
    if not must and not filters:
        return {"match_all": {}}
    return {"bool": {"must": must, "filter": filters}}


def _reason(error: Any) -> str:
    """`type: reason` from an Elasticsearch error object (or whatever it sent instead)."""
    if isinstance(error, dict):
        cause = error.get("caused_by")
        text = f"{error.get('type', 'error')}: {error.get('reason', '')}".rstrip(": ")
        return f"{text} (caused by {_reason(cause)})" if isinstance(cause, dict) else text
    return str(error)


class ElasticIndex(Index):
    """The `Index` on an Elasticsearch 8 cluster. Connects lazily: constructing it sends nothing."""

    page_size = MAX_WINDOW  # documents per request when reading events or crawl health

    def __init__(self, settings: ElasticsearchSettings, *, request_timeout: float = 30.0, max_retries: int = 2, bulk_retries: int = 5,
                 initial_backoff: float = 2.0, max_backoff: float = 60.0, chunk_size: int = 500,
                 refresh: Literal["false", "true", "wait_for"] = "false") -> None:
        """`refresh="wait_for"` makes each write visible to the next search (tests, small
        deployments); the default lets Elasticsearch refresh on its own schedule (about 1 s)."""
        self.settings = settings
        self.refresh = refresh
        self.posts_index = settings.index
        self.events_index = f"{settings.index}-events"
        self.health_index = f"{settings.index}-crawl-health"
        self.bulk_retries = bulk_retries
        self.initial_backoff = initial_backoff
        self.max_backoff = max_backoff
        self.chunk_size = chunk_size
        self._checked_indices: set[str] = set()
        auth: dict[str, Any] = {}
        if settings.api_key is not None:
            auth["api_key"] = settings.api_key.get_secret_value()
        elif settings.username:
            password = settings.password.get_secret_value() if settings.password else ""
            auth["basic_auth"] = (settings.username, password)
        # 429 is left to the bulk helper, which backs off and resends only the rejected documents.
        self.client = Elasticsearch(settings.url, verify_certs=settings.verify_certs, request_timeout=request_timeout,
                                    max_retries=max_retries, retry_on_status=(502, 503, 504),
                                    retry_on_timeout=True, **auth)

    # -- errors ---------------------------------------------------------------------------------

    @contextmanager
    def _calls(self, doing: str) -> Iterator[None]:
        """Turn the client's exceptions into one clear SearchBackendError."""
        try:
            yield
        except ApiError as exc:
            body = exc.body if isinstance(exc.body, dict) else {}
            error = body.get("error", exc.message)
            if exc.status_code == 404 and isinstance(error, dict) and error.get("type") == "index_not_found_exception":
                missing = error.get("index", "?")
                raise SearchBackendError(
                    f"{doing}: index {missing} does not exist in Elasticsearch at {self.settings.url}; "
                    "run `yuqing index setup` first") from exc
            hint = ""
            if exc.status_code in (401, 403):
                hint = " (check YUQING_ELASTICSEARCH__API_KEY or YUQING_ELASTICSEARCH__USERNAME/PASSWORD)"
            message = f"{doing}: Elasticsearch at {self.settings.url} answered {exc.status_code} {_reason(error)}{hint}"
            if refused_for_good(exc.status_code):
                raise SearchRefused(message, exc.status_code, _reason(error)) from exc
            raise SearchBackendError(message) from exc
        except elastic_transport.TransportError as exc:
            raise SearchBackendError(
                f"{doing}: Elasticsearch at {self.settings.url} is unreachable ({type(exc).__name__}: "
                f"{exc.message})") from exc

    # -- setup ----------------------------------------------------------------------------------

    def _indices(self) -> list[tuple[str, Literal["posts", "events", "crawl_health"]]]:
        return [(self.posts_index, "posts"), (self.events_index, "events"), (self.health_index, "crawl_health")]

    def setup(self) -> list[SetupStep]:
        """Install (or update) the three index templates and create the indices that are missing.
        Running it again changes nothing: existing indices are left as they are."""
        steps = []
        with self._calls("setting up the indices"):
            for name, kind in self._indices():
                template = load_template(kind)
                self.client.indices.put_index_template(
                    name=name, index_patterns=[name], priority=template["priority"],
                    template=template["template"], meta=template["_meta"])
                created = False
                if not self.client.indices.exists(index=name):
                    try:
                        self.client.indices.create(index=name)
                        created = True
                    except ApiError as exc:
                        # Another process created it between our check and our request.
                        if "resource_already_exists_exception" not in str(exc.body):
                            raise
                steps.append(SetupStep(index=name, template=name, created=created))
                self._checked_indices.add(name)
        return steps

    def _require(self, name: str) -> None:
        """Refuse to write into an index that setup did not create: Elasticsearch would create it
        itself with guessed mappings (no Chinese analyzer, text where we need keywords)."""
        if name in self._checked_indices:
            return
        with self._calls(f"checking index {name}"):
            exists = bool(self.client.indices.exists(index=name))
        if not exists:
            raise SearchBackendError(
                f"index {name} does not exist in Elasticsearch at {self.settings.url}; "
                "run `yuqing index setup` first (items wait until it exists)")
        self._checked_indices.add(name)

    # -- writes ---------------------------------------------------------------------------------

    def _bulk(self, index: str, actions: Iterable[dict[str, Any]], *,
              skip_conflicts: bool = False) -> int:
        """Stream index actions; 429 rejections are resent with backoff. Returns the count written,
        raises BulkWriteError naming every document that was not."""
        pending = iter(actions)
        first = next(pending, None)
        if first is None:
            return 0
        self._require(index)
        written = 0
        failures: list[DocumentFailure] = []
        with self._calls(f"writing to {index}"):
            results = helpers.streaming_bulk(
                self.client, itertools.chain([first], pending), index=index, chunk_size=self.chunk_size, max_retries=self.bulk_retries,
                initial_backoff=self.initial_backoff, max_backoff=self.max_backoff,
                raise_on_error=False, raise_on_exception=True, refresh=self.refresh)
            for ok, item in results:
                result = next(iter(item.values()))
                if ok:
                    written += 1
                elif skip_conflicts and result.get("status") == 409:
                    continue  # an older crawl run arrived after a newer one: keep the newer
                else:
                    failures.append(DocumentFailure(id=str(result.get("_id")), status=int(result.get("status", 0)),
                                                    reason=_reason(result.get("error"))))
        if failures:
            raise BulkWriteError(index, written, failures)
        return written

    def upsert(self, posts: Iterable[EnrichedPost]) -> int:
        return self._bulk(self.posts_index, ({"_id": p.id, "_source": post_document(p)} for p in posts))

    def relink(self, links: Iterable[ReprintLink]) -> int:
        try:
            return self._bulk(self.posts_index, (
                {"_op_type": "update", "_id": link.post_id,
                 "doc": {"reprint_of": link.reprint_of, "extra": {REPRINT_OF: link.reprint_of}}}
                for link in links))
        except BulkWriteError as exc:  # a copy that is not indexed (yet) has nothing to update
            missing = [f for f in exc.failures if f.status == 404]
            if len(missing) < len(exc.failures):
                raise
            return exc.written

    def upsert_events(self, events: Iterable[Event]) -> int:
        events = list(events)
        written = self._bulk(self.events_index, ({"_id": e.id, "_source": e.model_dump(mode="json")} for e in events))
        merges: dict[str, list[str]] = {}
        for event in events:
            if event.merged_into:
                merges.setdefault(event.merged_into, []).append(event.id)
        for into, merged in merges.items():
            # Posts indexed under a merged-away event belong to the event it was merged into.
            with self._calls(f"moving the posts of events {', '.join(merged)} to {into}"):
                self.client.update_by_query(
                    index=self.posts_index, query={"terms": {"event_id": merged}}, conflicts="proceed",
                    script={"lang": "painless", "source": "ctx._source.event_id = params.into",
                            "params": {"into": into}})
        return written

    def record_health(self, runs: Iterable[CrawlHealth]) -> int:
        # The finish time is the document's external version, so Elasticsearch itself keeps the
        # latest run of a source however late an older one arrives.
        runs = list(runs)
        self._bulk(self.health_index, (
            {"_id": r.source, "_source": r.model_dump(mode="json"),
             "version": int(r.finished_at.timestamp() * 1000), "version_type": "external_gte"}
            for r in runs), skip_conflicts=True)
        return len(runs)

    # -- reads ----------------------------------------------------------------------------------

    def get(self, post_id: str) -> EnrichedPost | None:
        with self._calls(f"reading post {post_id}"):
            try:
                return post_from_document(self.client.get(index=self.posts_index, id=post_id).body["_source"])
            except NotFoundError as exc:
                # A missing document answers {"found": false}; a missing index is an error.
                if isinstance(exc.body, dict) and exc.body.get("found") is False:
                    return None
                raise

    def search(self, query: SearchQuery) -> SearchResult:
        with self._calls("searching posts"):
            body = self.client.search(
                index=self.posts_index, query=query_dsl(query), sort=[{"when": "desc"}, {"id": "asc"}],
                from_=query.offset, size=query.limit, track_total_hits=True).body
        return SearchResult(total=body["hits"]["total"]["value"],
                            hits=[post_from_document(h["_source"]) for h in body["hits"]["hits"]])

    def histogram(self, query: SearchQuery, interval: Interval = "hour") -> list[tuple[datetime, int]]:
        aggs = {"volume": {"date_histogram": {
            "field": "when", "calendar_interval": {"hour": "1h", "day": "1d"}[interval],
            "time_zone": "Asia/Shanghai", "min_doc_count": 1}}}
        with self._calls("counting posts over time"):
            body = self.client.search(index=self.posts_index, query=query_dsl(query), size=0, aggs=aggs).body
        return [(datetime.fromtimestamp(b["key"] / 1000, SHANGHAI), b["doc_count"])
                for b in body["aggregations"]["volume"]["buckets"]]

    def counts_by(self, field: Literal["platform", "source", "sentiment"], query: SearchQuery | None = None
                  ) -> dict[str, int]:
        aggs = {"counts": {"terms": {"field": _COUNT_FIELDS[field], "size": MAX_WINDOW, "missing": "unknown"}}}
        with self._calls(f"counting posts by {field}"):
            body = self.client.search(index=self.posts_index, query=query_dsl(query or SearchQuery()),
                                      size=0, aggs=aggs).body
        return {b["key"]: b["doc_count"] for b in body["aggregations"]["counts"]["buckets"]}

    def _sorted_sources(self, index: str, query: dict[str, Any], sort: list[dict[str, str]],
                        limit: int) -> Iterator[dict[str, Any]]:
        """Up to `limit` documents in `sort` order, paging with search_after past the result window."""
        after: list[Any] | None = None
        while limit > 0:
            extra: dict[str, Any] = {"search_after": after} if after is not None else {}
            with self._calls(f"reading {index}"):
                hits = self.client.search(index=index, query=query, sort=sort, size=min(limit, self.page_size),
                                          **extra).body["hits"]["hits"]
            yield from (h["_source"] for h in hits)
            limit -= len(hits)
            if len(hits) < self.page_size:
                return
            after = hits[-1]["sort"]

    def events(self, since: datetime | None = None, limit: int = 100) -> list[Event]:
        query: dict[str, Any] = {"bool": {"must_not": [{"exists": {"field": "merged_into"}}]}}
        if since:
            query["bool"]["filter"] = [{"range": {"last_seen": {"gte": since.isoformat()}}}]
        sort = [{"last_seen": "desc"}, {"id": "asc"}]
        return [Event.model_validate(s) for s in self._sorted_sources(self.events_index, query, sort, limit)]

    def crawl_health(self) -> list[CrawlHealth]:
        sources = self._sorted_sources(self.health_index, {"match_all": {}}, [{"source": "asc"}], 1_000_000)
        return [CrawlHealth.model_validate(s) for s in sources]

    def close(self) -> None:
        self.client.close()
