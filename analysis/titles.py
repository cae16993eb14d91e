"""Headlines for events: short titles a person would write, taken from the event's own text.

Each post offers at most one candidate: its own title (a news, board, forum or policy title, or a
weibo's 【…】 headline), else its #topic#, else the first clause of its text. An event shows the
candidate of the highest kind whose post is most central to it (closest to its keyword centroid),
shortened to at most `MAX_TITLE_CHARS` at a clause boundary. The keyword label stays for search.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from enum import IntEnum
from functools import cached_property
from typing import Any

MAX_TITLE_CHARS = 20
# A shortened title shorter than this says too little ("市住建局"): the next clause is tried instead.
MIN_TITLE_CHARS = 6


class HeadlineKind(IntEnum):
    """Where a candidate comes from, weakest first: a written title beats a topic, a topic a clause."""

    CLAUSE = 1
    TOPIC = 2
    TITLE = 3


# How much each kind counts against centrality: a headline a newsroom or a complainant wrote is
# preferred unless a clause is far more central.
KIND_WEIGHT = {HeadlineKind.CLAUSE: 0.6, HeadlineKind.TOPIC: 0.8, HeadlineKind.TITLE: 1.0}

_BRACKETED = re.compile(r"^\s*【([^】]{4,60})】")
_HASHTAG = re.compile(r"#([^#\s]{2,40})#")
_NOISE = re.compile(
    r"//@[^:：]{1,30}[:：].*$"  # a repost chain: what follows is other people's words
    r"|@[\w\u4e00-\u9fff-]{1,30}"  # mentions
    r"|\[[\u4e00-\u9fffA-Za-z]{1,8}\]"  # emoticons such as [怒]
    r"|https?://\S+"
    # One branch per bracket, not [（(]: every branch starts with a literal, so `re` skips to the characters that
    # can start one instead of trying every branch at every character.
    r"|（来源[:：][^）)]{1,30}[）)]"
    r"|\(来源[:：][^）)]{1,30}[）)]",
    re.S,
)
_SENTENCE_END = re.compile(r"[。！？!?；;\n]")
# Clause separators inside a headline; the kept part never ends on one of them.
_SEPARATOR = re.compile(r"(\s+|[，,：:｜|—/])")
_EDGE_HASHTAGS = re.compile(r"^(?:#[^#\s]{2,40}#\s*)+|(?:\s*#[^#\s]{2,40}#)+$")
_DOCUMENT = re.compile(r"^.{0,12}?关于(?:印发|转发)?[《“]?(.{6,}?)[》”]?的(?:实施)?(?:通知|意见|决定|批复|函|公告|通告)$")
_COLUMN = re.compile(r"^[^｜|]{2,8}[｜|]")
_TRIM = " \t，,。.：:；;！!？?、｜|—-·"


def _clean(text: str) -> str:
    """A leading or trailing #topic# dropped when the rest says enough (【#消费季# 第三批消费券开抢】),
    inner ones unwrapped (全市首批#保障性租赁住房#项目 → 全市首批保障性租赁住房项目); a document's
    关于印发《…》的通知 reduced to what it is about."""
    text = " ".join(text.split())
    # Each pattern needs a mark most titles lack: a substring test is cheaper than the pattern's scan.
    if "#" in text:
        rest = _EDGE_HASHTAGS.sub("", text)
        text = _HASHTAG.sub(r"\1", rest if len(rest.strip(_TRIM)) >= MIN_TITLE_CHARS else text)
    document = _DOCUMENT.match(text) if "关于" in text else None
    return document.group(1) if document else text


_PAIRS = (("“", "”"), ("《", "》"), ("（", "）"), ("(", ")"))
_PAIRED_MARKS = frozenset(mark for pair in _PAIRS for mark in pair)


def _balanced(text: str) -> str:
    """Without a quotation mark whose partner was cut off (“惠享菏泽”消费季… cut after 惠享)."""
    # Most candidates hold no mark: one pass over the text (in C) instead of two counts per pair.
    if not _PAIRED_MARKS.isdisjoint(text):
        for opening, closing in _PAIRS:
            if text.count(opening) != text.count(closing):
                text = text.replace(opening, "").replace(closing, "")
    return text.strip(_TRIM)


def shorten(text: str, limit: int = MAX_TITLE_CHARS) -> str | None:
    """`text` cut to at most `limit` characters at clause boundaries (a single clause too long is
    cut and marked with …), or None when nothing is left.

    Clauses are kept from the start while they fit ("全市首批保障性租赁住房项目集中签约 将提供…" →
    its first part); a column name before ｜ ("记者探访｜") is dropped, and so is a leading label
    too short to say anything ("市住建局：") when what follows does not fit with it. A clause that
    only introduces a quote ("居民：") never ends a title."""
    text = _clean(text).strip(_TRIM)
    column = _COLUMN.match(text)
    if column and len(text) - column.end() >= MIN_TITLE_CHARS:
        text = text[column.end():].strip(_TRIM)
    if not text:
        return None
    if len(text) <= limit:
        return _balanced(text)
    parts = _SEPARATOR.split(text)  # clause, separator, clause, ...
    for start in range(0, min(len(parts), 5), 2):
        kept = ""
        for index in range(start, len(parts), 2):
            joined = kept + (parts[index - 1] if index > start else "") + parts[index]
            speaker = index + 1 < len(parts) and parts[index + 1] in ("：", ":")
            if len(joined.strip(_TRIM)) > limit or (speaker and kept):
                break
            kept = joined
        kept = _balanced(kept)
        if len(kept) >= MIN_TITLE_CHARS:
            return kept
    return _balanced(text[: limit - 1]) + "…"


def first_clause(text: str) -> str | None:
    """The first sentence of a post's own words, without mentions, emoticons or a repost chain."""
    own = _HASHTAG.sub(" ", text) if "#" in text else text
    # Each kind of noise needs a character most posts lack: a substring test is cheaper than the scan.
    if any(mark in own for mark in ("@", "[", "http", "来源")):
        own = _NOISE.sub("", own)
    for sentence in _SENTENCE_END.split(own):
        # "各县区人民政府，市政府各部门：" addresses the readers; what follows is the text.
        if len(sentence.strip(_TRIM)) >= MIN_TITLE_CHARS and not sentence.rstrip().endswith(("：", ":")):
            return shorten(sentence)
    return None


# Only a post's opening is read for its headline: a long article costs no more than a weibo.
HEAD_CHARS = 300


def headline_of(title: str | None, text: str) -> tuple[str, HeadlineKind] | None:
    """The one headline candidate a post offers (already masked text in, short text out)."""
    text = text[:HEAD_CHARS]
    bracketed = _BRACKETED.findall(text)[:1] if "【" in text else []
    for written in (title, *bracketed):
        if written and (short := shorten(written)):
            return short, HeadlineKind.TITLE
    for tag in _HASHTAG.findall(text) if "#" in text else ():
        if (short := shorten(tag)) is not None:
            return short, HeadlineKind.TOPIC
    clause = first_clause(text)
    return (clause, HeadlineKind.CLAUSE) if clause else None


@dataclass
class Headline:
    """A candidate title of an event, with the keywords of the post it came from."""

    text: str
    kind: HeadlineKind
    terms: dict[str, float]

    @cached_property
    def _norm(self) -> float:
        """Of its terms, which do not change: an event's candidates are scored again at every post it takes."""
        return sum(w * w for w in self.terms.values()) ** 0.5 or 1.0

    def score(self, centroid: Mapping[str, float], centroid_norm: float) -> float:
        """Kind weight times (a little plus) the cosine of the post's keywords with the event's."""
        # A list summed, not a generator: every candidate of every event taken is scored at each batch. A term the
        # centroid lacks would add 0.0, which changes no sum: left out, with a test instead of a call of centroid.get.
        cosine = sum([w * centroid[t] for t, w in self.terms.items() if t in centroid]) / (self._norm * (centroid_norm or 1.0))
        return KIND_WEIGHT[self.kind] * (0.2 + cosine)

    def to_json(self) -> list[object]:
        return [self.text, int(self.kind), self.terms]

    @classmethod
    def from_json(cls, data: Sequence[Any]) -> Headline:
        """The headline `to_json` wrote, as a JSON decoder gave it back: its terms are the decoder's dict (JSON keys
        are strings, weights written as floats read back as floats), not a copy."""
        text, kind, terms = data
        return cls(text, HeadlineKind(kind), terms)


def composed_title(anchor: str | None, places: Sequence[str], keywords: Sequence[str]) -> str | None:
    """For an event whose posts offer no candidate: the estate (or place) and the action."""
    where = anchor or (places[0] if places else "")
    action = next((k for k in keywords if k not in where and k not in places), "")
    return shorten(f"{where}{action}") if where or action else None
