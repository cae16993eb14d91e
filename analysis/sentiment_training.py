"""Train and measure the sentiment model on shared/data/sentiment.

    python -m analysis.sentiment_training          # retrain, rewrite analysis/data/sentiment.*

Training uses SnowNLP's own API (`snownlp.sentiment.Sentiment().classifier.train` with words
already segmented by jieba, then `.save`). The calibration split then fits the score's slope
and the neutral band; the test split is never read here except by `evaluate`.
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from sklearn.isotonic import IsotonicRegression
from sklearn.metrics import f1_score
from snownlp.sentiment import Sentiment as SnowSentiment

from analysis.segment import segment_post
from analysis.sentiment import CALIBRATION_FILE, MODEL_FILE, SentimentModel, tone_features
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


def _neutral_band(model: SentimentModel, posts: Sequence[LabelledPost]) -> tuple[float, float, float]:
    """The symmetric band around 0.5 that gives the best three-way macro-F1 on the calibration posts,
    and that macro-F1."""
    scores = np.array([model.score(_log_odds(model, p.text)) for p in posts])
    truth = [p.polarity for p in posts]
    best = (0.0, 0.5)
    for half_width in np.arange(0.0, 0.46, 0.01):
        low, high = 0.5 - half_width, 0.5 + half_width
        predicted = np.where(scores < low, "neg", np.where(scores > high, "pos", "neutral"))
        f1 = f1_score(truth, predicted, average="macro", labels=["pos", "neg", "neutral"])
        if f1 > best[0]:
            best = (float(f1), float(half_width))
    return round(0.5 - best[1], 2), round(0.5 + best[1], 2), round(best[0], 4)


def _log_odds(model: SentimentModel, text: str) -> float:
    segmented = segment_post(text)
    return model.log_odds(segmented.own, segmented.quoted)


def _runtime_vocabulary() -> None:
    """Segment as the analyzer does: with the default gazetteer's and watchlists' terms in the dictionary."""
    from analysis.gazetteer import Gazetteer
    from analysis.segment import add_terms
    from config.datafiles import load_watchlists
    from config.settings import DEFAULT_DATA

    Gazetteer.load(DEFAULT_DATA / "gazetteer.yaml")
    add_terms(t for w in load_watchlists(DEFAULT_DATA / "watchlists.yaml") for t in (*w.terms, *w.context))


def train(directory: Path, model_file: Path = MODEL_FILE, calibration_file: Path = CALIBRATION_FILE) -> dict:
    """Train the Bayes model on the train split, calibrate on the calibration split, save both."""
    _runtime_vocabulary()
    documents = []
    for post in _posts(directory, "train"):
        if post.polarity == "neutral":
            continue
        segmented = segment_post(post.text)
        tokens = tone_features(segmented.own) + tone_features(segmented.quoted, char_bigrams=False)
        documents.append([tokens, post.polarity])
    snow = SnowSentiment()
    snow.classifier.train(documents)
    snow.save(str(model_file))

    # Provisional calibration so the model loads; the curve is then fitted on held-apart posts.
    calibration = {"curve": [], "quoted_weight": QUOTED_WEIGHT, "neutral_band": [0.5, 0.5]}
    calibration_file.write_text(json.dumps(calibration), encoding="utf-8")
    model = SentimentModel(model_file, calibration_file)
    polar = [p for p in _posts(directory, "calibration") if p.polarity != "neutral"]
    odds = np.array([_log_odds(model, p.text) for p in polar])
    positive = np.array([p.polarity == "pos" for p in polar])
    # Balanced weights: the score is the probability of positive when both classes are equally common.
    weights = np.where(positive, 0.5 / positive.mean(), 0.5 / (1 - positive.mean()))
    curve = IsotonicRegression(out_of_bounds="clip", y_min=0.001, y_max=0.999)
    curve.fit(odds, positive, sample_weight=weights)
    calibration["curve"] = [
        [round(float(x), 4), round(float(y), 4)] for x, y in zip(curve.X_thresholds_, curve.y_thresholds_, strict=True)
    ]
    calibration_file.write_text(json.dumps(calibration), encoding="utf-8")

    model = SentimentModel(model_file, calibration_file)
    with_neutral = _posts(directory, "calibration", labelling_neutral=True)
    low, high, three_way_f1 = _neutral_band(model, with_neutral)
    calibration["neutral_band"] = [low, high]
    calibration["neutral_band_macro_f1"] = three_way_f1
    calibration["trained_on"] = {
        d.file: file_digest(directory / d.file) for d in DATA_SETS if d.in_training
    }
    calibration["documents"] = len(documents)
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
