"""Small helpers shared by the command modules."""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from yuqing.config import Settings, load_settings


def settings_from(args: argparse.Namespace, **overrides: Any) -> Settings:
    """The settings for this invocation: --config (or $YUQING_CONFIG), the environment, overrides."""
    return load_settings(getattr(args, "config", None), **overrides)


def print_json(data: Any) -> None:
    json.dump(data, sys.stdout, ensure_ascii=False, indent=2, default=str)
    sys.stdout.write("\n")
