"""`yuqing sources check [FILE]`: validate a sources file offline and show what each source resolves to."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from yuqing.cli.common import print_json, settings_from


def register(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser("sources", help="work with the sources file")
    actions = parser.add_subparsers(dest="sources_action", metavar="ACTION", required=True)
    check = actions.add_parser(
        "check", help="validate a sources file offline",
        description="Validate every entry of a sources file against its kind's parameters, without network "
                    "access, and print the kind and parameters each source resolved to.",
    )
    check.add_argument("file", nargs="?", help="sources file (default: the configured sources_file)")
    check.add_argument("--json", action="store_true", help="print JSON")
    check.set_defaults(func=run_check)


def run_check(args: argparse.Namespace) -> int:
    from spiders.registry import resolve
    from yuqing.config.datafiles import load_sources

    path = Path(args.file) if args.file else settings_from(args).sources_file
    sources = load_sources(path)
    rows = []
    for source in sources:
        kind, params = resolve(source, path)
        rows.append({
            "name": source.name, "kind": kind.name, "spider": kind.spider.__name__, "title": source.title,
            "enabled": source.enabled, "obey_robots": source.obey_robots,
            "params": params.model_dump(mode="json", exclude_defaults=True),
        })
    if args.json:
        print_json({"file": str(path), "sources": rows})
        return 0
    print(f"{path}: {len(rows)} source(s) OK")
    for row in rows:
        state = "" if row["enabled"] else "  [disabled]"
        robots = "" if row["obey_robots"] is None else f"  robots={'obey' if row['obey_robots'] else 'ignore'}"
        print(f"- {row['name']} ({row['title'] or '-'}): kind {row['kind']} → {row['spider']}{state}{robots}")
        print(f"    params: {json.dumps(row['params'], ensure_ascii=False)}")
    return 0
