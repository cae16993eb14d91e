"""`yuqing eval sentiment`: our sentiment model beside SnowNLP's default, on held-out posts.

For every labelled file in shared/data/sentiment it scores the test split (never trained on)
with both models in the same run and prints balanced accuracy at 0.5 (the accuracy on a set
with as many positive as negative posts), macro-F1, the share called positive and the
throughput (posts per CPU second), then our three-way macro-F1 where a file labels neutral
posts, and the means over the Weibo files.
"""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import asdict
from pathlib import Path

from config import ConfigError

SETS_HELP = "comma-separated data set names (default: all)"


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("eval", help="measure analysis models on held-out data")
    sub = parser.add_subparsers(dest="target", metavar="TARGET", required=True)
    sentiment = sub.add_parser("sentiment", help="sentiment: ours beside SnowNLP's default")
    sentiment.add_argument("--data", type=Path, help="folder of labelled files (default: ../shared/data/sentiment)")
    sentiment.add_argument("--sets", help=SETS_HELP)
    sentiment.add_argument("--limit", type=int, default=0, help="at most this many posts per set (0: all)")
    sentiment.add_argument("--json", action="store_true", help="print JSON instead of a table")
    sentiment.set_defaults(func=run_sentiment)


def run_sentiment(args: argparse.Namespace) -> int:
    from snownlp import SnowNLP

    from analysis.sentiment import classify_text
    from analysis.sentiment_data import DATA_SETS, shared_sentiment_dir
    from analysis.sentiment_training import REPO_ROOT, held_out, measure, three_way_macro_f1

    directory = args.data or shared_sentiment_dir(REPO_ROOT)
    if not directory.is_dir():
        raise ConfigError(directory, "", "folder of labelled sentiment files not found (use --data)")
    wanted = {name.strip() for name in args.sets.split(",")} if args.sets else None
    chosen = [d for d in DATA_SETS if (wanted is None or d.name in wanted) and (directory / d.file).exists()]
    if not chosen:
        raise ConfigError(directory, "", f"no known data set there; known: {', '.join(d.name for d in DATA_SETS)}")

    # Load both models before any clock starts.
    classify_text("预热")
    SnowNLP("预热").sentiments  # noqa: B018 - the property loads SnowNLP's model

    rows = []
    for data_set in chosen:
        texts, truth = held_out(directory, data_set)
        if args.limit:
            texts, truth = texts[: args.limit], truth[: args.limit]
        print(f"评估 {data_set.name}: {len(texts)} posts ...", file=sys.stderr)
        ours = measure(texts, truth, lambda t: classify_text(t).score)
        snow = measure(texts, truth, lambda t: SnowNLP(t).sentiments)
        three_way = three_way_macro_f1(directory, data_set, lambda t: classify_text(t).label.value)
        rows.append({"set": data_set.name, "weibo": data_set.in_training, "posts": len(texts),
                     "ours": asdict(ours), "snownlp": asdict(snow), "ours_three_way_macro_f1": three_way})

    weibo = [r for r in rows if r["weibo"]] or rows
    summary = {
        "ours_mean_accuracy": sum(r["ours"]["accuracy"] for r in weibo) / len(weibo),
        "snownlp_mean_accuracy": sum(r["snownlp"]["accuracy"] for r in weibo) / len(weibo),
        # Total time of SnowNLP over total time of ours, on the same posts.
        "speedup": sum(r["posts"] / r["snownlp"]["posts_per_second"] for r in rows)
        / sum(r["posts"] / r["ours"]["posts_per_second"] for r in rows),
    }
    if args.json:
        print(json.dumps({"sets": rows, "summary": summary}, ensure_ascii=False, indent=1))
        return 0
    print(f"{'data set':<26}{'posts':>6} | {'ours acc':>8}{'F1':>7}{'pos%':>6}{'posts/s':>9} | "
          f"{'SnowNLP acc':>11}{'F1':>7}{'pos%':>6}{'posts/s':>9} | {'gain':>6}{'speed':>7}")
    for r in rows:
        o, s = r["ours"], r["snownlp"]
        print(f"{r['set']:<26}{r['posts']:>6} | {o['accuracy']:>8.3f}{o['macro_f1']:>7.3f}"
              f"{o['positive_share'] * 100:>6.0f}{o['posts_per_second']:>9.0f} | {s['accuracy']:>11.3f}"
              f"{s['macro_f1']:>7.3f}{s['positive_share'] * 100:>6.0f}{s['posts_per_second']:>9.0f} | "
              f"{(o['accuracy'] - s['accuracy']) * 100:>+6.1f}{o['posts_per_second'] / s['posts_per_second']:>6.1f}x")
    for r in rows:
        if r["ours_three_way_macro_f1"] is not None:
            print(f"{r['set']}: three-way (positive/neutral/negative) macro-F1 of ours "
                  f"{r['ours_three_way_macro_f1']:.3f} on all its test posts")
    print(f"Weibo sets, mean balanced accuracy: ours {summary['ours_mean_accuracy']:.3f}, "
          f"SnowNLP default {summary['snownlp_mean_accuracy']:.3f}; throughput ours/SnowNLP "
          f"{summary['speedup']:.1f}x")
    return 0
