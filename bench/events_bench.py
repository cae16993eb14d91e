"""Event clustering throughput as the stream grows: does the candidate search stay flat?

    python -m bench.events_bench [--sizes 1000,10000,100000] [--window 500]

Posts are real Weibo posts (SMP2020) and THUCNews headlines from shared/data (the test fixture
without it), segmented and ranked once, before any timing, exactly as `Analyzer.enrich` does:
keywords, anchors, SimHash features. They arrive 2,000 a day (43.2 s apart), so a text seen
again after the corpus runs out is 11 days old: outside the 7-day window, it cannot simply rejoin
its first event. Every 100 posts the clusterer hands over its changed events, and every hour of
post time it forgets idle events, as the analyze worker does.

For each stream size N the clusterer takes the whole stream (reprint check + assign per post);
printed are posts per CPU-second over all N posts and over the last `--window` posts (the speed
at that size). The baseline, measured in the same run from the same state after N - window
posts, is the exhaustive search: every event still open scored against each post. It shows what
the candidate index saves, and how often the two put a post in the same event.
"""

from __future__ import annotations

import argparse
import copy
import json
import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

from analysis.events import ACTIVE_FOR, EventClusterer, PostTraits, anchors_of

REPO = Path(__file__).resolve().parent.parent
SHARED = (REPO / ".." / "shared" / "data").resolve()
FIXTURE = REPO / "tests" / "fixtures" / "analysis" / "weibo_sample.jsonl"
SPACING = timedelta(seconds=43.2)  # 2,000 posts a day
START = datetime(2026, 1, 1)
HANDOVER_EVERY = 100
PRUNE_EVERY = timedelta(hours=1)


def corpus() -> list[str]:
    texts: list[str] = []
    sentiment, topics = SHARED / "sentiment", SHARED / "topics" / "thucnews_titles_dev.txt"
    if sentiment.is_dir():
        for name in ("smp2020_usual_eval.json", "smp2020_virus_eval.json", "smp2020_virus_train.json"):
            texts += [item["content"] for item in json.loads((sentiment / name).read_text(encoding="utf-8"))]
    if topics.is_file():
        texts += [line.split("\t")[0] for line in topics.read_text(encoding="utf-8").splitlines() if line]
    if not texts:
        texts = [json.loads(line)["text"] for line in FIXTURE.read_text(encoding="utf-8").splitlines() if line]
    return list(dict.fromkeys(t.strip() for t in texts if t.strip()))


@dataclass(frozen=True)
class Prepared:
    text: str
    features: list[str]
    keywords: list[tuple[str, float]]
    anchors: list[str]


def prepare(texts: Sequence[str]) -> list[Prepared]:
    from workers.build import shipped_language

    language = shipped_language()
    prepared = []
    for text in texts:
        candidates = language.keywords.candidate_words(language.segmenter.segment_post(text).all_words)
        prepared.append(Prepared(text, candidates, language.keywords.rank_candidates(candidates, 8),
                                 anchors_of(text, candidates)))
    return prepared


def traits_at(position: int, item: Prepared) -> PostTraits:
    return PostTraits(id=f"bench:{position}", when=START + SPACING * position, keywords=item.keywords,
                      platform="weibo", anchors=item.anchors)


class ExhaustiveClusterer(EventClusterer):
    """The baseline: no candidate index, every open event is scored."""

    def _candidate_ids(
        self, post: PostTraits, vector: dict[str, float], vector_norm: float
    ) -> tuple[list[str], set[str]]:
        _, anchored = super()._candidate_ids(post, vector, vector_norm)
        earliest_seen, latest_seen = post.when - ACTIVE_FOR, post.when + ACTIVE_FOR
        return [eid for eid, event in self.events.items() if self._open(event, earliest_seen, latest_seen)], anchored


class Feeder:
    """Feeds posts to a clusterer as the analyze worker would; returns what it assigned."""

    def __init__(self, clusterer: EventClusterer, corpus: Sequence[Prepared]) -> None:
        self.clusterer = clusterer
        self.corpus = corpus
        self.pruned_at = START

    def feed(self, first: int, last: int) -> list[str | None]:
        assigned = []
        clusterer = self.clusterer
        for position in range(first, last):
            item = self.corpus[position % len(self.corpus)]
            post = traits_at(position, item)
            reprint_of = clusterer.reprint(post.id, post.when, item.text, item.features)
            assigned.append(clusterer.assign(post, reprint_of))
            if position % HANDOVER_EVERY == HANDOVER_EVERY - 1:
                clusterer.take_changed()
                clusterer.unsaved.clear()  # the worker writes them to its state store here
                if post.when - self.pruned_at >= PRUNE_EVERY:
                    clusterer.prune(post.when)
                    self.pruned_at = post.when
        return assigned


def timed(feeder: Feeder, first: int, last: int) -> tuple[float, list[str | None]]:
    started = time.process_time()
    assigned = feeder.feed(first, last)
    return (last - first) / (time.process_time() - started), assigned


def main() -> None:
    parser = argparse.ArgumentParser(description="event clustering throughput as the stream grows")
    parser.add_argument("--sizes", default="1000,10000,100000", help="stream sizes (default 1000,10000,100000)")
    parser.add_argument("--window", type=int, default=500, help="posts timed at the end of each stream")
    args = parser.parse_args()
    sizes = [int(s) for s in args.sizes.split(",")]

    started = time.process_time()
    prepared = prepare(corpus())
    print(f"{len(prepared):,} distinct texts segmented and ranked in {time.process_time() - started:.1f} s CPU; "
          f"posts {SPACING.total_seconds():.1f} s apart")
    for size in sizes:
        window = min(args.window, size)
        feeder = Feeder(EventClusterer(), prepared)
        warm_rate, _ = timed(feeder, 0, size - window)
        state = copy.deepcopy(feeder.clusterer.__dict__)
        open_events = sum(1 for e in feeder.clusterer.events.values()
                          if not e.merged_into and START + SPACING * size - e.last_seen <= ACTIVE_FOR)
        end_rate, indexed = timed(feeder, size - window, size)
        whole = size / ((size - window) / warm_rate + window / end_rate) if size > window else end_rate
        events = sum(1 for e in feeder.clusterer.events.values() if not e.merged_into)

        baseline = ExhaustiveClusterer()
        baseline.__dict__.update(state)
        base_feeder = Feeder(baseline, prepared)
        base_feeder.pruned_at = feeder.pruned_at
        base_rate, exhaustive = timed(base_feeder, size - window, size)
        same = sum(a == b for a, b in zip(indexed, exhaustive, strict=True)) / window
        print(f"N={size:>7,}: {whole:>7,.0f} posts/s over the stream, {end_rate:>7,.0f} posts/s over the last "
              f"{window} ({open_events:,} events open, {events:,} in memory); exhaustive search over the last "
              f"{window}: {base_rate:>6,.0f} posts/s -> {end_rate / base_rate:.1f}x; same event for {same:.1%}")


if __name__ == "__main__":
    main()
