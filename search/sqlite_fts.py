"""Embedded index: SQLite FTS5 over character bigrams (see `search.ngrams`), built for analysts'
queries on a million posts.

Layout, and why:
- A post has two numbers. Its row id `rid` is dense (1, 2, 3 ... in the order posts are written): the full-text
  index, the documents and the tags are keyed by it, and FTS5 stores each posting's row id as a varint of its
  distance from the previous one, so dense ids take a byte or two where ids made of times took five or six (the
  full-text data of a day's soak posts: 694 B/post with time ids, 322 with dense ones). Its time key
  `key = seconds << 30 | sentiment << 28 | platform << 25 | seq` (unique, indexed) orders posts newest first,
  bounds since/until, and gives trend buckets, the sentiment mix and platform counts of any set of matches
  without reading a document.
- `spans` keeps, per hour of time keys, the first and last row id its posts were written under. Posts arrive
  about in time order, so the row ids of an hour lie close together: a time range's full-text matches are
  looked for within the row ids of its hours, and newest-first listings walk back window by window of time.
- `fts` (contentless) holds two columns: `body`, the title and text as bigram tokens, and `tags`,
  one opaque token per filterable value (platform, source, author, sentiment, place, policy,
  department, event) plus `tall` on every post. A whole query (words, phrases, OR, exclusions,
  field filters) is therefore one FTS5 MATCH expression, but for events (`posts.event`, below).
- `posts` (row id, time key, post id, reach, event) is narrow; the documents live apart in `docs` and are read
  for the page of hits only. A document holds the text once (`EnrichedPost.text_copy`) and only the fields
  that differ from their defaults (`_document`), as JSON compressed with a dictionary of the JSON's keys and
  common values (`Documents`); the full-text index is contentless, so it keeps tokens, not the text.
- `post_tags` (row id, tag id) gives the facet values of any set of matches; `agg` keeps counts
  per tag and per hour and day, so trends and facets of a time range without other conditions
  are sums over at most a few hundred rows plus the posts of its partial hours.
- When an event is merged into another, its posts' tags and counts move to the surviving event, but their
  full-text rows and documents stay as written (a contentless row is rewritten only by tokenising its text again):
  `event_merges` says under which event the posts written under each merged-away event count now, and reading a
  document follows it. `posts.event` is the tag id of the event a post counts under now, indexed with the time key:
  a merge finds the posts it moves there, and an `event:` filter is one range of that index, however many events
  were merged into the event (a filter over the full-text tokens of all of them cost as much as the merges: 10.8 s
  of CPU for a day's 12,018 posts of an event 66,484 others had been merged into).
"""

from __future__ import annotations

import hashlib
import itertools
import logging
import sqlite3
import time
import zlib
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import cache, lru_cache
from operator import itemgetter
from pathlib import Path
from typing import Any, cast, get_args

import orjson
import zstandard
from pydantic import BaseModel

from search.base import (
    EMERGING_MIN,
    FACET_KINDS,
    FACET_NAMES,
    EmergingValue,
    FacetName,
    Facets,
    FacetValue,
    Index,
    Interval,
    SearchBackendError,
    SearchHit,
    SearchQuery,
    SearchResult,
    bad_cursor,
    body_text,
    emerging_day,
    fill_buckets,
    rank_emerging,
    reach,
    without_time,
)
from search.ngrams import index_token_texts, query_tokens
from search.query import And, Filter, Node, Not, Or, Query, Text, TimeRange
from search.snippet import snippet
from stores.sqlite import connect
from yuqing.schema import (
    REPRINT_OF,
    SHANGHAI,
    Author,
    CrawlHealth,
    EnrichedPost,
    Event,
    Metrics,
    Platform,
    PolicyLink,
    ReprintLink,
    Sentiment,
    SentimentLabel,
    wire_json,
)

log = logging.getLogger(__name__)

# 1: JSON documents in `posts`, words in `posts_fts`; 2: bigrams, row ids made of times, JSON in `docs`;
# 3: dense row ids beside time keys, compressed documents; 4: merged events' posts keep their full-text rows and
# documents (`event_merges`), which an index of layout 3 (whose merges rewrote them) holds as they are; 5: `posts.event`,
# filled from the posts' tags when an index of layout 3 or 4 is opened.
SCHEMA_VERSION = 5

SCHEMA = """
CREATE TABLE IF NOT EXISTS posts (rid INTEGER PRIMARY KEY, key INTEGER NOT NULL UNIQUE, id TEXT NOT NULL UNIQUE,
                                  reach INTEGER NOT NULL, event INTEGER);
-- The posts counted under an event, by time: what an `event:` filter reads (posts without an event are left out).
CREATE INDEX IF NOT EXISTS posts_by_event ON posts (event, key) WHERE event IS NOT NULL;
CREATE TABLE IF NOT EXISTS docs (rid INTEGER PRIMARY KEY, doc BLOB NOT NULL);
CREATE TABLE IF NOT EXISTS spans (hour INTEGER PRIMARY KEY, first INTEGER NOT NULL, last INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS meta (name TEXT PRIMARY KEY, value BLOB NOT NULL);
CREATE TABLE IF NOT EXISTS tags (tid INTEGER PRIMARY KEY, kind TEXT NOT NULL, value TEXT NOT NULL,
                                 UNIQUE (kind, value));
CREATE TABLE IF NOT EXISTS post_tags (rid INTEGER NOT NULL, tid INTEGER NOT NULL, PRIMARY KEY (rid, tid))
    WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS agg (kind TEXT NOT NULL, level INTEGER NOT NULL, bucket INTEGER NOT NULL,
                                tid INTEGER NOT NULL, n INTEGER NOT NULL,
                                PRIMARY KEY (kind, level, bucket, tid)) WITHOUT ROWID;
CREATE VIRTUAL TABLE IF NOT EXISTS fts USING fts5 (body, tags, content = '', tokenize = 'ascii');
CREATE TABLE IF NOT EXISTS events (
    id TEXT PRIMARY KEY, last_seen REAL NOT NULL, merged INTEGER NOT NULL, doc TEXT NOT NULL
);
-- The events not merged away, last seen first, and their count: read from this index, not from the rows of
-- every event of the index's history (a month of a city's: hundreds of thousands).
CREATE INDEX IF NOT EXISTS live_events ON events (last_seen) WHERE merged = 0;
-- The tag id of an event whose posts count under another event now (merged away, see `_retag`) -> that one's.
CREATE TABLE IF NOT EXISTS event_merges (tid INTEGER PRIMARY KEY, survivor INTEGER NOT NULL);
CREATE INDEX IF NOT EXISTS event_merges_survivor ON event_merges (survivor);
CREATE TABLE IF NOT EXISTS crawl_health (
    source TEXT PRIMARY KEY, finished REAL NOT NULL, doc TEXT NOT NULL
);
"""

# Time key layout (see the module docstring).
SECOND_SHIFT = 30
SENTIMENT_SHIFT = 28
PLATFORM_SHIFT = 25
SEQ_LIMIT = 1 << PLATFORM_SHIFT
SENTIMENT_CODES = {"unknown": 0, "positive": 1, "neutral": 2, "negative": 3}
SENTIMENT_OF_CODE = {code: label for label, code in SENTIMENT_CODES.items()}
PLATFORM_CODES = {p.value: code for code, p in enumerate(Platform)}
PLATFORM_OF_CODE = {code: p for p, code in PLATFORM_CODES.items()}

OFFSET = 8 * 3600  # Asia/Shanghai is UTC+8 all year
HOUR, DAY = 3600, 86400
LEVELS = {"hour": 0, "day": 1}
UNIT = {0: HOUR, 1: DAY}

KEY_KINDS = ("platform", "sentiment")  # read from the time key, not from post_tags
FILTER_KINDS = {"platform", "source", "author", "sentiment", "place", "policy", "department", "event"}
PAGE = 1000  # rows per page of `scan`
# Full-text matches (of a query, in all) up to which a newest-first page sorts them all rather than reading back
# window by window of time: where the two cost the same (bench.search's 100,000 posts: a word in 320 posts took
# 1.17 ms sorted, 1.21 ms by windows; in 550, 1.38 and 1.16; in 11, 0.49 and 0.90).
FEW_MATCHES = 300
PRUNE_CHUNK = 2000  # posts deleted per transaction by `prune`
UPGRADE_TOLD = 100_000  # posts between two progress lines of an upgrade
# Tag ids kept in memory. New events and keywords keep coming for as long as the index runs, so past this
# many the cache starts afresh (the tags table answers; the busy tags come back within a batch). Small enough to fill
# within days: at 100,000, with about one new event or keyword a post, it filled after weeks at 25,000 posts a day, the
# stage's memory growing all along.
TAG_CACHE = 20_000
# Memory of a connection: SQLite's page cache fills up to its size and stays full, and every page read through a
# memory map counts in the process's resident memory, so together they set where the index stage's memory levels
# off (at 64 MiB and 256 MiB it climbed towards 400 MB). Queries on 100,000 posts took about the same CPU with
# 16 MiB and no map (57-59 ms per round of eight searches and facets, against 56-58 ms): the operating system
# caches the file anyway. Writing a small index reads its pages ~5 % cheaper through a map, hence a small one.
PAGE_CACHE_KIB = 16384
MMAP_BYTES = 64 << 20
# Full-text segments FTS5 merges into one, at each level, once that many are there (its default is 4). Each commit
# writes a segment and does merge work in proportion to the levels, so a posting is written again once per level it
# climbs, and indexing a post costs more as the index grows. Merged 8 at a time, 300,000 posts' full-text rows (in
# batches of 500) stood in 4 levels instead of 6 and took 409 instead of 553 leaf pages written per 1,000 posts; 120
# searches and counts on them took the same CPU (828 against 853 ms). The index stage's whole work on the throughput
# bench's posts took 2.6 % fewer instructions (callgrind) on a new index, few levels yet, and 15 % fewer on an index
# holding 300,000 posts (over 6,000 posts: some of that is merges put off past them, the leaf pages above are not).
FTS_AUTOMERGE = 8
# Bytes of new full-text postings FTS5 holds in memory before it writes them out as a segment (its default is 1 MiB).
# A batch of the throughput bench's posts passed 1 MiB about every 700 posts, and each such flush mid-transaction
# wrote a segment of its own: the batch's tokens were sorted and written in two segments, to be merged later, instead
# of one at its commit. With room for a whole batch, writing the bench's stream (bench.index_replay, new index) took
# 53 M fewer instructions (0.8 % of the stage's); the postings are freed at each commit.
FTS_PENDING_BYTES = 16 << 20


# Every post is written with a dozen tags, mostly the same places and sources, and its event, which comes back for a
# day or so: room for a day's events, not a fortnight's (an entry takes ~125 bytes besides its value).
@lru_cache(maxsize=1 << 13)
def tag_token(kind: str, value: str) -> str:
    """The FTS token of one filter value: opaque, so any value is one ASCII token."""
    return "t" + hashlib.blake2b(f"{kind}\x00{value}".encode(), digest_size=8).hexdigest()


ALL_TOKEN = "tall"


def post_tags(post: EnrichedPost) -> list[tuple[str, str]]:
    """Every (kind, value) a post is counted and filtered under, each once: its platform and sentiment first
    (KEY_KINDS, which `post_tags` rows leave out)."""
    # The enums' members as they are: a StrEnum member is its value as a key, and `.value` is a Python property.
    tags = [("platform", post.platform), ("sentiment", post.sentiment.label if post.sentiment else "unknown"),
            ("source", post.source)]
    if post.author.name:
        tags.append(("author", post.author.name))
    tags += [("place", p) for p in post.places] + [("policy", p.id) for p in post.policies]
    tags += [("department", d) for d in post.departments] + [("keyword", k) for k in post.keywords]
    if post.event_id:
        tags.append(("event", post.event_id))
    return list(dict.fromkeys(tags))


def _body_tokens(posts: Iterable[EnrichedPost]) -> list[str]:
    """The `body` column of each post's full-text row (a batch's texts tokenised together: `index_token_texts`)."""
    return index_token_texts([body_text(post) for post in posts])


def _fts_tags(tags: list[tuple[str, str]]) -> str:
    """The `tags` column of a post's full-text row: `tall` and the tokens of its filter values."""
    return " ".join([ALL_TOKEN] + [tag_token(k, v) for k, v in tags if k in FILTER_KINDS])


@cache
def _valued_defaults(model: type[BaseModel]) -> dict[str, Any]:
    """A model's fields whose default is a value other than None (which `exclude_none` leaves out), with that value (a
    model's as its fields, which compare in C). Fields without a default, and those made at the moment (`fetched_at`,
    from `now`), have none."""
    defaults = {}
    for name, spec in model.model_fields.items():
        if spec.is_required() or (spec.default_factory is not None and not isinstance(spec.default_factory, type)):
            continue
        default = spec.get_default(call_default_factory=True)
        if default is not None:
            defaults[name] = default.__dict__ if isinstance(default, BaseModel) else default
    return defaults


def _at_defaults(model: BaseModel) -> dict[str, Any]:
    """The fields of a model that hold their value default, and inside the models it holds theirs, as an `exclude`
    argument: with `exclude_none` (the other defaults are None) what pydantic's `exclude_defaults` leaves out,
    without the default-making it does for that (an `Author()`, a `Metrics()` and the time now, for each post:
    half of what writing a document took)."""
    values = model.__dict__
    left_out: dict[str, Any] = {}
    for name, default in _valued_defaults(type(model)).items():
        value = values[name]
        if isinstance(value, BaseModel):
            if value.__dict__ == default:
                left_out[name] = True
            elif inner := _at_defaults(value):
                left_out[name] = inner
        elif value == default:
            left_out[name] = True
    return left_out


@cache
def _fields_holding_models(model: type[BaseModel]) -> frozenset[str]:
    """The fields of a model whose values are models, or lists of models (or None)."""
    def holds_model(annotation: Any) -> bool:
        return (isinstance(annotation, type) and issubclass(annotation, BaseModel)) or any(
            map(holds_model, get_args(annotation)))
    return frozenset(name for name, spec in model.model_fields.items() if holds_model(spec.annotation))


@dataclass(frozen=True)
class _Shape:
    """What `_stored_fields` needs to know of a model class, found once: the value defaults of the fields compared as
    they are (`_valued_defaults`), those of the fields holding a model (as its fields), and which fields hold models
    or lists of models."""

    plain_defaults: dict[str, Any]
    model_defaults: dict[str, dict[str, Any]]
    holding_models: tuple[str, ...]


@cache
def _shape(model: type[BaseModel]) -> _Shape:
    defaults = _valued_defaults(model)
    holding = _fields_holding_models(model)
    of_models = {name: default for name, default in defaults.items() if name in holding and isinstance(default, dict)}
    return _Shape({name: default for name, default in defaults.items() if name not in of_models}, of_models,
                  tuple(name for name in model.model_fields if name in holding))


def _stored_fields(model: BaseModel, without_defaults: bool) -> dict[str, Any]:
    """A model's fields as `_document` writes them, for orjson: those that are None left out (`exclude_none`) and, when
    `without_defaults`, those at their value defaults (`_at_defaults`); the models it holds as their fields likewise,
    those of a field with a value default without theirs. The fields are read in one pass that leaves out the Nones
    and the plain defaults together, then those holding models (known by name, `_shape`: isinstance() of a model asks
    its metaclass's __instancecheck__, in Python): 4.5 instead of 5.4 microseconds a post of the bench's stream
    with a loop over the defaults after the pass."""
    shape = _shape(type(model))
    plain = shape.plain_defaults if without_defaults else {}
    stored = {name: value for name, value in model.__dict__.items()
              if value is not None and (name not in plain or value != plain[name])}
    for name in shape.holding_models:
        value = stored.get(name)
        if value is None:
            continue
        if type(value) is list:
            stored[name] = [_stored_fields(item, False) for item in value]
        elif without_defaults and name in shape.model_defaults:
            if value.__dict__ == shape.model_defaults[name]:
                del stored[name]
            else:
                stored[name] = _stored_fields(value, True)
        else:
            stored[name] = _stored_fields(value, False)
    return stored


def _document(post: EnrichedPost) -> bytes:
    """The JSON a post is stored as (UTF-8, then compressed: `Documents`): without the fields that hold
    their defaults (nulls, zeros, empty lists: a quarter of a document), which read back as they were. An empty
    masked text beside a text is the exception, kept: read back without it, `with_text_copy` would take it for the
    text left out as a copy. Written by orjson from the fields left (`_stored_fields`), in the bytes pydantic's
    serializer writes (see `wire_json`): 9 instead of 12 microseconds a post of the bench's stream."""
    serialize = post.__pydantic_serializer__.to_json
    if post.masked_text == "" and post.text:
        return serialize(post, exclude=post.text_copy())
    stored = _stored_fields(post, True)
    if post.masked_text == post.text:  # `text_copy`
        stored.pop("masked_text", None)
    return wire_json(stored, (post.published_at, post.fetched_at), lambda: serialize(
        post, exclude=_at_defaults(post) | dict.fromkeys(post.text_copy(), True), exclude_none=True))


# Many values asked at once: one JSON list parameter, read by json_each. One statement text whatever the list's
# length: a text with one mark per value (one per length, up to a batch's 500) fills SQLite's cache of prepared
# statements, each holding its plan, with texts that are seldom used again.
ANY_OF = "IN (SELECT value FROM json_each(?))"


def _listed(values: Iterable[object]) -> str:
    """The values as the JSON list parameter of ANY_OF (as text: SQLite reads a blob as its binary JSON)."""
    return orjson.dumps(list(values)).decode()


# Rows written many at a time as JSON objects keyed by an integer (`_keyed`), read by json_each: bound row by row, each
# row cost the driver's binding and a step of SQLite's of its own (a release of Python's lock and SQLite's mutexes). A
# batch of the bench's posts has 11 tag rows and 12 count changes a post: written this way, the index stage's work on
# its stream (bench.index_replay, 5,000 posts, new index) took 519 M fewer instructions, 8.7 % (callgrind).
# A batch's tag rows: row id -> its tag ids, in row id order.
POST_TAGS_FROM_JSON = ("INSERT INTO post_tags SELECT CAST(post.key AS INTEGER), tag.value "
                       "FROM json_each(?) AS post, json_each(post.value) AS tag")
# The count changes of one kind, level and bucket: tag id -> change.
AGG_FROM_JSON = ("INSERT INTO agg SELECT ?, ?, ?, CAST(key AS INTEGER), value FROM json_each(?) WHERE true "
                 "ON CONFLICT (kind, level, bucket, tid) DO UPDATE SET n = n + excluded.n")


def _keyed(values: dict[int, Any]) -> str:
    """The values as a JSON object, in their order, its integer keys as text."""
    return orjson.dumps(values, option=orjson.OPT_NON_STR_KEYS).decode()


# Tags named by (kind, value), from a JSON object of each kind's values (`_by_kind`): from a list of pairs, `value ->> 0`
# and `value ->> 1` parsed each pair twice (55 M more instructions on the stream above).
TAGS_FROM_JSON = "SELECT kind.key, tag.value FROM json_each(?) AS kind, json_each(kind.value) AS tag"


def _by_kind(tags: Iterable[tuple[str, str]]) -> str:
    """(kind, value) pairs as the JSON parameter of TAGS_FROM_JSON: kind -> its values, in their order."""
    values_of: defaultdict[str, list[str]] = defaultdict(list)
    for kind, value in tags:
        values_of[kind].append(value)
    return orjson.dumps(values_of).decode()


# JSON made by pydantic comes as UTF-8 bytes: bound as they are and stored as text (what the JSON functions read),
# rather than decoded into a str that the driver encodes again.
AS_TEXT = "CAST(? AS TEXT)"


# Zstandard's level for documents, and the first bytes of each of its frames. A negative level leaves the literals
# (most of a document: its Chinese text) without Huffman coding: on the bench's stream 461 bytes a document instead
# of 449 at level 1 (the index +0.8 %), packed in half the CPU (3.4 instead of 6.9 microseconds) and read back in
# half (1.1 instead of 2.1).
PACK_LEVEL = -1
ZSTD_MAGIC = b"\x28\xb5\x2f\xfd"


def _dictionary() -> bytes:
    """What documents have in common, as the compressor's preset dictionary: the JSON of an example post of each platform
    and sentiment, with every field a post may carry (a document's keys and values then compress to a byte or
    two each, as if the document were the next of a series). Written into each index as it is created."""
    labels = itertools.cycle(SentimentLabel)
    examples = [EnrichedPost(
        id=f"{platform.value}:", url=f"https://{platform.value}.", platform=platform, source=f"{platform.value}_",
        author=Author(name="-", id="-", followers=1, verified=True), title="-", text="-", masked_text="*",
        published_at=datetime(2026, 1, 1, tzinfo=SHANGHAI), fetched_at=datetime(2026, 1, 1, tzinfo=UTC),
        metrics=Metrics(reposts=1, comments=1, likes=1, views=1),
        sentiment=Sentiment(score=0.5, label=next(labels), probability=0.5), keywords=["-", "-"], places=["-"],
        author_places=["-"], policies=[PolicyLink(id="hz-", score=0.5)], departments=["市"], event_id="evt-",
        reprint_of="-", extra={REPRINT_OF: "-"}) for platform in Platform]
    return b"".join(_document(post) for post in examples)


class Documents:
    """Posts as `docs` keeps them: their JSON (`_document`) as a Zstandard frame at PACK_LEVEL with a preset dictionary
    (`_dictionary`): a document of the bench's stream in 461 bytes on average instead of 723, packed in about 3.4
    microseconds of CPU and read back in 1 (at level 1, as until now: 449 bytes, 6.9 and 2 microseconds; those
    frames read alike). Until layout 3's documents were deflated at level 6 with the same dictionary (400 bytes, but
    30 microseconds to pack: deflate hashes the whole dictionary again for each document, where Zstandard digests it
    once per index); those still read, told apart by Zstandard's magic number, which no deflate stream can begin with
    (its first byte would open a stored block, whose length is then followed by the length's complement: b5 2f by
    fd). The dictionary is read from the index, where it was written as the index was created, so its documents stay
    readable whatever later versions would write there. An index is used by one thread at a time, as its connection
    is, and so are these compression contexts."""

    def __init__(self, dictionary: bytes) -> None:
        self.dictionary = dictionary
        digested = zstandard.ZstdCompressionDict(dictionary, dict_type=zstandard.DICT_TYPE_RAWCONTENT)
        digested.precompute_compress(level=PACK_LEVEL)
        # Frames without a checksum (SQLite checks its pages) or a dictionary id (the index has one dictionary).
        self._packer = zstandard.ZstdCompressor(level=PACK_LEVEL, dict_data=digested, write_checksum=False, write_dict_id=False)
        self._unpacker = zstandard.ZstdDecompressor(dict_data=digested)

    def pack(self, post: EnrichedPost) -> bytes:
        return self._packer.compress(_document(post))

    def json(self, blob: bytes) -> bytes:
        """The JSON of a stored document."""
        if blob.startswith(ZSTD_MAGIC):
            return self._unpacker.decompress(blob)
        unpacker = zlib.decompressobj(-15, self.dictionary)  # a document deflated before Zstandard
        return unpacker.decompress(blob) + unpacker.flush()

    def post(self, blob: bytes) -> EnrichedPost:
        return EnrichedPost.from_json(self.json(blob))


def _second(moment: datetime) -> int:
    return max(0, int(moment.timestamp() // 1))


def _ceil_second(moment: datetime) -> int:
    stamp = moment.timestamp()
    return max(0, int(-(-stamp // 1)))


# -- compiling a query -----------------------------------------------------------------------


def _fts_text(node: Text) -> str:
    found = query_tokens(node.value)
    phrase = '"' + " ".join(found.tokens) + '"'
    return f"body : {phrase}" + (" *" if found.prefix else "")


def _in_sql(node: Node) -> bool:
    """Whether a node holds what the full-text index does not say: a time bound, or an event (`posts.event`)."""
    if isinstance(node, TimeRange):
        return True
    if isinstance(node, Filter):
        return node.name == "event"
    if isinstance(node, Not):
        return _in_sql(node.child)
    if isinstance(node, And | Or):
        return any(_in_sql(c) for c in node.children)
    return False


# The posts counted under an event now, over `{event}` (a post's `posts.event`): one value, so that the partial index
# `posts_by_event` lists them in time order (a newest-first page reads a page of it, not all and a sort), and 0 (no
# tag's id) for an event no post was written under. Never NULL, so that NOT of it holds for posts without an event;
# `{event} IS NOT NULL` also tells SQLite the partial index holds every match.
EVENT_SQL = ("({event} = coalesce((SELECT tid FROM tags WHERE kind = 'event' AND value = ?), 0) "
             "AND {event} IS NOT NULL)")


def _fts(node: Node) -> str:
    """One FTS5 expression for a node without time bounds or events."""
    if isinstance(node, Text):
        return _fts_text(node)
    if isinstance(node, Filter):
        return f"tags : {tag_token(node.name, node.value)}"
    if isinstance(node, Not):
        return f"(tags : {ALL_TOKEN} NOT ({_fts(node.child)}))"
    if isinstance(node, Or):
        return "(" + " OR ".join(f"({_fts(c)})" for c in node.children) + ")"
    if isinstance(node, And):
        positive = [c for c in node.children if not isinstance(c, Not)]
        negative = [c.child for c in node.children if isinstance(c, Not)]
        expr = " AND ".join(f"({_fts(c)})" for c in positive) if positive else f"tags : {ALL_TOKEN}"
        for child in negative:
            expr = f"({expr}) NOT ({_fts(child)})"
        return f"({expr})"
    raise TypeError(f"cannot search for {node!r}")


@dataclass
class Plan:
    """A query as SQL: an FTS5 expression, a time key range, and predicates for what FTS does not say
    (events, time bounds inside OR or NOT), written over `{rid}`, `{key}` and `{event}`."""

    match: str | None = None
    lo: int | None = None  # first time key
    hi: int | None = None  # time keys below this
    preds: list[str] = field(default_factory=list)
    args: list[Any] = field(default_factory=list)

    @property
    def plain(self) -> bool:
        """No condition but time: counts come from the aggregates."""
        return self.match is None and not self.preds

    def within(self, lo: int | None, hi: int | None) -> Plan:
        """The same conditions within time keys [lo, hi) (intersected with its own range)."""
        if self.lo is not None:
            lo = self.lo if lo is None else max(lo, self.lo)
        if self.hi is not None:
            hi = self.hi if hi is None else min(hi, self.hi)
        return Plan(self.match, lo, hi, list(self.preds), list(self.args))

    def bounded(self, since: int | None, until: int | None) -> Plan:
        """The same conditions within [since, until) seconds."""
        return self.within(None if since is None else since << SECOND_SHIFT,
                           None if until is None else until << SECOND_SHIFT)

    @property
    def bare(self) -> bool:
        """Nothing but the FTS5 expression: the full-text index alone tells the matches."""
        return self.lo is None and self.hi is None and not self.preds


def _time_sql(node: TimeRange) -> tuple[str, list[Any]]:
    parts, args = [], []
    if node.since:
        parts.append("{key} >= ?")
        args.append(_ceil_second(node.since) << SECOND_SHIFT)
    if node.until:
        parts.append("{key} < ?")
        args.append(_ceil_second(node.until) << SECOND_SHIFT)
    return "(" + (" AND ".join(parts) or "1") + ")", args


def _sql(node: Node) -> tuple[str, list[Any]]:
    """A predicate over `{rid}`, `{key}` and `{event}` for any node (used for events and nested time bounds)."""
    if isinstance(node, TimeRange):
        return _time_sql(node)
    if isinstance(node, Filter) and node.name == "event":
        return EVENT_SQL, [node.value]
    if not _in_sql(node):
        return "{rid} IN (SELECT rowid FROM fts WHERE fts MATCH ?)", [_fts(node)]
    if isinstance(node, Not):
        inner, args = _sql(node.child)
        return f"NOT ({inner})", args
    assert isinstance(node, And | Or)
    compiled = [_sql(c) for c in node.children]
    joiner = " AND " if isinstance(node, And) else " OR "
    return "(" + joiner.join(s for s, _ in compiled) + ")", [a for _, args in compiled for a in args]


def compile_query(query: Query) -> Plan:
    plan = Plan()
    if query.root is None:
        return plan
    children = query.root.children if isinstance(query.root, And) else (query.root,)
    searchable: list[Node] = []
    for child in children:
        if isinstance(child, TimeRange):
            if child.since:
                lo = _ceil_second(child.since) << SECOND_SHIFT
                plan.lo = lo if plan.lo is None else max(plan.lo, lo)
            if child.until:
                hi = _ceil_second(child.until) << SECOND_SHIFT
                plan.hi = hi if plan.hi is None else min(plan.hi, hi)
        elif _in_sql(child):
            pred, args = _sql(child)
            plan.preds.append(pred)
            plan.args.extend(args)
        else:
            searchable.append(child)
    # A platform or sentiment filter beside other conditions is read from the time key: walking the
    # doclist of `platform:weibo` (most posts) to intersect it would cost more than the words or the event.
    in_key = [(child, found) for child in searchable if (found := _key_filter(child)) is not None]
    if in_key and (len(in_key) < len(searchable) or plan.preds):
        for _, (pred, args) in in_key:
            plan.preds.append(pred)
            plan.args.extend(args)
        searchable = [c for c in searchable if all(c is not child for child, _ in in_key)]
    if searchable:
        plan.match = _fts(searchable[0] if len(searchable) == 1 else And(tuple(searchable)))
    return plan


def _key_filter(node: Node) -> tuple[str, list[Any]] | None:
    """`platform:`/`sentiment:` (or an OR of them on one field) as a predicate on the time key's bits."""
    alternatives = node.children if isinstance(node, Or) else (node,)
    if not all(isinstance(a, Filter) and a.name in KEY_KINDS for a in alternatives):
        return None
    names = {a.name for a in alternatives if isinstance(a, Filter)}
    if len(names) != 1:
        return None
    name = names.pop()
    shift, mask, codes = ((PLATFORM_SHIFT, 7, PLATFORM_CODES) if name == "platform"
                          else (SENTIMENT_SHIFT, 3, SENTIMENT_CODES))
    if any(a.value not in codes for a in alternatives if isinstance(a, Filter)):
        return None  # a value no post can have: its tag token matches nothing
    values = [codes[a.value] for a in alternatives if isinstance(a, Filter)]
    return f"(({{key}} >> {shift}) & {mask}) IN ({','.join('?' * len(values))})", values


def _cursor(after: str, *types: Callable[[str], Any]) -> list[Any]:
    """The values of a cursor this index handed out (`value:time key` or `time key`)."""
    parts = after.split(":")
    try:
        if len(parts) != len(types):
            raise ValueError(after)
        return [kind(part) for kind, part in zip(types, parts, strict=True)]
    except ValueError:
        raise bad_cursor(after) from None


# -- time buckets ------------------------------------------------------------------------------


def _bucket_of(second: int, level: int) -> int:
    return (second + OFFSET) // UNIT[level]


def _bucket_start(bucket: int, level: int) -> datetime:
    return datetime.fromtimestamp(bucket * UNIT[level] - OFFSET, UTC)


def _bucket_sql(level: int) -> str:
    return f"((key >> {SECOND_SHIFT}) + {OFFSET}) / {UNIT[level]}"


@dataclass
class Pieces:
    """[since, until) seconds split into whole days, whole hours and the seconds left over."""

    days: tuple[int, int] | None = None  # bucket range [a, b)
    hours: list[tuple[int, int]] = field(default_factory=list)
    raw: list[tuple[int, int]] = field(default_factory=list)  # second ranges


def _split(since: int, until: int, coarsest: int) -> Pieces:
    pieces = Pieces()
    if until <= since:
        return pieces
    first_hour = -(-(since + OFFSET) // HOUR)  # first whole hour bucket
    end_hour = (until + OFFSET) // HOUR
    if first_hour >= end_hour:
        pieces.raw.append((since, until))
        return pieces
    first_day = -(-first_hour // 24)
    end_day = end_hour // 24
    if coarsest == 1 and first_day < end_day:
        pieces.days = (first_day, end_day)
        if first_hour < first_day * 24:
            pieces.hours.append((first_hour, first_day * 24))
        if end_day * 24 < end_hour:
            pieces.hours.append((end_day * 24, end_hour))
    else:
        pieces.hours.append((first_hour, end_hour))
    start_whole = first_hour * HOUR - OFFSET
    end_whole = end_hour * HOUR - OFFSET
    if since < start_whole:
        pieces.raw.append((since, start_whole))
    if end_whole < until:
        pieces.raw.append((end_whole, until))
    return pieces


class CountChanges:
    """What a transaction changes in the aggregates: the tag ids of the posts added and removed, per hour, counted
    once all are in (`by_hour`: a Counter updated post by post cost its Python method's call each time). A day's
    change is the sum of its hours' (summed when applied), so each post is counted once, not once per level."""

    def __init__(self) -> None:
        self._added: defaultdict[int, list[int]] = defaultdict(list)
        self._removed: defaultdict[int, list[int]] = defaultdict(list)

    def add(self, key: int, tids: list[int]) -> None:
        self._added[_bucket_of(key >> SECOND_SHIFT, 0)] += tids

    def remove(self, key: int, tids: list[int]) -> None:
        self._removed[_bucket_of(key >> SECOND_SHIFT, 0)] += tids

    def by_hour(self) -> dict[int, Counter[int]]:
        """Hour -> tag id -> posts added less posts removed."""
        counts = {hour: Counter(tids) for hour, tids in self._added.items()}
        for hour, tids in self._removed.items():
            counts.setdefault(hour, Counter()).subtract(tids)
        return counts


class SqliteIndex(Index):
    scan_page = PAGE  # rows per page of `scan`

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self._tids: dict[tuple[str, str], int] = {}
        self._tag_of: dict[int, tuple[str, str]] = {}
        self._writing = False  # inside `writing`
        try:
            self._conn = connect(self.path, autocommit=True, shared_between_threads=True)
            self._conn.execute(f"PRAGMA cache_size=-{PAGE_CACHE_KIB}")
            self._conn.execute(f"PRAGMA mmap_size={MMAP_BYTES}")
            with self.writing():
                upgraded = self._open()
        except sqlite3.Error as exc:
            raise SearchBackendError(f"cannot open the embedded index at {self.path}: {exc}") from exc
        if upgraded:
            self._give_back_space()

    def _give_back_space(self) -> None:
        """Shrink the file by what the earlier layout's tables took beyond the new ones' (about half of it). When
        another process holds the file it stays as it is: new posts fill the free pages first."""
        try:
            self._conn.execute("VACUUM")
        except sqlite3.Error as exc:
            log.warning("检索索引 %s 已升级，但未能释放多余空间（%s）：新信息会先用这些空间", self.path, exc)

    def _open(self) -> bool:
        """Create the tables, or bring an index of an earlier layout to this one (in the transaction of `writing`:
        another process opening it meanwhile waits, and an interrupted upgrade leaves the earlier layout whole).
        Returns whether it brought an earlier layout up."""
        conn = self._conn
        version = conn.execute("PRAGMA user_version").fetchone()[0]
        if version > SCHEMA_VERSION:
            raise SearchBackendError(f"the embedded index at {self.path} was written by a newer Yuqing (layout "
                                     f"{version}, this one knows up to {SCHEMA_VERSION}); upgrade Yuqing")
        columns = {r[1] for r in conn.execute("PRAGMA table_info(posts)")}
        earlier = bool(columns) and "key" not in columns
        if earlier:
            old_documents = self._set_aside(columns)
        elif columns and "event" not in columns:
            self._add_event_column()
        for statement in SCHEMA.split(";"):  # not `executescript`, which would commit the transaction
            if statement.strip():
                conn.execute(statement)
        # Relevance is BM25 over the text only: filter tokens match every hit alike.
        if not conn.execute("SELECT 1 FROM fts_config WHERE k = 'rank'").fetchone():
            conn.execute("INSERT INTO fts (fts, rank) VALUES ('rank', 'bm25(1.0, 0.0)')")
        for setting, value in (("automerge", FTS_AUTOMERGE), ("hashsize", FTS_PENDING_BYTES)):  # older indexes too
            if conn.execute("SELECT v FROM fts_config WHERE k = ?", (setting,)).fetchone() != (value,):
                conn.execute("INSERT INTO fts (fts, rank) VALUES (?, ?)", (setting, value))
        conn.execute("INSERT INTO meta VALUES ('dictionary', ?) ON CONFLICT DO NOTHING", (_dictionary(),))
        self._documents = Documents(conn.execute("SELECT value FROM meta WHERE name='dictionary'").fetchone()[0])
        if earlier:
            self._index_again(old_documents)
        conn.execute(f"PRAGMA user_version={SCHEMA_VERSION}")
        return earlier

    def _add_event_column(self) -> None:
        """Bring an index of layout 3 or 4 to 5: each post's `posts.event` is the event tag among its `post_tags`,
        which merges kept up to date (the index on it is made afterwards, over the filled column)."""
        log.warning("正在为检索索引 %s 记录每条信息所属的事件，其间其他进程等待……", self.path)
        self._conn.execute("ALTER TABLE posts ADD COLUMN event INTEGER")
        self._conn.execute("UPDATE posts SET event = pt.tid FROM post_tags pt JOIN tags t ON t.tid = pt.tid "
                           "WHERE pt.rid = posts.rid AND t.kind = 'event'")

    def _set_aside(self, columns: set[str]) -> str:
        """Move an earlier layout's posts and documents aside and drop what is rebuilt from them (the full-text
        table, the posts' tags and counts); returns the SQL that reads their (order, JSON document) oldest first.
        Layout 1 kept the documents in `posts.doc`, layout 2 in `docs`, both as JSON; the tag ids stay."""
        conn = self._conn
        conn.execute("ALTER TABLE posts RENAME TO earlier_posts")
        for table in ("posts_fts", "fts", "post_tags"):
            conn.execute(f"DROP TABLE IF EXISTS {table}")
        if "doc" in columns:
            return "SELECT rowid, doc FROM earlier_posts WHERE rowid > ? ORDER BY rowid LIMIT ?"
        conn.execute("ALTER TABLE docs RENAME TO earlier_docs")
        conn.execute("DELETE FROM agg")
        return "SELECT rid, doc FROM earlier_docs WHERE rid > ? ORDER BY rid LIMIT ?"

    def _index_again(self, old_documents: str) -> None:
        """Index the posts set aside by `_set_aside` anew, oldest first (layout 2's row ids were times, so the
        new row ids follow time), a page at a time, then drop their tables."""
        began, done, last = time.monotonic(), 0, -1
        log.warning("正在把检索索引 %s 升级到新格式，其间其他进程等待……", self.path)
        while rows := self._conn.execute(old_documents, (last, PAGE)).fetchall():
            self._write(EnrichedPost.from_json(doc) for _, doc in rows)
            done += len(rows)
            last = rows[-1][0]
            if done % UPGRADE_TOLD == 0:
                log.warning("检索索引升级中：已处理 %d 条信息", done)
        for table in ("earlier_posts", "earlier_docs"):
            self._conn.execute(f"DROP TABLE IF EXISTS {table}")
        log.warning("检索索引已升级：%d 条信息，用时 %.0f 秒", done, time.monotonic() - began)

    # -- writes ---------------------------------------------------------------------------------

    def _tid(self, kind: str, value: str) -> int:
        key = (kind, value)
        tid = self._tids.get(key)
        if tid is None:
            # Most values this process has not seen yet are new to the index too (keywords): insert first.
            row = self._conn.execute("INSERT INTO tags (kind, value) VALUES (?, ?) ON CONFLICT DO NOTHING "
                                     "RETURNING tid", key).fetchone()
            if row is None:
                row = self._conn.execute("SELECT tid FROM tags WHERE kind=? AND value=?", key).fetchone()
            tid = row[0]
            self._remember(tid, key)
        return tid

    def _remember(self, tid: int, key: tuple[str, str]) -> None:
        if len(self._tag_of) >= TAG_CACHE:
            self._tids.clear()
            self._tag_of.clear()
        self._tids[key] = tid
        self._tag_of[tid] = key

    def _tag(self, tid: int) -> tuple[str, str]:
        return self._tags([tid])[tid]

    def _tids_of(self, keys: Iterable[tuple[str, str]]) -> dict[tuple[str, str], int]:
        """Tag ids of many (kind, value) at once: those not cached are inserted, which returns the new ones' ids; the
        ids of those that were already there (out of the cache) are read."""
        distinct = list(dict.fromkeys(keys))
        found = dict(zip(distinct, map(self._tids.get, distinct), strict=True))  # looked up in C: a batch has thousands
        missing = [key for key, tid in found.items() if tid is None]
        if missing:
            known = self._conn.execute(f"INSERT INTO tags (kind, value) {TAGS_FROM_JSON} WHERE true "
                                       "ON CONFLICT DO NOTHING RETURNING tid, kind, value", (_by_kind(missing),)).fetchall()
            if len(known) < len(missing):
                inserted = {(kind, value) for _, kind, value in known}
                known += self._conn.execute(f"SELECT tid, kind, value FROM tags WHERE (kind, value) IN ({TAGS_FROM_JSON})",
                                            (_by_kind(key for key in missing if key not in inserted),))
            for tid, kind, value in known:
                found[(kind, value)] = tid
                self._remember(tid, (kind, value))
        return cast(dict[tuple[str, str], int], found)  # every key has its id now

    def _counted_under(self, tids: dict[tuple[str, str], int]) -> dict[int, int]:
        """Tag id of an event of `tids` -> that of the event its posts count under now, for the events merged away
        after posts were written under them (the others count under themselves)."""
        return self._merged_into([tid for (kind, _), tid in tids.items() if kind == "event"])

    def _merged_into(self, tids: Iterable[int]) -> dict[int, int]:
        """Tag id -> the event its posts count under, for those of `tids` merged away (one step of the chain)."""
        return dict(self._conn.execute(f"SELECT tid, survivor FROM event_merges WHERE tid {ANY_OF}", (_listed(tids),)))

    def _own_again(self, merged_away: dict[int, int]) -> None:
        """Posts are about to be written under events whose earlier posts count under others (`merged_away`: tag id
        -> the one they count under): events merged away and then upserted without their merge, or the event where
        a loop of merges ends (`_survivors`). The earlier posts' full-text rows and documents are written again under
        the events they count under, following `event_merges` as far as it goes, so that each event's own token names
        only posts counted under it. Rare, and dear as merges were: each text is tokenised again."""
        conn = self._conn
        into: dict[int, int] = {}
        step = set(merged_away)
        while step:
            found = self._merged_into(step)
            into.update(found)
            step = {survivor for survivor in found.values() if survivor not in into}
        names = self._values({*into, *into.values()})
        now_under = {names[written]: names[counted] for written, counted in into.items()}
        rids = [rid for (rid,) in conn.execute("SELECT rowid FROM fts WHERE fts MATCH ?", (
            "tags : (" + " OR ".join(tag_token("event", written) for written in now_under) + ")",))]
        replaced: list[tuple[int, str | None, str, str]] = []  # (row id, FTS5 command, body, tags)
        docs = []
        # Those matched by a token alone whose documents say otherwise are left out.
        moved = {rid: post for rid, post in self._stored_docs(rids).items() if post.event_id in now_under}
        for (rid, post), body in zip(moved.items(), _body_tokens(moved.values()), strict=True):
            counted_under = now_under[cast(str, post.event_id)]
            tags = post_tags(post)
            old_tags = _fts_tags(tags)
            replaced.append((rid, "delete", body, old_tags))
            replaced.append((rid, None, body, _fts_tags([(kind, counted_under if kind == "event" else value)
                                                         for kind, value in tags])))
            docs.append((self._documents.pack(post.model_copy(update={"event_id": counted_under})), rid))
        # Each row deleted, then written again, in row id order: one pass that FTS5 keeps in memory (a NULL command
        # is an insert); all deletions first, then all insertions, would write out a segment in between.
        replaced.sort(key=itemgetter(0))  # stable: a row's deletion stays before its insertion
        conn.executemany("INSERT INTO fts (rowid, fts, body, tags) VALUES (?, ?, ?, ?)", replaced)
        conn.executemany("UPDATE docs SET doc = ? WHERE rid = ?", docs)
        conn.executemany("DELETE FROM event_merges WHERE tid = ?", [(written,) for written in into])

    def _remove(self, rids: Sequence[int], changes: CountChanges) -> None:
        """Delete these rows: a contentless full-text index forgets a row only when given the tokens it
        was indexed with, so each document is read and tokenised again."""
        if not rids:  # most batches index new posts only: none of the statements below
            return
        conn = self._conn
        stored = self._stored(list(rids))
        tags_of = {rid: post_tags(post) for rid, (_, post) in stored.items()}
        tids = self._tids_of(key for tags in tags_of.values() for key in tags)
        counted = self._counted_under(tids)
        rows = []
        bodies = _body_tokens(post for _, post in stored.values())
        for (rid, (key, _)), body in zip(stored.items(), bodies, strict=True):
            tags = tags_of[rid]
            rows.append((rid, body, _fts_tags(tags)))
            changes.remove(key, [counted.get(tid, tid) for tid in (tids[tag] for tag in tags)])
        conn.executemany("INSERT INTO fts (fts, rowid, body, tags) VALUES ('delete', ?, ?, ?)", sorted(rows))
        gone = [(rid,) for rid in rids]
        conn.executemany("DELETE FROM post_tags WHERE rid=?", gone)
        conn.executemany("DELETE FROM docs WHERE rid=?", gone)
        conn.executemany("DELETE FROM posts WHERE rid=?", gone)

    def _new_keys(self, posts: Sequence[EnrichedPost]) -> list[int]:
        """Time keys for new posts, in order: each after the highest of its second, sentiment and platform (one
        statement reads the highest of every such prefix of the batch)."""
        prefixes = [(_second(post.when) << SECOND_SHIFT)
                    | (SENTIMENT_CODES[post.sentiment.label if post.sentiment else "unknown"] << SENTIMENT_SHIFT)
                    | (PLATFORM_CODES[post.platform] << PLATFORM_SHIFT) for post in posts]
        next_seq = {prefix: 0 if top is None else top - prefix + 1 for prefix, top in self._conn.execute(
            "SELECT value, (SELECT max(key) FROM posts WHERE key >= value AND key < value + ?) FROM json_each(?)",
            (SEQ_LIMIT, _listed(set(prefixes))))}
        keys = []
        for post, prefix in zip(posts, prefixes, strict=True):
            seq = next_seq[prefix]
            if seq >= SEQ_LIMIT:
                raise SearchBackendError(f"more than {SEQ_LIMIT} posts in one second on one platform: {post.id}")
            next_seq[prefix] = seq + 1
            keys.append(prefix | seq)
        return keys

    def _write(self, posts: Iterable[EnrichedPost]) -> int:
        """Index the posts, replacing those indexed before. A post indexed again keeps its row id (so the span of
        its hour stays where the hour was written, however late it is crawled again); new posts take the next row
        ids, in time order within the batch. Rows are written in row id order: FTS5 keeps a transaction's new
        tokens in memory only while row ids rise, and the tables' B-trees are appended to rather than split in the
        middle, which leaves their pages full."""
        conn = self._conn
        given = list(posts)
        # A post twice in one batch: its last version stands.
        latest = self._under_surviving_events(list({post.id: post for post in given}.values()))
        changes = CountChanges()
        # post id -> row id, of the posts indexed before
        kept: dict[str, int] = dict(conn.execute(f"SELECT id, rid FROM posts WHERE id {ANY_OF}",
                                                 (_listed(post.id for post in latest),)))
        next_rid = conn.execute("SELECT coalesce(max(rid), 0) + 1 FROM posts").fetchone()[0]  # before any is removed
        self._remove(list(kept.values()), changes)
        tags_of = [post_tags(post) for post in latest]
        tids = self._tids_of(itertools.chain.from_iterable(tags_of))
        if merged_away := self._counted_under(tids):
            self._own_again(merged_away)
        rows, docs, texts = [], [], []
        tags_of_rid: dict[int, list[int]] = {}
        spans: dict[int, tuple[int, int]] = {}  # hour -> (first, last) row id
        pack = self._documents.pack
        for key, post, tags, body in sorted(zip(self._new_keys(latest), latest, tags_of, _body_tokens(latest), strict=True),
                                            key=itemgetter(0)):
            rid = kept.get(post.id)
            if rid is None:
                rid, next_rid = next_rid, next_rid + 1
            rows.append((rid, key, post.id, reach(post), tids[("event", post.event_id)] if post.event_id else None))
            docs.append((rid, pack(post)))
            texts.append((rid, body, _fts_tags(tags)))
            ids = list(map(tids.__getitem__, tags))
            tags_of_rid[rid] = ids[len(KEY_KINDS):]  # after its platform and sentiment
            changes.add(key, ids)
            hour = (key >> SECOND_SHIFT) // HOUR
            lo, hi = spans.get(hour, (rid, rid))
            spans[hour] = (min(lo, rid), max(hi, rid))
        for table in (rows, docs, texts):
            table.sort(key=itemgetter(0))
        conn.executemany("INSERT INTO posts VALUES (?, ?, ?, ?, ?)", rows)
        conn.executemany("INSERT INTO docs VALUES (?, ?)", docs)
        conn.executemany("INSERT INTO fts (rowid, body, tags) VALUES (?, ?, ?)", texts)
        conn.execute(POST_TAGS_FROM_JSON, (_keyed(dict(sorted(tags_of_rid.items()))),))
        conn.executemany("INSERT INTO spans VALUES (?, ?, ?) ON CONFLICT (hour) DO UPDATE SET "
                         "first = min(first, excluded.first), last = max(last, excluded.last)",
                         [(hour, lo, hi) for hour, (lo, hi) in spans.items()])
        self._apply(changes)
        return len(given)

    def _apply(self, changes: CountChanges) -> None:
        """Add the count changes to the aggregates, per hour and per day; a count that reaches 0 is removed."""
        by_hour = changes.by_hour()
        by_day: defaultdict[int, Counter[int]] = defaultdict(Counter)
        for hour, counts in by_hour.items():
            by_day[hour // 24].update(counts)
        kind_of = {tid: kind for tid, (kind, _) in self._tags({tid for counts in by_day.values() for tid in counts}).items()}
        rows = []  # (kind, level, bucket, changes as JSON)
        fallen = []
        for level, by_bucket in ((0, by_hour), (1, by_day)):
            for bucket, counts in by_bucket.items():
                changed: defaultdict[str, dict[int, int]] = defaultdict(dict)  # kind -> tid -> n
                for tid, n in counts.items():
                    if n:
                        changed[kind_of[tid]][tid] = n
                        if n < 0:
                            fallen.append((kind_of[tid], level, bucket, tid))
                rows += [(kind, level, bucket, _keyed(of_kind)) for kind, of_kind in changed.items()]
        self._conn.executemany(AGG_FROM_JSON, rows)
        self._conn.executemany("DELETE FROM agg WHERE kind=? AND level=? AND bucket=? AND tid=? AND n <= 0", fallen)

    def prune(self, before: datetime, progress: Callable[[int], None] | None = None) -> int:
        below = _ceil_second(before) << SECOND_SHIFT

        def chunk() -> int:
            rids = [r[0] for r in self._conn.execute("SELECT rid FROM posts WHERE key < ? ORDER BY key LIMIT ?",
                                                     (below, PRUNE_CHUNK))]
            changes = CountChanges()
            self._remove(rids, changes)
            self._apply(changes)
            if len(rids) < PRUNE_CHUNK:  # the hours wholly before the cut hold no post now
                self._conn.execute("DELETE FROM spans WHERE hour < ?", ((below >> SECOND_SHIFT) // HOUR,))
            return len(rids)

        removed = 0
        while True:  # in chunks: other writers and readers are not held up for the whole deletion
            deleted = self._transaction("delete old posts from", chunk)
            removed += deleted
            if progress is not None and deleted:
                progress(removed)
            if deleted < PRUNE_CHUNK:
                return removed

    @contextmanager
    def writing(self) -> Iterator[None]:
        """The writes made inside are one transaction: the full-text index writes one new segment at each
        commit (and merges segments as they pile up), so a batch of posts, re-links and events is cheaper
        committed once. Writes inside it commit with it, or are all rolled back."""
        if self._writing:
            yield
            return
        conn = self._conn
        try:
            conn.execute("BEGIN IMMEDIATE")
            self._writing = True
            try:
                yield
            except BaseException:
                conn.execute("ROLLBACK")
                self._tids.clear()  # tags inserted by the rolled-back work are gone
                self._tag_of.clear()
                raise
            finally:
                self._writing = False
            conn.execute("COMMIT")
        except sqlite3.Error as exc:
            raise SearchBackendError(f"cannot write to {self.path}: {exc}") from exc

    def _transaction(self, doing: str, work: Callable[[], Any]) -> Any:
        with self.writing():
            try:
                return work()
            except sqlite3.Error as exc:
                raise SearchBackendError(f"cannot {doing} {self.path}: {exc}") from exc

    def upsert(self, posts: Iterable[EnrichedPost]) -> int:
        return self._transaction("write to the embedded index", lambda: self._write(posts))

    def get(self, post_id: str) -> EnrichedPost | None:
        row = self._conn.execute("SELECT doc FROM docs JOIN posts USING (rid) WHERE posts.id=?", (post_id,)).fetchone()
        return self._as_counted({0: self._documents.post(row[0])})[0] if row else None

    def stored_documents(self) -> Iterator[bytes]:
        """The JSON of every stored document, as it is kept (without the fields that hold their defaults)."""
        for (blob,) in self._conn.execute("SELECT doc FROM docs"):
            yield self._documents.json(blob)

    # -- reads ----------------------------------------------------------------------------------

    def _rows(self, sql: str, args: Sequence[Any]) -> list[Any]:
        try:
            return self._conn.execute(sql, args).fetchall()
        except sqlite3.Error as exc:
            raise SearchBackendError(f"cannot read the embedded index {self.path}: {exc}") from exc

    def _stored(self, rids: list[int]) -> dict[int, tuple[int, EnrichedPost]]:
        """Row id -> (time key, post) of these rows."""
        post = self._documents.post
        rows = self._rows(f"SELECT rid, key, doc FROM posts JOIN docs USING (rid) WHERE rid {ANY_OF}", (_listed(rids),))
        return {rid: (key, post(doc)) for rid, key, doc in rows}

    def _stored_docs(self, rids: list[int]) -> dict[int, EnrichedPost]:
        """The documents of these rows as they were written."""
        post = self._documents.post
        return {rid: post(doc) for rid, doc in self._rows(f"SELECT rid, doc FROM docs WHERE rid {ANY_OF}", (_listed(rids),))}

    def _docs(self, rids: list[int]) -> dict[int, EnrichedPost]:
        """The posts of these rows, each under the event it counts under now."""
        return self._as_counted(self._stored_docs(rids))

    def _as_counted(self, posts: dict[int, EnrichedPost]) -> dict[int, EnrichedPost]:
        """The posts, those written under an event merged away since under the event they count under now."""
        written = {post.event_id for post in posts.values() if post.event_id}
        if not written:
            return posts
        now = dict(self._rows("SELECT t.value, s.value FROM tags t JOIN event_merges m ON m.tid = t.tid "
                              f"JOIN tags s ON s.tid = m.survivor WHERE t.kind = 'event' AND t.value {ANY_OF}",
                              (_listed(written),)))
        if not now:
            return posts
        return {rid: post.model_copy(update={"event_id": now[post.event_id]}) if post.event_id in now else post
                for rid, post in posts.items()}

    def _rid_range(self, lo: int | None, hi: int | None) -> tuple[int, int]:
        """First and last row id of the posts with time keys in [lo, hi) (and maybe of others: the hours' spans)."""
        first_hour = 0 if lo is None else (lo >> SECOND_SHIFT) // HOUR
        last_hour = (1 << 62) if hi is None else ((hi - 1) >> SECOND_SHIFT) // HOUR
        first, last = self._rows("SELECT min(first), max(last) FROM spans WHERE hour >= ? AND hour <= ?",
                                 (first_hour, last_hour))[0]
        return (1, 0) if first is None else (first, last)

    def _source(self, plan: Plan, keyed: bool = True) -> tuple[str, list[Any]]:
        """SQL selecting the plan's matches as `rid`, and their time keys as `key` (when `keyed`, or when the plan
        has more to say than its FTS5 expression). Full-text matches within a time range are looked for among the
        row ids of its hours."""
        args: list[Any] = []
        if plan.match is None:
            sql = "SELECT posts.rid AS rid, posts.key AS key FROM posts WHERE 1"
        elif keyed or not plan.bare:
            # CROSS JOIN: the full-text matches drive; a time range's posts looked up one by one in `fts` would
            # each cost a walk of the expression's doclists.
            sql = ("SELECT fts.rowid AS rid, posts.key AS key FROM fts CROSS JOIN posts ON posts.rid = fts.rowid "
                   "WHERE fts MATCH ?")
            args.append(plan.match)
            if plan.lo is not None or plan.hi is not None:
                sql += " AND fts.rowid >= ? AND fts.rowid <= ?"
                args += self._rid_range(plan.lo, plan.hi)
        else:
            return "SELECT fts.rowid AS rid FROM fts WHERE fts MATCH ?", [plan.match]
        if plan.lo is not None:
            sql += " AND posts.key >= ?"
            args.append(plan.lo)
        if plan.hi is not None:
            sql += " AND posts.key < ?"
            args.append(plan.hi)
        for pred in plan.preds:
            sql += " AND " + pred.format(rid="posts.rid", key="posts.key", event="posts.event")
        return sql, args + plan.args

    def _newest(self, plan: Plan, count: int, matches: int | None = None) -> list[tuple[int, int]]:
        """(row id, time key) of the `count` matches with the highest time keys, highest first. Full-text matches
        are read a window of time at a time, the newest first and each twice as long as the one before, until
        `count` are found: a page of a common word reads its last hour or so, not every match and its key. When
        there are few `matches` in all, they are sorted at once (the windows would cost more)."""
        if plan.match is None or (matches is not None and matches <= FEW_MATCHES):
            source, args = self._source(plan)
            return self._rows(f"{source} ORDER BY key DESC LIMIT ?", [*args, count])
        # Each in a statement of its own, which SQLite answers from the index's ends (together: a scan of posts).
        lowest, highest = self._rows("SELECT (SELECT min(key) FROM posts), (SELECT max(key) FROM posts)", ())[0]
        if lowest is None:
            return []
        bottom = lowest if plan.lo is None else max(lowest, plan.lo)
        top = highest + 1 if plan.hi is None else min(highest + 1, plan.hi)
        found: list[tuple[int, int]] = []
        width = HOUR << SECOND_SHIFT
        while top > bottom and len(found) < count:
            start = max(bottom, top - width)
            source, args = self._source(plan.within(start, top))
            found += self._rows(f"{source} ORDER BY key DESC LIMIT ?", [*args, count - len(found)])
            top, width = start, width * 2
        return found

    def _page(self, plan: Plan, query: SearchQuery, ranked: bool, matches: int) -> list[tuple[int, float | None, str]]:
        """(row id, score, cursor) of one page in the query's order, among `matches` in all; `ranked`: the query has
        words to rank by (without, relevance is newest first, as on Elasticsearch)."""
        limit = [query.limit, query.offset]
        if query.sort == "relevance" and plan.match is not None and ranked:
            source, args = self._source(plan)
            sql = source.replace("SELECT fts.rowid AS rid,", "SELECT fts.rowid AS rid, fts.rank AS score,", 1)
            if query.after:
                last_score, last_key = _cursor(query.after, float, int)
                sql += " AND (fts.rank > ? OR (fts.rank = ? AND posts.key < ?))"
                args = [*args, last_score, last_score, last_key]
            rows = self._rows(f"{sql} ORDER BY fts.rank, posts.key DESC LIMIT ? OFFSET ?", [*args, *limit])
            return [(rid, -score, f"{score!r}:{key}") for rid, score, key in rows]
        if query.sort == "reach":
            source, args = self._source(plan)
            sql = f"SELECT m.rid, m.key, p.reach FROM ({source}) m JOIN posts p ON p.rid = m.rid"
            if query.after:
                last_reach, reach_key = _cursor(query.after, int, int)
                sql += " WHERE p.reach < ? OR (p.reach = ? AND m.key < ?)"
                args = [*args, last_reach, last_reach, reach_key]
            rows = self._rows(f"{sql} ORDER BY p.reach DESC, m.key DESC LIMIT ? OFFSET ?", [*args, *limit])
            return [(rid, None, f"{value}:{key}") for rid, key, value in rows]
        if query.after:
            plan = plan.within(None, _cursor(query.after, int)[0])
        rows = self._newest(plan, query.limit + query.offset, matches)[query.offset:]
        return [(rid, None, str(key)) for rid, key in rows]

    def search(self, query: SearchQuery) -> SearchResult:
        parsed = query.parsed()
        plan = compile_query(parsed)
        total = self._plan_count(plan)
        page = self._page(plan, query, bool(parsed.texts()), total) if query.limit else []
        docs = self._docs([rid for rid, _, _ in page])
        texts = parsed.texts()
        results = [SearchHit(post=docs[rid], snippet=snippet(docs[rid], texts), score=score, cursor=cursor)
                   for rid, score, cursor in page if rid in docs]
        return SearchResult(total=total, hits=[r.post for r in results], results=results)

    def count(self, query: SearchQuery) -> int:
        return self._plan_count(compile_query(query.parsed()))

    def _plan_count(self, plan: Plan) -> int:
        if plan.plain:
            return sum(self._time_buckets(plan, 1).values())
        source, args = self._source(plan, keyed=False)
        return self._rows(f"SELECT count(*) FROM ({source})", args)[0][0]

    def scan(self, query: SearchQuery) -> Iterator[EnrichedPost]:
        plan = compile_query(query.parsed())
        if query.after:
            plan = plan.within(None, _cursor(query.after, int)[0])
        while True:
            rows = self._newest(plan, self.scan_page)
            docs = self._docs([rid for rid, _ in rows])
            yield from (docs[rid] for rid, _ in rows if rid in docs)
            if len(rows) < self.scan_page:
                return
            plan = plan.within(None, rows[-1][1])

    # -- facets ---------------------------------------------------------------------------------

    def _span(self, plan: Plan) -> tuple[int, int] | None:
        """[since, until) seconds covering the posts within the plan's time key range: its own bounds,
        widened to whole days where no post lies beyond them, so that the aggregates answer."""
        lo, hi = plan.lo or 0, plan.hi or (1 << 62)
        first = self._rows("SELECT min(key) FROM posts WHERE key >= ? AND key < ?", (lo, hi))[0][0]
        if first is None:
            return None
        last = self._rows("SELECT max(key) FROM posts WHERE key >= ? AND key < ?", (lo, hi))[0][0]
        since = (((first >> SECOND_SHIFT) + OFFSET) // DAY) * DAY - OFFSET
        until = (((last >> SECOND_SHIFT) + OFFSET) // DAY + 1) * DAY - OFFSET
        if plan.lo is not None:
            since = max(since, plan.lo >> SECOND_SHIFT)
        if plan.hi is not None:
            until = min(until, plan.hi >> SECOND_SHIFT)
        return since, until

    def _agg_rows(self, kinds: Sequence[str], level: int, buckets: tuple[int, int], per_bucket: bool
                  ) -> list[tuple[int, int, int]]:
        """(bucket or 0, tid, n) from the aggregates of `kinds` over bucket range [a, b)."""
        marks = ",".join("?" * len(kinds))
        if per_bucket:
            sql = (f"SELECT bucket, tid, n FROM agg WHERE kind IN ({marks}) AND level=? AND bucket >= ? "
                   "AND bucket < ?")
        else:
            sql = (f"SELECT 0, tid, sum(n) FROM agg WHERE kind IN ({marks}) AND level=? AND bucket >= ? "
                   "AND bucket < ? GROUP BY tid")
        return self._rows(sql, [*kinds, level, *buckets])

    def _raw_tags(self, plan: Plan, kind: str) -> Counter[int]:
        """Counts per tag id of one kind among the plan's matches, read match by match."""
        if kind in KEY_KINDS:
            source, args = self._source(plan)
            shift, mask, names = ((PLATFORM_SHIFT, 7, PLATFORM_OF_CODE) if kind == "platform"
                                  else (SENTIMENT_SHIFT, 3, SENTIMENT_OF_CODE))
            rows = self._rows(f"SELECT (key >> {shift}) & {mask}, count(*) FROM ({source}) GROUP BY 1", args)
            return Counter({self._tid(kind, names[code]): n for code, n in rows})
        source, args = self._source(plan, keyed=False)
        return Counter(dict(self._rows(
            f"SELECT pt.tid, count(*) FROM ({source}) m JOIN post_tags pt ON pt.rid = m.rid "
            "JOIN tags t ON t.tid = pt.tid AND t.kind = ? GROUP BY pt.tid", [*args, kind])))

    def _tag_counts(self, plan: Plan, kind: str) -> Counter[int]:
        """Counts per tag id of one kind among the plan's matches: from the aggregates when the
        plan is a plain time range, else match by match."""
        if not plan.plain:
            return self._raw_tags(plan, kind)
        span = self._span(plan)
        counts: Counter[int] = Counter()
        if span is None:
            return counts
        pieces = _split(*span, coarsest=1)
        if pieces.days:
            counts.update({tid: n for _, tid, n in self._agg_rows([kind], 1, pieces.days, per_bucket=False)})
        for hours in pieces.hours:
            counts.update({tid: n for _, tid, n in self._agg_rows([kind], 0, hours, per_bucket=False)})
        for since, until in pieces.raw:
            counts.update(self._raw_tags(plan.bounded(since, until), kind))
        return counts

    def _tags(self, tids: Iterable[int]) -> dict[int, tuple[str, str]]:
        """(kind, value) of tag ids, from the cache or else read."""
        found = {tid: self._tag_of[tid] for tid in set(tids) if tid in self._tag_of}
        missing = [tid for tid in set(tids) if tid not in found]
        if missing:
            for tid, kind, value in self._rows(f"SELECT tid, kind, value FROM tags WHERE tid {ANY_OF}", (_listed(missing),)):
                found[tid] = (kind, value)
                self._remember(tid, (kind, value))
        return found

    def _values(self, tids: Iterable[int]) -> dict[int, str]:
        """The values of tag ids."""
        tids = list(tids)
        found = self._tags(tids)
        return {tid: found[tid][1] for tid in tids}

    def _top(self, counts: Counter[int], size: int) -> list[FacetValue]:
        """The `size` most frequent values, ties by value; only the candidates' names are read."""
        ranked = [(tid, n) for tid, n in counts.most_common() if n > 0]
        if len(ranked) > size:
            threshold = ranked[size - 1][1] if size else ranked[0][1] + 1
            ranked = [(tid, n) for tid, n in ranked if n >= threshold]
        names = self._values(tid for tid, _ in ranked)
        ranked.sort(key=lambda item: (-item[1], names[item[0]]))
        return [FacetValue(value=names[tid], count=n) for tid, n in ranked[:size]]

    def _time_buckets(self, plan: Plan, level: int) -> Counter[tuple[int, str]]:
        """(bucket, sentiment) -> matches."""
        result: Counter[tuple[int, str]] = Counter()
        if plan.plain:
            span = self._span(plan)
            if span is None:
                return result
            pieces = _split(*span, coarsest=level)
            if pieces.days:
                for bucket, tid, n in self._agg_rows(["sentiment"], 1, pieces.days, per_bucket=True):
                    result[(bucket, self._tag(tid)[1])] += n
            for hours in pieces.hours:
                for bucket, tid, n in self._agg_rows(["sentiment"], 0, hours, per_bucket=True):
                    bucket = bucket if level == 0 else bucket // 24
                    result[(bucket, self._tag(tid)[1])] += n
            raw = [plan.bounded(since, until) for since, until in pieces.raw]
        else:
            raw = [plan]
        for part in raw:
            source, args = self._source(part)
            rows = self._rows(f"SELECT {_bucket_sql(level)}, (key >> {SENTIMENT_SHIFT}) & 3, count(*) "
                              f"FROM ({source}) GROUP BY 1, 2", args)
            for bucket, code, n in rows:
                result[(bucket, SENTIMENT_OF_CODE[code])] += n
        return result

    def facets(self, query: SearchQuery, names: Sequence[FacetName] = FACET_NAMES, by: Interval = "day",
               size: int = 10) -> Facets:
        parsed = query.parsed()
        plan = compile_query(parsed)
        level = LEVELS[by]
        per_bucket = self._time_buckets(plan, level)
        mixes: dict[datetime, dict[str, int]] = defaultdict(dict)
        for (bucket, label), n in per_bucket.items():
            if n:
                mixes[_bucket_start(bucket, level)][label] = n
        buckets = fill_buckets(mixes, by)
        total = sum(b.count for b in buckets)
        values: dict[str, list[FacetValue]] = {name: self._top(self._tag_counts(plan, FACET_KINDS[name]), size)
                  for name in names if name in FACET_KINDS}
        facets = Facets(total=total, by=by, buckets=buckets, values=values)
        if "emerging" in names:
            facets.day, facets.emerging = self._emerging(parsed, size)
        return facets

    def _emerging(self, parsed: Query, size: int) -> tuple[datetime, list[EmergingValue]]:
        day = emerging_day(parsed)
        day_start = int(day.timestamp())
        window = compile_query(without_time(parsed))
        today = self._tag_counts(window.bounded(day_start, day_start + DAY), "keyword")
        candidates = {tid: n for tid, n in today.items() if n >= EMERGING_MIN}
        before = self._tag_counts(window.bounded(day_start - 7 * DAY, day_start), "keyword")
        names = self._values(candidates)
        return day, rank_emerging({names[tid]: n for tid, n in candidates.items()},
                                  {names[tid]: before[tid] for tid in candidates if before[tid] > 0}, size)

    # -- events and crawl health ------------------------------------------------------------------

    def relink(self, links: Iterable[ReprintLink]) -> int:
        links = list(links)
        if not links:
            return 0

        def work() -> int:
            # Whether a post is a copy is neither searched nor counted: only its document changes.
            rid_of = dict(self._rows(f"SELECT id, rid FROM posts WHERE id {ANY_OF}",
                                     (_listed({link.post_id for link in links}),)))
            posts = self._stored_docs(list(rid_of.values()))
            for link in links:
                if (rid := rid_of.get(link.post_id)) is not None:
                    post = posts[rid]
                    posts[rid] = post.model_copy(update={"reprint_of": link.reprint_of,
                                                         "extra": {**post.extra, REPRINT_OF: link.reprint_of}})
            self._conn.executemany("UPDATE docs SET doc = ? WHERE rid = ?",
                                   [(self._documents.pack(post), rid) for rid, post in posts.items()])
            return sum(link.post_id in rid_of for link in links)

        return self._transaction("write to the embedded index", work)

    def upsert_events(self, events: Iterable[Event]) -> int:
        events = list(events)
        rows = [(e.id, e.last_seen.timestamp(), int(e.merged_into is not None), e.to_json()) for e in events]

        def work() -> int:
            # Updated in place: a replaced row would be deleted and written anew, leaving its old space unused.
            self._conn.executemany(f"INSERT INTO events VALUES (?, ?, ?, {AS_TEXT}) ON CONFLICT (id) DO UPDATE SET "
                                   "last_seen=excluded.last_seen, merged=excluded.merged, doc=excluded.doc", rows)
            merged = {e.id: e.merged_into for e in events if e.merged_into}
            survivors = self._survivors(merged.values())
            self._retag({event_id: survivors[into] for event_id, into in merged.items()})
            return len(rows)

        return self._transaction("write events to", work)

    def _under_surviving_events(self, posts: list[EnrichedPost]) -> list[EnrichedPost]:
        """The posts, each under the event its event ended up in: the index stage reads posts and events from two
        topics, so a merge can be written before a post the events stage had put in the merged-away event."""
        wanted = _listed({post.event_id for post in posts if post.event_id})
        merged = [row[0] for row in self._conn.execute(f"SELECT id FROM events WHERE merged=1 AND id {ANY_OF}", (wanted,))]
        if not merged:
            return posts
        # Only the posts whose event was merged away: `_survivors` also names the events they ended up in, under
        # themselves (a post of those copied for nothing: 781 of the bench's 3,000, against 98 moved).
        moved = {event_id: survivor for event_id, survivor in self._survivors(merged).items() if survivor != event_id}
        return [post.model_copy(update={"event_id": moved[post.event_id]}) if post.event_id in moved else post
                for post in posts]

    def _survivors(self, event_ids: Iterable[str]) -> dict[str, str]:
        """The event each of `event_ids` ended up in (itself when it was not merged), following the merges recorded
        so far: the next step of every chain is read in one statement."""
        into: dict[str, str] = {}  # merged event -> the event it was merged into
        read: set[str] = set()
        step = set(event_ids)
        while step:
            read |= step
            rows = self._conn.execute("SELECT id, json_extract(doc, '$.merged_into') FROM events WHERE merged=1 AND "
                                      f"id {ANY_OF}", (_listed(sorted(step)),)).fetchall()
            into.update(rows)
            step = {target for _, target in rows if target not in read}

        def surviving(event_id: str) -> str:
            seen = {event_id}
            while (target := into.get(event_id)) is not None and target not in seen:
                event_id = target
                seen.add(target)
            return event_id

        return {event_id: surviving(event_id) for event_id in read}

    def _retag(self, into: dict[str, str]) -> None:
        """Posts counted under merged-away events count under the events they were merged into (`into`: merged
        event -> surviving one) from now on: their tags, counts and `posts.event` move (found through the index of
        the latter, whatever the length of the merges before), and `event_merges` records it for the
        events their full-text rows and documents name, which stay as they were written. Rewriting those rows
        (a contentless row is deleted only with the tokens it holds, so each text is read and tokenised again)
        made most of the index stage's cost as history grew. All the batch's merges are read and written together."""
        moves = {merged: survivor for merged, survivor in into.items() if survivor != merged}
        if not moves:
            return
        conn = self._conn
        moved = [tid for (tid,) in conn.execute(f"SELECT tid FROM tags WHERE kind = 'event' AND value {ANY_OF}",
                                                (_listed(moves),))]
        if not moved:
            return  # no post was ever written under them
        # Tag id of an event the full-text rows name -> the moved event its posts count under: the moved events'
        # own, but for those merged away before (their posts count elsewhere), and those merged into them before.
        written_as = dict(conn.execute(f"SELECT tid, survivor FROM event_merges WHERE survivor {ANY_OF}",
                                       (_listed(moved),)).fetchall())
        merged_before = {tid for (tid,) in conn.execute(f"SELECT tid FROM event_merges WHERE tid {ANY_OF}",
                                                        (_listed(moved),))}
        written_as.update({tid: tid for tid in moved if tid not in merged_before})
        # (row id, time key, tag id of the moved event it counts under)
        found = conn.execute(f"SELECT rid, key, event FROM posts WHERE event {ANY_OF}", (_listed(moved),)).fetchall()
        if not found:
            return  # none is indexed now (the events merged into them are then named by no row either)
        tids = self._tids_of(("event", event) for move in moves.items() for event in move)
        goes_to = {tids[("event", merged)]: tids[("event", survivor)] for merged, survivor in moves.items()}
        changes = CountChanges()
        for _, key, tid in found:
            changes.remove(key, [tid])
            changes.add(key, [goes_to[tid]])
        conn.executemany("UPDATE post_tags SET tid = ? WHERE rid = ? AND tid = ?",
                         [(goes_to[tid], rid, tid) for rid, _, tid in found])
        conn.executemany("UPDATE posts SET event = ? WHERE rid = ?", [(goes_to[tid], rid) for rid, _, tid in found])
        self._apply(changes)
        now = {written: goes_to[counted] for written, counted in written_as.items()}
        conn.executemany("INSERT INTO event_merges VALUES (?, ?) ON CONFLICT (tid) DO UPDATE SET survivor = excluded.survivor",
                         [(written, counted) for written, counted in now.items() if written != counted])
        conn.executemany("DELETE FROM event_merges WHERE tid = ?",  # merged back into the event it was written as
                         [(written,) for written, counted in now.items() if written == counted])

    def events(self, since: datetime | None = None, limit: int = 100) -> list[Event]:
        rows = self._conn.execute(
            "SELECT doc FROM events WHERE merged=0 AND last_seen >= ? ORDER BY last_seen DESC LIMIT ?",
            (since.timestamp() if since else 0, limit),
        )
        return [Event.model_validate_json(r[0]) for r in rows]

    def events_by_id(self, ids: Sequence[str]) -> list[Event]:
        found = dict(self._conn.execute(f"SELECT id, doc FROM events WHERE merged=0 AND id {ANY_OF}", (_listed(ids),)))
        return [Event.model_validate_json(found[event_id]) for event_id in dict.fromkeys(ids) if event_id in found]

    def event_count(self) -> int:
        return int(self._rows("SELECT count(*) FROM events WHERE merged=0", ())[0][0])

    def record_health(self, runs: Iterable[CrawlHealth]) -> int:
        rows = [(r.source, r.finished_at.timestamp(), r.model_dump_json()) for r in runs]
        self._transaction("write crawl health to", lambda: self._conn.executemany(
            "INSERT INTO crawl_health VALUES (?, ?, ?) ON CONFLICT (source) DO UPDATE SET "
            "finished=excluded.finished, doc=excluded.doc WHERE excluded.finished >= finished", rows))
        return len(rows)

    def crawl_health(self) -> list[CrawlHealth]:
        rows = self._conn.execute("SELECT doc FROM crawl_health ORDER BY source")
        return [CrawlHealth.model_validate_json(r[0]) for r in rows]

    def close(self) -> None:
        self._conn.close()
