"""`yuqing index setup` and `yuqing index prune --before DATE`.

`setup` installs the Elasticsearch index templates and creates the indices. Idempotent: templates
are updated in place, an index that exists is left alone ("index exists, skipping"), so running it
on every deployment is safe.

`prune` deletes the posts published before a day (Beijing time) from whichever index is configured,
for offices that must not keep posts past a period (`index_retention_days` does it continuously).
"""

from __future__ import annotations

import argparse
import sys
from datetime import datetime, timedelta

from yuqing.cli.common import settings_from
from yuqing.config import ConfigError
from yuqing.schema import aware, now


def register(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser("index", help="manage the search index: set up Elasticsearch, delete old posts",
                            description="Manage the search index configured by `index` in the settings.")
    actions = parser.add_subparsers(dest="index_action", metavar="ACTION", required=True)
    setup = actions.add_parser(
        "setup", help="install index templates and create missing indices (safe to re-run)",
        description="Install the posts, events and crawl-health index templates and create the indices "
                    "that are missing. Existing indices are not touched.")
    setup.set_defaults(func=run_setup)
    prune = actions.add_parser(
        "prune", help="delete the posts published before a date from the index",
        description="Delete from the search index every post published (else fetched) before DATE, "
                    "with its text and its share of every count. Events and alerts are kept.")
    prune.add_argument("--before", metavar="DATE", required=True,
                       help="YYYY-MM-DD (midnight, Beijing time) or an ISO time such as 2026-11-02T09:30")
    prune.set_defaults(func=run_prune)


def parse_before(value: str) -> datetime:
    """The moment `--before` names; a bad or future one is a user error (exit 2): pruning up to a
    future moment would empty the index."""
    try:
        moment = aware(datetime.fromisoformat(value))
    except ValueError as exc:
        raise ConfigError("--before", value, "日期格式应为 YYYY-MM-DD，例如 2026-01-01 "
                                             "(a date as YYYY-MM-DD or an ISO time)") from exc
    if moment > now() + timedelta(days=1):
        raise ConfigError("--before", value, "日期在未来，会删除全部帖子 (a date in the future would delete "
                                             "every post)")
    return moment


def run_prune(args: argparse.Namespace) -> int:
    from search import open_index

    before = parse_before(args.before)

    def progress(removed: int) -> None:
        print(f"已删除 {removed} 条…", file=sys.stderr, flush=True)

    with open_index(settings_from(args)) as index:
        removed = index.prune(before, progress)
    print(f"已删除 {removed} 条 {args.before} 之前发布的帖子 (deleted {removed} posts published before {args.before})")
    return 0


def run_setup(args: argparse.Namespace) -> int:
    from search.elastic import ElasticIndex

    settings = settings_from(args)
    if settings.index != "elasticsearch":
        print("嵌入式索引无需设置 (the embedded index is created on first use); "
              "set YUQING_INDEX=elasticsearch to set up Elasticsearch")
        return 0
    with ElasticIndex(settings.elasticsearch) as index:
        print(f"Elasticsearch: {settings.elasticsearch.url}")
        for step in index.setup():
            print(f"  模板 template {step.template}: installed")
            if step.created:
                print(f"  索引 index {step.index}: created")
            else:
                print(f"  索引 index {step.index}: index exists, skipping")
    return 0
