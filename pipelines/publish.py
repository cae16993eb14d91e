"""Publishing with a safety net: when the transport is down, messages go to a local spool file
(JSON lines under settings.data_dir) and are replayed, in order, before the next publish."""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

from transport import Transport, TransportError, open_transport
from yuqing.config import Settings

log = logging.getLogger(__name__)

SPOOL_FILE = "crawl-spool.jsonl"


class Publisher:
    """Publish to the transport, or spool when it is absent or fails. Single-threaded."""

    def __init__(self, transport: Transport | None, spool_path: str | Path) -> None:
        self.transport = transport
        self._opened_with = transport  # closed by `close`, even after a failure set `transport` aside
        self.spool_path = Path(spool_path)
        self.spooled = 0  # messages written to the spool by this publisher
        self.replayed = 0

    def publish(self, topic: str, value: dict[str, Any], key: str | None = None) -> bool:
        """True when the message reached the transport, False when it was spooled instead."""
        if self.transport is not None and self.replay():
            try:
                self.transport.publish(topic, value, key=key)
                return True
            except TransportError as exc:
                log.warning("transport refused a message (%s); spooling to %s", exc, self.spool_path)
                self.transport = None  # stop hammering a broken backend for the rest of the run
        self._spool(topic, value, key)
        return False

    def _spool(self, topic: str, value: dict[str, Any], key: str | None) -> None:
        self.spool_path.parent.mkdir(parents=True, exist_ok=True)
        with self.spool_path.open("a", encoding="utf-8") as out:
            out.write(json.dumps({"topic": topic, "key": key, "value": value}, ensure_ascii=False) + "\n")
        self.spooled += 1

    def pending(self) -> int:
        """Messages waiting in the spool."""
        if not self.spool_path.exists():
            return 0
        with self.spool_path.open(encoding="utf-8") as spool:
            return sum(1 for line in spool if line.strip())

    def replay(self) -> bool:
        """Send spooled messages in order; True when the spool is empty afterwards.

        Lines that are not valid JSON (a crash mid-write) are kept aside in a `.bad` file
        rather than dropped.
        """
        if self.transport is None:
            return False
        if not self.spool_path.exists():
            return True
        lines = self.spool_path.read_text(encoding="utf-8").splitlines()
        sent = 0
        try:
            for line in lines:
                if line.strip():
                    try:
                        message = json.loads(line)
                    except ValueError:
                        with self.spool_path.with_suffix(".bad").open("a", encoding="utf-8") as bad:
                            bad.write(line + "\n")
                        sent += 1
                        continue
                    self.transport.publish(message["topic"], message["value"], key=message.get("key"))
                    self.replayed += 1
                sent += 1
            self.transport.flush()
        except TransportError as exc:
            log.warning("transport still down (%s); %d spooled messages wait", exc, len(lines) - sent)
            self.transport = None
            remaining = lines[sent:]
            self.spool_path.write_text("".join(line + "\n" for line in remaining), encoding="utf-8")
            return False
        self.spool_path.unlink()
        if sent:
            log.info("replayed %d spooled messages", sent)
        return True

    def flush(self) -> None:
        if self.transport is not None:
            try:
                self.transport.flush()
            except TransportError as exc:
                log.warning("transport flush failed: %s", exc)

    def close(self) -> None:
        """Close the transport this publisher was given."""
        if self._opened_with is not None:
            self._opened_with.close()
            self._opened_with = self.transport = None


def open_publisher(settings: Settings) -> Publisher:
    """The crawl's publisher: the configured transport, or the spool alone while it is down."""
    try:
        transport: Transport | None = open_transport(settings)
    except TransportError as exc:
        log.warning("transport unavailable (%s): items are spooled and sent on the next run", exc)
        transport = None
    return Publisher(transport, settings.path(SPOOL_FILE))
