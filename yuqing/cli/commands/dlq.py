"""`yuqing dlq list|show|replay TOPIC`: the dead letters of a topic — what a stage (or the crawl) could not
handle, with the reason — looked at, and sent back once the cause is fixed."""

from __future__ import annotations

import argparse
from datetime import datetime

from transport import ALL_TOPICS, Message, Transport, dead_letter, open_transport
from transport.base import DEAD_LETTER_SUFFIX
from workers.runner import ERROR_HEADER, RETRY_HEADER
from yuqing.cli.common import print_json, settings_from
from yuqing.config import ConfigError
from yuqing.schema import SHANGHAI

# The consumer group that remembers which dead letters were sent back, so each goes back once.
REPLAY_GROUP = "yuqing-dlq-replay"
# Set on a message sent back, so a reader can tell a replayed message from a fresh one.
REPLAYED_HEADER = "yuqing-replayed-from"


def register(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser("dlq", help="dead letters: list, show, replay",
                            description="Messages a stage could not handle wait in TOPIC.dlq with the reason. "
                                        "List them, show one, or send them back to TOPIC once the cause is fixed.")
    actions = parser.add_subparsers(dest="action", metavar="ACTION", required=True)
    topics = ", ".join(ALL_TOPICS)
    listing = actions.add_parser("list", help="the dead letters of TOPIC, oldest first")
    listing.add_argument("topic", metavar="TOPIC", help=f"one of {topics} (or its .dlq name)")
    listing.add_argument("--limit", type=int, default=50)
    listing.add_argument("--json", action="store_true", help="machine-readable output")
    listing.set_defaults(func=run_list)
    show = actions.add_parser("show", help="one dead letter in full")
    show.add_argument("topic", metavar="TOPIC")
    show.add_argument("position", metavar="PARTITION:OFFSET", help="as `dlq list` prints it")
    show.set_defaults(func=run_show)
    replay = actions.add_parser("replay", help="send the dead letters of TOPIC back to it (each once)")
    replay.add_argument("topic", metavar="TOPIC")
    replay.set_defaults(func=run_replay)


def _topic(name: str) -> str:
    """The original topic, whether given as `posts.raw` or `posts.raw.dlq`."""
    topic = name.removesuffix(DEAD_LETTER_SUFFIX)
    if topic not in ALL_TOPICS:
        raise ConfigError("dlq", "TOPIC", f"unknown topic {name!r}; one of {', '.join(ALL_TOPICS)}")
    return topic


def _reason(message: Message) -> str:
    if ERROR_HEADER in message.headers:
        return message.headers[ERROR_HEADER]
    return str(message.value.get("error") or next((v for k, v in message.headers.items() if "undecodable" in k), ""))


def _when(message: Message) -> str:
    return f"{datetime.fromtimestamp(message.timestamp, SHANGHAI):%Y-%m-%d %H:%M:%S}"


def run_list(args: argparse.Namespace) -> int:
    topic = _topic(args.topic)
    with open_transport(settings_from(args)) as transport:
        letters = transport.read(dead_letter(topic), args.limit)
    if args.json:
        print_json([{"position": f"{m.partition}:{m.offset}", "at": _when(m), "key": m.key, "reason": _reason(m)}
                    for m in letters])
        return 0
    if not letters:
        print(f"{dead_letter(topic)}: 没有死信 (no dead letters)")
        return 0
    for message in letters:
        print(f"{message.partition}:{message.offset}  {_when(message)}  {message.key or '—'}\n    {_reason(message)[:200]}")
    return 0


def run_show(args: argparse.Namespace) -> int:
    topic = _topic(args.topic)
    try:
        partition, offset = (int(part) for part in args.position.split(":"))
    except ValueError:
        raise ConfigError("dlq show", "PARTITION:OFFSET", f"expected e.g. 0:12, got {args.position!r}") from None
    with open_transport(settings_from(args)) as transport:
        found = _find(transport, dead_letter(topic), partition, offset)
    if found is None:
        raise ConfigError("dlq show", "PARTITION:OFFSET", f"no dead letter {args.position} in {dead_letter(topic)}")
    print_json({"position": args.position, "at": _when(found), "key": found.key, "reason": _reason(found),
                "headers": found.headers, "value": found.value})
    return 0


def _find(transport: Transport, topic: str, partition: int, offset: int) -> Message | None:
    # Dead letters are few; reading them all keeps `read` the one way in for both transports.
    return next((m for m in transport.read(topic, 1_000_000) if (m.partition, m.offset) == (partition, offset)), None)


def run_replay(args: argparse.Namespace) -> int:
    """What a stage quarantined goes back to its topic with its retry count cleared; each dead letter goes back
    once (a consumer group keeps the place). Items the crawl refused as invalid and undecodable records carry
    no stage's error: they are skipped, as they would be refused again."""
    topic = _topic(args.topic)
    sent = skipped = 0
    with open_transport(settings_from(args)) as transport, transport.consumer(REPLAY_GROUP, [dead_letter(topic)]) as dlq:
        while batch := dlq.poll(500, timeout=1.0):
            for message in batch:
                if ERROR_HEADER not in message.headers:
                    skipped += 1
                    continue
                headers = {k: v for k, v in message.headers.items() if k not in (ERROR_HEADER, RETRY_HEADER)}
                headers[REPLAYED_HEADER] = f"{dead_letter(topic)}@{message.partition}:{message.offset}"
                transport.publish(topic, message.value, key=message.key, headers=headers)
                sent += 1
            transport.flush()
            dlq.commit(batch)
    print(f"已重新投递 replayed {sent} message(s) to {topic}" + (f"; {skipped} not replayable (skipped)" if skipped else ""))
    return 0
