"""Measure the shipped sentiment model beside SnowNLP's default on every labelled file of a folder.

A file of ours that the shipped model was trained on (same name and same sha256 as recorded in
its calibration file) is measured on its held-out test split only; any other file, ours or the
user's, on all its rows, except posts whose text the model was trained on (their keys ship in
analysis/data/sentiment_trained_texts.txt.gz), so a larger copy of a training source cannot
flatter the figures. weibo_senti_100k's labels were derived from its emoticons: it is measured as
the file is and again with its emoticon codes removed.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

from stores.language import CALIBRATION_FILE
from tools.sentiment_data import (
    DATA_SETS,
    LABELLED_SUFFIXES,
    DataFileError,
    DataSet,
    LabelledPost,
    file_digest,
    load_data_set,
    load_labelled_file,
    looks_labelled,
    read_rows,
    text_key,
)
from tools.sentiment_training import WITHOUT_EMOTICONS, Scores, measure, three_way, trained_texts

HELD_OUT = "held-out 20%"
ALL_ROWS = "all rows"


@dataclass(frozen=True)
class EvalSet:
    """The posts of one measured row: a file, or an emoticon-labelled file without its emoticons."""

    name: str
    file: Path
    scope: str  # HELD_OUT or ALL_ROWS
    posts: list[LabelledPost]  # polar and neutral
    weibo: bool  # counts in the Weibo means (every file but our food-delivery reviews)
    emoticons: bool = True
    left_out_trained: int = 0  # posts left out because the model was trained on their text

    @property
    def polar(self) -> list[LabelledPost]:
        return [p for p in self.posts if p.polarity != "neutral"]

    @property
    def base_name(self) -> str:
        return self.name.removesuffix(WITHOUT_EMOTICONS)


def _trained_digests(calibration_file: Path) -> dict[str, str]:
    return json.loads(calibration_file.read_text(encoding="utf-8")).get("trained_on", {})


def _no_polarity_error(path: Path) -> DataFileError:
    labels = sorted({label.strip() for _, label in read_rows(path)})
    shown = ", ".join(labels[:12]) + (" ..." if len(labels) > 12 else "")
    return DataFileError(path, f"no row has a polarity label (labels found: {shown}); expected 0/1, pos/neg, "
                               "positive/negative, 正面/负面 or emotions such as happy/angry/sadness")


def _file_sets(path: Path, ours: DataSet | None, trained_on: dict[str, str],
               seen_in_training: frozenset[str]) -> list[EvalSet]:
    weibo = ours is None or ours.in_training
    variants = [True, False] if ours is not None and ours.emoticon_labelled else [True]
    sets = []
    if ours is not None and trained_on.get(path.name) == file_digest(path):
        for emoticons in variants:
            posts = load_data_set(path.parent, ours, emoticons=emoticons)["test"]
            sets.append(EvalSet(ours.name + ("" if emoticons else WITHOUT_EMOTICONS), path, HELD_OUT, posts, weibo,
                                emoticons))
        return sets
    name = ours.name if ours is not None else path.stem
    for emoticons in variants:
        every = load_labelled_file(path, emoticons=emoticons)
        if not any(p.polarity != "neutral" for p in every):
            raise _no_polarity_error(path)
        unseen = [p for p in every if text_key(p.text) not in seen_in_training]
        sets.append(EvalSet(name + ("" if emoticons else WITHOUT_EMOTICONS), path, ALL_ROWS, unseen, weibo, emoticons,
                            len(every) - len(unseen)))
    return sets


def labelled_files(directory: Path) -> tuple[list[Path], list[Path]]:
    """The files of a folder that may hold labelled posts, and the .txt files skipped as not labelled.
    A single file given instead of a folder is the one file read."""
    if directory.is_file():
        return [directory], []
    candidates = sorted(p for p in directory.iterdir() if p.is_file() and p.suffix.lower() in LABELLED_SUFFIXES)
    kept = [p for p in candidates if looks_labelled(p)]
    return kept, [p for p in candidates if p not in kept]


def evaluation_sets(directory: Path, wanted: Sequence[str] | None = None,
                    calibration_file: Path = CALIBRATION_FILE) -> list[EvalSet]:
    """The rows to measure for every labelled file (.json, .jsonl, .csv, .tsv, .txt) in `directory`.

    `wanted` keeps the rows of those names (a file's name without suffix, or our data set name;
    an emoticon-labelled file's name keeps both of its rows). Raises DataFileError for a file that
    cannot be read, naming it, and for a name in `wanted` that matches nothing.
    """
    files, _ = labelled_files(directory)
    if not files:
        raise DataFileError(directory, f"no labelled files there ({', '.join(sorted(LABELLED_SUFFIXES))})")
    ours_by_file = {d.file: d for d in DATA_SETS}
    trained_on = _trained_digests(calibration_file)
    seen_in_training = trained_texts()
    chosen = set(wanted) if wanted else None
    sets: list[EvalSet] = []
    for path in files:
        ours = ours_by_file.get(path.name)
        names = {path.stem} | ({ours.name} if ours else set())
        if chosen is None or names & chosen or any(n + WITHOUT_EMOTICONS in chosen for n in names):
            rows = _file_sets(path, ours, trained_on, seen_in_training)
            sets += [s for s in rows if chosen is None or s.name in chosen or s.base_name in chosen]
    if chosen is not None:
        found = {s.name for s in sets} | {s.base_name for s in sets}
        if missing := sorted(chosen - found):
            raise DataFileError(directory, f"no labelled file for {', '.join(missing)} there")
    return sets


def spread_sample(posts: Sequence[LabelledPost], limit: int) -> list[LabelledPost]:
    """At most `limit` posts taken evenly across the file (files are often sorted by label)."""
    if not limit or len(posts) <= limit:
        return list(posts)
    return [posts[i * len(posts) // limit] for i in range(limit)]


@dataclass(frozen=True)
class EvalRow:
    set: str
    file: str
    scope: str
    weibo: bool
    emoticons: bool
    posts: int
    left_out_trained: int
    ours: Scores
    snownlp: Scores
    ours_three_way_macro_f1: float | None
    ours_neutral_f1: float | None = None
    ours_label_probability_error: float | None = None

    def as_dict(self) -> dict:
        return asdict(self)


# SnowNLP scores about 200 posts per second: a large file takes minutes, so say how far it is.
PROGRESS_EVERY = 2000


def _reporting(score: Callable[[str], float], total: int, progress: Callable[[str], None]) -> Callable[[str], float]:
    """`score`, reporting every PROGRESS_EVERY posts scored."""
    done = 0

    def scored(text: str) -> float:
        nonlocal done
        done += 1
        if done % PROGRESS_EVERY == 0:
            progress(f"  SnowNLP {done}/{total}")
        return score(text)

    return scored


def evaluate(
    sets: Sequence[EvalSet],
    ours: Callable[[str], float],
    ours_label: Callable[[str], tuple[str, float]],
    snownlp: Callable[[str], float],
    *,
    limit: int = 0,
    progress: Callable[[str], None] = lambda _: None,
) -> tuple[list[EvalRow], dict]:
    """Both models on every set's polar posts (at most `limit` each), our three-way figures where a
    set labels neutral posts (`ours_label` gives a text's label and its probability), and the
    summary: Weibo means and the throughput ratio."""
    rows = []
    for eval_set in sets:
        polar = spread_sample(eval_set.polar, limit)
        texts, truth = [p.text for p in polar], [p.polarity == "pos" for p in polar]
        note = f", {eval_set.left_out_trained} trained on, left out" if eval_set.left_out_trained else ""
        progress(f"评估 {eval_set.name}: {len(texts)} posts ({eval_set.scope}{note}) ...")
        if not texts:
            raise DataFileError(eval_set.file, "no post left to measure (every post has no polarity or was "
                                               "trained on)")
        ours_scores = measure(texts, truth, ours)
        snow_scores = measure(texts, truth, _reporting(snownlp, len(texts), progress))
        labelled = three_way(spread_sample(eval_set.posts, limit), ours_label)
        rows.append(EvalRow(eval_set.name, eval_set.file.name, eval_set.scope, eval_set.weibo, eval_set.emoticons,
                            len(texts), eval_set.left_out_trained, ours_scores, snow_scores,
                            labelled.macro_f1 if labelled else None, labelled.neutral_f1 if labelled else None,
                            labelled.label_probability_error if labelled else None))
    return rows, summarize(rows)


def summarize(rows: Sequence[EvalRow]) -> dict:
    """Mean balanced accuracies over the Weibo rows (files as they are; then with emoticon-labelled
    files read without emoticons, if any), the smallest gain over SnowNLP, and the throughput ratio."""
    weibo = [r for r in rows if r.weibo] or list(rows)
    as_is = [r for r in weibo if r.emoticons]
    without = {r.set.removesuffix(WITHOUT_EMOTICONS): r for r in weibo if not r.emoticons}
    stripped = [without.get(r.set, r) for r in as_is]

    def mean(chosen: Sequence[EvalRow], pick: Callable[[EvalRow], float]) -> float:
        return sum(map(pick, chosen)) / len(chosen) if chosen else 0.0

    summary = {
        "mean_over": "weibo" if any(r.weibo for r in rows) else "all",
        "ours_mean_accuracy": mean(as_is, lambda r: r.ours.accuracy),
        "snownlp_mean_accuracy": mean(as_is, lambda r: r.snownlp.accuracy),
        "smallest_gain": min((r.ours.accuracy - r.snownlp.accuracy for r in as_is), default=0.0),
        # Total CPU time of SnowNLP over total CPU time of ours, on the same posts.
        "speedup": sum(r.posts / r.snownlp.posts_per_second for r in rows)
        / max(sum(r.posts / r.ours.posts_per_second for r in rows), 1e-9),
    }
    labelling = [r for r in weibo if r.ours_three_way_macro_f1 is not None]
    if labelling:
        summary["ours_mean_three_way_macro_f1"] = mean(labelling, lambda r: r.ours_three_way_macro_f1 or 0.0)
        summary["ours_mean_neutral_f1"] = mean(labelling, lambda r: r.ours_neutral_f1 or 0.0)
    if without:
        summary["ours_mean_accuracy" + WITHOUT_EMOTICONS] = mean(stripped, lambda r: r.ours.accuracy)
        summary["snownlp_mean_accuracy" + WITHOUT_EMOTICONS] = mean(stripped, lambda r: r.snownlp.accuracy)
    return summary


@dataclass(frozen=True)
class NewsRow:
    """Our labels on one set of real news: how many factual reports are called negative."""

    set: str
    factual_reports: int
    negative_share: float  # of the factual reports
    neutral_share: float
    by_class: dict[str, float] | None = None  # negative share per THUCNews class


def _shares(labels: Sequence[str]) -> tuple[float, float]:
    return (sum(label == "negative" for label in labels) / len(labels),
            sum(label == "neutral" for label in labels) / len(labels)) if labels else (0.0, 0.0)


def news_rows(shared_data: Path, label: Callable[[str], str]) -> list[NewsRow]:
    """Factual news called negative, on what of shared/data is there: our hand-labelled headlines and
    pages (those we marked factual and neutral: tools/sentiment_labels/), and every THUCNews headline
    of the test split (never trained on), by class."""
    from tools.sentiment_data import hand_labelled, news_headlines, shared_topics_dir

    rows = []
    topics = shared_topics_dir(shared_data / "sentiment")
    if (topics / "thucnews_titles_dev.txt").exists():
        headlines = [h.name for h in hand_labelled("news_headlines.tsv") if h.factual and h.polarity == "neutral"]
        labels = [label(h) for h in headlines]
        rows.append(NewsRow("hand-labelled factual headlines", len(labels), *_shares(labels)))
        classes = (topics / "thucnews_titles_classes.txt").read_text(encoding="utf-8").split()
        class_of = {t.strip(): classes[int(c)] for t, _, c in
                    (line.rpartition("\t") for line in (topics / "thucnews_titles_dev.txt").read_text(
                        encoding="utf-8").splitlines()) if c.strip().isdigit()}
        test = news_headlines(topics, "test")
        labels = [label(t) for t in test]
        by_class = {name: _shares([lab for t, lab in zip(test, labels, strict=True) if class_of.get(t) == name])[0]
                    for name in classes}
        rows.append(NewsRow("THUCNews test-split headlines (all)", len(labels), *_shares(labels),
                            {k: round(v, 4) for k, v in by_class.items()}))
    html = shared_data / "html"
    if html.is_dir():
        from spiders.extract import extract_article
        from spiders.parsing import decode_page

        labels = []
        for page in hand_labelled("news_pages.tsv"):
            if page.factual and page.polarity == "neutral" and (html / page.name).exists():
                article = extract_article(decode_page((html / page.name).read_bytes())[0])
                labels.append(label(f"{article.title or ''}\n{article.text or ''}"))
        rows.append(NewsRow("hand-labelled factual news pages", len(labels), *_shares(labels)))
    return rows
