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

    def file_for(self, name: str, key: str, suffix: str) -> Path | None:
        """Where table `name` derived from `key` may be kept as a file its caller reads and writes itself (a
        table looked up in place rather than loaded whole), or None when this keeper keeps no file."""
        ...


class BuildEachTime:
    """Keeps nothing: every process builds its tables."""

    def kept_table(self, name: str, key: str, build: Callable[[], T], valid: Callable[[object], bool]) -> T:
        return build()

    def file_for(self, name: str, key: str, suffix: str) -> Path | None:
        return None


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


def _own_private(path: Path, info: os.stat_result) -> bool:
    if not stat.S_ISREG(info.st_mode) or info.st_uid != os.geteuid() or info.st_mode & _WRITABLE_BY_OTHERS:
        log.warning("ignoring %s: not a private file of this user", path)
        return False
    return True


def _read_own_file(path: Path) -> bytes | None:
    """The bytes of `path` if it is a regular file owned by this user and writable only by them."""
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0))
    except OSError:
        return None
    with os.fdopen(fd, "rb") as handle:
        return handle.read() if _own_private(path, os.fstat(handle.fileno())) else None


def own_file(path: Path) -> bool:
    """Whether `path` (in a keeper's private directory) is a regular file, not a link, owned by this user and
    writable only by them: a kept file its caller may trust."""
    try:
        info = os.lstat(path)
    except OSError:
        return False
    return _own_private(path, info)


def write_kept_file(path: Path, write: Callable[[Path], None]) -> None:
    """Make the file `path` by `write` on a private temporary file beside it, then put it in place atomically
    (a concurrent reader sees the old file or the new one). If that fails, nothing is kept: the caller has built
    its table anyway, and builds it again next time."""
    temporary = None
    try:
        handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}")  # 0600
        os.close(handle)
        write(Path(temporary))
        os.replace(temporary, path)
    except (OSError, ValueError) as exc:
        log.debug("%s not kept: %s", path, exc)
        if temporary is not None:
            Path(temporary).unlink(missing_ok=True)


class PrivateTableCache:
    """Keeps tables as files in `directory` (default: `default_directory()`), checked as above."""

    def __init__(self, directory: Path | None = None) -> None:
        self.directory = directory if directory is not None else default_directory()
        self._usable: bool | None = None  # checked once, on first use

    def path_of(self, name: str, key: str, suffix: str = ".marshal") -> Path | None:
        """The file kept for table `name` built from inputs described by `key`; None without a usable directory."""
        if self.directory is None:
            return None
        if self._usable is None:
            self._usable = _private_directory(self.directory)
        if not self._usable:
            return None
        digest = hashlib.sha1(f"{key}|{sys.version_info[:2]}".encode()).hexdigest()[:16]
        return self.directory / f"{name}-{digest}{suffix}"

    def file_for(self, name: str, key: str, suffix: str) -> Path | None:
        return self.path_of(name, key, suffix)

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
        # `build` makes marshallable tables
        write_kept_file(path, lambda kept: kept.write_bytes(marshal.dumps(built)))  # type: ignore[arg-type]
        return built
