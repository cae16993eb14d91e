"""When notifications go out: a new alert group settles before the first message, and later changes reach
a channel at most once per minimum interval, folded into one message."""

from __future__ import annotations

import gc
import json
import logging
import sys
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta
from pathlib import Path

import pytest

from alerts.channels import ChannelContext
from alerts.config import build_channels, parse_alert_config
from alerts.service import GROUP_KEPT, AlertService
from alerts.store import AlertStore
from alerts.testing import T0, make_post, make_signal

RULES = {
    "defaults": {"channels": ["duty"], "cooldown": "0s"},
    "channels": [{"name": "duty", "type": "file"}],
    "rules": [
        {"name": "负面上升", "type": "negative_surge", "levels": {"较大": 30}},
        {"name": "权威账号", "type": "influential_voice", "level": "较大"},
        {"name": "跨平台扩散", "type": "cross_platform", "options": {"min_platforms": 2}},
    ],
}


def make_service(open_store: Callable[[], AlertStore], tmp_path: Path, **delivery: str) -> AlertService:
    config = parse_alert_config({**RULES, **({"delivery": delivery} if delivery else {})})
    return AlertService(config, open_store(),
                        build_channels(config, ChannelContext(tmp_path)))


def sent(tmp_path: Path) -> list[dict]:
    path = tmp_path / "outbox" / "notifications.jsonl"
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()] if path.exists() else []


def fresh_crawl(service: AlertService, start=T0) -> None:
    """What a first crawl of an incident brings within seconds: several rules about one policy."""
    service.process([], [make_signal("P-old", count=20, negative=12)], now=start)
    voice = make_post("寒心", sentiment="negative", policies=["P-old"], followers=10**6, at=start)
    service.process([voice], now=start + timedelta(seconds=3))
    service.process([], [make_signal("P-old", count=60, negative=40)], now=start + timedelta(seconds=6))


def test_a_fresh_crawl_sends_one_message_per_channel_after_the_settle_window(tmp_path: Path, open_alert_store):
    service = make_service(open_alert_store, tmp_path)  # defaults: settle 60 s
    fresh_crawl(service)
    assert len(service.store.outbox(pending_only=True)) >= 3
    assert service.deliver_pending(T0 + timedelta(seconds=10)) == 0  # still settling
    assert service.deliver_pending(T0 + timedelta(seconds=60)) == 1
    [message] = sent(tmp_path)
    assert message["kind"] == "fired"  # the office's first word about it is "new alert", at its latest state
    assert message["alert"]["level"] == "较大" and set(message["alert"]["evidence"]["rules"]) == {"负面上升", "权威账号"}
    assert service.store.outbox(pending_only=True) == []


def test_later_updates_keep_the_minimum_interval_and_are_folded(tmp_path: Path, open_alert_store):
    service = make_service(open_alert_store, tmp_path, settle="0s", min_interval="5m")
    service.process([], [make_signal("P-old", count=20, negative=12)], now=T0)
    assert service.deliver_pending(T0) == 1
    for minute in (1, 2, 3):  # a level rise and updates while the office already knows
        signal = make_signal("P-old", count=20 + 10 * minute, negative=12 + 10 * minute)
        service.process([make_post(f"负面{minute}", sentiment="negative", policies=["P-old"], followers=10**6,
                                   at=T0 + timedelta(minutes=minute))], [signal],
                        now=T0 + timedelta(minutes=minute))
        assert service.deliver_pending(T0 + timedelta(minutes=minute)) == 0
    assert service.deliver_pending(T0 + timedelta(minutes=5)) == 1
    first, second = sent(tmp_path)
    assert (first["kind"], second["kind"]) == ("fired", "level_raised")
    assert "级别由一般升为较大" in second["note"]
    assert service.store.outbox(pending_only=True) == []


def test_two_notifiers_draining_the_outbox_at_once_send_each_message_once(open_alert_store):
    """Two senders (their own connections, as on two machines) claim and send the same channel's outbox at
    once, in small batches: each notification is taken by exactly one of them (PostgreSQL: SKIP LOCKED)."""
    office = open_alert_store()
    queued = [office.enqueue(f"report-{n}", "duty", {"n": n}, T0) for n in range(300)]

    # Each sender holds its first batch until the other has taken one too: a store that kept one sender out
    # until the other had drained the outbox would leave them both waiting here.
    both_have_a_batch = threading.Barrier(2, timeout=30)

    def notifier(_: int) -> list[int]:
        store, taken = open_alert_store(), []
        while batch := store.claim("duty", T0, until=T0 + timedelta(minutes=5), limit=3):
            if not taken:
                both_have_a_batch.wait()
            for item in batch:
                store.mark_sent(item.id, T0)
                taken.append(item.id)
        return taken

    with ThreadPoolExecutor(2) as pool:
        first, second = pool.map(notifier, range(2))
    assert sorted(first + second) == queued  # all sent, none twice
    assert first and second  # both drained at once


def test_closing_the_alert_stage_waits_for_a_lane_mid_round_and_leaves_nothing_sent_but_unmarked(
        tmp_path: Path, open_alert_store, caplog):
    """A lane with a long round to send (a slow channel, a busy machine) is stopped between two messages: the
    store is closed after it ended, not under it (a lane writing to the closed store logged a traceback, and a
    message it had just sent stayed unmarked, to be sent again by the next worker)."""
    from analysis.bursts import BurstTracker
    from workers.stages import AlertStage

    service = make_service(open_alert_store, tmp_path, settle="0s")
    service.process([make_post("寒心", sentiment="negative", policies=[f"P-{n}"], followers=10**6)
                     for n in range(30)], now=T0)
    channel = service.channels["duty"]
    first_sent = threading.Event()
    send = channel.send

    def slow_send(notification) -> None:
        send(notification)
        first_sent.set()
        time.sleep(0.15)  # 30 messages: longer than the stop's grace

    channel.send = slow_send  # type: ignore[method-assign]
    stage = AlertStage(service, BurstTracker([]), checkpoint_every=0)
    stage.idle()  # starts the lanes
    assert first_sent.wait(10)
    with caplog.at_level(logging.WARNING, logger="alerts.delivery"):
        stage.close()
        for lane in [t for t in threading.enumerate() if t.name.startswith("deliver-")]:
            lane.join(10)
    assert [r.getMessage() for r in caplog.records if r.name == "alerts.delivery"] == []
    store = open_alert_store()
    marked = [item for item in store.outbox() if item.sent_at is not None]
    assert marked and len(sent(tmp_path)) == len(marked)
    # The rest of the lane's claim was released: due at once for the next worker, not held until the claim lapses.
    pending = store.outbox(pending_only=True)
    assert pending and store.due(datetime.now().astimezone(), limit=1000) == pending


def test_a_send_that_outlives_the_stop_ends_its_lane_with_one_line_and_the_message_waits_in_the_outbox(
        tmp_path: Path, caplog):
    """A send still hanging when the worker's grace runs out finds the embedded store closed once it returns (a
    PostgreSQL store connects again): its lane ends with a warning (no traceback), and the message stays unsent
    in the store, for the next worker."""
    from alerts.store import SqliteAlertStore
    from analysis.bursts import BurstTracker
    from workers.stages import AlertStage

    def open_alert_store() -> SqliteAlertStore:
        return SqliteAlertStore(tmp_path / "alerts.sqlite3")

    service = make_service(open_alert_store, tmp_path, settle="0s")
    service.process([make_post("寒心", sentiment="negative", policies=["P-1"], followers=10**6)], now=T0)
    channel = service.channels["duty"]
    hanging, let_go = threading.Event(), threading.Event()
    send = channel.send

    def hanging_send(notification) -> None:
        hanging.set()
        let_go.wait(10)
        send(notification)

    channel.send = hanging_send  # type: ignore[method-assign]
    stage = AlertStage(service, BurstTracker([]), checkpoint_every=0)
    stage.idle()
    assert hanging.wait(10)
    with caplog.at_level(logging.WARNING, logger="alerts.delivery"):
        stage.close()  # waits its grace (2 s), then closes the store
        let_go.set()
        for lane in [t for t in threading.enumerate() if t.name.startswith("deliver-")]:
            lane.join(10)
    records = [(r.levelno, r.getMessage()) for r in caplog.records if r.name == "alerts.delivery"]
    assert records == [(logging.WARNING, "delivery lane duty stopped mid-send; its message is sent again after its "
                                         "claim lapses")]
    assert all(r.exc_info is None for r in caplog.records)
    assert open_alert_store().outbox(pending_only=True)


def test_the_worker_forgets_quiet_groups_while_a_delivery_lane_drops_one(tmp_path: Path, open_alert_store):
    """A lane that changes an alert drops its group's kept copy (`_transition`) while the worker's thread sweeps the
    quiet groups: the sweep must not fail (it raised 'dictionary changed size during iteration' in a soak, and the
    alert worker died)."""
    service = make_service(open_alert_store, tmp_path)
    moment = T0
    for n in range(5000):
        service._groups[f"place:{n}"] = (None, moment)
    done = threading.Event()

    def lane() -> None:  # what `_transition` does to the kept copies, over and over
        n = 0
        while not done.is_set():
            key = f"place:{n % 5000}"
            service._groups.pop(key, None)
            service._groups[key] = (None, moment)
            n += 1

    switch = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)  # threads take turns as often as they can: the race shows in a few sweeps
    other = threading.Thread(target=lane)
    other.start()
    try:
        until = time.monotonic() + 2  # sweeps for 2 seconds: the race showed within the first in most runs
        while time.monotonic() < until:
            moment += GROUP_KEPT  # each sweep an hour later: it forgets every group, the lane keeps adding them back
            service._forget_quiet_groups(moment)
    finally:
        done.set()
        other.join()
        sys.setswitchinterval(switch)


def test_the_sweeps_copy_what_they_walk_before_a_collection_can_let_a_lane_in(tmp_path: Path, open_alert_store):
    """A garbage collection while a sweep copies the kept groups or the clocks may switch to a delivery lane, which
    changes them meanwhile. Made certain here: a collection at every new object, and one that drops an entry.
    Listing the items made a tuple per entry, so it could collect in the middle: one run of the whole suite failed
    with 'dictionary keys changed during iteration', and here it fails with 'dictionary changed size during
    iteration'. `dict.copy` makes none."""
    service = make_service(open_alert_store, tmp_path)
    service._groups = {f"place:{n}": (None, T0) for n in range(1000)}
    service._clocks = {f"alert:{n}": ((T0 + timedelta(days=1)).timestamp(), T0.timestamp()) for n in range(1000)}

    def lane_drops_one(phase: str, info: dict) -> None:
        for kept in (service._groups, service._clocks):
            if phase == "start" and kept:
                kept.pop(next(iter(kept)))

    threshold = gc.get_threshold()
    gc.callbacks.append(lane_drops_one)
    gc.set_threshold(1)
    try:
        service._forget_quiet_groups(T0 + GROUP_KEPT)
        escalated = service.check_deadlines(T0)
    finally:
        gc.callbacks.remove(lane_drops_one)
        gc.set_threshold(*threshold)
    assert service._groups == {} and escalated == []


def three_alerts_queued(open_alert_store, tmp_path: Path) -> tuple[AlertService, tuple[str, ...]]:
    """A service (no settle window) with a message queued about each of three alerts, and their ids in queue order."""
    service = make_service(open_alert_store, tmp_path, settle="0s")
    service.process([make_post("寒心", sentiment="negative", policies=[f"P-{n}"], followers=10**6) for n in range(3)],
                    now=T0)
    return service, tuple(item.alert_id for item in service.store.outbox())


def test_a_message_is_sent_once_when_the_ones_before_it_in_a_round_outlast_its_claim(
        tmp_path: Path, open_alert_store):
    """A lane claims a round of messages for as long as one send may take (4 timeouts and 30 s: 70 s), and sends
    them one after the other. Its first send takes 60 s and its second 20 s; a second sender (another replica's lane)
    looks 75 s in. The second message, being sent, and the third, not yet tried, must each reach the channel once:
    before, the claim of both had lapsed at 70 s, the second sender took and sent them, and the lane sent them again."""
    from alerts.delivery import Dispatcher

    lane_service, (first, second, third) = three_alerts_queued(open_alert_store, tmp_path)
    clock = [T0]
    second_sending, let_second_go = threading.Event(), threading.Event()
    channel = lane_service.channels["duty"]
    assert channel.options.timeout == 10
    send = channel.send

    def timed_send(notification) -> None:
        if notification.alert.id == first:
            clock[0] += timedelta(seconds=60)
        elif notification.alert.id == second:
            second_sending.set()
            assert let_second_go.wait(10)
        send(notification)

    channel.send = timed_send  # type: ignore[method-assign]
    lanes = Dispatcher(lane_service, poll=0.05, clock=lambda: clock[0])
    lanes.start()
    try:
        assert second_sending.wait(10)
        clock[0] = T0 + timedelta(seconds=75)
        make_service(open_alert_store, tmp_path, settle="0s").deliver_channel("duty", clock[0])
        let_second_go.set()
        deadline = time.monotonic() + 10
        while lane_service.store.outbox(pending_only=True) and time.monotonic() < deadline:
            time.sleep(0.05)
    finally:
        let_second_go.set()
        lanes.stop(grace=10)
    assert sorted(message["alert"]["id"] for message in sent(tmp_path)) == sorted([first, second, third])
    assert lane_service.store.outbox(pending_only=True) == []


def test_a_message_sent_again_after_its_sender_died_before_recording_it_carries_the_same_delivery_number(
        tmp_path: Path, open_alert_store):
    """Killed between a send and its record in the store, a worker leaves the message unsent there: the next worker
    sends it again once the claim lapses (delivery is at least once), with the same delivery number, by which the
    receiver drops the copy (before: two identical messages, nothing to tell a copy from a second alert)."""
    from tests.faults.endpoints import Endpoint

    hook = Endpoint("healthy")
    try:
        config = parse_alert_config({**RULES, "delivery": {"settle": "0s"}, "channels": [
            {"name": "duty", "type": "webhook", "options": {"url": hook.url, "timeout": 5}}]})
        killed = AlertService(config, open_alert_store(), build_channels(config, ChannelContext(tmp_path)))
        killed.process([make_post("寒心", sentiment="negative", policies=["P-1"], followers=10**6)], now=T0)
        [queued] = killed.store.outbox()

        def kill(*_: object, **__: object) -> None:
            raise SystemExit("kill -9 between the send and its record")

        killed.store.mark_sent = kill  # type: ignore[method-assign]
        with pytest.raises(SystemExit):
            killed.deliver_channel("duty", T0)
        restarted = AlertService(config, open_alert_store(), build_channels(config, ChannelContext(tmp_path)))
        assert restarted.deliver_channel("duty", T0 + timedelta(seconds=49)) == 0  # claimed for 4 timeouts and 30 s
        assert restarted.deliver_channel("duty", T0 + timedelta(seconds=50)) == 1
    finally:
        hook.close()
    first, again = (body for _, body in hook.received)
    assert first == again and again["delivery"] == queued.id
    assert restarted.store.outbox(pending_only=True) == []


def test_a_lane_stopped_mid_round_leaves_a_message_another_sender_took_to_that_sender(
        tmp_path: Path, open_alert_store):
    """A lane whose first send takes 60 s is told to stop while sending its second; meanwhile (75 s in) a second sender
    took the third, whose claim (70 s) had lapsed, and is sending it. The lane releases what it did not try: not the
    third, or a third sender takes it too (before: it was made due at once, and sent twice)."""
    from alerts.delivery import Dispatcher

    lane_service, (first, second, third) = three_alerts_queued(open_alert_store, tmp_path)
    clock = [T0]
    second_sending, let_second_go = threading.Event(), threading.Event()
    third_sending, let_third_go = threading.Event(), threading.Event()
    send = lane_service.channels["duty"].send

    def lane_send(notification) -> None:
        if notification.alert.id == first:
            clock[0] += timedelta(seconds=60)
        else:
            second_sending.set()
            assert let_second_go.wait(10)
        send(notification)

    def other_send(notification) -> None:
        third_sending.set()
        assert let_third_go.wait(10)
        send(notification)

    lane_service.channels["duty"].send = lane_send  # type: ignore[method-assign]
    other_sender = make_service(open_alert_store, tmp_path, settle="0s")
    other_sender.channels["duty"].send = other_send  # type: ignore[method-assign]
    lanes = Dispatcher(lane_service, poll=0.05, clock=lambda: clock[0])
    lanes.start()
    with ThreadPoolExecutor(1) as pool:
        try:
            assert second_sending.wait(10)
            clock[0] = T0 + timedelta(seconds=75)
            other_round = pool.submit(other_sender.deliver_channel, "duty", clock[0])
            assert third_sending.wait(10)
            lanes.stop(grace=0)  # told to stop while it sends the second message
            let_second_go.set()
            for lane in [t for t in threading.enumerate() if t.name.startswith("deliver-")]:
                lane.join(10)
            make_service(open_alert_store, tmp_path, settle="0s").deliver_channel("duty", clock[0])
        finally:
            let_second_go.set()
            let_third_go.set()
        assert other_round.result(10) == 1
    assert sorted(message["alert"]["id"] for message in sent(tmp_path)) == sorted([first, second, third])
    assert lane_service.store.outbox(pending_only=True) == []
