"""Word segmentation, done once per text with jieba and our user dictionary.

Every stage that needs words (sentiment, keywords, places, events, the full-text index) takes
them from here so that a term in the user dictionary is one token everywhere. The analysis
path segments with jieba's HMM off: unknown words then fall apart into known pieces, which
costs little accuracy and makes segmentation several times faster.
"""

from __future__ import annotations

import logging
import math
import re
import sys
from collections.abc import Iterable
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from types import ModuleType
from typing import TYPE_CHECKING

from analysis.tables import kept_table
from analysis.text import split_weibo

if TYPE_CHECKING:
    from jieba import Tokenizer


def _import_jieba() -> ModuleType:
    # jieba imports pkg_resources (about 0.1 s of start-up) only to open its own data files, and
    # opens them by path when that import fails; so the import is made to fail, for jieba alone.
    if "pkg_resources" in sys.modules:
        import jieba
        return jieba
    sys.modules["pkg_resources"] = None  # type: ignore[assignment]  # makes `import pkg_resources` fail
    try:
        import jieba
    finally:
        del sys.modules["pkg_resources"]
    return jieba


jieba = _import_jieba()

USER_DICT = Path(__file__).resolve().parent / "data" / "user_dict.txt"

jieba.setLogLevel(logging.WARNING)


def _dictionary_key() -> str:
    """What jieba's prefix dictionary is built from: an upgrade or another dictionary builds a new one."""
    source = Path(str(jieba.__file__)).resolve().parent / jieba.DEFAULT_DICT_NAME
    stat = source.stat()
    return f"{jieba.__version__}|{source}|{stat.st_size}|{stat.st_mtime_ns}"


def _prefix_dictionary() -> tuple[dict[str, int], int]:
    """jieba's prefix dictionary (word or prefix -> count) and total count, as `Tokenizer.initialize`
    builds them, but kept by the table keeper: jieba reads its own cache through `marshal.load(file)`,
    three times slower than `marshal.loads` of the file's bytes (about 0.7 s against 0.22 s per process)."""
    return kept_table(
        "jieba", _dictionary_key(),
        lambda: jieba.Tokenizer.gen_pfdict(jieba.Tokenizer().get_dict_file()),
        lambda value: isinstance(value, tuple) and len(value) == 2 and isinstance(value[0], dict)
        and isinstance(value[1], int),
    )


def _new_tokenizer(*, user_dict: bool) -> Tokenizer:
    tok = jieba.Tokenizer()
    # What `initialize` sets, from the faster cache (each tokenizer gets its own dictionary).
    tok.FREQ, tok.total = _prefix_dictionary()
    tok.initialized = True
    if user_dict and USER_DICT.exists():
        tok.load_userdict(str(USER_DICT))
    return tok


@lru_cache(maxsize=1)
def tokenizer() -> Tokenizer:
    """A jieba tokenizer with our user dictionary, loaded lazily once per process."""
    return _new_tokenizer(user_dict=True)


@lru_cache(maxsize=1)
def analysis_tokenizer() -> Tokenizer:
    """The analysis path's own tokenizer: our user dictionary plus the terms analysis adds at run
    time (place and department names, watched terms, policy keywords). It is kept apart from
    `tokenizer()` so `words()` cuts a text the same way whatever data files are loaded."""
    return _new_tokenizer(user_dict=True)


def add_terms(terms: Iterable[str]) -> None:
    """Make each term one analysis token from now on: names of places, departments, policies."""
    tok = analysis_tokenizer()
    added = False
    for term in terms:
        term = term.strip()
        if term and term not in tok.FREQ:
            tok.add_word(term)
            added = True
    if added:
        _block_cache.clear()
        _fragment_scores.clear()


# jieba's own word scores, log(freq) - log(total), for the dictionary entries met so far: one probe
# tells a word (its score) or a mere prefix of a word. Fragments not in the dictionary are not kept
# (mostly new text each time: they would only fill memory), so the table never outgrows jieba's.
# Emptied when the dictionary grows (add_terms changes the total).
_PREFIX_ONLY = 1.0  # log-probabilities are negative, so the marker never clashes with a score
_fragment_scores: dict[str, float] = {}
_fragment_scores_total: list[float] = [0.0]
# jieba joins consecutive single letters and digits into one word (only single characters are members).
_SINGLE_ALNUM = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789")


def _fragment_table(tok: Tokenizer) -> dict[str, float]:
    if _fragment_scores_total[0] != tok.total:
        _fragment_scores.clear()
        _fragment_scores_total[0] = tok.total
    return _fragment_scores


def _route(tok: Tokenizer, block: str) -> list[str]:
    """jieba's HMM-off cut of one block of CJK/alphanumeric text, computed in one pass.

    The same dictionary, the same best-route rule (highest log-probability, the longer word on a tie),
    the same float arithmetic and the same joining of single letters and digits as
    `Tokenizer.lcut(block, HMM=False)`; tests check both agree. jieba builds a DAG of candidates and
    a generator per position; doing both in one loop with cached scores is about three times as fast.
    """
    table = _fragment_table(tok)
    lookup = table.get
    in_dictionary = tok.FREQ.get
    log_total = math.log(tok.total)
    size = len(block)
    best = [0.0] * (size + 1)
    end = list(range(size + 1))
    for start in range(size - 1, -1, -1):
        top = -math.inf
        last = start
        stop = start
        fragment = block[start]
        while True:
            score = lookup(fragment)
            if score is None:
                count = in_dictionary(fragment)
                if count is None:  # no dictionary word starts with this fragment
                    break
                score = table[fragment] = math.log(count) - log_total if count else _PREFIX_ONLY
            if score != _PREFIX_ONLY:
                candidate = score + best[stop + 1]
                if candidate >= top:
                    top, last = candidate, stop
            stop += 1
            if stop == size:
                break
            fragment = block[start : stop + 1]
        if top == -math.inf:  # no dictionary word starts here: the character alone
            top = (0.0 - log_total) + best[start + 1]
        best[start], end[start] = top, last
    found: list[str] = []
    letters = ""
    position = 0
    while position < size:
        following = end[position] + 1
        word = block[position:following]
        if word in _SINGLE_ALNUM:
            letters += word
        else:
            if letters:
                found.append(letters)
                letters = ""
            found.append(word)
        position = following
    if letters:
        found.append(letters)
    return found


# Words of each block already segmented (reposted chains, hashtags and stock phrases recur).
_block_cache: dict[str, list[str]] = {}
BLOCK_CACHE_SIZE = 300_000


def fast_words(text: str) -> list[str]:
    """Analysis words of a text: jieba's HMM-off cut with the analysis vocabulary, whitespace dropped.

    jieba cuts each run of CJK/alphanumeric characters on its own and every other character
    alone; so does this, with each run's words cached and computed by `_route`.
    """
    tok = analysis_tokenizer()
    cache = _block_cache
    found: list[str] = []
    # Splitting on a capturing pattern alternates: other characters, a block, other characters...
    for index, piece in enumerate(jieba.re_han_default.split(text)):
        if index % 2:
            block_words = cache.get(piece)
            if block_words is None:
                block_words = _route(tok, piece)
                if len(cache) >= BLOCK_CACHE_SIZE:
                    cache.clear()
                cache[piece] = block_words
            found.extend(block_words)
        elif piece:
            found.extend("".join(piece.split()))  # its characters, whitespace dropped
    return found


@lru_cache(maxsize=1)
def _punctuated_phrases() -> tuple[re.Pattern[str] | None, dict[str, str]]:
    """Dictionary terms with inner punctuation (双随机、一公开): jieba never keeps those whole, so the
    text is rewritten to the compact dictionary form first. Returns the pattern and compact → display."""
    display: dict[str, str] = {}
    if USER_DICT.exists():
        for line in USER_DICT.read_text(encoding="utf-8").splitlines():
            term = line.split(" ")[0]
            compact = re.sub(r"[、，·\s]", "", term)
            if term and compact != term:
                display[compact] = term
    if not display:
        return None, display
    pattern = re.compile("|".join(re.escape(term) for term in display.values()))
    return pattern, display


def join_phrases(text: str) -> str:
    """Rewrite punctuated dictionary phrases to their one-token form."""
    pattern, _ = _punctuated_phrases()
    if pattern is None:
        return text
    return pattern.sub(lambda m: re.sub(r"[、，·\s]", "", m.group(0)), text)


def display_form(word: str) -> str:
    """The written form of a token (双随机一公开 → 双随机、一公开)."""
    return _punctuated_phrases()[1].get(word, word)


def words(text: str, *, hmm: bool = True) -> list[str]:
    """Words of `text` in order, without whitespace tokens."""
    return [w for w in tokenizer().lcut(text, HMM=hmm) if w.strip()]


@dataclass(frozen=True)
class SegmentedPost:
    """A post segmented once: the author's words and the words it quotes from its repost chain.

    Emoticon codes ([怒], [赞]) are whole tokens at the end of each list.
    """

    own: list[str]
    quoted: list[str]

    @property
    def all_words(self) -> list[str]:
        return self.own + self.quoted


def segment_post(text: str) -> SegmentedPost:
    """Split a post at its repost chain and segment both parts (HMM off)."""
    parts = split_weibo(join_phrases(text))
    own = fast_words(parts.own) + parts.own_emoticons
    quoted = fast_words(parts.chain) + parts.chain_emoticons if parts.chain else list(parts.chain_emoticons)
    return SegmentedPost(own=own, quoted=quoted)
