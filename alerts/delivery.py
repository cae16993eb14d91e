"""Delivery apart from rule evaluation: the outbox is drained by lanes, `concurrency` threads per channel,
so a channel whose endpoint hangs or refuses holds up only its own lane; the others, and the rules, go on.

Every lane claims its notifications in the store before sending (`AlertStore.claim`), so lanes, and
several alert workers, never send the same one. Stopping is prompt: a lane told to stop ends its round after
the message it is sending (the rest of its claim is released), and lanes are waited for only `grace` seconds; a
send still hanging then dies with the process and its notification, still unsent in the store, is claimed again
once its claim lapses. A claim covers one send: a lane holds each message's afresh right before sending it, and
leaves it to the sender that took it over if it lapsed while the lane sent the ones before.

Delivery is at least once. A worker killed between a send and its record in the store (or a send whose answer timed
out after it arrived) leaves the message unsent there, and it is sent again: with the same `delivery` number
(`Notification.delivery`, the outbox id of the newest notification it carries; the webhook's `X-Yuqing-Delivery`),
by which a receiver drops the second copy. Folded with newer notifications, it goes with theirs, a new number.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from datetime import datetime

from alerts.config import channel_spec
from alerts.service import AlertService

log = logging.getLogger(__name__)


class Dispatcher:
    """`clock`: the time the lanes send at (that of the worker they serve)."""

    def __init__(self, service: AlertService, poll: float = 1.0,
                 clock: Callable[[], datetime] = lambda: datetime.now().astimezone()) -> None:
        self.service = service
        self.poll = poll
        self.clock = clock
        self._stop = threading.Event()
        self._lanes: list[threading.Thread] = []

    def start(self) -> None:
        """One lane per channel and unit of its concurrency; does nothing when already started."""
        if self._lanes:
            return
        for name in self.service.channels:
            spec = channel_spec(self.service.config, name)
            for number in range(spec.concurrency if spec is not None else 1):
                lane = threading.Thread(target=self._drain, args=(name,), name=f"deliver-{name}-{number + 1}",
                                        daemon=True)
                lane.start()
                self._lanes.append(lane)

    def _drain(self, channel: str) -> None:
        while not self._stop.is_set():
            try:
                sent = self.service.deliver_channel(channel, self.clock(), stop=self._stop, clock=self.clock)
            except Exception:
                if self._stop.is_set():  # a send that outlived the grace: the store is closed under it
                    log.warning("delivery lane %s stopped mid-send; its message is sent again after its claim lapses",
                                channel)
                    return
                log.exception("delivery lane %s failed; retrying", channel)  # a store hiccup must not end the lane
                sent = 0
            if not sent:
                self._stop.wait(self.poll)

    def stop(self, grace: float = 2.0) -> None:
        """Ask the lanes to stop and wait at most `grace` seconds for all of them together."""
        self._stop.set()
        deadline = time.monotonic() + grace
        for lane in self._lanes:
            lane.join(timeout=max(deadline - time.monotonic(), 0.0))
