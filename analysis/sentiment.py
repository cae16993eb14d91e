"""Sentiment of a post, three ways (positive, neutral, negative), from the jieba words every step shares.

Two parts, both linear in the post's tokens (words, negated words, Weibo emoticons, character bigrams):
- Polarity (positive or negative): SnowNLP's Naive Bayes (snownlp.classification.bayes.Bayes),
  retrained on labelled Weibo posts, plus a logistic regression over the same tokens; the sum of the
  regression's logit and `nb_weight` times the Bayes log-odds is mapped through a monotone curve
  fitted on cross-fitted scores. That is `Sentiment.score`: a calibrated probability that the post is
  positive, assuming positive and negative posts are equally common; the curve is held at 0.5 where
  the logit changes sign, so calibration never moves a decision.
- Tone or none (neutral): a second logistic regression, trained on the posts SMP2020 labels neutral
  and on news headlines (THUCNews, what a factual report reads like) against the emotional posts. A
  post whose neutral logit passes `neutral_threshold`, or whose score is within `neutral_band` of 0.5
  (too close to call), is neutral; both chosen together for the best cross-fitted three-way
  macro-F1. Its calibrated probability of having no tone comes from a curve fitted the same way. `Sentiment.probability` is the calibrated probability of the label given.
Both parts read every occurrence of a token, and both regressions' weights and the Bayes ratios
(times `nb_weight`) sit in one table of complex numbers (polarity + neutral * 1j), so classifying
is one look-up per token, as fast as the Bayes model alone was; the words and the character bigrams of a batch's
posts are looked up and weighed together (`_TokenTable`, `BigramTable`, `SentimentModel.classify_many`). The neutral logit is divided by the
square root of the number of tokens, so a long article is not pushed to an extreme by its length.

Weibo emoticon codes ([哈哈] [泪] [怒] [赞]) are whole tokens whose Bayes ratios count
`emoticon_weight` times: an emoticon is the author's own choice of tone.

What the author quotes is not the author's stance: the repost chain counts `quoted_weight`, text in
《》 (titles of documents, books) and long quotations in “” (a notice quoted before a complaint) do not
count at all. When a post names both the office a press officer answers for (a department, a
linked policy, 政府, 街道办 ...) and another party (a contractor, the 物业, a shop), the clauses about the
other party count `OTHER_PARTY_WEIGHT`: "感谢街道办及时协调，施工队天天半夜施工" is praise of the office.
Training and the measurements are in tools/sentiment_training.py; the model files are read at the edge
(`stores.language`) and handed in.
"""

from __future__ import annotations

import math
import re
from bisect import bisect_right
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from functools import cached_property, lru_cache
from itertools import chain, compress, pairwise
from typing import Any, NamedTuple

import numpy as np

from analysis.text import EMOTICON
from yuqing.schema import Sentiment, SentimentLabel

NEGATORS = frozenset(
    ["不", "没", "没有", "别", "无", "非", "未", "不是", "不要", "不会", "不能", "不该", "并不", "绝不", "毫不", "从不", "从未", "不太", "不够", "难以", "不用", "甭", "勿", "莫", "不再"]
)
# Words that carry no tone in any post; the negators above are deliberately absent.
TONELESS = frozenset(
    ["的", "了", "着", "是", "在", "和", "与", "及", "也", "就", "都", "而", "啊", "吧", "呢", "吗", "哦", "嗯", "呀", "之", "其", "这", "那", "这个", "那个", "我", "你", "他", "她", "它", "我们", "你们", "他们", ",", "。", "、", "：", ":", "；", ";", "“", "”", '"', "'", "‘", "’", "（", "）", "(", ")", "《", "》", "#", "【", "】", "-", "…", "~", "～", "/", "·", "."]
)
CLAUSE_ENDS = frozenset("，。！？!?,.;；")
# A negator flips the tone of the next two words of its clause: "不 是 很 满意" -> "!很", "!满意".
NEGATION_REACH = 2
NEGATED = "!"

# Quoted text is not the author's stance: a title in 《》 never, a quotation in “” or 「」 once it is a
# sentence (this many characters or more; a short “智商感人” in scare quotes is the author's irony).
TITLE_MARKS = ("《", "》")
QUOTATION_MARKS = {"“": "”", "「": "」"}
QUOTATION_MIN_CHARS = 8
_OPENING_MARKS = frozenset([TITLE_MARKS[0], *QUOTATION_MARKS])

# The office a press officer answers for, however a post names it; departments and linked policies
# found by the analyzer are added per post (see `classify`).
OFFICE_TERMS = (
    "政府", "街道办", "街道", "办事处", "社区", "居委会", "村委会", "管委会", "城管", "派出所", "民警", "警察", "公安",
    "部门", "有关部门", "相关部门", "领导", "书记", "市长", "区长", "县长", "镇长", "工作人员", "热线", "12345", "官方",
    "住建局", "教育局", "卫健委", "环保局", "交警", "执法",
)
# Other parties a complaint is often about: a clause about one of them says little about the office.
OTHER_PARTY_TERMS = (
    "施工方", "施工队", "施工单位", "承包商", "承包方", "包工头", "开发商", "物业", "商家", "店家", "老板", "中介", "房东",
    "厂家", "工厂", "黑心", "司机", "骗子",
)
# A tenth: a complaint about the contractor still tips a post whose praise of the office is faint, but
# no longer outweighs clear praise (tests/test_analysis_sentiment.py has examples).
OTHER_PARTY_WEIGHT = 0.1


# What a token is to the classifier, decided once per distinct token.
_PLAIN, _SKIPPED, _NEGATOR, _EMOTICON, _BLANK = range(5)
_token_kinds: dict[str, tuple[str, int, bool]] = {}


def _kind_of(raw: str) -> tuple[str, int, bool]:
    """(lower-cased word, kind, ends a clause) of a token, cached."""
    info = _token_kinds.get(raw)
    if info is None:
        word = raw.strip().lower()
        if not word:
            kind = _BLANK
        elif word.startswith("[") and EMOTICON.fullmatch(raw):
            kind = _EMOTICON
        elif word in TONELESS:
            kind = _SKIPPED
        elif word in NEGATORS:
            kind = _NEGATOR
        else:
            kind = _PLAIN
        info = (word, kind, word in CLAUSE_ENDS)
        # New words never stop coming (names, numbers, slang): bounded like the model's own cache of tokens, which
        # fills within days, not at a million entries (~180 MB) after months.
        if len(_token_kinds) >= KNOWN_TOKENS_SIZE:
            _token_kinds.clear()
        _token_kinds[raw] = info
    return info


def is_emoticon(token: str) -> bool:
    """Whether a classifier token is a Weibo emoticon code such as [泪]."""
    return token.startswith("[") and EMOTICON.fullmatch(token) is not None


def without_quotations(words: Sequence[str]) -> Sequence[str]:
    """The words outside 《titles》 and outside quotations in “” or 「」 of QUOTATION_MIN_CHARS or more.

    An unclosed mark quotes nothing: the words after it stay.
    """
    if _OPENING_MARKS.isdisjoint(words):
        return words
    kept: list[str] = []
    resume = 0  # the words before it are kept or left out already
    # Only the opening marks are looked at (found in one C-level pass); the words between them are copied as slices.
    for index in compress(range(len(words)), map(_OPENING_MARKS.__contains__, words)):
        if index < resume:  # inside a quotation left out
            continue
        word = words[index]
        closing = TITLE_MARKS[1] if word == TITLE_MARKS[0] else QUOTATION_MARKS[word]
        try:
            end = words.index(closing, index + 1)
        except ValueError:
            continue
        if closing == TITLE_MARKS[1] or sum(map(len, words[index + 1 : end])) >= QUOTATION_MIN_CHARS:
            kept += words[resume:index]
            resume = end + 1
    kept += words[resume:]
    return kept


def tone_features(words: Iterable[str], *, char_bigrams: bool = True) -> list[str]:
    """The tokens the classifier reads: words (negated ones marked), emoticons, character bigrams.

    Character bigrams of the text catch what segmentation splits differently (网络用语, names).
    """
    features: list[str] = []
    chars: list[str] = []
    reach = 0
    for raw in words:
        word, kind, clause_end = _kind_of(raw)
        if kind == _BLANK:
            continue
        if kind != _EMOTICON:
            chars.append(word)
        if clause_end:
            reach = 0
        if kind == _SKIPPED:
            continue
        if kind == _NEGATOR:
            reach = NEGATION_REACH
            features.append(word)
        elif reach and kind == _PLAIN:
            features.append(NEGATED + word)
            reach -= 1
        else:
            features.append(word)
    if char_bigrams:
        joined = "".join(chars).replace(" ", "")
        features.extend([joined[i : i + 2] for i in range(len(joined) - 1)])
    return features


# Entries each cache of raw tokens holds at most (`_kind_of`'s and `SentimentModel._token`'s).
KNOWN_TOKENS_SIZE = 200_000


def _code_point_pairs(text: str) -> np.ndarray:
    """Each two neighbouring characters of `text` as one number, the first's code point shifted past the
    second's (21 bits hold any), in order: what `BigramTable` looks up."""
    points = np.frombuffer(text.encode("utf-32-le", "surrogatepass"), dtype=np.uint32).astype(np.int64)
    return (points[:-1] << 21) | points[1:]


def _sums_in_order(values: np.ndarray, starts: np.ndarray, ends: np.ndarray) -> list[complex]:
    """`sum(values[start:end], 0j)` of each segment of a complex array, to the bit, without a Python object per value.
    numpy's sums add pairwise, not one value after another: each segment is a row of a matrix, zeros after its end
    (s + 0j is s, and a sum from 0j is never -0.0), added up by an accumulation along the row, which adds in order.
    Segments are grouped by the bit length of their length, so that padding at most doubles a row."""
    lengths = ends - starts
    sums = np.zeros(len(lengths), dtype=np.complex128)
    bit_lengths = np.frexp(lengths)[1]
    for bit_length in np.unique(bit_lengths[lengths > 0]).tolist():
        rows = np.flatnonzero(bit_lengths == bit_length)
        columns = np.arange(lengths[rows].max())
        taken = columns < lengths[rows, np.newaxis]
        matrix = np.where(taken, values[np.minimum(starts[rows, np.newaxis] + columns, values.size - 1)], 0j)
        matrix[:, 0] += 0j  # as sum() starts from 0j: a first value of -0.0 becomes 0.0
        sums[rows] = np.cumsum(matrix, axis=1)[:, -1]
    return sums.tolist()


# Characters of a call to `BigramTable.sums` below which its texts' bigrams are looked up one by one in the dict:
# numpy's fixed cost per call (~15 us) is that of some 30 dict look-ups, and one post alone (`yuqing analyze`,
# `Enricher.annotate`) is often shorter (measured on the texts of ../shared/data/sentiment: a text of 16-48 characters
# costs 21 us by dict, 27 by numpy; one of 48-128, 68 and 47).
FEW_CHARACTERS = 48


class BigramTable:
    """The weights of the two-character tokens, searchable by `_code_point_pairs`: the character bigrams of
    many texts are looked up in one sorted-array search (in C), where a dict look-up per bigram costs a
    Python call and, in a table this size, several cache misses. A few texts' few bigrams (`FEW_CHARACTERS`)
    are looked up in `weights` itself."""

    def __init__(self, weights: Mapping[str, complex]) -> None:
        self.by_token = weights
        pairs = [token for token in weights if len(token) == 2]
        keys = _code_point_pairs("".join(pairs))[::2]  # each token's own two characters
        order = np.argsort(keys)
        self.keys = keys[order]
        self.weights = np.array([weights[token] for token in pairs], dtype=np.complex128)[order]

    def sums(self, texts: Sequence[str]) -> list[complex]:
        """The sum of the weights of each text's character bigrams, added in order."""
        if not self.keys.size or not any(texts):
            return [0j] * len(texts)
        if sum(map(len, texts)) < FEW_CHARACTERS:
            weight = self.by_token.get
            return [sum([weight(text[i : i + 2], 0j) for i in range(len(text) - 1)], 0j) for text in texts]
        pairs = _code_point_pairs("".join(texts))
        found = self.keys.searchsorted(pairs)
        np.minimum(found, self.keys.size - 1, out=found)
        weights = np.where(self.keys[found] == pairs, self.weights[found], 0j)
        ends = np.cumsum(np.fromiter(map(len, texts), dtype=np.intp, count=len(texts)))
        starts = np.concatenate([[0], ends[:-1]])
        # The pair at end - 1 spans this text's last character and the next text's first: not a bigram.
        return _sums_in_order(weights, starts, np.maximum(starts, ends - 1))


def _terms_pattern(terms: Iterable[str]) -> re.Pattern[str]:
    return re.compile("|".join(map(re.escape, sorted(set(terms), key=len, reverse=True))))


_OTHER_PARTY = _terms_pattern(OTHER_PARTY_TERMS)
# Patterns of the office's names with a post's targets kept compiled (as many as `re` keeps of its own).
OFFICE_PATTERNS_KEPT = 512


@lru_cache(maxsize=OFFICE_PATTERNS_KEPT)
def _office_pattern(targets: tuple[str, ...]) -> re.Pattern[str]:
    """The office's names and a post's targets (sorted, each once) as one pattern: built once per set of targets
    (the same departments and policies come back), as escaping and compiling them costs more than the search."""
    return _terms_pattern([*OFFICE_TERMS, *targets])


def clause_weights(words: Sequence[str], targets: Iterable[str] = ()) -> list[tuple[list[str], float]] | None:
    """The post's clauses with the weight of each in the author's stance toward the office, or None
    when every clause counts the same (the post does not name both the office and another party).

    A clause naming the office (OFFICE_TERMS, or a target: the post's departments and linked policies)
    is about the office; one naming another party only is about that party and weighs
    OTHER_PARTY_WEIGHT; a clause naming neither is about whoever the clause before was about.
    """
    text = "".join(words)
    if _OTHER_PARTY.search(text) is None:
        return None
    office = _office_pattern(tuple(sorted({t for t in targets if t})))
    if office.search(text) is None:
        return None
    clauses: list[tuple[list[str], float]] = []
    current: list[str] = []
    weight = 1.0

    def close() -> None:
        nonlocal weight
        if not current:
            return
        clause = "".join(current)
        if office.search(clause):
            weight = 1.0
        elif _OTHER_PARTY.search(clause):
            weight = OTHER_PARTY_WEIGHT
        clauses.append((list(current), weight))
        current.clear()

    for word in words:
        current.append(word)
        if word in CLAUSE_ENDS:
            close()
    close()
    return clauses


def weighted_tokens(own: Sequence[str], quoted: Sequence[str] = (), targets: Iterable[str] = (), *,
                    quoted_weight: float) -> list[tuple[list[str], float]]:
    """The tokens the model reads, in groups with their weight in the author's stance: the repost
    chain `quoted_weight`, the author's own words (quotations left out) 1, or clause by clause when
    the post is about the office and another party (see `clause_weights`)."""
    own = without_quotations(own)
    groups = [(tone_features(quoted, char_bigrams=False), quoted_weight)] if quoted else []
    clauses = clause_weights(own, targets) if own else None
    if clauses is None:
        groups.append((tone_features(own), 1.0))
    else:
        groups += [(tone_features(clause), weight) for clause, weight in clauses]
    return groups


def token_counts(groups: Iterable[tuple[list[str], float]]) -> tuple[dict[str, float], float]:
    """What the regressions read: each token with the sum of its occurrences' weights, and the sum
    of the squared weights of all occurrences (the square of what the neutral logit is divided by)."""
    counts: dict[str, float] = {}
    squares = 0.0
    for tokens, weight in groups:
        squares += weight * weight * len(tokens)
        for token in tokens:
            counts[token] = counts.get(token, 0.0) + weight
    return counts, squares


@dataclass(frozen=True)
class Calibration:
    curve_x: tuple[float, ...]  # polarity logit, increasing
    curve_y: tuple[float, ...]  # probability of positive at each
    quoted_weight: float
    neutral_threshold: float = math.inf  # neutral logit above which a post is neutral
    neutral_band: float = 0.0  # a score within this of 0.5 is too close to call: neutral
    neutral_x: tuple[float, ...] = ()  # neutral logit, increasing
    neutral_y: tuple[float, ...] = ()  # probability of no tone at each
    emoticon_weight: float = 1.0
    nb_weight: float = 1.0  # the Bayes log-odds' share of the polarity logit

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Calibration:
        """From the calibration file's JSON object (tools/sentiment_training.py writes it)."""
        xs, ys = zip(*data["curve"], strict=True) if data["curve"] else ((), ())
        neutral = data.get("neutral_curve") or []
        nx, ny = zip(*neutral, strict=True) if neutral else ((), ())
        return cls(curve_x=tuple(xs), curve_y=tuple(ys), quoted_weight=data["quoted_weight"],
                   neutral_threshold=data.get("neutral_threshold", math.inf),
                   neutral_band=data.get("neutral_band", 0.0), neutral_x=tuple(nx),
                   neutral_y=tuple(ny), emoticon_weight=data.get("emoticon_weight", 1.0),
                   nb_weight=data.get("nb_weight", 1.0))

    def probability(self, log_odds: float) -> float:
        p = _interpolate(self.curve_x, self.curve_y, log_odds)
        # The sign of the logit decides, as in the models themselves.
        return min(p, 0.4999) if log_odds < 0 else max(p, 0.5)

    def neutral_probability(self, logit: float) -> float:
        return _interpolate(self.neutral_x, self.neutral_y, logit)


def _interpolate(xs: Sequence[float], ys: Sequence[float], x: float) -> float:
    """The fitted monotone curve at x; the plain logistic where none is fitted yet (during training)."""
    if not xs:
        return 1.0 / (1.0 + math.exp(-max(-30.0, min(30.0, x))))
    i = bisect_right(xs, x)
    if i == 0:
        return ys[0]
    if i == len(xs):
        return ys[-1]
    x0, x1, y0, y1 = xs[i - 1], xs[i], ys[i - 1], ys[i]
    return y0 + (y1 - y0) * (x - x0) / (x1 - x0) if x1 > x0 else y1


@dataclass(frozen=True)
class LinearHeads:
    """The two logistic regressions: per-token weights of the polarity and the neutral logit, and biases."""

    polarity: dict[str, float]
    neutral: dict[str, float]
    polarity_bias: float = 0.0
    neutral_bias: float = 0.0


# What the model reads: per token, the polarity weight (the regression's plus `nb_weight` times the
# Bayes ratio) as the real part and the neutral weight as the imaginary; the polarity and neutral biases.
ModelTables = tuple[dict[str, complex], float, float]


def bayes_ratios(classes: Mapping[str, Any], emoticon_weight: float) -> dict[str, float]:
    """Per-word log-likelihood ratio of positive to negative, from the classes of SnowNLP's Bayes.save
    format (its "d": {"pos": {"d": counts, "total": n}, "neg": ...}). Emoticons' ratios count
    `emoticon_weight` times."""
    pos, neg = classes["pos"], classes["neg"]
    pos_counts, neg_counts = pos["d"], neg["d"]
    log_pos_total, log_neg_total = math.log(pos["total"]), math.log(neg["total"])
    # A word never seen in training is no evidence either way, so it adds nothing. (SnowNLP's
    # AddOneProb would give it a count of 1 in each class, i.e. log(neg total / pos total): a pull
    # toward the class with fewer tokens that grows with the post's length.)
    ratios: dict[str, float] = {}
    for word in pos_counts.keys() | neg_counts.keys():
        ratio = (math.log(pos_counts.get(word, 1)) - log_pos_total - math.log(neg_counts.get(word, 1))
                 + log_neg_total)
        ratios[word] = ratio * emoticon_weight if is_emoticon(word) else ratio
    return ratios


def model_tables(calibration: Calibration, heads: LinearHeads | None, bayes: Mapping[str, Any] | None) -> ModelTables:
    """The one table of complex weights and the two biases, from the regressions and the Bayes classes
    (either may be missing, e.g. while training)."""
    heads = heads or LinearHeads({}, {})
    nb_weight = calibration.nb_weight
    ratios = bayes_ratios(bayes, calibration.emoticon_weight) if bayes is not None and nb_weight else {}
    # One look-up per token gives both logits: the polarity weight (the regression's plus the
    # Bayes share of the token's ratio) as the real part, the neutral weight as the imaginary.
    weights = {t: complex(heads.polarity.get(t, 0.0) + nb_weight * ratios.get(t, 0.0), heads.neutral.get(t, 0.0))
               for t in heads.polarity.keys() | heads.neutral.keys() | ratios.keys()}
    return weights, heads.polarity_bias, heads.neutral_bias


class WordSums(NamedTuple):
    """What `SentimentModel.word_sums` found of a post: per group of its own words, its weight in the author's stance
    and its words; and the words of its repost chain (None without one), which have no bigrams. `logits_many` sums the
    weights of the words of a whole batch of posts at once. A named tuple: made for every post."""

    groups: list[tuple[float, Sequence[str]]]
    chain: Sequence[str] | None


class _Numbering(dict[str, int]):
    """Raw token -> its number, from 0 on: a token new to it is numbered at its first look-up (in C, but for this
    call) and listed in `new`."""

    def __init__(self) -> None:
        super().__init__()
        self.new: list[str] = []

    def __missing__(self, token: str) -> int:
        number = self[token] = len(self)
        self.new.append(token)
        return number


class _TokenTable:
    """Each raw token the model has read, numbered once, and what the classifier makes of it in arrays indexed by that
    number: its kind (`_kind_of`), whether it ends a clause, the weights of its word as a feature, plain (at twice its
    number) and negated (the next one), and the characters it adds to the text of the character bigrams. A batch's
    words become numbers with one C-level pass of dict look-ups, and everything else about them is gathered and
    summed by numpy."""

    def __init__(self, weights: Mapping[str, complex]) -> None:
        self._weights = weights
        self._clear()

    def _clear(self) -> None:
        self.numbers = _Numbering()
        self.chars: dict[str, str] = {}  # raw token -> its characters in the bigram text ('' for none)
        self.kinds = np.empty(0, dtype=np.int8)
        self.ends = np.empty(0, dtype=bool)
        self.feature_weights = np.empty(0, dtype=np.complex128)

    def numbered(self, words: Sequence[str]) -> np.ndarray:
        """The numbers of the words, tokens new to the table numbered and described. A batch that takes the table past
        KNOWN_TOKENS_SIZE (a few tens of MB) is numbered again in an empty one: the words in use come back."""
        numbers = np.fromiter(map(self.numbers.__getitem__, words), dtype=np.intp, count=len(words))
        if len(self.numbers) > KNOWN_TOKENS_SIZE and len(self.numbers) > len(self.numbers.new):
            self._clear()
            numbers = np.fromiter(map(self.numbers.__getitem__, words), dtype=np.intp, count=len(words))
        if self.numbers.new:
            self._describe(self.numbers.new)
            self.numbers.new = []
        return numbers

    def _describe(self, tokens: list[str]) -> None:
        """Fill the arrays' entries of the tokens just numbered (the last ones), the arrays grown by half or more."""
        first, size = len(self.numbers) - len(tokens), len(self.numbers)
        if size > len(self.kinds):
            capacity = max(size, len(self.kinds) * 3 // 2)
            self.kinds = np.resize(self.kinds, capacity)
            self.ends = np.resize(self.ends, capacity)
            self.feature_weights = np.resize(self.feature_weights, 2 * capacity)
        weight = self._weights.get
        described = [(*_kind_of(raw), raw) for raw in tokens]
        self.kinds[first:size] = [kind for _, kind, _, _ in described]
        self.ends[first:size] = [clause_end for _, _, clause_end, _ in described]
        self.feature_weights[2 * first : 2 * size : 2] = [weight(word, 0j) for word, *_ in described]
        self.feature_weights[2 * first + 1 : 2 * size : 2] = [weight(NEGATED + word, 0j) for word, *_ in described]
        # What `tone_features` joins for the bigrams: the words but emoticons, spaces dropped.
        self.chars.update((raw, "" if kind in (_BLANK, _EMOTICON) else word.replace(" ", ""))
                          for word, kind, _, raw in described)

    def sums(self, sequences: Sequence[Sequence[str]], texts: int) -> list[tuple[complex, int, str]]:
        """Per sequence of words, what `tone_features` makes of it (the words' features, and the character bigrams of
        the first `texts` sequences): the sum of the weights of its word features, added in the same order; their
        number; and the text of its character bigrams ('' past the first `texts`).

        `tone_features` walks the words one by one: a negator marks the next NEGATION_REACH plain words of its
        clause. Here a plain word is negated when the latest negator before it comes after the latest reset (a clause
        end, or the start of its sequence) and at most NEGATION_REACH plain words lie after that negator up to it
        included. Positions are doubled so that a sequence's start (2i - 1) comes before a negator at its first
        word (2i) and a clause end (2i) cancels a negator before it."""
        lengths = np.fromiter(map(len, sequences), dtype=np.intp, count=len(sequences))
        bounds = np.zeros(len(sequences) + 1, dtype=np.intp)
        np.cumsum(lengths, out=bounds[1:])
        words = list(chain.from_iterable(sequences))
        numbers = self.numbered(words)
        kinds = self.kinds[numbers]
        twice = np.arange(0, 2 * len(words), 2)
        resets = np.where(self.ends[numbers], twice, -2)
        starts = bounds[:-1][lengths > 0]
        resets[starts] = np.maximum(resets[starts], 2 * starts - 1)
        last_negator = np.maximum.accumulate(np.where(kinds == _NEGATOR, twice, -3))
        is_plain = kinds == _PLAIN
        plain_so_far = np.cumsum(is_plain)
        plain_since_negator = plain_so_far - plain_so_far[np.maximum(last_negator // 2, 0)]
        negated = is_plain & (last_negator > np.maximum.accumulate(resets)) & (plain_since_negator <= NEGATION_REACH)
        counted = kinds != _SKIPPED
        counted &= kinds != _BLANK
        weights = self.feature_weights[(2 * numbers + negated)[counted]]
        counted_so_far = np.concatenate([[0], np.cumsum(counted)])[bounds]
        word_sums = _sums_in_order(weights, counted_so_far[:-1], counted_so_far[1:])
        counts = np.diff(counted_so_far).tolist()
        text_bounds = bounds[: texts + 1].tolist()
        chars = list(map(self.chars.__getitem__, words[: text_bounds[-1]]))
        bigram_texts = ["".join(chars[start:end]) for start, end in pairwise(text_bounds)]
        bigram_texts += [""] * (len(sequences) - len(bigram_texts))
        return list(zip(word_sums, counts, bigram_texts, strict=True))


class SentimentModel:
    """The trained Bayes table and the two regressions, and their calibration."""

    def __init__(self, calibration: Calibration, tables: ModelTables) -> None:
        self.calibration = calibration
        self.weights, self.polarity_bias, self.neutral_bias = tables
        self._tokens = _TokenTable(self.weights)

    @property
    def tables(self) -> ModelTables:
        """What the model reads, as it is kept between processes."""
        return self.weights, self.polarity_bias, self.neutral_bias

    @cached_property
    def _bigrams(self) -> BigramTable:
        return BigramTable(self.weights)

    def word_sums(self, own: Sequence[str], quoted: Sequence[str] = (), targets: Iterable[str] = ()) -> WordSums:
        """A post's groups of `weighted_tokens`, as words (the author's words, weight 1, the common case, or their
        clauses), and its repost chain: what `logits_many` sums, with the words of other posts, without making
        their tokens."""
        own = without_quotations(own)
        clauses = clause_weights(own, targets) if own else None
        parts: Sequence[tuple[Sequence[str], float]] = clauses or [(own, 1.0)]
        return WordSums([(weight, words) for words, weight in parts], quoted or None)

    def logits_many(self, posts: Sequence[WordSums]) -> list[tuple[float, float]]:
        """(polarity logit, neutral logit) of each post: sums of the weights of every token occurrence, the
        neutral one divided by the square root of the number of occurrences (so an article's length alone does
        not decide whether it has a tone). The words and the character bigrams of all the posts are looked up
        and weighed at once (`_TokenTable.sums`, `BigramTable`), each post's weights added in `tone_features`'
        order."""
        own = [words for post in posts for _, words in post.groups]
        sums = self._tokens.sums([*own, *(post.chain for post in posts if post.chain is not None)], len(own))
        own_sums, chain_sums = iter(sums[: len(own)]), iter(sums[len(own) :])
        bigram_sums = iter(self._bigrams.sums([text for *_, text in sums[: len(own)]]))
        quoted_weight = self.calibration.quoted_weight
        found = []
        for post in posts:
            linear, squares = 0j, 0.0
            for weight, _ in post.groups:
                word_sum, count, text = next(own_sums)
                linear += weight * (word_sum + next(bigram_sums))
                squares += weight * weight * (count + max(0, len(text) - 1))
            if post.chain is not None:
                chain_sum, chain_count, _ = next(chain_sums)
                linear += quoted_weight * chain_sum
                squares += quoted_weight * quoted_weight * chain_count
            found.append((self.polarity_bias + linear.real,
                          self.neutral_bias + linear.imag / (math.sqrt(squares) or 1.0)))
        return found

    def logits(self, own: Sequence[str], quoted: Sequence[str] = (), targets: Iterable[str] = ()) -> tuple[float, float]:
        """(polarity logit, neutral logit) of a post's own and quoted words (see `logits_many`)."""
        return self.logits_many([self.word_sums(own, quoted, targets)])[0]

    def score(self, log_odds: float) -> float:
        return self.calibration.probability(log_odds)

    def sentiment(self, polarity_logit: float, neutral_logit: float) -> Sentiment:
        """The label and its calibrated probability from the two logits."""
        score = self.score(polarity_logit)
        no_tone = self.calibration.neutral_probability(neutral_logit)
        if neutral_logit > self.calibration.neutral_threshold or abs(score - 0.5) < self.calibration.neutral_band:
            label, probability = SentimentLabel.NEUTRAL, no_tone
        elif polarity_logit >= 0:
            label, probability = SentimentLabel.POSITIVE, (1 - no_tone) * score
        else:
            label, probability = SentimentLabel.NEGATIVE, (1 - no_tone) * (1 - score)
        return Sentiment(score=round(score, 4), label=label, probability=round(probability, 4))

    def classify(self, own: Sequence[str], quoted: Sequence[str] = (), targets: Iterable[str] = ()) -> Sentiment:
        return self.classify_many([self.word_sums(own, quoted, targets)])[0]

    def classify_many(self, posts: Sequence[WordSums]) -> list[Sentiment]:
        """The sentiment of each post of `word_sums`: many at once cost less each (see `logits_many`)."""
        return [self.sentiment(*logits) for logits in self.logits_many(posts)]
