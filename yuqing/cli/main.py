"""`yuqing`: one entry point, one subcommand per job. Each command module adds its own parser.

Every module in `console/commands/` exposes `register(subparsers)`; the parser it adds sets
`func(args) -> int`. User errors (a bad file, a bad setting) print one message and exit 2,
without a traceback.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import os
import pkgutil
import sys

import yuqing.cli.commands
from stores.tables import PrivateTableCache, use_keeper
from yuqing.config import ConfigError
from yuqing.errors import BackendUnavailable
from yuqing.redact import redact, redact_logs


def command_modules() -> list[str]:
    """Every module of `yuqing.cli.commands`, alphabetically: adding a command is adding a file."""
    return sorted(f"yuqing.cli.commands.{m.name}" for m in pkgutil.iter_modules(yuqing.cli.commands.__path__))


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="yuqing",
        description="舆情监测与回应 Yuqing: crawl, analyse, index, alert and brief on public opinion.",
        epilog="数据目录 data directory (logs, index, alerts, state, reports): data_dir in the settings file or "
               "$YUQING_DATA_DIR; by default var/ beside the settings file, or ./var in the working directory "
               "when there is none.",
    )
    parser.add_argument("--config", metavar="FILE", help="YAML settings file (default: $YUQING_CONFIG)")
    parser.add_argument("-v", "--verbose", action="count", default=0, help="more log output (-vv for debug)")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for name in command_modules():
        importlib.import_module(name).register(sub)
    return parser


def main(argv: list[str] | None = None, parser: argparse.ArgumentParser | None = None) -> int:
    """Run one command; a caller that runs many (a test suite) may pass the parser it built once."""
    args = (parser or build_parser()).parse_args(argv)
    level = (logging.WARNING, logging.INFO, logging.DEBUG)[min(args.verbose, 2)]
    logging.basicConfig(level=level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    redact_logs()
    # Every command that segments or classifies keeps its derived tables in the user's private cache.
    use_keeper(PrivateTableCache())
    try:
        return int(args.func(args) or 0)
    except ConfigError as exc:
        print(exc.message, file=sys.stderr)
        return exc.exit_code
    except BackendUnavailable as exc:
        print(f"服务不可用 (backend unavailable): {redact(str(exc))}", file=sys.stderr)
        return 1
    except BrokenPipeError:
        # The reader (e.g. `| head`) has gone: not an error of ours.
        sys.stdout = open(os.devnull, "w")  # noqa: SIM115 - keeps Python's exit flush quiet
        return 0
    except KeyboardInterrupt:
        print("已中断 (interrupted)", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
