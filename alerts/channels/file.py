"""Local file channel: one JSON line per notification (default <data_dir>/outbox/notifications.jsonl).

The demo and a fresh install have no robot or mail server; this keeps every notification
readable on disk, and `path: "-"` prints them instead.
"""

from __future__ import annotations

import json
from pathlib import Path

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


class FileChannel(Channel[FileOptions]):
    type_name = "file"
    options_model = FileOptions

    @property
    def target(self) -> Path:
        return Path(self.options.path) if self.options.path else self.context.data_dir / "outbox" / "notifications.jsonl"

    def send(self, notification: Notification) -> None:
        if self.options.path == "-":
            print(render_plain(notification) + "\n", flush=True)
            return
        record = {"title": render_title(notification), "text": render_plain(notification), **notification.to_json()}
        try:
            self.target.parent.mkdir(parents=True, exist_ok=True)
            with self.target.open("a", encoding="utf-8") as handle:
                handle.write(json.dumps(record, ensure_ascii=False) + "\n")
        except OSError as exc:
            raise ChannelError(f"{self.name}: cannot write {self.target}: {exc}") from exc
