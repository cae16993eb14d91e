"""Derived tables kept between processes, so that each `yuqing` process does not rebuild them.

A table (jieba's prefix dictionary, the sentiment model's log-likelihood ratios) is built once from
the files it derives from and kept as a marshal file in the temporary folder, named after a key
that changes with those files; `marshal.loads` of the bytes reads it several times faster than the
table can be rebuilt. The file is private to the user (0600): users sharing /tmp keep one each.
A missing, broken or foreign file is rebuilt, never trusted.
"""

from __future__ import annotations

import hashlib
import logging
import marshal
import os
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

log = logging.getLogger(__name__)
T = TypeVar("T")


def cache_file(name: str, key: str) -> Path:
    """The file kept for table `name` built from inputs described by `key`."""
    user = os.getuid() if hasattr(os, "getuid") else os.environ.get("USERNAME", "")
    digest = hashlib.sha1(f"{key}|{sys.version_info[:2]}|{user}".encode()).hexdigest()[:16]
    return Path(tempfile.gettempdir()) / f"yuqing-{name}-{digest}.marshal"


def kept_table(name: str, key: str, build: Callable[[], T], valid: Callable[[object], bool]) -> T:
    """The table read from its file when that holds a `valid` one; else built and written for next time."""
    path = cache_file(name, key)
    try:
        value = marshal.loads(path.read_bytes())
        if valid(value):
            return value
    except (OSError, ValueError, EOFError, TypeError):
        pass  # absent or unreadable: built below
    value = build()
    temporary = None
    try:
        handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=path.name)
        with os.fdopen(handle, "wb") as out:
            out.write(marshal.dumps(value))
        os.replace(temporary, path)  # atomic: a concurrent reader sees the old file or the new one
    except (OSError, ValueError) as exc:
        log.debug("%s not kept in %s: %s", name, path, exc)
        if temporary is not None:
            Path(temporary).unlink(missing_ok=True)
    return value
