"""Local file channel: one JSON line per notification (default <data_dir>/outbox/notifications.jsonl).

The demo and a fresh install have no robot or mail server; this keeps every notification
readable on disk, and `path: "-"` prints them instead. The file is rotated at `max_mb` (to
notifications.jsonl.1, the one before to .2, ...), and `backups` rotated files are kept: months of a
city's alerts do not fill the disk.
"""

from __future__ import annotations

import json
import threading
from pathlib import Path

from pydantic import Field

from alerts.channels.base import (
    Channel,
    ChannelError,
    ChannelOptions,
    Notification,
    render_plain,
    render_title,
)


class FileOptions(ChannelOptions):
    path: str | None = None
    max_mb: float = Field(default=50.0, gt=0, description="the file is rotated once it would grow past this")
    backups: int = Field(default=4, ge=0, description="rotated files kept (.1 the newest); older ones are deleted")


class FileChannel(Channel[FileOptions]):
    type_name = "file"
    options_model = FileOptions
    # The lanes of a channel with `concurrency` above 1 write from several threads: one rotates at a time.
    _writing = threading.Lock()

    @property
    def target(self) -> Path:
        return Path(self.options.path) if self.options.path else self.context.data_dir / "outbox" / "notifications.jsonl"

    def send(self, notification: Notification) -> None:
        if self.options.path == "-":
            print(render_plain(notification) + "\n", flush=True)
            return
        record = {"title": render_title(notification), "text": render_plain(notification), **notification.to_json()}
        line = (json.dumps(record, ensure_ascii=False) + "\n").encode()
        target = self.target
        try:
            with self._writing:
                target.parent.mkdir(parents=True, exist_ok=True)
                if target.exists() and target.stat().st_size + len(line) > self.options.max_mb * 1_000_000:
                    self._rotate(target)
                with target.open("ab") as handle:
                    handle.write(line)
        except OSError as exc:
            raise ChannelError(f"{self.name}: cannot write {target}: {exc}") from exc

    def _rotate(self, target: Path) -> None:
        """notifications.jsonl becomes .1, .1 becomes .2, ...; the one past `backups` is replaced (or, with none
        kept, the file itself goes)."""
        if self.options.backups == 0:
            target.unlink()
            return
        for number in range(self.options.backups - 1, 0, -1):
            older = target.with_name(f"{target.name}.{number}")
            if older.exists():
                older.replace(target.with_name(f"{target.name}.{number + 1}"))
        target.replace(target.with_name(f"{target.name}.1"))
