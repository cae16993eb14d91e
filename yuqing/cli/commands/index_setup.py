"""`yuqing index setup`: install the Elasticsearch index templates and create the indices.

Idempotent: templates are updated in place, an index that exists is left alone ("index exists,
skipping"), so running it on every deployment is safe.
"""

from __future__ import annotations

import argparse

from yuqing.cli.common import settings_from


def register(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser("index", help="manage the search index (Elasticsearch)",
                            description="Manage the search index configured by `index` in the settings.")
    actions = parser.add_subparsers(dest="index_action", metavar="ACTION", required=True)
    setup = actions.add_parser(
        "setup", help="install index templates and create missing indices (safe to re-run)",
        description="Install the posts, events and crawl-health index templates and create the indices "
                    "that are missing. Existing indices are not touched.")
    setup.set_defaults(func=run_setup)


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
