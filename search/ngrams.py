"""How both indexes cut Chinese text into searchable tokens: character bigrams.

A word segmenter decides where words end, and a query word inside a longer word (老旧小区 in the
hashtag #牡丹区老旧小区改造#, 停水 in 停水通知) is then missed whenever the segmenter cut the text
differently from the query. So the indexes do not rely on segmentation: every run of Chinese
characters is stored as its overlapping character pairs (老旧 旧小 小区 区改 改造 造 for 老旧小区改造,
the run's last character alone at the end), and a query word is matched as the phrase of its own
pairs. A post is found exactly when the word is a substring of its title or text, ignoring case
and full-width forms; where the query word has punctuation or a space, any punctuation or space
of the text matches it. Letters and digits form whole lowercased words (`5G` matches `5g` but
not `5gh`). A single Chinese character at the end of a query word is matched as a prefix, so 水
finds 停水 and 水管.

SQLite FTS5 stores these tokens under its `ascii` tokenizer and Elasticsearch under a whitespace
analyzer, so both backends find the same posts.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cache
from operator import add

import numpy as np

_HAN = "\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff"
_RUNS = re.compile(rf"([{_HAN}]+)|([^\W_{_HAN}]+)")
# Whitespace between two Chinese characters in a phrase carries no meaning ("供水 公司" = 供水公司).
_HAN_GAP = re.compile(rf"(?<=[{_HAN}])\s+(?=[{_HAN}])")


# What keeps most Chinese texts from being in NFKC already: full-width punctuation, the ideographic space and the
# ellipsis. Each normalises to ASCII punctuation or spaces, which part tokens as a space does (none of them composes
# with a following mark into a letter or digit), so a text's tokens are the same with them made spaces first; what
# is left is then mostly in NFKC, which `unicodedata.normalize` sees at a glance (2 µs a post instead of 9).
_SEPARATORS_TO_NORMALIZE = re.compile("[\u2026\u3000\uff01-\uff0f\uff1a-\uff20\uff3b-\uff40\uff5b-\uff5e]")


def normalize(text: str) -> str:
    """Full-width forms to ASCII, lower case: what tokens and snippets compare."""
    return unicodedata.normalize("NFKC", text).lower()


def _pairs(run: str) -> list[str]:
    return list(map(add, run, run[1:]))  # each character joined to the next: a third quicker than slicing


# A text's tokens found by the regular expression engine alone: at each Chinese character the pair it begins, or the
# character itself at the end of its run (read ahead, so the next character begins the next pair); at a letter or
# digit, the whole word. The tokens of `_RUNS`'s runs, each run's pairs and last character, without a Python call per
# run: a post has a dozen, and pairing them took the index stage's tokenising a third longer.
_TOKENS = re.compile(rf"(?=([{_HAN}]{{1,2}}|[^\W_{_HAN}]+))(?:[{_HAN}]|[^\W_{_HAN}]+)")


def index_tokens(text: str) -> list[str]:
    """The tokens stored for a text, in order."""
    return _TOKENS.findall(normalize(_SEPARATORS_TO_NORMALIZE.sub(" ", text)))


# What `_TOKENS` makes of each character: a Chinese character begins a pair (or stands alone at its run's end), a letter
# or digit joins its word, anything else parts tokens.
_PARTS, _HAN_CHARACTER, _WORD_CHARACTER = 0, 1, 2
_SPACE = ord(" ")


_KINDS_FOUND = ((re.compile(rf"[^\W_{_HAN}]+"), _WORD_CHARACTER), (re.compile(rf"[{_HAN}]+"), _HAN_CHARACTER))
_BMP = 0x10000  # code points below this are looked up in a table; those above (emoji, rare characters) one by one


@cache
def _kinds_of_bmp() -> np.ndarray:
    """The kind of every code point of the Basic Multilingual Plane, as `_TOKENS` reads it (found by its own
    character classes, once; the planes above would take 16 times as long, for characters seldom written)."""
    every = np.arange(_BMP, dtype=np.uint32).tobytes().decode("utf-32-le", "surrogatepass")
    kinds = np.full(_BMP, _PARTS, dtype=np.int8)
    for pattern, kind in _KINDS_FOUND:
        for run in pattern.finditer(every):
            kinds[run.start() : run.end()] = kind
    return kinds


@cache
def _kind_above_bmp(point: int) -> int:
    return next((kind for pattern, kind in _KINDS_FOUND if pattern.match(chr(point))), _PARTS)


def _kinds_of(points: np.ndarray) -> np.ndarray:
    """What `_TOKENS` makes of each of these code points (`_PARTS`, `_HAN_CHARACTER` or `_WORD_CHARACTER`)."""
    kinds = _kinds_of_bmp()[np.minimum(points, _BMP - 1)]
    above = np.flatnonzero(points >= _BMP)
    if above.size:
        kinds[above] = [_kind_above_bmp(point) for point in points[above].tolist()]
    return kinds


def index_token_texts(texts: Sequence[str]) -> list[str]:
    """`" ".join(index_tokens(text))` of each text (what the full-text index is given), the tokens of all of them
    made at once: each text normalised as `index_tokens` does, then every character's part in the tokens read from
    `_kinds_of` and the tokens written by numpy, a few operations a batch where `_TOKENS` made a string
    a token. Each token is followed by a space in the characters written: a Chinese character by the next one and a
    space when it begins a pair, by a space alone at its run's end; a word's last character by a space."""
    normalized = [normalize(_SEPARATORS_TO_NORMALIZE.sub(" ", text)) for text in texts]
    lengths = np.fromiter(map(len, normalized), dtype=np.intp, count=len(normalized))
    if not lengths.any():
        return [""] * len(texts)
    points = np.frombuffer("".join(normalized).encode("utf-32-le", "surrogatepass"), dtype=np.uint32)
    kinds = _kinds_of(points)
    ends = np.cumsum(lengths)
    following = np.empty_like(kinds)  # the kind of the next character of the same text
    following[:-1] = kinds[1:]
    following[ends[lengths > 0] - 1] = _PARTS
    han, word = kinds == _HAN_CHARACTER, kinds == _WORD_CHARACTER
    pairs = han & (following == _HAN_CHARACTER)
    written = 2 * han.astype(np.intp) + pairs + word + (word & (following != _WORD_CHARACTER))
    starts = np.zeros(len(points) + 1, dtype=np.intp)  # where each character's part is written, and the end
    np.cumsum(written, out=starts[1:])
    out = np.full(starts[-1], _SPACE, dtype=np.uint32)
    kept = han | word
    out[starts[:-1][kept]] = points[kept]
    out[starts[:-1][pairs] + 1] = points[np.flatnonzero(pairs) + 1]
    joined = out.tobytes().decode("utf-32-le")
    # Each text's part, without the space after its last token.
    bounds = starts[np.concatenate([[0], ends])].tolist()
    return [joined[begin : end - 1] if end > begin else "" for begin, end in zip(bounds, bounds[1:], strict=False)]


@dataclass(frozen=True)
class QueryTokens:
    """A query word as consecutive tokens; `prefix`: the last one is a prefix (one Chinese character)."""

    tokens: tuple[str, ...]
    prefix: bool = False


def query_tokens(value: str) -> QueryTokens:
    """The phrase a query word or phrase must match. Empty when it holds no letter, digit or Chinese
    character (the query parser refuses those)."""
    runs = list(_RUNS.finditer(normalize(_HAN_GAP.sub("", value))))
    tokens: list[str] = []
    prefix = False
    for position, match in enumerate(runs):
        han, word = match.groups()
        last = position == len(runs) - 1
        if han:
            tokens.extend(_pairs(han))
            # Inside the query a run ends where the text's run must end too, so its closing single
            # character is required; the query's last run may continue in the text.
            if not last or len(han) == 1:
                tokens.append(han[-1])
            prefix = last and len(han) == 1
        else:
            tokens.append(word)
    return QueryTokens(tuple(tokens), prefix)


def needle(value: str) -> str:
    """What a snippet looks for to mark a query word: its normalised text, Chinese gaps removed."""
    return normalize(_HAN_GAP.sub("", value)).strip()
