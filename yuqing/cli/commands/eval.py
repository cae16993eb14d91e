"""`yuqing eval sentiment`: our sentiment model beside SnowNLP's default, on labelled posts.

It reads every labelled file in the folder (default ../shared/data/sentiment; `--data DIR` for
any other): JSON lists or JSON lines of {content|text|review, label}, or CSV/TSV files with a text
and a label column, also as .txt files (as SMP2020-EWECT and CLUEmotion2020 ship them). A file
the shipped model was trained on is measured on its held-out test split, any other file on all its
rows (minus posts whose text the model was trained on). Both models score the same posts in the
same run; it prints balanced accuracy at 0.5, macro-F1, the share called positive, throughput
(posts per CPU second), the gain over SnowNLP, our three-way macro-F1 where a file labels neutral
posts (with its neutral F1 and how well the label's probability is calibrated), the means over the
Weibo files, and, when shared/data/topics and shared/data/html sit beside the folder and no --sets
are chosen, the share of factual news reports called negative (hand-labelled headlines and pages,
and every THUCNews headline of the held-out split).
"""

from __future__ import annotations

import argparse
import json
import sys
import unicodedata
from dataclasses import asdict
from pathlib import Path

from yuqing.config import ConfigError
from yuqing.schema import Sentiment

SETS_HELP = "comma-separated data set names: file names without suffix (default: every labelled file)"

FOOTNOTES = (
    "acc: balanced accuracy at 0.5, the mean of the recall on positive and on negative posts: the accuracy "
    "a set with as many positive as negative posts gives.",
    "held-out 20%: the test split of a file the model was trained on (never trained on); all rows: a file "
    "the model was not trained on, without any post whose text it was trained on.",
    "weibo_senti_100k_subset: labelled from its emoticons, which stay in its text, so it is shown as the "
    "file is and, as (无表情), with the emoticon codes removed (what the words alone carry).",
)


def _display_width(text: str) -> int:
    """Columns a terminal gives the text: CJK characters take two."""
    return sum(2 if unicodedata.east_asian_width(c) in "WF" else 1 for c in text)


def _label_and_probability(sentiment: Sentiment) -> tuple[str, float]:
    return sentiment.label.value, sentiment.probability if sentiment.probability is not None else 0.0


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("eval", help="measure analysis models on held-out data")
    sub = parser.add_subparsers(dest="target", metavar="TARGET", required=True)
    sentiment = sub.add_parser("sentiment", help="sentiment: ours beside SnowNLP's default")
    sentiment.add_argument("--data", type=Path, help="folder of labelled files, or one such file (default: ../shared/data/sentiment)")
    sentiment.add_argument("--sets", help=SETS_HELP)
    sentiment.add_argument("--limit", type=int, default=0,
                           help="at most this many posts per set, taken evenly across it (0: all)")
    sentiment.add_argument("--json", action="store_true", help="print JSON instead of a table")
    sentiment.set_defaults(func=run_sentiment)


def run_sentiment(args: argparse.Namespace) -> int:
    from snownlp import SnowNLP

    from tools.sentiment_data import DataFileError, shared_sentiment_dir
    from tools.sentiment_eval import evaluate, evaluation_sets, labelled_files, news_rows
    from tools.sentiment_training import REPO_ROOT, WITHOUT_EMOTICONS
    from workers.build import shipped_language

    directory = args.data or shared_sentiment_dir(REPO_ROOT)
    if not directory.exists():
        raise ConfigError(directory, "", "folder (or file) of labelled sentiment posts not found (use --data)")
    if args.limit < 0:
        raise ConfigError("--limit", "", "a number of posts, 0 or more")
    wanted = [name.strip() for name in args.sets.split(",") if name.strip()] if args.sets else None
    try:
        for skipped in labelled_files(directory)[1]:
            print(f"跳过 {skipped.name}: no JSON and no header with a text and a label column", file=sys.stderr)
        sets = evaluation_sets(directory, wanted)
        # Load both models before any clock starts.
        classify_text = shipped_language().classify_text
        classify_text("预热")
        SnowNLP("预热").sentiments  # noqa: B018 - the property loads SnowNLP's model
        rows, summary = evaluate(
            sets,
            lambda t: classify_text(t).score,
            lambda t: _label_and_probability(classify_text(t)),
            lambda t: SnowNLP(t).sentiments,
            limit=args.limit,
            progress=lambda line: print(line, file=sys.stderr),
        )
        news = [] if wanted else news_rows(directory.parent, lambda t: classify_text(t).label.value)
    except DataFileError as error:
        raise ConfigError(error.path, "", error.problem) from error

    if args.json:
        print(json.dumps({"sets": [r.as_dict() for r in rows], "summary": summary,
                          "news": [asdict(n) for n in news]}, ensure_ascii=False, indent=1))
        return 0
    width = max(26, *(_display_width(r.set) + 2 for r in rows))
    print(f"{'data set':<{width}}{'scope':<14}{'posts':>6} | {'ours acc':>8}{'F1':>7}{'pos%':>6}{'posts/s':>9} | "
          f"{'SnowNLP acc':>11}{'F1':>7}{'pos%':>6}{'posts/s':>9} | {'gain':>6}{'speed':>7}")
    for r in rows:
        o, s = r.ours, r.snownlp
        print(f"{r.set}{' ' * (width - _display_width(r.set))}{r.scope:<14}{r.posts:>6} | {o.accuracy:>8.3f}{o.macro_f1:>7.3f}"
              f"{o.positive_share * 100:>6.0f}{o.posts_per_second:>9.0f} | {s.accuracy:>11.3f}"
              f"{s.macro_f1:>7.3f}{s.positive_share * 100:>6.0f}{s.posts_per_second:>9.0f} | "
              f"{(o.accuracy - s.accuracy) * 100:>+6.1f}{o.posts_per_second / s.posts_per_second:>6.1f}x")
    for r in rows:
        if r.ours_three_way_macro_f1 is not None:
            print(f"{r.set}: three-way (positive/neutral/negative) macro-F1 of ours "
                  f"{r.ours_three_way_macro_f1:.3f}, neutral F1 {r.ours_neutral_f1:.3f}, calibration error of "
                  f"the label's probability {r.ours_label_probability_error:.3f}, on all its measured posts")
    if "ours_mean_three_way_macro_f1" in summary:
        print(f"Weibo sets labelling neutral posts, mean three-way macro-F1 {summary['ours_mean_three_way_macro_f1']:.3f}, "
              f"mean neutral F1 {summary['ours_mean_neutral_f1']:.3f}")
    for n in news:
        classes = (" (by class: " + ", ".join(f"{k} {v * 100:.0f}%" for k, v in n.by_class.items()) + ")"
                   if n.by_class else "")
        print(f"news, {n.set}: {n.factual_reports} reports, {n.negative_share * 100:.1f}% called negative, "
              f"{n.neutral_share * 100:.1f}% neutral{classes}")
    over = "Weibo sets" if summary["mean_over"] == "weibo" else "All sets (none is Weibo)"
    print(f"{over} as the files are, mean balanced accuracy: ours {summary['ours_mean_accuracy']:.3f}, "
          f"SnowNLP default {summary['snownlp_mean_accuracy']:.3f}; smallest gain "
          f"{summary['smallest_gain'] * 100:+.1f} points; throughput ours/SnowNLP {summary['speedup']:.1f}x")
    if "ours_mean_accuracy" + WITHOUT_EMOTICONS in summary:
        print(f"Weibo sets, emoticon-labelled files without emoticons{WITHOUT_EMOTICONS}: ours "
              f"{summary['ours_mean_accuracy' + WITHOUT_EMOTICONS]:.3f}, SnowNLP default "
              f"{summary['snownlp_mean_accuracy' + WITHOUT_EMOTICONS]:.3f}")
    for note in FOOTNOTES:
        if "weibo_senti" not in note or any(not r.emoticons for r in rows):
            print(f"* {note}")
    return 0
