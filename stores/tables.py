"""Derived tables kept between processes: a `TableKeeper`, and `PrivateTableCache`, which keeps them
in a private cache directory.

A table (jieba's prefix dictionary, the sentiment model's log-likelihood ratios) is built once and
kept as a marshal file, named after a digest of what it derives from; `marshal.loads` of the bytes
reads it several times faster than the table can be rebuilt.

A kept table is trusted only when nobody else could have written it: the directory is the user's
own (`$XDG_CACHE_HOME/yuqing` or `~/.cache/yuqing`, created 0700, never a shared /tmp where a name
can be guessed and a file planted), owned by the user and closed to others, and each file is a
regular file owned by the user and writable by nobody else. Anything else is ignored and rebuilt;
a directory that belongs to someone else is not used at all.

Building a table costs a fraction of a second per process. Without a keeper (`BuildEachTime`, the
default), each process builds its tables itself; the `yuqing` command chooses `PrivateTableCache`
for its process (`use_keeper`).
"""

from __future__ import annotations

import hashlib
import logging
import marshal
import os
import stat
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Protocol, TypeVar

log = logging.getLogger(__name__)
T = TypeVar("T")
# Permission bits that would let someone other than the owner change a file or a directory's entries.
_WRITABLE_BY_OTHERS = stat.S_IWGRP | stat.S_IWOTH


class TableKeeper(Protocol):
    def kept_table(self, name: str, key: str, build: Callable[[], T], valid: Callable[[object], bool]) -> T:
        """Table `name` derived from inputs described by `key`: a kept copy that passes `valid`,
        else `build()` (kept for next time if the keeper can)."""
        ...


class BuildEachTime:
    """Keeps nothing: every process builds its tables."""

    def kept_table(self, name: str, key: str, build: Callable[[], T], valid: Callable[[object], bool]) -> T:
        return build()


_process_keeper: TableKeeper = BuildEachTime()


def use_keeper(keeper: TableKeeper) -> None:
    """Keep this process's tables with `keeper` from now on (tables already built stay)."""
    global _process_keeper
    _process_keeper = keeper


def process_keeper() -> TableKeeper:
    """The keeper this process's entry point chose (`use_keeper`); by default none."""
    return _process_keeper


def default_directory() -> Path | None:
    """The user's cache directory for yuqing, or None when the user has no home to keep it in."""
    base = os.environ.get("XDG_CACHE_HOME")
    if not base:
        try:
            base = str(Path.home() / ".cache")
        except RuntimeError:
            return None
    return Path(base) / "yuqing"


def _private_directory(path: Path) -> bool:
    """Create `path` (0700) if missing; True when it is a real directory of this user, closed to others."""
    try:
        path.mkdir(mode=0o700, parents=True, exist_ok=True)
        info = os.lstat(path)
        if not stat.S_ISDIR(info.st_mode) or info.st_uid != os.geteuid():
            log.warning("table cache %s is not a directory of this user: not used", path)
            return False
        if stat.S_IMODE(info.st_mode) & 0o077:
            os.chmod(path, 0o700)  # ours, but open to others: closed, and each file is checked anyway
        return True
    except OSError as exc:  # e.g. a read-only home: tables are built in each process, nothing worse
        log.info("table cache %s cannot be used: %s", path, exc)
        return False


def _read_own_file(path: Path) -> bytes | None:
    """The bytes of `path` if it is a regular file owned by this user and writable only by them."""
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0))
    except OSError:
        return None
    with os.fdopen(fd, "rb") as handle:
        info = os.fstat(handle.fileno())
        if not stat.S_ISREG(info.st_mode) or info.st_uid != os.geteuid() or info.st_mode & _WRITABLE_BY_OTHERS:
            log.warning("ignoring %s: not a private file of this user", path)
            return None
        return handle.read()


class PrivateTableCache:
    """Keeps tables as files in `directory` (default: `default_directory()`), checked as above."""

    def __init__(self, directory: Path | None = None) -> None:
        self.directory = directory if directory is not None else default_directory()
        self._usable: bool | None = None  # checked once, on first use

    def path_of(self, name: str, key: str) -> Path | None:
        """The file kept for table `name` built from inputs described by `key`; None without a usable directory."""
        if self.directory is None:
            return None
        if self._usable is None:
            self._usable = _private_directory(self.directory)
        if not self._usable:
            return None
        digest = hashlib.sha1(f"{key}|{sys.version_info[:2]}".encode()).hexdigest()[:16]
        return self.directory / f"{name}-{digest}.marshal"

    def kept_table(self, name: str, key: str, build: Callable[[], T], valid: Callable[[object], bool]) -> T:
        path = self.path_of(name, key)
        if path is None:
            return build()
        data = _read_own_file(path)
        if data is not None:
            try:
                value = marshal.loads(data)
                if valid(value):
                    return value
            except (ValueError, EOFError, TypeError):
                pass  # broken: built again below
        built = build()
        temporary = None
        try:
            handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}")  # 0600
            with os.fdopen(handle, "wb") as out:
                out.write(marshal.dumps(built))  # type: ignore[arg-type]  # `build` makes marshallable tables
            os.replace(temporary, path)  # atomic: a concurrent reader sees the old file or the new one
        except (OSError, ValueError) as exc:
            log.debug("%s not kept in %s: %s", name, path, exc)
            if temporary is not None:
                Path(temporary).unlink(missing_ok=True)
        return built
