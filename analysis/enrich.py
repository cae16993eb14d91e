"""The enrich step: one post in, one `EnrichedPost` out, every analysis applied once.

Order matters: personal data is masked first, so nothing raw reaches segmentation, keywords,
the index or an alert; the masked text is segmented once (jieba, HMM off) and every later step
reads those words.
"""

from __future__ import annotations

import heapq
import math
import re
from collections import Counter, deque
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from dataclasses import fields as fields_of_dataclass
from datetime import datetime, timedelta
from functools import cached_property
from itertools import compress
from operator import attrgetter
from typing import Any, NamedTuple, Protocol

from pydantic import TypeAdapter

from analysis.events import (
    ACTIVE_FOR,
    MIN_REPRINT_CHARS,
    ClusterMemory,
    EventClusterer,
    EventState,
    Fingerprint,
    PostTraits,
    anchors_of,
    in_shared_zone,
    reprint_simhashes,
    reprint_simhashes_many,
)
from analysis.gazetteer import Gazetteer
from analysis.language import Language
from analysis.policies import PolicyRegistry, policy_from_post
from analysis.privacy import mask_author_name, mask_metadata, mask_personal_data
from analysis.sentiment import WordSums
from analysis.text import strip_markup
from analysis.titles import HeadlineKind, headline_of
from yuqing.config.datafiles import Watchlist
from yuqing.frozen import frozen_of
from yuqing.schema import (
    BOARD_PLACE,
    BOARD_REPLY_UNIT,
    GOV_ISSUER,
    REPRINT_OF,
    EnrichedPost,
    Event,
    Policy,
    PolicyLink,
    Post,
    ReprintLink,
    wire_json,
)

__all__ = ["Analyzer", "AnalyzerMemory", "Annotated", "Enricher", "EventClues", "PendingAnnotation", "policy_from_post"]

KEYWORDS_PER_POST = 8
# Write state after this many posts, so a crash loses little; `close` writes the rest.
FLUSH_EVERY = 500
PRUNE_EVERY = timedelta(hours=1)
# ... or after this many posts, whatever their times: a backlog drained partition by partition (or an
# outage's catch-up) brings posts older than the newest one, so the newest post's time alone would never
# move and memory would grow with the backlog.
PRUNE_EVERY_POSTS = 2_000
# An event is published again when what a reader sees of it changes: its label, title, top keywords, places,
# policies, representatives or merge, the hour it was last seen, or its size (every post up to EXACT_SIZE, then each
# growth by a tenth), not for every post it takes.
EXACT_SIZE = 20
SIZE_STEP = 1.1
TOP_KEYWORDS = 5
AUTHOR_CACHE_SIZE = 50_000


# A reprint's credit line (（来源：菏城新闻网）, 责任编辑：王某) is not what it copies: left out of its fingerprint.
_CREDIT_LABELS = ("来源", "稿源", "转自", "转载自", "原标题", "编辑", "作者")
_CREDIT_LABEL = re.compile("|".join(_CREDIT_LABELS))  # one scan of the text for any of them
_CREDIT = re.compile(r"[（(【\[]?\s*(?:来源|稿源|转自|转载自|原标题|责任编辑|编辑|作者)\s*[:：][^）)】\]\n，。；]{1,30}[）)】\]]?")


def _reprint_features(language: Language, text: str, candidates: Sequence[str]) -> tuple[Sequence[str], list[str]]:
    """What a post's fingerprint and its lead's are made of, credit lines left out. The lead is the
    first paragraph long enough to be copied on its own; a post of one paragraph has none."""
    candidate_words, fast_words = language.keywords.candidate_words, language.segmenter.fast_words
    features: Sequence[str] = candidates
    # A credit line needs a label: without one, the credit pattern (tried at every character) is not run at all.
    labelled = _CREDIT_LABEL.search(text) is not None
    if labelled and (credits := _CREDIT.findall(text)):
        credited = Counter(candidate_words(fast_words(" ".join(credits))))
        features = []
        for word in candidates:
            if credited[word] > 0:
                credited[word] -= 1
            else:
                features.append(word)
    if "\n" not in text.strip():
        return features, []
    paragraphs = [strip_markup(_CREDIT.sub("", line) if labelled else line) for line in text.split("\n")]
    paragraphs = [line for line in paragraphs if line]
    lead = next((line for line in paragraphs if len(line) >= MIN_REPRINT_CHARS), None)
    if len(paragraphs) < 2 or lead is None:
        return features, []
    return features, candidate_words(fast_words(lead))


def _substance(event: Event) -> tuple[Any, ...]:
    """What of an event is worth a new message (see EXACT_SIZE)."""
    size = event.size if event.size <= EXACT_SIZE else EXACT_SIZE + int(math.log(event.size / EXACT_SIZE, SIZE_STEP))
    # The keywords' order below the top few moves with every post of near-equal words: not a change a reader sees.
    return (event.label, event.title, frozenset(event.keywords[:TOP_KEYWORDS]), tuple(event.places), tuple(event.policies),
            tuple(event.representative_posts), event.merged_into, event.first_seen,
            event.last_seen.replace(minute=0, second=0, microsecond=0), size)


def _thread_of(post: EnrichedPost) -> str:
    """What every post of the post's thread shares: its page's address, without the #floor."""
    return post.url.partition("#")[0]


# (post id, when, event id, reprint_of, fingerprint, thread key) of an analysed post, as the memory keeps it;
# the thread key is None when only the reprint link changed.
AssignedPost = tuple[str, datetime, str | None, str | None, Fingerprint | None, str | None]


class AnalyzerMemory(ClusterMemory, Protocol):
    """Where the analyzer keeps events, analysed posts and crawled policies across restarts, and reads
    back what its windows need but memory does not hold (`stores.analysis_state.AnalysisStateStore`)."""

    def save(self, events: Iterable[EventState], posts: Iterable[AssignedPost], policies: Iterable[Policy]) -> int:
        """Write in one transaction; returns the store's count of saves, this one included."""
        ...

    def saves(self) -> int:
        """How many saves the store has had: another count than the last one an analyzer saw means another
        analyzer wrote in between."""
        ...

    def policies(self) -> list[Policy]: ...
    def newest(self) -> datetime | None: ...
    def assigned(self, post_id: str) -> tuple[str | None, str | None, datetime] | None: ...
    def assigned_many(self, post_ids: Sequence[str]) -> dict[str, tuple[str | None, str | None, datetime]]: ...
    def forget_before(self, cutoff: datetime) -> None: ...
    def close(self) -> None: ...


@dataclass(frozen=True)
class EventClues:
    """What events and reprints need of a post besides its `EnrichedPost`: found with the post's words by the
    enrich step, where the text is segmented, so the events step never segments again."""

    keywords: list[tuple[str, float]]  # (term, tf-idf weight), best first
    areas: list[str]  # districts and counties its places lie in
    anchors: list[str]
    author_anchors: list[str]
    headline: tuple[str, HeadlineKind] | None
    # The SimHashes of what its reprint fingerprint is made of (credit lines left out) and of its first paragraph when
    # it has several (`reprint_simhashes`): hashed by the enrich step, which scales out, and sent as two numbers
    # instead of the post's candidate words, which the one events worker would read and hash.
    simhash: int | None = None
    lead_simhash: int | None = None
    # Those words themselves, as enrich workers sent them before they sent the SimHashes: read from the annotated
    # messages such a worker left (an upgrade in the middle of a backlog), and hashed by the events step.
    features: list[str] = field(default_factory=list)
    lead: list[str] = field(default_factory=list)

    @cached_property
    def simhashes(self) -> tuple[int | None, int | None]:
        """(simhash, lead_simhash), of the features sent by an earlier enrich worker when it sent them."""
        return reprint_simhashes(self.features, self.lead) if self.features else (self.simhash, self.lead_simhash)


@dataclass(frozen=True)
class Annotated:
    """A post through the enrich step: everything but its event and reprint link, which the events step adds."""

    post: EnrichedPost
    clues: EventClues
    policy: Policy | None = None  # the policy document the post is, as registered (kept by the events step)

    def to_json(self) -> bytes:
        """As the enrich stage sends it to the events stage: JSON straight to bytes, the post's text once (see
        `EnrichedPost.to_json`); the clues' (term, weight) pairs and headline as arrays."""
        post, clues, policy = self.post, self.clues, self.policy
        sent = {"post": post.wire_fields(),
                "clues": dict(zip(_CLUES_SENT, _clues_sent(clues), strict=True)),
                "policy": policy.__dict__ if policy else None}  # a model as its fields: see `wire_fields`
        times = (post.published_at, post.fetched_at, *((policy.written_at, policy.published_at) if policy else ()))
        return wire_json(sent, times, lambda: _ANNOTATED_JSON.dump_json(
            self, exclude={"post": post.text_copy(), "clues": _WORDS_NOT_SENT}))

    @classmethod
    def from_json(cls, data: bytes | str) -> Annotated:
        """Validated in one pass over the JSON: raises pydantic's ValidationError for a value that is no
        annotated post, or no JSON."""
        annotated = _ANNOTATED_JSON.validate_json(data)
        annotated.post.with_text_copy()
        return annotated


class PendingAnnotation(NamedTuple):
    """A post through `Enricher.start`: the fields of its `EnrichedPost` (those of the post, masked; those of the
    analysis but its masked text, sentiment and keywords, which `Enricher.finish` adds), what the sentiment model found
    of its words, the words its keywords are ranked from, its clues but their keywords and SimHashes, what those are
    hashed from, and the policy document it is. A named tuple: made for every post, in a fourth of a frozen
    dataclass's time."""

    fields: dict[str, Any]
    analysis: dict[str, Any]
    word_sums: WordSums
    keyword_candidates: list[str]
    clues: dict[str, Any]  # the fields of its EventClues but `keywords`, `simhash` and `lead_simhash`
    reprint_features: tuple[Sequence[str], list[str]]  # (features, lead) of `reprint_simhashes`
    policy: Policy | None


# Validates and writes an Annotated, with its post, clues and policy, straight from and to JSON.
_ANNOTATED_JSON = TypeAdapter(Annotated)
_WORDS_NOT_SENT = {"features", "lead"}  # of the clues: their SimHashes are sent
_CLUES_SENT = tuple(clue.name for clue in fields_of_dataclass(EventClues) if clue.name not in _WORDS_NOT_SENT)
_clues_sent = attrgetter(*_CLUES_SENT)  # their values, in one call


# The fields of an EnrichedPost that the enrich step leaves unset, and their defaults: the events step sets them.
LEFT_TO_EVENTS = {"event_id": None, "reprint_of": None}


def _enriched_post(post_fields: dict[str, Any], **analysis: Any) -> EnrichedPost:
    """`EnrichedPost.model_construct(**post_fields, **analysis)` for values that name every field but those of
    LEFT_TO_EVENTS, in the model's order: the same model (same fields set), a fifth of the cost. Every value is
    already validated (the post) or built from schema types, so no validation pass is needed, and model_construct
    would spend its time looking up each field's aliases and defaults, known here."""
    post_fields.update(analysis)
    fields_set = set(post_fields)
    post_fields.update(LEFT_TO_EVENTS)
    return _assembled(post_fields, fields_set)


def _assembled(fields: dict[str, Any], fields_set: set[str]) -> EnrichedPost:
    """The EnrichedPost of these (valid) values of all its fields, those given of them `fields_set`: what
    model_construct sets (pydantic's own copies set the same four attributes), without its look-ups."""
    enriched = EnrichedPost.__new__(EnrichedPost)
    object.__setattr__(enriched, "__dict__", fields)
    object.__setattr__(enriched, "__pydantic_fields_set__", fields_set)
    object.__setattr__(enriched, "__pydantic_extra__", None)
    object.__setattr__(enriched, "__pydantic_private__", None)
    return enriched


class Enricher:
    """The part of the analysis that needs no memory of other posts: masking, sentiment, keywords, places,
    departments and policy links, with `language` (whose segmenter the gazetteer's names were added to). Its only
    state is the policy registry, which crawled policy documents join."""

    def __init__(self, language: Language, policies: Iterable[Policy], watchlists: Sequence[Watchlist],
                 gazetteer: Gazetteer) -> None:
        if gazetteer.segmenter is not language.segmenter:
            raise ValueError("the gazetteer's names must be tokens of the segmenter the analyzer reads posts with")
        self.language = language
        self.gazetteer = gazetteer
        # Watched terms become single tokens, so they can be keywords and event terms.
        language.segmenter.add_terms(term for w in watchlists for term in (*w.terms, *w.context))
        self.registry = PolicyRegistry(language, policies)
        # Author name -> (its places, its anchors), as of the segmenter's `dictionary_changes` below.
        self._authors: dict[str, tuple[list[str], list[str]]] = {}
        self._authors_dictionary = language.segmenter.dictionary_changes
        # `_named`'s words, as of the registry's count of words `_registry_words`.
        self._words_named = gazetteer.words | self.registry.words
        self._registry_words = len(self.registry.words)

    def learn_policies(self, policies: Iterable[Policy]) -> None:
        """Add policies registered elsewhere (by another enrich worker's posts) that this one does not know."""
        for policy in policies:
            if self.registry.get(policy.id) is None:
                self.registry.add(policy)

    def annotate(self, post: Post) -> Annotated:
        """Mask, then sentiment, keywords, places, policies, departments, and the clues for events.
        A crawled policy document also joins the registry, so later posts can link to it.
        Raises RefusedPost for a post whose times are outside the sane window."""
        return self.finish([self.start(post)])[0]

    def start(self, post: Post) -> PendingAnnotation:
        """`annotate` but for the last of the sentiment, which `finish` adds to many posts at once: a batch's posts
        are started one by one, in order (a policy document joins the registry before the next post is read),
        then finished together. Raises RefusedPost for a post whose times are outside the sane window."""
        post.check_times()
        policy = policy_from_post(post, self.language)
        if policy is not None:
            policy = self.registry.add(policy)
        masked = mask_personal_data(post.text)
        title = mask_personal_data(post.title) if post.title else post.title
        author = post.author
        author_name = mask_author_name(author.name, post.platform.value, verified=author.verified)
        if author_name != author.name:
            post = post.model_copy(update={"author": author.model_copy(update={"name": author_name})})
        segmenter, keyword_table = self.language.segmenter, self.language.keywords
        segmented = segmenter.segment_post(masked)
        post_words = segmented.all_words
        title_words = segmenter.fast_words(title) if title else []
        all_words = title_words + post_words
        # What the registry and the gazetteer look up, in order: they read these few words, not all of them.
        named = self._named(all_words)

        full_text = f"{title or ''}\n{masked}"
        links = self.registry.link(full_text, named)
        # The stance toward the departments and policies the post names, not toward a contractor it
        # also complains about (see analysis/sentiment.py).
        word_sums = self.language.sentiment.word_sums(title_words + segmented.own, segmented.quoted,
                                                      self._stance_targets(all_words, links))
        candidates = keyword_table.candidate_words(post_words)
        # A title's words count twice: it says what the post is about. Ranked with the batch's (`finish`).
        keyword_candidates = keyword_table.candidate_words(title_words) * 2 + candidates
        # Where it happened: the text, the title, a board's 地点, the issuing office. Where the author
        # lives (a screen name such as 曹县汉服小姐姐) is kept apart: reports and alerts use the first.
        hints = [str(post.extra.get(BOARD_PLACE) or ""), str(post.extra.get(GOV_ISSUER) or "")]
        places = self.gazetteer.resolve(named, hints)
        author_places, author_anchors = self._author(post.author.name) if post.author.name else ([], [])
        departments = self._departments(post, links, named)
        clues = self._clues(post, masked, title, title_words, candidates, places, author_anchors)
        reprint_features = _reprint_features(self.language, masked, candidates)

        fields = dict(post.__dict__)  # a Post's fields (it allows no extra ones), in their order
        fields.update(title=title, text=masked, extra=mask_metadata(post.extra))
        analysis = {  # in the model's order, after its masked text and sentiment (see `finish`)
            "keywords": None,  # found by `finish`
            "places": places,
            "author_places": list(author_places),
            "policies": links,
            "departments": departments,
        }
        return PendingAnnotation(fields, analysis, word_sums, keyword_candidates, clues, reprint_features, policy)

    def finish(self, pending: Sequence[PendingAnnotation]) -> list[Annotated]:
        """The annotated posts of `start`, their sentiments (`SentimentModel.classify_many`), keywords
        (`KeywordTable.rank_many`) and reprint SimHashes (`reprint_simhashes_many`) found together."""
        sentiments = self.language.sentiment.classify_many([started.word_sums for started in pending])
        ranked = self.language.keywords.rank_many([started.keyword_candidates for started in pending],
                                                  KEYWORDS_PER_POST)
        simhashes = reprint_simhashes_many([started.reprint_features for started in pending])
        display_forms = self.language.segmenter.display_forms
        annotated = []
        for started, sentiment, weighted, (simhash, lead_simhash) in zip(pending, sentiments, ranked, simhashes,
                                                                        strict=True):
            analysis = {**started.analysis, "keywords": display_forms([word for word, _ in weighted])}
            post = _enriched_post(dict(started.fields), masked_text=started.fields["text"], sentiment=sentiment,
                                  **analysis)
            clues = frozen_of(EventClues, {"keywords": weighted, **started.clues, "simhash": simhash,
                                         "lead_simhash": lead_simhash, "features": [], "lead": []})
            annotated.append(frozen_of(Annotated, {"post": post, "clues": clues, "policy": started.policy}))
        return annotated

    def _clues(self, post: Post, masked: str, title: str | None, title_words: list[str], candidates: Sequence[str],
               places: Sequence[str], author_anchors: list[str]) -> dict[str, Any]:
        """The fields of the post's EventClues but its keywords and SimHashes (`finish` finds them with the batch's).
        `title` and `title_words`: the post's title masked and its words (the title is masked and split once)."""
        fast_words = self.language.segmenter.fast_words
        # A title or a board's 地点 often names the estate the text only calls 我们小区.
        board_place = str(post.extra.get(BOARD_PLACE) or "")
        if board_place:
            place_title = mask_personal_data(" ".join(filter(None, (post.title, board_place))))
            place_title_words = fast_words(place_title)
        else:
            place_title, place_title_words = title or "", title_words
        return {
            "areas": sorted({*map(self.gazetteer.area_of, places)} - {self.gazetteer.city}),
            "anchors": anchors_of(f"{place_title} {masked}", [*place_title_words, *candidates]),
            "author_anchors": list(author_anchors),
            "headline": headline_of(title or None, masked),
        }

    def _named(self, words: Sequence[str]) -> list[str]:
        """The words that name a place, a department, a topic or a policy (`Gazetteer.words`, `PolicyRegistry.words`),
        in order: picked out by one C-level pass over a post's words, instead of one by each of the five indexes."""
        registry_words = self.registry.words
        if len(registry_words) != self._registry_words:  # a policy joined the registry (its words are only added to)
            self._words_named = self.gazetteer.words | registry_words
            self._registry_words = len(registry_words)
        return list(compress(words, map(self._words_named.__contains__, words)))

    def _stance_targets(self, words: Sequence[str], links: Sequence[PolicyLink]) -> Iterator[str]:
        """How the post names the departments and linked policies it may be about. Lazy: sentiment
        reads it only for a post that also names another party."""
        yield from self.gazetteer.department_words(words)
        for link in links:
            if (policy := self.registry.get(link.id)) is not None:
                yield from (policy.title, *policy.aliases, *policy.keywords)

    def _author(self, name: str) -> tuple[list[str], list[str]]:
        """The places an author's name holds (曹县汉服小姐姐 → 曹县) and its anchors (for events), found once per name:
        the same accounts post again and again. Found again once the segmenter's dictionary has changed, which may
        split the name otherwise (a policy's keyword 曹县汉服 would leave no 曹县 in it)."""
        segmenter = self.language.segmenter
        if len(self._authors) >= AUTHOR_CACHE_SIZE or self._authors_dictionary != segmenter.dictionary_changes:
            self._authors.clear()
            self._authors_dictionary = segmenter.dictionary_changes
        found = self._authors.get(name)
        if found is None:
            found = self._authors[name] = (self.gazetteer.resolve((), [name]),
                                           anchors_of("", segmenter.fast_words(name)))
        return found

    def _departments(self, post: Post, links: Sequence[PolicyLink], all_words: Sequence[str]) -> list[str]:
        """From the linked policies' issuers and a board's reply unit first, then from the text.
        A unit the gazetteer does not know is kept as written (masked, like all text)."""
        found: list[str] = []
        from_policies = [self.registry.get(link.id) for link in links]
        names: list[str | None] = [p.department for p in from_policies if p is not None and p.department]
        names.append(post.extra.get(BOARD_REPLY_UNIT))
        for name in names:
            unknown = mask_personal_data(name.strip()) if isinstance(name, str) else None
            short = self.gazetteer.department_of(name) or unknown
            if short and short not in found:
                found.append(short)
        for short in self.gazetteer.departments(all_words):
            if short not in found:
                found.append(short)
        return found


class Analyzer:
    """Enriches posts (`Enricher`, with `language`) and puts them into events and reprint chains; remembers events, reprints and
    crawled policies across restarts in `memory`. `enrich` does both steps; a pipeline split across processes
    runs `Enricher.annotate` in any number of workers and `assign` in the one that keeps the memory."""

    def __init__(
        self,
        language: Language,
        policies: Sequence[Policy],
        watchlists: Sequence[Watchlist],
        gazetteer: Gazetteer,
        memory: AnalyzerMemory | None = None,
    ) -> None:
        self.store = memory
        stored = self.store.policies() if self.store else []
        self.enricher = Enricher(language, [*policies, *stored], watchlists, gazetteer)
        self.clusterer = EventClusterer(memory)
        # post id -> (event id, reprint_of, when): a post seen again keeps what it was given. With a store,
        # only the posts not yet written to it: the store answers for the others (one indexed read a post).
        self._assigned: dict[str, tuple[str | None, str | None, datetime]] = {}
        self._assigned_queue: list[tuple[datetime, str]] = []  # (when, post id), oldest first: what to forget next
        # The watermark: the newest post's time. Memory keeps what a post of that time could still join.
        self._newest: datetime | None = None
        self._pruned_at: datetime | None = None
        self._since_prune = 0
        # event id -> hash of its substance when last handed out: a few bytes, not the substance, for a week of events
        self._published: dict[str, int] = {}
        self._pending_posts: list[AssignedPost] = []
        self._pending_policies: list[Policy] = []
        self._relinked: list[ReprintLink] = []
        # What the store knew of a batch's posts when it was read (`recall`); good until the next flush writes to it.
        self._recalled: dict[str, tuple[str | None, str | None, datetime]] = {}
        self._recalled_ids: set[str] = set()
        self._batch_left: deque[Annotated] = deque()  # of the batch recalled, the posts not assigned yet
        self._batch_open = False  # a batch was recalled and its end (`changed_events`) is to come
        self._saves = 0  # the store's save count as of this analyzer's last read or write
        if self.store is not None:
            self._restore(self.store)

    def _restore(self, store: AnalyzerMemory) -> None:
        """Start where the last save left off, reading only the events joined last: the store answers for the
        rest of the window when a post needs it, so starting takes as long after a month as after a day."""
        self._saves = store.saves()
        newest = store.newest()
        if newest is None:
            return
        self.clusterer.resume(newest - ACTIVE_FOR)
        self._newest = newest

    def catch_up(self) -> None:
        """Start again from the store when another analyzer has written to it since this one last did: a
        standby that takes over from an active worker carries on from the active one's last save."""
        if self.store is None or self.store.saves() == self._saves:
            return
        self.clusterer = EventClusterer(self.store)
        self._assigned.clear()
        self._assigned_queue.clear()
        self._newest = self._pruned_at = None
        self._since_prune = 0
        self._published.clear()
        self._pending_posts.clear()
        self._pending_policies.clear()
        self._relinked.clear()
        self._forget_recalled()
        self._batch_left.clear()
        self._batch_open = False
        self._restore(self.store)

    # -- policies ---------------------------------------------------------------------------
    def register_policy(self, policy: Policy) -> Policy:
        """Add a crawled policy document to the registry (kept across restarts)."""
        stored = self.enricher.registry.add(policy)
        self._pending_policies.append(stored)
        return stored

    # -- enrichment -------------------------------------------------------------------------
    def enrich(self, post: Post) -> EnrichedPost:
        """Mask, then sentiment, keywords, places, policies, departments, reprint and event.
        Raises RefusedPost for a post whose times are outside the sane window."""
        return self.assign(self.enricher.annotate(post))

    def assign(self, annotated: Annotated) -> EnrichedPost:
        """The annotated post with its reprint link and event (a post seen before keeps what it was given)."""
        if annotated.policy is not None:
            self._pending_policies.append(annotated.policy)
        if self._batch_left and self._batch_left[0] is annotated:
            self._batch_left.popleft()
        post = annotated.post
        reprint_of, event_id = self._event(post, annotated.clues)
        if reprint_of is None and event_id is None:
            return post
        extra = {**post.extra, REPRINT_OF: reprint_of} if reprint_of else post.extra
        # post.model_copy(update=...) without its generic steps (an EnrichedPost has no extra or private values).
        assigned = {"event_id": event_id, "reprint_of": reprint_of, "extra": extra}
        return _assembled({**post.__dict__, **assigned}, post.model_fields_set | assigned.keys())

    def recall(self, batch: Sequence[Annotated]) -> None:
        """Read what the store holds of a batch's posts, of the posts they may copy and of the threads they are in
        or answer (their pages, the posts they answer) at once, so that assigning them (in this order) asks it
        little more: a few reads a batch instead of several a post. A save in the middle of the batch reads it
        again for the posts left."""
        if self.store is None:
            return
        self._batch_left = deque(batch)
        self._batch_open = True
        self._recall(batch)

    def _recall(self, batch: Sequence[Annotated]) -> None:
        assert self.store is not None
        ids = [post_id for post_id in dict.fromkeys(a.post.id for a in batch) if post_id not in self._assigned]
        self._recalled = self.store.assigned_many(ids)
        self._recalled_ids = set(ids)
        simhashes = [(value, lead) for value, lead in (a.clues.simhashes for a in batch) if value is not None]
        thread_keys = [key for a in batch for key in (_thread_of(a.post), a.post.reply_to) if key]
        self.clusterer.recall(ids, simhashes, thread_keys)

    def _forget_recalled(self) -> None:
        self._recalled = {}
        self._recalled_ids = set()

    def _known(self, post_id: str) -> tuple[str | None, str | None, datetime] | None:
        """(event id, reprint_of, when) of a post analysed before: in memory, else in the store (older than memory
        keeps, still in the store's window)."""
        known = self._assigned.get(post_id)
        if known is not None or self.store is None:
            return known
        if post_id in self._recalled_ids:
            return self._recalled.get(post_id)
        return self.store.assigned(post_id)

    def _event(self, post: EnrichedPost, clues: EventClues) -> tuple[str | None, str | None]:
        known = self._known(post.id)
        if known is not None:  # a re-crawl or a redelivery: same event, counted once
            return known[1], known[0]
        when = in_shared_zone(post.when)
        self._newest = max(self._newest, when) if self._newest else when
        value, lead = clues.simhashes
        text = strip_markup(post.text) if value is not None else ""  # a post too short to be a copy needs none
        reprint_of = self.clusterer.reprint_hashed(post.id, when, text, value, lead)
        metrics = post.metrics
        thread = _thread_of(post)
        traits = PostTraits(
            # str() of these StrEnums is their value, without the enum's value property (two Python calls each).
            id=post.id, when=when, keywords=clues.keywords, platform=str(post.platform), places=post.places,
            areas=clues.areas, sentiment=str(post.sentiment.label) if post.sentiment else None,
            policies=[link.id for link in post.policies] if post.policies else (),
            engagement=metrics.reposts + metrics.comments + metrics.likes,
            anchors=clues.anchors, replies_to=(post.reply_to,) if post.reply_to else (),
            thread=thread, author_anchors=clues.author_anchors, headline=clues.headline,
        )
        event_id = self.clusterer.assign(traits, reprint_of)
        self._remember(post.id, (event_id, reprint_of, when))
        self._since_prune += 1
        self._pending_posts.append(
            (post.id, when, event_id, reprint_of, self.clusterer.reprints.by_id.get(post.id), thread))
        for copy_id, original_id in self.clusterer.take_relinked():
            self._relink(copy_id, original_id)
        if self._save_due():
            self.flush()
        return reprint_of, event_id

    def _save_due(self) -> bool:
        """Whether to write state now: every FLUSH_EVERY posts, so a crash loses little. A recalled batch is written
        at its end (`changed_events`, before it is committed), so in one only while more than FLUSH_EVERY of it wait:
        a batch of up to twice FLUSH_EVERY posts is written once, not once more for its last few posts and the
        titles its events then choose."""
        pending = len(self._pending_posts)
        return pending >= FLUSH_EVERY and (not self._batch_open or pending + len(self._batch_left) > 2 * FLUSH_EVERY)

    def _remember(self, post_id: str, assigned: tuple[str | None, str | None, datetime]) -> None:
        self._assigned[post_id] = assigned
        heapq.heappush(self._assigned_queue, (assigned[2], post_id))

    def _relink(self, copy_id: str, original_id: str) -> None:
        """A post analysed before turned out to copy one that arrived later: remember it and tell the index."""
        known = self._known(copy_id)
        if known is None:
            return
        event_id, _, when = known
        self._remember(copy_id, (event_id, original_id, when))
        fingerprint = self.clusterer.reprints.by_id.get(copy_id)
        self._pending_posts.append((copy_id, when, event_id, original_id, fingerprint, None))
        self._relinked.append(ReprintLink(post_id=copy_id, reprint_of=original_id))

    def take_relinked(self) -> list[ReprintLink]:
        """Posts already handed out that are now known to be copies: what the index must update."""
        relinked, self._relinked = self._relinked, []
        return relinked

    # -- events and state -------------------------------------------------------------------
    def changed_events(self) -> list[Event]:
        """Events created or changed in substance (`_substance`) since the last call: what the index must
        upsert, once per batch however many of its posts an event took.

        State is written first, so what goes to the index is also in the state store: a crash
        after the batch is committed loses no event. The events are taken before it is written, as taking
        them chooses their titles."""
        self._batch_open = False
        events = self.clusterer.take_changed()
        if self._pending_posts or self._pending_policies or self.clusterer.unsaved:
            try:
                self.flush()
            except BaseException:
                # Not saved, so not handed out: the batch is delivered again (the store's outage waited out) and
                # its posts keep their events, which must then still be counted as changed.
                self.clusterer.changed.update(event.id for event in events)
                raise
        changed = []
        for event in events:
            substance = hash(_substance(event))
            if self._published.get(event.id) != substance:
                self._published[event.id] = substance
                changed.append(event)
        return changed

    def flush(self) -> None:
        """Write what changed since the last flush to the state store."""
        if self.store is not None:
            events = [self.clusterer.events[eid] for eid in self.clusterer.unsaved if eid in self.clusterer.events]
            self._saves = self.store.save(events, self._pending_posts, self._pending_policies)
            self._forget_recalled()  # the store has changed since it was read
            self._assigned.clear()
            self._assigned_queue.clear()
        self._pending_posts.clear()
        self._pending_policies.clear()
        self.clusterer.saved()
        self._forget_old()
        if self._batch_left:  # saved in the middle of a batch: what the store said of the rest has changed
            self._recall(self._batch_left)

    def _forget_old(self) -> None:
        """Drop from memory what a post of the watermark's time can no longer join (the store keeps it for
        as long as the windows need it). Costs what is forgotten, so it runs after every hour of watermark
        or every PRUNE_EVERY_POSTS posts, whichever comes first."""
        newest = self._newest
        if newest is None:
            return
        if self._since_prune < PRUNE_EVERY_POSTS and self._pruned_at and newest - self._pruned_at < PRUNE_EVERY:
            return
        self._pruned_at, self._since_prune = newest, 0
        for event_id in self.clusterer.prune(newest):
            self._published.pop(event_id, None)
        cutoff = newest - ACTIVE_FOR
        queue = self._assigned_queue
        while queue and queue[0][0] < cutoff:
            _, post_id = heapq.heappop(queue)
            known = self._assigned.get(post_id)
            if known is not None and known[2] < cutoff:
                del self._assigned[post_id]
        if self.store is not None:
            self.store.forget_before(cutoff)

    def held(self) -> dict[str, int]:
        """How much the analyzer holds in memory: posts, fingerprints, events and thread keys."""
        return {"posts": len(self._assigned), **self.clusterer.held()}

    def close(self) -> None:
        """Persist everything; the analyzer must not be used afterwards."""
        self.flush()
        if self.store is not None:
            self.store.close()
            self.store = None
