"""Word segmentation, done once per text with jieba's words and our user dictionary.

Every analysis step that needs words (sentiment, keywords, places, policies, events) takes them
from one `Segmenter`, so that a term of the user dictionary is one token everywhere. It segments
with jieba's HMM off: unknown words then fall apart into known pieces, which costs little accuracy
and makes segmentation several times faster. The cut itself is jieba-rs's (`rjieba`, the Rust port
of jieba; on new text it segments 3.5 times as fast as our Python route did), made to give jieba's
words to the bit (see `stores.language.rust_jieba`); jieba's own tokenizer keeps the vocabulary the
terms added at run time are weighed against. Both are built at the edge (`stores.language`) and
handed in: nothing here reads a file.
"""

from __future__ import annotations

import re
import sys
from collections.abc import Iterable, Sequence
from itertools import chain
from types import ModuleType
from typing import TYPE_CHECKING, NamedTuple

from analysis.text import split_weibo

if TYPE_CHECKING:
    from jieba import Tokenizer
    from rjieba import Jieba as RustJieba


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
# jieba-rs's blocks take more CJK ranges: it is handed jieba's blocks one at a time, never a whole text.
_BLOCK = jieba.re_han_default
# Its blocks and the runs of whitespace between them (which hold no block character), split apart in one scan: a run
# of whitespace is a piece with no words (analysis words drop whitespace), so the characters left between are words.
_BLOCK_OR_SPACE = re.compile(rf"({_BLOCK.pattern.removeprefix('(').removesuffix(')')}|\s+)")
# Inner punctuation of a dictionary term (双随机、一公开) that jieba never keeps inside a token.
_INNER_PUNCTUATION = re.compile(r"[、，·\s]")
BLOCK_CACHE_SIZE = 300_000


class Segmenter:
    """The analysis words of texts: jieba's HMM-off cut with our dictionary and the terms analysis
    adds at run time (place and department names, watched terms, policy keywords).

    `tokenizer`: a jieba tokenizer with jieba's dictionary and our user dictionary loaded, the vocabulary;
    `cutter`: jieba-rs with the same words, counts and total (`stores.language.rust_jieba`), the cut;
    `dictionary_terms`: the user dictionary's terms (those with inner punctuation are joined first).
    """

    def __init__(self, tokenizer: Tokenizer, cutter: RustJieba, dictionary_terms: Iterable[str] = ()) -> None:
        self.tokenizer = tokenizer
        self._cutter = cutter
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
        # How many times terms were added: words of a text kept elsewhere are stale once this moves.
        self.dictionary_changes = 0

    def add_terms(self, terms: Iterable[str]) -> None:
        """Make each term one analysis token from now on: names of places, departments, policies."""
        tok = self.tokenizer
        added = False
        for term in terms:
            term = term.strip()
            # Not in FREQ: neither a word nor the prefix of one (jieba adds no term that is).
            if term and term not in tok.FREQ:
                tok.add_word(term)  # the count jieba suggests for it, added to jieba's total
                self._cutter.add_word(term, tok.FREQ[term], None)  # the same count, so the same total
                added = True
        if added:
            self.dictionary_changes += 1
            self._block_cache.clear()

    def fast_words(self, text: str) -> list[str]:
        """Analysis words of a text: jieba's HMM-off cut with the analysis vocabulary, whitespace dropped.

        jieba cuts each run of CJK/alphanumeric characters on its own and every other character
        alone; so does this, with each run's words cut by jieba-rs and cached.
        """
        # Splitting on a capturing pattern alternates: other characters, a block or whitespace, other characters...
        pieces = _BLOCK_OR_SPACE.split(text)
        blocks = pieces[1::2]
        cache = self._block_cache
        try:
            pieces[1::2] = map(cache.__getitem__, blocks)
        except KeyError:  # blocks not cut before: only those are cut (most texts bring one or two)
            self._cut_new(blocks)
            pieces[1::2] = map(cache.__getitem__, blocks)
        # A block's words, then the other characters one by one (a string iterates over its characters), in order.
        return list(chain.from_iterable(pieces))

    def _cut_new(self, blocks: list[str]) -> None:
        """Cut the blocks not cached yet with jieba-rs and cache their words. A cache those would take past
        BLOCK_CACHE_SIZE is emptied first, and all the blocks are cut."""
        cache = self._block_cache
        new = set(blocks).difference(cache)
        if len(cache) + len(new) > BLOCK_CACHE_SIZE:
            cache.clear()
            new = set(blocks)
        cut = self._cutter.cut
        cache.update({block: [] if block.isspace() else cut(block, False) for block in new})

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

    def display_forms(self, words: Sequence[str]) -> list[str]:
        """`display_form` of each word, in one C-level pass."""
        return list(map(self._display.get, words, words))

    def segment_post(self, text: str) -> SegmentedPost:
        """Split a post at its repost chain and segment both parts (HMM off)."""
        # Segmenting drops whitespace (`fast_words`): the parts' runs of it need not be made one space first.
        parts = split_weibo(self.join_phrases(text), tidy_spaces=False)
        own = self.fast_words(parts.own) + parts.own_emoticons
        quoted = (self.fast_words(parts.chain) + parts.chain_emoticons if parts.chain
                  else list(parts.chain_emoticons))
        return SegmentedPost(own=own, quoted=quoted)


class SegmentedPost(NamedTuple):
    """A post segmented once: the author's words and the words it quotes from its repost chain.

    Emoticon codes ([怒], [赞]) are whole tokens at the end of each list. A named tuple: made for every post, in less
    time than a frozen dataclass."""

    own: list[str]
    quoted: list[str]

    @property
    def all_words(self) -> list[str]:
        return self.own + self.quoted
