"""The extract shown under a search hit, the same on both backends: a window of the post around
the first word the query asked for, every such word in it marked."""

from __future__ import annotations

from search.base import SnippetPart
from search.ngrams import needle, normalize
from search.query import Text
from yuqing.schema import EnrichedPost

WIDTH = 100  # characters in a snippet
LEAD = 30  # characters kept before the first match


def _comparable(text: str) -> str:
    """`text` normalised character by character, so positions still point into the original."""
    out = []
    for ch in text:
        folded = normalize(ch)
        out.append(folded if len(folded) == 1 else ch.lower())
    return "".join(out)


def _spans(text: str, needles: list[str]) -> list[tuple[int, int]]:
    """Non-overlapping (start, end) of every needle in `text`, in order; longer needles first."""
    haystack = _comparable(text)
    taken: list[tuple[int, int]] = []
    for word in sorted(set(needles), key=len, reverse=True):
        start = haystack.find(word)
        while start >= 0:
            end = start + len(word)
            if all(end <= s or start >= e for s, e in taken):
                taken.append((start, end))
            start = haystack.find(word, end)
    return sorted(taken)


def snippet(post: EnrichedPost, texts: list[Text], width: int = WIDTH) -> list[SnippetPart]:
    """A window of the post's text (or title, when only the title matches) around the first match."""
    needles = [n for n in (needle(t.value) for t in texts) if n]
    body = " ".join((post.masked_text or post.text).split())
    spans = _spans(body, needles)
    if not spans and post.title and (title_spans := _spans(post.title, needles)):
        body, spans = post.title, title_spans
    if not body and post.title:
        body = post.title
    start = max(0, spans[0][0] - LEAD) if spans else 0
    end = min(len(body), start + width)
    parts: list[SnippetPart] = []
    if start > 0:
        parts.append(SnippetPart(text="…"))
    at = start
    for s, e in spans:
        if s < at or e > end:
            continue
        if s > at:
            parts.append(SnippetPart(text=body[at:s]))
        parts.append(SnippetPart(text=body[s:e], match=True))
        at = e
    if end > at:
        parts.append(SnippetPart(text=body[at:end]))
    if end < len(body):
        parts.append(SnippetPart(text="…"))
    return parts
