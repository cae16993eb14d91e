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
from dataclasses import dataclass
from operator import add

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
