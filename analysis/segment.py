"""Word segmentation, done once per text with jieba and our user dictionary.

Every analysis step that needs words (sentiment, keywords, places, policies, events) takes them
from one `Segmenter`, so that a term of the user dictionary is one token everywhere. It segments
with jieba's HMM off: unknown words then fall apart into known pieces, which costs little accuracy
and makes segmentation several times faster. Its jieba tokenizer, dictionary and user dictionary
loaded, is built at the edge (`stores.language`) and handed in: nothing here reads a file.
"""

from __future__ import annotations

import math
import re
import sys
from collections.abc import Iterable
from dataclasses import dataclass
from types import ModuleType
from typing import TYPE_CHECKING

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

# What jieba's `Tokenizer.cut` calls a block: a run of CJK and alphanumeric characters, cut on its own.
_BLOCK = jieba.re_han_default
# Inner punctuation of a dictionary term (双随机、一公开) that jieba never keeps inside a token.
_INNER_PUNCTUATION = re.compile(r"[、，·\s]")

# jieba's own word scores, log(freq) - log(total), for the dictionary entries met so far: one probe
# tells a word (its score) or a mere prefix of a word. Fragments not in the dictionary are not kept
# (mostly new text each time: they would only fill memory), so the table never outgrows jieba's.
_PREFIX_ONLY = 1.0  # log-probabilities are negative, so the marker never clashes with a score
# jieba joins consecutive single letters and digits into one word (only single characters are members).
_SINGLE_ALNUM = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789")
BLOCK_CACHE_SIZE = 300_000


def _route(tok: Tokenizer, table: dict[str, float], block: str) -> list[str]:
    """jieba's HMM-off cut of one block of CJK/alphanumeric text, computed in one pass.

    The same dictionary, the same best-route rule (highest log-probability, the longer word on a tie),
    the same float arithmetic and the same joining of single letters and digits as
    `Tokenizer.lcut(block, HMM=False)`; tests check both agree. jieba builds a DAG of candidates and
    a generator per position; doing both in one loop with cached scores (`table`) is about three times as fast.
    """
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


class Segmenter:
    """The analysis words of texts: jieba's HMM-off cut with our dictionary and the terms analysis
    adds at run time (place and department names, watched terms, policy keywords).

    `tokenizer`: a jieba tokenizer with jieba's dictionary and our user dictionary loaded;
    `dictionary_terms`: the user dictionary's terms (those with inner punctuation are joined first).
    """

    def __init__(self, tokenizer: Tokenizer, dictionary_terms: Iterable[str] = ()) -> None:
        self.tokenizer = tokenizer
        # Dictionary terms with inner punctuation (双随机、一公开): jieba never keeps those whole, so the
        # text is rewritten to the compact dictionary form first. Compact form -> written form.
        self._display: dict[str, str] = {}
        for term in dictionary_terms:
            compact = _INNER_PUNCTUATION.sub("", term)
            if term and compact != term:
                self._display[compact] = term
        self._phrases = (re.compile("|".join(re.escape(term) for term in self._display.values()))
                         if self._display else None)
        # Words of each block already segmented (reposted chains, hashtags and stock phrases recur).
        self._block_cache: dict[str, list[str]] = {}
        # See `_route`; emptied when the dictionary grows (add_terms changes the total).
        self._fragment_scores: dict[str, float] = {}
        self._fragment_scores_total = float(tokenizer.total)
        # How many times terms were added: words of a text kept elsewhere are stale once this moves.
        self.dictionary_changes = 0

    def add_terms(self, terms: Iterable[str]) -> None:
        """Make each term one analysis token from now on: names of places, departments, policies."""
        tok = self.tokenizer
        added = False
        for term in terms:
            term = term.strip()
            if term and term not in tok.FREQ:
                tok.add_word(term)
                added = True
        if added:
            self.dictionary_changes += 1
            self._block_cache.clear()
            self._fragment_scores.clear()

    def _fragment_table(self) -> dict[str, float]:
        if self._fragment_scores_total != self.tokenizer.total:
            self._fragment_scores.clear()
            self._fragment_scores_total = self.tokenizer.total
        return self._fragment_scores

    def fast_words(self, text: str) -> list[str]:
        """Analysis words of a text: jieba's HMM-off cut with the analysis vocabulary, whitespace dropped.

        jieba cuts each run of CJK/alphanumeric characters on its own and every other character
        alone; so does this, with each run's words cached and computed by `_route`.
        """
        tok = self.tokenizer
        table = self._fragment_table()
        cache = self._block_cache
        found: list[str] = []
        # Splitting on a capturing pattern alternates: other characters, a block, other characters...
        for index, piece in enumerate(_BLOCK.split(text)):
            if index % 2:
                block_words = cache.get(piece)
                if block_words is None:
                    block_words = _route(tok, table, piece)
                    if len(cache) >= BLOCK_CACHE_SIZE:
                        cache.clear()
                    cache[piece] = block_words
                found.extend(block_words)
            elif piece:
                found.extend("".join(piece.split()))  # its characters, whitespace dropped
        return found

    def forget_blocks(self) -> None:
        """Drop the cached words of blocks (a benchmark's fresh start)."""
        self._block_cache.clear()

    def join_phrases(self, text: str) -> str:
        """Rewrite punctuated dictionary phrases to their one-token form."""
        if self._phrases is None:
            return text
        return self._phrases.sub(lambda m: _INNER_PUNCTUATION.sub("", m.group(0)), text)

    def display_form(self, word: str) -> str:
        """The written form of a token (双随机一公开 → 双随机、一公开)."""
        return self._display.get(word, word)

    def segment_post(self, text: str) -> SegmentedPost:
        """Split a post at its repost chain and segment both parts (HMM off)."""
        # Segmenting drops whitespace (`fast_words`): the parts' runs of it need not be made one space first.
        parts = split_weibo(self.join_phrases(text), tidy_spaces=False)
        own = self.fast_words(parts.own) + parts.own_emoticons
        quoted = (self.fast_words(parts.chain) + parts.chain_emoticons if parts.chain
                  else list(parts.chain_emoticons))
        return SegmentedPost(own=own, quoted=quoted)


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
