"""Throughput of analysis, each beside a baseline measured in the same run, on real Weibo posts.

    python -m bench.analysis_bench [--posts N]

1. Sentiment: our `classify_text` (jieba words + retrained Bayes) against plain
   `SnowNLP(text).sentiments` on the same posts. Target: at least 30x.
2. The whole enrich step (`Analyzer.enrich`: masking, segmentation, sentiment, keywords, places,
   policies, departments, reprints, events) against jieba's default-mode segmentation alone.
   Target: at least 2,000 posts per second on one core.
3. Start-up of a fresh process that enriches one post (imports, dictionaries, models), against
   the import of SnowNLP's package alone, which loads its own segmenter and tagger models.
4. End to end, as a user times it: `yuqing analyze FILE > out.jsonl` in a fresh process (start-up,
   JSON in and out included) on (a) every real Weibo post of shared/data/sentiment as it is,
   (b) those of 100+ characters, (c) a large file (100,000 lines by default: the real posts repeated,
   each copy with its own suffix so none is an exact duplicate). Baseline, same files, same run: a
   fresh process that reads each line, segments its text with jieba's default mode and writes a JSON
   line. Targets: >= 3,000 posts/s on (a), >= 2,000 on (b), and (c) as fast as (a). Beside (a), SnowNLP's
   default the same way (a fresh process reading each line, scoring `SnowNLP(text).sentiments`, writing a JSON
   line) on the first SNOWNLP_LINES posts of the same file, start-up included: what the user would otherwise run.

Rates are per second of CPU time of this one process (one core), so other load on the machine
distorts them less than wall-clock time would. Posts come from shared/data/sentiment (SMP2020 Weibo posts); without it, from the test fixture.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from datetime import timedelta
from pathlib import Path
from statistics import median
from typing import Any

REPO = Path(__file__).resolve().parent.parent
SHARED = (REPO / ".." / "shared" / "data" / "sentiment").resolve()
FIXTURE = REPO / "tests" / "fixtures" / "analysis" / "weibo_sample.jsonl"


def weibo_texts(limit: int) -> list[str]:
    texts: list[str] = []
    if SHARED.is_dir():
        for name in ("smp2020_usual_eval.json", "smp2020_virus_eval.json", "smp2020_virus_train.json"):
            texts += [item["content"] for item in json.loads((SHARED / name).read_text(encoding="utf-8"))]
    else:
        texts = [json.loads(line)["text"] for line in FIXTURE.read_text(encoding="utf-8").splitlines() if line]
    texts = [t for t in texts if t.strip()]
    while len(texts) < limit:
        texts += texts
    return texts[:limit]


def all_weibo_texts() -> list[str]:
    """Every real Weibo post in shared/data/sentiment (not the food-delivery reviews), file by file;
    without shared/, the test fixture's posts."""
    if not SHARED.is_dir():
        return [json.loads(line)["text"] for line in FIXTURE.read_text(encoding="utf-8").splitlines() if line.strip()]
    texts: list[str] = []
    for name in ("smp2020_virus_train.json", "smp2020_usual_eval.json", "smp2020_virus_eval.json"):
        texts += [item["content"] for item in json.loads((SHARED / name).read_text(encoding="utf-8"))]
    with (SHARED / "cluemotion2020_valid.jsonl").open(encoding="utf-8") as lines:
        texts += [json.loads(line)["content"] for line in lines if line.strip()]
    with (SHARED / "weibo_senti_100k_subset.csv").open(encoding="utf-8-sig", newline="") as rows:
        texts += [row["review"] for row in csv.DictReader(rows)]
    return [t for t in texts if t.strip()]


def write_posts(path: Path, texts: Sequence[str]) -> Path:
    """The simplest input `yuqing analyze` takes: {"id", "text"} per line."""
    with path.open("w", encoding="utf-8") as out:
        for number, text in enumerate(texts):
            out.write(json.dumps({"id": f"p{number}", "text": text}, ensure_ascii=False) + "\n")
    return path


def repeated(texts: Sequence[str], lines: int) -> list[str]:
    """`lines` posts: the real ones over and over, each copy with its own suffix (第N轮)."""
    return [f"{texts[i % len(texts)]} 第{i // len(texts) + 1}轮" for i in range(lines)]


# The baseline of the end-to-end runs: read, parse, segment with jieba's default mode, write.
JIEBA_LINES_SCRIPT = r"""
import json, sys
import jieba
jieba.initialize()
with open(sys.argv[1], encoding="utf-8") as lines, open(sys.argv[2], "w", encoding="utf-8") as out:
    for line in lines:
        post = json.loads(line)
        out.write(json.dumps({"id": post["id"], "words": jieba.lcut(post["text"])}, ensure_ascii=False) + "\n")
"""


# SnowNLP's default as a user runs it on a file: read, score, write (first N lines: it manages ~200 posts/s).
SNOWNLP_LINES_SCRIPT = r"""
import itertools, json, sys
from snownlp import SnowNLP
with open(sys.argv[1], encoding="utf-8") as lines, open(sys.argv[2], "w", encoding="utf-8") as out:
    for line in itertools.islice(lines, int(sys.argv[3])):
        post = json.loads(line)
        out.write(json.dumps({"id": post["id"], "sentiment": SnowNLP(post["text"]).sentiments}) + "\n")
"""
SNOWNLP_LINES = 1000


def timed_child(command: Sequence[str], stdout: Path) -> tuple[float, float]:
    """(wall seconds, CPU seconds) of a fresh process writing its standard output to `stdout`."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    with stdout.open("wb") as out:
        subprocess.run(command, cwd=REPO, check=True, stdout=out, stderr=subprocess.DEVNULL)
    wall = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return wall, (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


def analyze_command() -> list[str]:
    """`yuqing` as installed beside this interpreter, else the same entry point through -c."""
    script = Path(sys.executable).parent / "yuqing"
    if script.exists():
        return [str(script)]
    return [sys.executable, "-c", "import sys; from yuqing.cli.main import main; sys.exit(main())"]


def end_to_end(folder: Path, large_lines: int) -> None:
    texts = all_weibo_texts()
    inputs = [
        ("real posts as they are", write_posts(folder / "real.jsonl", texts)),
        ("posts of 100+ characters", write_posts(folder / "long.jsonl", [t for t in texts if len(t) >= 100])),
        (f"{large_lines:,} lines", write_posts(folder / "large.jsonl", repeated(texts, large_lines))),
    ]
    print(f"end to end (`yuqing analyze FILE > out.jsonl`, fresh process; load average "
          f"{', '.join(f'{x:.2f}' for x in os.getloadavg())}):")
    rates = {}
    for label, path in inputs:
        lines = sum(1 for _ in path.open(encoding="utf-8"))
        average = sum(len(json.loads(line)["text"]) for line in path.open(encoding="utf-8")) / lines
        wall, cpu = timed_child([*analyze_command(), "analyze", "--no-progress", str(path)], folder / "out.jsonl")
        written = sum(1 for _ in (folder / "out.jsonl").open(encoding="utf-8"))
        if written != lines:
            raise SystemExit(f"yuqing analyze wrote {written} lines for {lines}")
        base_wall, base_cpu = timed_child([sys.executable, "-c", JIEBA_LINES_SCRIPT, str(path), str(folder / "jieba.jsonl")],
                                          folder / "jieba.out")
        rates[label] = lines / cpu
        print(f"  {label} ({lines:,} posts, {average:.0f} characters on average): {lines / wall:,.0f} posts/s wall "
              f"({wall:.2f} s), {lines / cpu:,.0f} posts per CPU second ({cpu:.2f} s); jieba default mode "
              f"read-segment-write {lines / base_wall:,.0f} posts/s wall, {lines / base_cpu:,.0f} per CPU second "
              f"-> {base_cpu / cpu:.2f}x")
        if label == "real posts as they are":
            scored = min(lines, SNOWNLP_LINES)
            _, snow_cpu = timed_child([sys.executable, "-c", SNOWNLP_LINES_SCRIPT, str(path), str(folder / "snow.jsonl"),
                                       str(scored)], folder / "snow.out")
            print(f"    SnowNLP default read-score-write, first {scored:,} of these posts, start-up included: "
                  f"{scored / snow_cpu:,.0f} posts per CPU second -> yuqing analyze is "
                  f"{(lines / cpu) / (scored / snow_cpu):.1f}x as fast, doing every analysis step")
    real, long, large = rates.values()
    print(f"  targets: real posts {real:,.0f} per CPU second (>= 3,000), 100+ characters {long:,.0f} (>= 2,000), "
          f"large file at {large / real:.2f}x the rate of the real posts (flat: >= 1.0)")


def rate(items: Sequence[Any], work: Callable[[Any], object]) -> float:
    """Items per second of this process's CPU time: other jobs on a shared machine do not count."""
    started = time.process_time()
    for item in items:
        work(item)
    return len(items) / (time.process_time() - started)


# Run in a fresh interpreter: what `yuqing analyze` pays before its first post.
STARTUP_SCRIPT = """
from yuqing.config.datafiles import load_policies, load_watchlists
from yuqing.config.settings import DEFAULT_DATA
from analysis.enrich import Analyzer
from stores.tables import PrivateTableCache, use_keeper
from workers.build import load_gazetteer, shipped_language
from yuqing.schema import Post
use_keeper(PrivateTableCache())  # as the yuqing command does
language = shipped_language()
analyzer = Analyzer(language, load_policies(DEFAULT_DATA / "policies.yaml"),
                    load_watchlists(DEFAULT_DATA / "watchlists.yaml"),
                    load_gazetteer(DEFAULT_DATA / "gazetteer.yaml", language.segmenter))
analyzer.enrich(Post(id="p", url="urn:p", platform="weibo", source="bench", text="市住建局回应老旧小区改造漏水问题"))
"""


def child_cpu_seconds(code: str) -> float:
    """CPU seconds (user + system) a fresh Python process takes to run `code`."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    subprocess.run([sys.executable, "-c", code], cwd=REPO, check=True)
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


def main() -> None:
    parser = argparse.ArgumentParser(description="analysis throughput")
    parser.add_argument("--posts", type=int, default=4000, help="posts per measurement (default 4000)")
    parser.add_argument("--snownlp-posts", type=int, default=600, help="posts for SnowNLP's slow baseline")
    parser.add_argument("--large", type=int, default=100_000, help="lines of the large end-to-end file (default 100000)")
    parser.add_argument("--end-to-end-only", action="store_true", help="only the end-to-end runs (section 4)")
    args = parser.parse_args()
    if args.end_to_end_only:
        with tempfile.TemporaryDirectory() as folder:
            end_to_end(Path(folder), args.large)
        return

    from snownlp import SnowNLP

    from analysis.enrich import Analyzer
    from stores.analysis_state import AnalysisStateStore
    from stores.language import jieba_tokenizer
    from stores.tables import PrivateTableCache, use_keeper
    from workers.build import load_gazetteer, shipped_language
    from yuqing.config.datafiles import load_watchlists
    from yuqing.config.settings import DEFAULT_DATA
    from yuqing.schema import Post, now

    use_keeper(PrivateTableCache())  # as the yuqing command does
    language = shipped_language()
    segmenter, classify_text = language.segmenter, language.classify_text
    texts = weibo_texts(args.posts)
    chars = sum(map(len, texts)) / len(texts)
    print(f"{len(texts)} Weibo posts, {chars:.0f} characters on average")

    # 1. Sentiment against SnowNLP's default, same posts, models loaded before timing.
    classify_text("预热")
    SnowNLP("预热").sentiments  # noqa: B018
    sample = texts[: args.snownlp_posts]
    ours = rate(sample, classify_text)
    snow = rate(sample, lambda t: SnowNLP(t).sentiments)
    print(f"sentiment: ours {ours:,.0f} posts/s, SnowNLP default {snow:,.0f} posts/s -> {ours / snow:.1f}x "
          f"(target >= 30x)")

    # 2. The whole enrich step against jieba's default mode alone.
    watchlists_file = DEFAULT_DATA / "watchlists.yaml"
    watchlists = load_watchlists(watchlists_file) if watchlists_file.exists() else []
    analyzer = Analyzer(language, [], watchlists, load_gazetteer(DEFAULT_DATA / "gazetteer.yaml", segmenter))
    start = now() - timedelta(days=2)
    posts = [
        Post(id=f"bench:{i}", url=f"urn:bench:{i}", platform="weibo", source="bench", text=text,
             published_at=start + timedelta(seconds=20 * i))
        for i, text in enumerate(texts)
    ]
    tok = jieba_tokenizer()  # jieba with our user dictionary, none of the analysis terms
    jieba_default = rate(texts, tok.lcut)
    segmenter.forget_blocks()  # no head start from the sentiment measurement above
    enrich = rate(posts, analyzer.enrich)
    events = len(analyzer.changed_events())
    analyzer.close()
    print(f"enrich: {enrich:,.0f} posts/s ({events} events); jieba default-mode segmentation alone "
          f"{jieba_default:,.0f} posts/s -> {enrich / jieba_default:.2f}x (target >= 2,000 posts/s)")

    # As the analyze worker runs it: batches of 100, events handed over (and state written) per batch.
    with tempfile.TemporaryDirectory() as folder:
        worker = Analyzer(language, [], watchlists, load_gazetteer(DEFAULT_DATA / "gazetteer.yaml", segmenter),
                          AnalysisStateStore(Path(folder) / "analysis.sqlite3"))
        segmenter.forget_blocks()
        started = time.process_time()
        for first in range(0, len(posts), 100):
            for item in posts[first : first + 100]:
                worker.enrich(item)
            worker.changed_events()
        batched = len(posts) / (time.process_time() - started)
        worker.close()
    print(f"enrich in batches of 100 with SQLite state: {batched:,.0f} posts/s")

    # Long posts only (a full 140-character weibo is the worst case of "Weibo-length").
    long_posts = [p for p in posts if len(p.text) >= 100]
    if long_posts:
        # Three rounds, each on a fresh analyzer with no cached blocks, alternating with the baseline:
        # other jobs on a shared machine slow single rounds, the median is steadier.
        long_rates, long_jieba = [], []
        for _ in range(3):
            fresh = Analyzer(language, [], watchlists, load_gazetteer(DEFAULT_DATA / "gazetteer.yaml", segmenter))
            segmenter.forget_blocks()
            long_rates.append(rate(long_posts, fresh.enrich))
            fresh.close()
            long_jieba.append(rate([p.text for p in long_posts], tok.lcut))
        average = sum(len(p.text) for p in long_posts) / len(long_posts)
        print(f"enrich, {len(long_posts)} posts of 100+ characters ({average:.0f} on average): "
              f"{median(long_rates):,.0f} posts/s (rounds: {', '.join(f'{r:,.0f}' for r in long_rates)}); "
              f"jieba default mode alone {median(long_jieba):,.0f} posts/s -> "
              f"{median(long_rates) / median(long_jieba):.2f}x (target >= 2,000 posts/s)")

    # 3. Start-up, each in a fresh process.
    startup = child_cpu_seconds(STARTUP_SCRIPT)
    snownlp_import = child_cpu_seconds("import snownlp")
    bare = child_cpu_seconds("pass")
    print(f"start-up to the first enriched post: {startup:.2f} s CPU; for comparison, importing SnowNLP's package "
          f"(which loads its segmenter and tagger; we read our model without it) {snownlp_import - bare:.2f} s; "
          f"bare interpreter {bare:.2f} s")

    # 4. End to end, in fresh processes.
    with tempfile.TemporaryDirectory() as folder:
        end_to_end(Path(folder), args.large)


if __name__ == "__main__":
    main()
