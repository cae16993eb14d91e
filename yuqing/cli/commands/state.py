"""`yuqing state setup`: create or upgrade the PostgreSQL state database (`state: postgres`).

Idempotent: each versioned migration in `stores/migrations/` is applied once, so running it on every
deployment is safe. The embedded state (SQLite files in data_dir) needs no setup.
"""

from __future__ import annotations

import argparse

from yuqing.cli.common import settings_from


def register(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser("state", help="manage the state store (PostgreSQL)",
                            description="Manage the state store configured by `state` in the settings.")
    actions = parser.add_subparsers(dest="state_action", metavar="ACTION", required=True)
    setup = actions.add_parser(
        "setup", help="apply the state database's missing migrations (safe to re-run)",
        description="Apply the versioned SQL migrations the PostgreSQL state database lacks, in one transaction.")
    setup.set_defaults(func=run_setup)


def run_setup(args: argparse.Namespace) -> int:
    from stores import postgres

    settings = settings_from(args)
    if settings.state != "postgres":
        print("嵌入式状态库无需设置 (the embedded state is created on first use); "
              "set YUQING_STATE=postgres to set up PostgreSQL")
        return 0
    print(postgres.describe(settings.postgres))
    applied = postgres.setup(settings.postgres)
    for migration in applied:
        print(f"  迁移 migration {migration.version:04d} {migration.name}: applied")
    if not applied:
        print(f"  已是最新 up to date (migration {postgres.migrations()[-1].version:04d})")
    return 0
