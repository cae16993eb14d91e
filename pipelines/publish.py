"""Publishing with a safety net: a message counts as safe only once the transport confirmed it (`flush`)
or it was written to a local spool file (JSON lines under settings.data_dir); spooled messages are
replayed, in order, before the next publish.

A transport may take a message into a client buffer and lose it later (Kafka's producer drops what it
could not deliver within its timeout), so `publish` keeps every message it handed over until a `flush`
succeeds; when a flush fails, all of them go to the spool. Callers attach `on_safe` to learn when a
message is safe, and only then remember it as published (the crawl's seen-store).
"""

from __future__ import annotations

import json
import logging
import os
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from transport import Transport, TransportError, open_transport
from yuqing.config import Settings

log = logging.getLogger(__name__)

SPOOL_FILE = "crawl-spool.jsonl"
# Handed-over messages are confirmed (flushed) at least this often: a crash loses only unconfirmed ones,
# which are not marked as seen either and so are crawled again.
CONFIRM_EVERY_MESSAGES = 200
CONFIRM_EVERY_SECONDS = 2.0
# Spooled messages are replayed in chunks; the spool is rewritten after each confirmed chunk.
REPLAY_CHUNK = 500

# Called once a message is safe, with True when it was spooled rather than confirmed by the transport.
OnSafe = Callable[[bool], None]


@dataclass(frozen=True)
class _Unconfirmed:
    topic: str
    key: str | None
    value: dict[str, Any]
    on_safe: OnSafe | None


class Publisher:
    """Publish to the transport, or spool when it is absent or fails. Single-threaded."""

    def __init__(self, transport: Transport | None, spool_path: str | Path,
                 confirm_every: int = CONFIRM_EVERY_MESSAGES, confirm_seconds: float = CONFIRM_EVERY_SECONDS) -> None:
        self.transport = transport
        self._opened_with = transport  # closed by `close`, even after a failure set `transport` aside
        self.spool_path = Path(spool_path)
        self.confirm_every = confirm_every
        self.confirm_seconds = confirm_seconds
        self.spooled = 0  # messages written to the spool by this publisher
        self.replayed = 0
        self._unconfirmed: list[_Unconfirmed] = []
        self._oldest_unconfirmed = 0.0

    def publish(self, topic: str, value: dict[str, Any], key: str | None = None,
                on_safe: OnSafe | None = None) -> bool:
        """True when the message was handed to the transport, False when it was spooled at once.

        `on_safe(spooled)` runs when the message is durable: confirmed by a later flush, or spooled.
        """
        if self.transport is not None and self.replay():
            try:
                self.transport.publish(topic, value, key=key)
            except TransportError as exc:
                self._transport_failed(exc)
            else:
                if not self._unconfirmed:
                    self._oldest_unconfirmed = time.monotonic()
                self._unconfirmed.append(_Unconfirmed(topic, key, value, on_safe))
                if (len(self._unconfirmed) >= self.confirm_every
                        or time.monotonic() - self._oldest_unconfirmed >= self.confirm_seconds):
                    self.flush()
                return True
        self._spool([_Unconfirmed(topic, key, value, on_safe)])
        return False

    def flush(self) -> bool:
        """Confirm what was handed over; when the transport cannot, spool it all. True when confirmed."""
        if not self._unconfirmed:
            return self.transport is not None
        assert self.transport is not None  # only a live transport was handed messages
        try:
            self.transport.flush()
        except TransportError as exc:
            self._transport_failed(exc)
            return False
        confirmed, self._unconfirmed = self._unconfirmed, []
        for message in confirmed:
            if message.on_safe is not None:
                message.on_safe(False)
        return True

    def _transport_failed(self, exc: TransportError) -> None:
        """Stop using the transport for this run; what it has not confirmed is spooled (it may also arrive:
        a duplicate is harmless downstream, a loss is not)."""
        log.warning("transport failed (%s); spooling to %s", exc, self.spool_path)
        self.transport = None  # stop hammering a broken backend for the rest of the run
        unconfirmed, self._unconfirmed = self._unconfirmed, []
        self._spool(unconfirmed)

    def _spool(self, messages: list[_Unconfirmed]) -> None:
        if not messages:
            return
        self.spool_path.parent.mkdir(parents=True, exist_ok=True)
        with self.spool_path.open("a", encoding="utf-8") as out:
            for m in messages:
                out.write(json.dumps({"topic": m.topic, "key": m.key, "value": m.value}, ensure_ascii=False) + "\n")
            out.flush()
            os.fsync(out.fileno())
        self.spooled += len(messages)
        for m in messages:
            if m.on_safe is not None:
                m.on_safe(True)

    def pending(self) -> int:
        """Messages waiting in the spool."""
        if not self.spool_path.exists():
            return 0
        with self.spool_path.open(encoding="utf-8") as spool:
            return sum(1 for line in spool if line.strip())

    def replay(self) -> bool:
        """Send spooled messages in order; True when the spool is empty afterwards.

        The spool is rewritten only after the transport confirmed a chunk (flush), so a failure at any
        point keeps every message it has not confirmed. Lines that are not valid JSON (a crash
        mid-write) are kept aside in a `.bad` file rather than dropped.
        """
        if self.transport is None:
            return False
        if not self.spool_path.exists():
            return True
        lines = [line for line in self.spool_path.read_text(encoding="utf-8").splitlines() if line.strip()]
        done = 0
        while done < len(lines):
            chunk = lines[done:done + REPLAY_CHUNK]
            sent = 0
            try:
                for line in chunk:
                    try:
                        message = json.loads(line)
                    except ValueError:
                        with self.spool_path.with_suffix(".bad").open("a", encoding="utf-8") as bad:
                            bad.write(line + "\n")
                        continue
                    self.transport.publish(message["topic"], message["value"], key=message.get("key"))
                    sent += 1
                self.transport.flush()
            except TransportError as exc:
                log.warning("transport still down (%s); %d spooled messages wait", exc, len(lines) - done)
                self.transport = None
                return False
            done += len(chunk)
            self.replayed += sent
            self._rewrite_spool(lines[done:])
        if lines:
            log.info("replayed %d spooled messages", len(lines))
        return True

    def _rewrite_spool(self, remaining: list[str]) -> None:
        if not remaining:
            self.spool_path.unlink(missing_ok=True)
            return
        partial = self.spool_path.with_suffix(".tmp")
        partial.write_text("".join(line + "\n" for line in remaining), encoding="utf-8")
        os.replace(partial, self.spool_path)

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
