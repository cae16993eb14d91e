"""Train and measure the sentiment model on shared/data/sentiment.

    python -m analysis.sentiment_training          # retrain, rewrite analysis/data/sentiment.*

Training uses SnowNLP's own API (`snownlp.sentiment.Sentiment().classifier.train` with words
already segmented by jieba, then `.save`) on the train and calibration splits; the calibration
curve and the neutral band come from cross-fitted scores. The test split is read only by
`held_out`, to measure.
"""

from __future__ import annotations

import hashlib
import json
import math
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from sklearn.isotonic import IsotonicRegression
from sklearn.metrics import f1_score
from snownlp.sentiment import Sentiment as SnowSentiment

from analysis.segment import segment_post
from analysis.sentiment import CALIBRATION_FILE, MODEL_FILE, Calibration, SentimentModel, tone_features
from analysis.sentiment_data import (
    DATA_SETS,
    DataSet,
    LabelledPost,
    Split,
    file_digest,
    load_data_set,
)

# Reposted words count half: the author's own words say more about the author's tone.
QUOTED_WEIGHT = 0.5
FOLDS = 5
REPO_ROOT = Path(__file__).resolve().parent.parent


def _posts(directory: Path, split: Split, *, labelling_neutral: bool = False) -> list[LabelledPost]:
    """Posts of one split of every training file (only of files that label neutral posts, if asked)."""
    posts: list[LabelledPost] = []
    for data_set in DATA_SETS:
        if data_set.in_training:
            split_posts = load_data_set(directory, data_set)[split]
            if not labelling_neutral or any(p.polarity == "neutral" for p in split_posts):
                posts.extend(split_posts)
    return posts


def _neutral_band(scores: Sequence[float], truth: Sequence[str]) -> tuple[float, float, float]:
    """The symmetric band around 0.5 that gives the best three-way macro-F1, and that macro-F1."""
    values = np.array(scores)
    best = (0.0, 0.5)
    for half_width in np.arange(0.0, 0.46, 0.01):
        low, high = 0.5 - half_width, 0.5 + half_width
        predicted = np.where(values < low, "neg", np.where(values > high, "pos", "neutral"))
        f1 = f1_score(truth, predicted, average="macro", labels=["pos", "neg", "neutral"])
        if f1 > best[0]:
            best = (float(f1), float(half_width))
    return round(0.5 - best[1], 2), round(0.5 + best[1], 2), round(best[0], 4)


def _runtime_vocabulary() -> None:
    """Segment as the analyzer does: with the default gazetteer's and watchlists' terms in the dictionary."""
    from analysis.gazetteer import Gazetteer
    from analysis.segment import add_terms
    from config.datafiles import load_watchlists
    from config.settings import DEFAULT_DATA

    Gazetteer.load(DEFAULT_DATA / "gazetteer.yaml")
    add_terms(t for w in load_watchlists(DEFAULT_DATA / "watchlists.yaml") for t in (*w.terms, *w.context))


def _fold_of(text: str) -> int:
    # Other bits of the hash than those that chose the split.
    return int(hashlib.sha1(text.encode("utf-8")).hexdigest()[8:16], 16) % FOLDS


def _train_bayes(documents: list, model_file: Path) -> None:
    """SnowNLP's own training API, fed words already segmented; saved where SnowNLP saves (adds '.3')."""
    snow = SnowSentiment()
    snow.classifier.train(documents)
    snow.save(str(model_file))


def train(directory: Path, model_file: Path = MODEL_FILE, calibration_file: Path = CALIBRATION_FILE) -> dict:
    """Train on every post outside the test split (the train and calibration splits).

    The calibration curve and the neutral band need scores of posts the model never saw: they come
    from 5-fold cross-fitting (each fold scored by a model trained on the other four), then the
    shipped model is trained on all of them. The test split is never read here.
    """
    _runtime_vocabulary()
    fitting = _posts(directory, "train") + _posts(directory, "calibration")
    segmented = {p.text: segment_post(p.text) for p in fitting}
    tokens = {
        text: tone_features(s.own) + tone_features(s.quoted, char_bigrams=False) for text, s in segmented.items()
    }
    polar = [p for p in fitting if p.polarity != "neutral"]

    out_of_fold: dict[str, float] = {}
    with tempfile.TemporaryDirectory() as folder:
        provisional = Path(folder) / "calibration.json"
        provisional.write_text(json.dumps({"curve": [], "quoted_weight": QUOTED_WEIGHT, "neutral_band": [0.5, 0.5]}))
        for fold in range(FOLDS):
            fold_model = Path(folder) / f"fold{fold}.marshal"
            _train_bayes([[tokens[p.text], p.polarity] for p in polar if _fold_of(p.text) != fold], fold_model)
            model = SentimentModel(fold_model, provisional)
            for post in fitting:
                if _fold_of(post.text) == fold:
                    words = segmented[post.text]
                    out_of_fold[post.text] = model.log_odds(words.own, words.quoted)

    odds = np.array([out_of_fold[p.text] for p in polar])
    positive = np.array([p.polarity == "pos" for p in polar])
    # Balanced weights: the score is the probability of positive when both classes are equally common.
    weights = np.where(positive, 0.5 / positive.mean(), 0.5 / (1 - positive.mean()))
    curve = IsotonicRegression(out_of_bounds="clip", y_min=0.001, y_max=0.999)
    curve.fit(odds, positive, sample_weight=weights)
    points = [[round(float(x), 4), round(float(y), 4)]
              for x, y in zip(curve.X_thresholds_, curve.y_thresholds_, strict=True)]
    xs, ys = zip(*points, strict=True)
    fitted = Calibration(curve_x=xs, curve_y=ys, quoted_weight=QUOTED_WEIGHT, neutral_low=0.5, neutral_high=0.5)

    with_neutral = _posts(directory, "train", labelling_neutral=True) + _posts(
        directory, "calibration", labelling_neutral=True
    )
    low, high, three_way_f1 = _neutral_band(
        [fitted.probability(out_of_fold[p.text]) for p in with_neutral], [p.polarity for p in with_neutral]
    )
    _train_bayes([[tokens[p.text], p.polarity] for p in polar], model_file)
    calibration = {
        "curve": points,
        "quoted_weight": QUOTED_WEIGHT,
        "neutral_band": [low, high],
        "neutral_band_macro_f1": three_way_f1,
        "trained_on": {d.file: file_digest(directory / d.file) for d in DATA_SETS if d.in_training},
        "documents": len(polar),
        "folds": FOLDS,
    }
    calibration_file.write_text(json.dumps(calibration, ensure_ascii=False, indent=1), encoding="utf-8")
    return calibration


@dataclass(frozen=True)
class Scores:
    """How one classifier did on one data set's held-out polar posts."""

    accuracy: float  # balanced accuracy: the accuracy on a set with as many positive as negative posts
    macro_f1: float
    positive_share: float  # share of posts called positive at 0.5
    posts_per_second: float


def measure(texts: Sequence[str], truth: Sequence[bool], score: Callable[[str], float]) -> Scores:
    """Score every text once and compare with the truth at threshold 0.5. The time is this process's
    CPU time, so other jobs on the machine do not distort the comparison."""
    started = time.process_time()
    scores = [score(t) for t in texts]
    elapsed = time.process_time() - started
    predicted = np.array(scores) >= 0.5
    actual = np.array(truth, dtype=bool)
    recall_pos = float(predicted[actual].mean()) if actual.any() else 0.0
    recall_neg = float((~predicted[~actual]).mean()) if (~actual).any() else 0.0
    return Scores(
        accuracy=(recall_pos + recall_neg) / 2,
        macro_f1=float(f1_score(actual, predicted, average="macro")),
        positive_share=float(predicted.mean()),
        posts_per_second=len(texts) / elapsed if elapsed > 0 else math.inf,
    )


def three_way_macro_f1(directory: Path, data_set: DataSet, label: Callable[[str], str]) -> float | None:
    """Macro-F1 over positive/neutral/negative on a test split that labels neutral posts, else None."""
    posts = load_data_set(directory, data_set)["test"]
    if not any(p.polarity == "neutral" for p in posts):
        return None
    names = {"positive": "pos", "negative": "neg", "neutral": "neutral"}
    predicted = [names[label(p.text)] for p in posts]
    return float(f1_score([p.polarity for p in posts], predicted, average="macro", labels=["pos", "neg", "neutral"]))


def held_out(directory: Path, data_set: DataSet) -> tuple[list[str], list[bool]]:
    """Texts and truth (True = positive) of a data set's test split, polar posts only."""
    posts = [p for p in load_data_set(directory, data_set)["test"] if p.polarity != "neutral"]
    return [p.text for p in posts], [p.polarity == "pos" for p in posts]


FLOORS_FILE = REPO_ROOT / "tests" / "fixtures" / "analysis" / "sentiment_floors.json"
# Floors sit this far below the measured value: room for harmless changes, none for real losses.
FLOOR_MARGIN = 0.02


def pin_floors(directory: Path, out: Path = FLOORS_FILE) -> dict:
    """Measure the shipped model (and SnowNLP's default, for reference) on every test split; write floors."""
    from snownlp import SnowNLP

    from analysis.sentiment import classify_text

    floors: dict[str, dict] = {}
    for data_set in DATA_SETS:
        texts, truth = held_out(directory, data_set)
        ours = measure(texts, truth, lambda t: classify_text(t).score)
        snow = measure(texts, truth, lambda t: SnowNLP(t).sentiments)
        floors[data_set.name] = {
            "file": data_set.file,
            "sha256": file_digest(directory / data_set.file),
            "weibo": data_set.in_training,
            "posts": len(texts),
            "measured_accuracy": round(ours.accuracy, 4),
            "measured_macro_f1": round(ours.macro_f1, 4),
            "accuracy_floor": round(ours.accuracy - FLOOR_MARGIN, 3),
            "macro_f1_floor": round(ours.macro_f1 - FLOOR_MARGIN, 3),
            "snownlp_default_accuracy": round(snow.accuracy, 4),
        }
    out.write_text(json.dumps(floors, ensure_ascii=False, indent=1) + "\n", encoding="utf-8")
    return floors


def main() -> None:
    import argparse

    from analysis.sentiment_data import shared_sentiment_dir

    parser = argparse.ArgumentParser(description="retrain the sentiment model on shared/data/sentiment")
    parser.add_argument("--pin-floors", action="store_true", help="then measure it and rewrite the CI floors")
    args = parser.parse_args()
    directory = shared_sentiment_dir(REPO_ROOT)
    calibration = train(directory)
    print(json.dumps(calibration, ensure_ascii=False, indent=1))
    if args.pin_floors:
        print(json.dumps(pin_floors(directory), ensure_ascii=False, indent=1))


if __name__ == "__main__":
    main()
