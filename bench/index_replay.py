"""The embedded index stage alone, on a fixed stream: for deterministic instruction counts (callgrind) of writing
posts into a fresh index and into one that already holds many.

    python -m bench.index_replay capture FILE [--posts 5000] [--days 2] [--seed 1]
    python -m bench.index_replay grow FILE INDEX --posts 200000
    python -m bench.index_replay replay FILE INDEX [--dry]

`capture` sends the throughput bench's stream (`bench.throughput.stream_posts`) through the enrich and events
stages in this process and writes what the index stage reads (the enriched posts, re-links and events, in the order
a worker polled them) to FILE, one `topic<TAB>JSON` line a message. `grow` writes copies of that stream into INDEX
until it holds `--posts` posts: each copy's posts and events take new ids and move a whole stream's days earlier, so
the index grows as weeks of a city's posts would. `replay` writes FILE into INDEX through `IndexStage`, in batches
of 500 as a worker would, and prints the CPU time; `--dry` reads FILE and opens INDEX but writes nothing, so that
`callgrind(replay) - callgrind(replay --dry)` is the stage's own work.
"""

from __future__ import annotations

import argparse
import shutil
import tempfile
import time
from datetime import datetime, timedelta
from pathlib import Path

import orjson

from transport.base import CRAWL_HEALTH, ENRICHED_POSTS, EVENTS, Message
from workers.runner import BatchResult, Stage, Worker

BATCH = 500  # messages a batch, as the worker polls them


class Recorder(Stage):
    """Keeps every message of the index stage's topics, in the order a worker is given them."""

    name = "recorder"
    topics = (ENRICHED_POSTS, EVENTS, CRAWL_HEALTH)

    def __init__(self) -> None:
        self.messages: list[Message] = []

    def process(self, messages: list[Message]) -> BatchResult:
        self.messages += messages
        return BatchResult()


def capture(file: Path, posts: int, days: int, seed: int) -> None:
    from bench.soak import publish
    from bench.throughput import drain, stream_posts
    from transport import open_transport
    from workers.stages import build_stage
    from yuqing.config import Settings

    workdir = Path(tempfile.mkdtemp(prefix="yuqing-index-replay-"))
    try:
        settings = Settings(data_dir=workdir)
        with open_transport(settings) as transport:
            publish(transport, iter(stream_posts(posts, days, seed)))
            for name in ("enrich", "events"):
                stage = build_stage(name, settings, transport)
                drain(transport, stage, profile=False)
                stage.close()
            recorder = Recorder()
            Worker(transport, recorder, batch_size=BATCH, poll_timeout=0.05).run(until_idle=True, idle_polls=1)
        with file.open("wb") as out:
            for message in recorder.messages:
                out.write(message.topic.encode() + b"\t" + message.data + b"\n")
        print(f"captured {len(recorder.messages)} messages into {file}")
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


def read(file: Path) -> list[Message]:
    messages = []
    for offset, line in enumerate(file.read_bytes().splitlines()):
        topic, _, data = line.partition(b"\t")
        messages.append(Message(topic.decode(), 0, offset, data))
    return messages


def _moved(message: Message, copy: int, shift: timedelta) -> Message:
    """The message of another copy of the stream: its ids suffixed with the copy's number, its times `shift` earlier."""
    value = orjson.loads(message.data)
    for name in ("id", "post_id", "event_id", "merged_into", "reprint_of"):
        if isinstance(value.get(name), str):
            value[name] = f"{value[name]}~{copy}"
    for name in ("published_at", "fetched_at", "first_seen", "last_seen"):
        if isinstance(value.get(name), str):
            value[name] = (datetime.fromisoformat(value[name]) - shift).isoformat()
    return Message(message.topic, 0, message.offset, orjson.dumps(value))


def _write(messages: list[Message], index_path: Path) -> tuple[float, int]:
    """(CPU seconds, posts) to write the messages through an index stage, in batches."""
    from search.sqlite_fts import SqliteIndex
    from workers.stages import IndexStage

    stage = IndexStage(SqliteIndex(index_path))
    began = time.process_time()
    for start in range(0, len(messages), BATCH):
        stage.process(messages[start:start + BATCH])
    spent = time.process_time() - began
    stage.close()
    return spent, sum(m.topic == ENRICHED_POSTS for m in messages)


def grow(file: Path, index_path: Path, posts: int) -> None:
    messages = read(file)
    per_copy = sum(m.topic == ENRICHED_POSTS for m in messages)
    times = [datetime.fromisoformat(orjson.loads(m.data)["published_at"]) for m in messages
             if m.topic == ENRICHED_POSTS and b'"published_at"' in m.data]
    shift = max(times) - min(times) + timedelta(days=1)
    for copy in range(1, -(-posts // per_copy) + 1):
        _write([_moved(m, copy, shift * copy) for m in messages], index_path)
        print(f"copy {copy}: {copy * per_copy} posts", flush=True)


def replay(file: Path, index_path: Path, dry: bool) -> None:
    messages = read(file)
    if dry:  # the stage made and closed, as `_write` makes it: its modules' imports are no part of its work
        from search.sqlite_fts import SqliteIndex
        from workers.stages import IndexStage

        IndexStage(SqliteIndex(index_path)).close()
        print(f"dry: read {len(messages)} messages")
        return
    spent, posts = _write(messages, index_path)
    print(f"replay: {posts} posts, {spent:.3f} s CPU, {spent * 1000 / posts:.3f} ms/post")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("command", choices=("capture", "grow", "replay"))
    parser.add_argument("file", type=Path)
    parser.add_argument("index", type=Path, nargs="?")
    parser.add_argument("--posts", type=int, default=5000)
    parser.add_argument("--days", type=int, default=2)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--dry", action="store_true")
    args = parser.parse_args()
    if args.command == "capture":
        capture(args.file, args.posts, args.days, args.seed)
    elif args.index is None:
        parser.error("INDEX is required")
    elif args.command == "grow":
        grow(args.file, args.index, args.posts)
    else:
        replay(args.file, args.index, args.dry)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
