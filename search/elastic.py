"""Scale-out index: Elasticsearch 8 behind the same `Index` interface as the embedded one.

Chinese full text: a stock cluster has no Chinese word segmenter (smartcn and ik are plugins that
hosted clusters may not allow, and they would split words differently from the embedded index).
So each post carries `search_text`: its title and text as the character bigrams of
`search.ngrams`, exactly the tokens the embedded index stores, under a whitespace analyzer; a
query word is a `match_phrase` of its own bigrams. Both backends therefore find the same posts.
The same syntax tree (`search.query`) is compiled to a bool query here and to FTS5 there.

Three indices, named from `settings.elasticsearch.index`: posts (`<index>`), events
(`<index>-events`) and crawl health (`<index>-crawl-health`, one document per source). Their
mappings are index templates in `search/templates/`, installed by `yuqing index setup`.
"""

from __future__ import annotations

import itertools
import json
import logging
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, Literal

import elastic_transport
from elastic_transport import Urllib3HttpNode
from elastic_transport.client_utils import DEFAULT
from elasticsearch import ApiError, Elasticsearch, NotFoundError, helpers

from search.base import (
    FACET_NAMES,
    BulkWriteError,
    DocumentFailure,
    EmergingValue,
    FacetName,
    Facets,
    FacetValue,
    Index,
    Interval,
    SearchBackendError,
    SearchHit,
    SearchQuery,
    SearchRefused,
    SearchResult,
    bad_cursor,
    body_text,
    emerging_day,
    fill_buckets,
    rank_emerging,
    reach,
    refused_for_good,
    without_time,
)
from search.ngrams import index_token_texts, query_tokens
from search.query import Filter, Node, Not, Or, Query, Text, TimeRange
from search.snippet import snippet
from yuqing.config.settings import ElasticsearchSettings
from yuqing.schema import REPRINT_OF, CrawlHealth, EnrichedPost, Event, ReprintLink

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
DERIVED_FIELDS = ("when", "search_text", "reach")

# Elasticsearch's default `index.max_result_window`: deeper pages need `search_after`.
MAX_WINDOW = 10_000

# The keyword field of each filter and of each facet.
FILTER_FIELDS = {"platform": "platform", "source": "source", "author": "author.name", "sentiment": "sentiment.label",
                 "place": "places", "policy": "policies.id", "department": "departments", "event": "event_id"}
FACET_FIELDS = {"keywords": "keywords", "events": "event_id", "places": "places", "policies": "policies.id",
                "departments": "departments", "sources": "source", "authors": "author.name", "platforms": "platform",
                "sentiments": "sentiment.label"}
SORTS: dict[str, list[Any]] = {
    "newest": [{"when": "desc"}, {"id": "asc"}],
    "relevance": ["_score", {"when": "desc"}, {"id": "asc"}],
    "reach": [{"reach": "desc"}, {"when": "desc"}, {"id": "asc"}],
}
SCAN_PAGE = 1000
PRUNE_TIMEOUT = 3600.0  # seconds `prune` waits for Elasticsearch to delete
MERGED_AWAY = {"exists": {"field": "merged_into"}}  # events merged into another
MERGE_HOPS = 10  # merges followed from a post's event to the one it ended up in (a chain is rarely over 2)
EMERGING_CANDIDATES = 10_000  # distinct keywords of a day considered for `emerging`


class PlainJsonNode(Urllib3HttpNode):
    """Sends `application/json` where the ES 8 client writes its compatibility media type
    (`application/vnd.elasticsearch+json; compatible-with=8`), which OpenSearch-compatible servers
    refuse."""

    def perform_request(self, method: str, target: str, body: bytes | None = None,
                        headers: Any = None, request_timeout: Any = DEFAULT) -> Any:
        if headers is not None:
            headers = headers.copy()
            for name in ("content-type", "accept"):
                if name in headers:
                    headers[name] = headers[name].replace("vnd.elasticsearch+", "").split(";")[0].strip()
        return super().perform_request(method, target, body=body, headers=headers, request_timeout=request_timeout)


@dataclass(frozen=True)
class SetupStep:
    """What `ElasticIndex.setup` did for one index."""

    index: str
    template: str
    created: bool


def load_template(kind: Literal["posts", "events", "crawl_health"]) -> dict[str, Any]:
    """An index template body from `search/templates/`, without its index patterns."""
    return json.loads((TEMPLATES_DIR / f"{kind}.json").read_text(encoding="utf-8"))


def post_documents(posts: Sequence[EnrichedPost]) -> list[dict[str, Any]]:
    """The indexed form of each post: its JSON (the text once, `EnrichedPost.text_copy`) plus the second it
    counts at (whole seconds, as the embedded index keeps it), its bigram tokens (a batch's texts tokenised
    together, as the embedded index does) and its reach."""
    docs = []
    for post, tokens in zip(posts, index_token_texts([body_text(post) for post in posts]), strict=True):
        doc = post.model_dump(mode="json", exclude=post.text_copy())
        doc["when"] = post.when.replace(microsecond=0).isoformat()
        doc["search_text"] = tokens
        doc["reach"] = reach(post)
        docs.append(doc)
    return docs


def post_from_document(source: dict[str, Any]) -> EnrichedPost:
    return EnrichedPost.model_validate({k: v for k, v in source.items() if k not in DERIVED_FIELDS}).with_text_copy()


def _text_dsl(node: Text) -> dict[str, Any]:
    found = query_tokens(node.value)
    if found.prefix and len(found.tokens) == 1:
        return {"prefix": {"search_text": found.tokens[0]}}
    kind = "match_phrase_prefix" if found.prefix else "match_phrase"
    return {kind: {"search_text": {"query": " ".join(found.tokens)}}}


def _time_dsl(node: TimeRange) -> dict[str, Any]:
    bounds: dict[str, str] = {}
    if node.since:
        bounds["gte"] = node.since.isoformat()
    if node.until:
        bounds["lt"] = node.until.isoformat()
    return {"range": {"when": bounds}}


def _node_dsl(node: Node) -> dict[str, Any]:
    if isinstance(node, Text):
        return _text_dsl(node)
    if isinstance(node, Filter):
        return {"term": {FILTER_FIELDS[node.name]: node.value}}
    if isinstance(node, TimeRange):
        return _time_dsl(node)
    if isinstance(node, Not):
        return {"bool": {"must_not": [_node_dsl(node.child)]}}
    if isinstance(node, Or):
        return {"bool": {"should": [_node_dsl(c) for c in node.children], "minimum_should_match": 1}}
    # And: words score (must), conditions only filter, exclusions go to must_not.
    must, filters, must_not = [], [], []
    for child in node.children:
        if isinstance(child, Not):
            must_not.append(_node_dsl(child.child))
        elif isinstance(child, Filter | TimeRange):
            filters.append(_node_dsl(child))
        else:
            must.append(_node_dsl(child))
    found: dict[str, Any] = {}
    for key, clauses in (("must", must), ("filter", filters), ("must_not", must_not)):
        if clauses:
            found[key] = clauses
    return {"bool": found}


def compile_query(query: Query) -> dict[str, Any]:
    """The Elasticsearch query of a parsed query."""
    return {"match_all": {}} if query.root is None else _node_dsl(query.root)


def query_dsl(query: SearchQuery) -> dict[str, Any]:
    """The Elasticsearch query of a `SearchQuery` (text and structured filters)."""
    return compile_query(query.parsed())


def _search_after(after: str) -> list[Any]:
    """The sort values of a cursor this index handed out."""
    try:
        values = json.loads(after)
    except ValueError:
        raise bad_cursor(after) from None
    if not isinstance(values, list) or not values:
        raise bad_cursor(after)
    return values


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
    scan_page = SCAN_PAGE  # documents per request of `scan`

    def __init__(self, settings: ElasticsearchSettings, *, request_timeout: float = 30.0, max_retries: int = 2, bulk_retries: int = 5,
                 initial_backoff: float = 2.0, max_backoff: float = 60.0, chunk_size: int = 500,
                 refresh: Literal["false", "true", "wait_for"] = "false", plain_json: bool = False) -> None:
        """`refresh="wait_for"` makes each write visible to the next search (tests, small
        deployments); the default lets Elasticsearch refresh on its own schedule (about 1 s).
        `plain_json` sends `application/json` for OpenSearch-compatible servers (see `PlainJsonNode`)."""
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
                                    retry_on_timeout=True, node_class=PlainJsonNode if plain_json else DEFAULT,
                                    **auth)

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
        posts = list(posts)
        if not posts:
            return 0
        self._require(self.posts_index)
        # The index stage reads posts and events from two topics: a merge can be written before a post the
        # events stage had put in the merged-away event.
        survivors = self._surviving({post.event_id for post in posts if post.event_id})
        posts = [p.model_copy(update={"event_id": survivors[p.event_id]}) if p.event_id in survivors else p
                 for p in posts]
        return self._bulk(self.posts_index, (
            {"_id": post.id, "_source": doc} for post, doc in zip(posts, post_documents(posts), strict=True)))

    def _surviving(self, event_ids: set[str]) -> dict[str, str]:
        """Of these events, those merged away so far and the events they ended up in (merges followed along
        their chain, at most MERGE_HOPS of them)."""
        survivors: dict[str, str] = {}
        reached = {event_id: event_id for event_id in event_ids}  # each event and where its merges lead so far
        for _ in range(MERGE_HOPS):
            if not reached:
                break
            with self._calls("reading the events posts belong to"):
                docs = self.client.mget(index=self.events_index, ids=sorted(set(reached.values())),
                                        source_includes=["merged_into"]).body["docs"]
            into = {doc["_id"]: doc["_source"]["merged_into"] for doc in docs
                    if doc.get("found") and doc["_source"].get("merged_into")}
            reached = {event_id: into[at] for event_id, at in reached.items() if at in into}
            survivors.update(reached)
        return survivors

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

    def prune(self, before: datetime, progress: Callable[[int], None] | None = None) -> int:
        # One request: Elasticsearch deletes in its own batches and answers when done.
        with self._calls(f"deleting posts before {before.isoformat()}"):
            # Months of posts take longer than one search: the request may run for minutes.
            body = self.client.options(request_timeout=PRUNE_TIMEOUT).delete_by_query(
                index=self.posts_index, query=_time_dsl(TimeRange(None, before)), conflicts="proceed",
                refresh=True).body
        return int(body["deleted"])

    def upsert_events(self, events: Iterable[Event]) -> int:
        events = list(events)
        written = self._bulk(self.events_index, ({"_id": e.id, "_source": e.model_dump(mode="json")} for e in events))
        merges: dict[str, list[str]] = {}
        for event in events:
            if event.merged_into:
                merges.setdefault(event.merged_into, []).append(event.id)
        if merges:
            # update_by_query finds posts by a search, which sees only what a refresh made visible: posts
            # written in this batch or the last second would stay under the merged-away event.
            with self._calls("making the posts written so far visible before moving them"):
                self.client.indices.refresh(index=self.posts_index)
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
        parsed = query.parsed()
        sort = SORTS[query.sort if query.sort != "relevance" or parsed.texts() else "newest"]
        extra: dict[str, Any] = {"search_after": _search_after(query.after)} if query.after else {}
        if query.sort == "relevance":
            extra["track_scores"] = True
        with self._calls("searching posts"):
            body = self.client.search(
                index=self.posts_index, query=compile_query(parsed), sort=sort, from_=query.offset,
                size=query.limit, track_total_hits=True, **extra).body
        texts = parsed.texts()
        results = []
        for hit in body["hits"]["hits"]:
            post = post_from_document(hit["_source"])
            results.append(SearchHit(post=post, snippet=snippet(post, texts), score=hit.get("_score"),
                                     cursor=json.dumps(hit["sort"], ensure_ascii=False)))
        return SearchResult(total=body["hits"]["total"]["value"], hits=[r.post for r in results], results=results)

    def count(self, query: SearchQuery) -> int:
        with self._calls("counting posts"):
            return int(self.client.count(index=self.posts_index, query=query_dsl(query)).body["count"])

    def _open_pit(self) -> str | None:
        """A point in time over the posts index, or None where the server has no `_pit`
        (OpenSearch-compatible servers): the scan then pages the live index."""
        try:
            with self._calls("opening a point in time"):
                return str(self.client.open_point_in_time(index=self.posts_index, keep_alive="2m").body["id"])
        except SearchBackendError as exc:
            if isinstance(exc.__cause__, ApiError) and exc.__cause__.status_code in (400, 404, 405):
                if "index_not_found" in str(exc.__cause__.body):
                    raise
                return None
            raise

    def scan(self, query: SearchQuery) -> Iterator[EnrichedPost]:
        dsl = query_dsl(query)
        after: list[Any] | None = _search_after(query.after) if query.after else None
        pit = self._open_pit()
        try:
            while True:
                where: dict[str, Any] = ({"pit": {"id": pit, "keep_alive": "2m"}} if pit
                                         else {"index": self.posts_index})
                if after is not None:
                    where["search_after"] = after
                with self._calls("reading every match"):
                    body = self.client.search(query=dsl, sort=SORTS["newest"], size=self.scan_page,
                                              track_total_hits=False, **where).body
                pit = body.get("pit_id", pit)
                hits = body["hits"]["hits"]
                yield from (post_from_document(h["_source"]) for h in hits)
                if len(hits) < self.scan_page:
                    return
                after = hits[-1]["sort"]
        finally:
            if pit:
                with self._calls("closing the point in time"):
                    self.client.options(ignore_status=404).close_point_in_time(id=pit)

    def facets(self, query: SearchQuery, names: Sequence[FacetName] = FACET_NAMES, by: Interval = "day",
               size: int = 10) -> Facets:
        parsed = query.parsed()
        aggs: dict[str, Any] = {"buckets": {
            "date_histogram": {"field": "when", "calendar_interval": {"hour": "1h", "day": "1d"}[by],
                               "time_zone": "Asia/Shanghai", "min_doc_count": 1},
            "aggs": {"sentiment": {"terms": {"field": "sentiment.label", "missing": "unknown", "size": 4}}}}}
        for name in names:
            if name in FACET_FIELDS:
                terms: dict[str, Any] = {"field": FACET_FIELDS[name], "size": size, "shard_size": max(size * 10, 1000),
                                         "order": [{"_count": "desc"}, {"_key": "asc"}]}
                if name == "sentiments":
                    terms["missing"] = "unknown"
                aggs[name] = {"terms": terms}
        with self._calls("computing facets"):
            body = self.client.search(index=self.posts_index, query=compile_query(parsed), size=0, aggs=aggs,
                                      track_total_hits=True).body
        found = body["aggregations"]
        # Empty buckets are filled here: min_doc_count 0 over years of hours would pass search.max_buckets.
        buckets = fill_buckets({datetime.fromtimestamp(b["key"] / 1000, UTC):
                                {s["key"]: s["doc_count"] for s in b["sentiment"]["buckets"]}
                                for b in found["buckets"]["buckets"]}, by)
        values: dict[str, list[FacetValue]] = {name: [FacetValue(value=str(b["key"]), count=b["doc_count"]) for b in found[name]["buckets"]]
                  for name in names if name in FACET_FIELDS}
        facets = Facets(total=body["hits"]["total"]["value"], by=by, buckets=buckets, values=values)
        if "emerging" in names:
            facets.day, facets.emerging = self._emerging(parsed, size)
        return facets

    def _emerging(self, parsed: Query, size: int) -> tuple[datetime, list[EmergingValue]]:
        day = emerging_day(parsed)
        windows = {"today": (day, day + timedelta(days=1)), "before": (day - timedelta(days=7), day)}
        aggs = {name: {"filter": {"range": {"when": {"gte": start.isoformat(), "lt": end.isoformat()}}},
                       "aggs": {"keywords": {"terms": {"field": "keywords", "size": EMERGING_CANDIDATES}}}}
                for name, (start, end) in windows.items()}
        base = compile_query(without_time(parsed))
        dsl = {"bool": {"must": [base], "filter": [{"range": {"when": {"gte": windows["before"][0].isoformat(),
                                                                          "lt": windows["today"][1].isoformat()}}}]}}
        with self._calls("finding emerging keywords"):
            found = self.client.search(index=self.posts_index, query=dsl, size=0, aggs=aggs).body["aggregations"]

        def counts(name: str) -> dict[str, int]:
            return {b["key"]: b["doc_count"] for b in found[name]["keywords"]["buckets"]}

        return day, rank_emerging(counts("today"), counts("before"), size)

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
        query: dict[str, Any] = {"bool": {"must_not": [MERGED_AWAY]}}
        if since:
            query["bool"]["filter"] = [{"range": {"last_seen": {"gte": since.isoformat()}}}]
        sort = [{"last_seen": "desc"}, {"id": "asc"}]
        return [Event.model_validate(s) for s in self._sorted_sources(self.events_index, query, sort, limit)]

    def events_by_id(self, ids: Sequence[str]) -> list[Event]:
        wanted = list(dict.fromkeys(ids))
        if not wanted:
            return []
        with self._calls("reading events"):
            docs = self.client.mget(index=self.events_index, ids=wanted).body["docs"]
        found = [Event.model_validate(doc["_source"]) for doc in docs if doc.get("found")]
        return [event for event in found if event.merged_into is None]

    def event_count(self) -> int:
        with self._calls("counting events"):
            return int(self.client.count(index=self.events_index, query={"bool": {"must_not": [MERGED_AWAY]}}).body["count"])

    def crawl_health(self) -> list[CrawlHealth]:
        sources = self._sorted_sources(self.health_index, {"match_all": {}}, [{"source": "asc"}], 1_000_000)
        return [CrawlHealth.model_validate(s) for s in sources]

    def close(self) -> None:
        self.client.close()
