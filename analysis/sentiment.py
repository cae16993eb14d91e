"""Sentiment of a post: SnowNLP's Naive Bayes, retrained on Weibo posts, fed jieba words.

SnowNLP's own `SnowNLP(text).sentiments` segments with a slow pure-Python model and was
trained on shopping reviews. Here the same classifier (snownlp.classification.bayes.Bayes) is
trained on labelled Weibo posts, each file's two classes weighted equally (see
tools/sentiment_training.py), and reads words that jieba already produced for every other step.
Words the model never saw in training add nothing. Its per-word log-likelihood ratios are read
once into one table, so classifying is a sum of dictionary look-ups.

Weibo emoticon codes ([哈哈] [泪] [怒] [赞]) are whole tokens whose ratios count `emoticon_weight`
times (4 now): an emoticon is the author's own choice of tone, and among the dozens of words and
bigrams of a post its single token was otherwise outvoted. On held-out weibo_senti_100k posts with
their emoticons this gave 0.92 balanced accuracy instead of 0.83, and cost no other set more than
0.6 points (tools/sentiment_training.py has the measurements).

The score is a calibrated probability that the post is positive, assuming positive and
negative posts are equally common: the Naive Bayes log-odds without the class prior, mapped
through a monotone curve fitted on cross-fitted scores (isotonic regression with balanced
weights). The curve is held at 0.5 where the log-odds change sign, so calibration never moves
a decision: Platt scaling (one slope) left an expected calibration error of 0.084 on held-out
posts, the curve about 0.02 (0.015 for the class-balanced model), at the same accuracy. Posts in
the neutral band are neutral; the band (0.28-0.72 now) is the symmetric one with the best three-way
macro-F1 on cross-fitted scores of the training posts of the files that label neutral posts.
"""

from __future__ import annotations

import gzip
import hashlib
import json
import marshal
import math
from bisect import bisect_right
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from functools import lru_cache
from itertools import repeat
from pathlib import Path
from types import SimpleNamespace

from analysis.segment import segment_post
from analysis.tables import kept_table
from analysis.text import EMOTICON
from yuqing.schema import Sentiment, SentimentLabel

DATA = Path(__file__).resolve().parent / "data"
# SnowNLP's Bayes.save/load append ".3" to this name on Python 3.
MODEL_FILE = DATA / "sentiment.marshal"
CALIBRATION_FILE = DATA / "sentiment_calibration.json"

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
        if len(_token_kinds) < 1_000_000:
            _token_kinds[raw] = info
    return info


def is_emoticon(token: str) -> bool:
    """Whether a classifier token is a Weibo emoticon code such as [泪]."""
    return token.startswith("[") and EMOTICON.fullmatch(token) is not None


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


@dataclass(frozen=True)
class Calibration:
    curve_x: tuple[float, ...]  # log-odds, increasing
    curve_y: tuple[float, ...]  # probability of positive at each
    quoted_weight: float
    neutral_low: float
    neutral_high: float
    emoticon_weight: float = 1.0

    @classmethod
    def load(cls, path: Path) -> Calibration:
        data = json.loads(path.read_text(encoding="utf-8"))
        low, high = data["neutral_band"]
        xs, ys = zip(*data["curve"], strict=True) if data["curve"] else ((), ())
        return cls(curve_x=tuple(xs), curve_y=tuple(ys), quoted_weight=data["quoted_weight"],
                   neutral_low=low, neutral_high=high, emoticon_weight=data.get("emoticon_weight", 1.0))

    def probability(self, log_odds: float) -> float:
        xs, ys = self.curve_x, self.curve_y
        if not xs:  # no curve fitted yet (during training): the plain logistic
            return 1.0 / (1.0 + math.exp(-max(-30.0, min(30.0, log_odds))))
        i = bisect_right(xs, log_odds)
        if i == 0:
            p = ys[0]
        elif i == len(xs):
            p = ys[-1]
        else:
            x0, x1, y0, y1 = xs[i - 1], xs[i], ys[i - 1], ys[i]
            p = y0 + (y1 - y0) * (log_odds - x0) / (x1 - x0) if x1 > x0 else y1
        # The sign of the log-odds decides, as in the Naive Bayes model itself.
        return min(p, 0.4999) if log_odds < 0 else max(p, 0.5)


class SentimentModel:
    """A trained SnowNLP Bayes model read into a log-likelihood-ratio table, plus its calibration."""

    def __init__(self, model_file: Path = MODEL_FILE, calibration_file: Path = CALIBRATION_FILE, *,
                 kept: bool = False) -> None:
        self.calibration = Calibration.load(calibration_file)
        stored = Path(f"{model_file}.3")  # SnowNLP's Bayes.save appends ".3" on Python 3
        self.ratios: dict[str, float]
        if not kept:  # models being trained and measured are not worth keeping
            self.ratios = self._ratios(stored)
            return
        # Computing 120,000 ratios costs about 0.2 s per process; the shipped model's table is kept
        # between processes, under the digest of the model's bytes and the emoticon weight used.
        key = f"{hashlib.sha1(stored.read_bytes()).hexdigest()}|{self.calibration.emoticon_weight!r}"
        self.ratios = kept_table(
            "sentiment", key, lambda: self._ratios(stored), lambda value: isinstance(value, dict) and bool(value))

    def _ratios(self, stored: Path) -> dict[str, float]:
        """Per-word log-likelihood ratio of positive to negative, from SnowNLP's Bayes.save format
        (gzip of marshal), read without importing the snownlp package, whose __init__ loads its own
        segmenter and tagger (~3 s CPU)."""
        with gzip.open(stored, "rb") as handle:
            classes = marshal.loads(handle.read())["d"]
        pos, neg = SimpleNamespace(**classes["pos"]), SimpleNamespace(**classes["neg"])
        log_pos_total, log_neg_total = math.log(pos.total), math.log(neg.total)
        # A word never seen in training is no evidence either way, so it adds nothing. (SnowNLP's
        # AddOneProb would give it a count of 1 in each class, i.e. log(neg total / pos total): a pull
        # toward the class with fewer tokens that grows with the post's length.)
        emoticon_weight = self.calibration.emoticon_weight
        ratios: dict[str, float] = {}
        for word in pos.d.keys() | neg.d.keys():
            ratio = math.log(pos.d.get(word, 1)) - log_pos_total - math.log(neg.d.get(word, 1)) + log_neg_total
            ratios[word] = ratio * emoticon_weight if is_emoticon(word) else ratio
        return ratios

    def log_odds(self, own: Sequence[str], quoted: Sequence[str] = ()) -> float:
        """Naive Bayes log-odds of positive (no class prior) of the author's and the quoted words."""
        ratios = self.ratios
        own_features = tone_features(own)
        total = sum(map(ratios.get, own_features, repeat(0.0, len(own_features))))
        if quoted:
            quoted_features = tone_features(quoted, char_bigrams=False)
            quoted_sum = sum(map(ratios.get, quoted_features, repeat(0.0, len(quoted_features))))
            total += self.calibration.quoted_weight * quoted_sum
        return total

    def score(self, log_odds: float) -> float:
        return self.calibration.probability(log_odds)

    def label(self, score: float) -> SentimentLabel:
        if score < self.calibration.neutral_low:
            return SentimentLabel.NEGATIVE
        if score > self.calibration.neutral_high:
            return SentimentLabel.POSITIVE
        return SentimentLabel.NEUTRAL

    def classify(self, own: Sequence[str], quoted: Sequence[str] = ()) -> Sentiment:
        score = self.score(self.log_odds(own, quoted))
        return Sentiment(score=round(score, 4), label=self.label(score))


@lru_cache(maxsize=1)
def default_model() -> SentimentModel:
    """The shipped model, loaded once per process on first use."""
    return SentimentModel(kept=True)


def classify(words: Sequence[str], quoted: Sequence[str] = ()) -> Sentiment:
    """Sentiment of a post from its jieba words (HMM off, emoticon codes as tokens) and its quoted words."""
    return default_model().classify(words, quoted)


def classify_text(text: str) -> Sentiment:
    """Sentiment of a raw post: segments it (author's words and repost chain) and classifies."""
    segmented = segment_post(text)
    return classify(segmented.own, segmented.quoted)
