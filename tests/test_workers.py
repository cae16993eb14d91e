"""The worker loop: every message ends processed, retried or quarantined; a down backend loses nothing."""

import platform
import subprocess
import sys
from pathlib import Path

import pytest

from search.base import SearchBackendError
from transport.sqlite_log import SqliteTransport
from workers.runner import PoisonMessage, Stage, Worker, run_per_message


class RecordingStage(Stage):
    name = "test"
    topics = ("in",)

    def __init__(self, fail_times=0, backend_down_times=0):
        self.seen = []
        self.fail_times = fail_times
        self.backend_down_times = backend_down_times

    def handle(self, message):
        value = message.value
        if value.get("poison"):
            raise PoisonMessage("cannot ever be processed")
        if value.get("flaky") and self.fail_times:
            self.fail_times -= 1
            raise RuntimeError("transient bug")
        return value["i"]

    def process(self, messages):
        if self.backend_down_times:
            self.backend_down_times -= 1
            raise SearchBackendError("index is down")
        done, result = run_per_message(messages, self.handle)
        self.seen.extend(done)
        return result


@pytest.fixture
def transport(tmp_path):
    t = SqliteTransport(tmp_path / "log.sqlite3", partitions=2)
    yield t
    t.close()


def stats_of(transport):
    return {s.topic: s for s in transport.stats()}


def test_poison_goes_to_dead_letter_and_the_rest_is_processed(transport):
    transport.publish_many("in", [(str(i), {"i": i}) for i in range(5)])
    transport.publish("in", {"i": 99, "poison": True}, key="p")
    stage = RecordingStage()
    outcomes = Worker(transport, stage, poll_timeout=0.05).run(until_idle=True)
    assert sorted(stage.seen) == [0, 1, 2, 3, 4]
    assert outcomes["processed"] == 5 and outcomes["quarantined"] == 1
    assert stats_of(transport)["in.dlq"].messages == 1


def test_failures_are_retried_then_succeed(transport):
    transport.publish("in", {"i": 7, "flaky": True}, key="f")
    stage = RecordingStage(fail_times=2)
    outcomes = Worker(transport, stage, poll_timeout=0.05, max_retries=3).run(until_idle=True)
    assert stage.seen == [7]
    assert outcomes["retried"] == 2 and outcomes["quarantined"] == 0


def test_failures_beyond_the_budget_are_quarantined(transport):
    transport.publish("in", {"i": 7, "flaky": True}, key="f")
    stage = RecordingStage(fail_times=10)
    outcomes = Worker(transport, stage, poll_timeout=0.05, max_retries=2).run(until_idle=True)
    assert stage.seen == []
    assert outcomes["retried"] == 2 and outcomes["quarantined"] == 1
    assert stats_of(transport)["in.dlq"].messages == 1


def test_backend_down_keeps_the_batch_until_it_is_back(transport, monkeypatch):
    monkeypatch.setattr("workers.runner.time.sleep", lambda s: None)
    transport.publish_many("in", [(str(i), {"i": i}) for i in range(3)])
    stage = RecordingStage(backend_down_times=2)
    outcomes = Worker(transport, stage, poll_timeout=0.05).run(until_idle=True)
    assert sorted(stage.seen) == [0, 1, 2]
    assert outcomes["backend_down"] == 2 and outcomes["processed"] == 3
    assert stats_of(transport)["in"].lag == {"yuqing-test": 0}


def test_backend_that_stays_down_raises_in_batch_mode_and_commits_nothing(transport, monkeypatch):
    monkeypatch.setattr("workers.runner.time.sleep", lambda s: None)
    transport.publish("in", {"i": 1}, key="a")
    stage = RecordingStage(backend_down_times=1000)
    with pytest.raises(SearchBackendError):
        Worker(transport, stage, poll_timeout=0.05, backoff_max=2.0).run(until_idle=True)
    assert stats_of(transport)["in"].lag.get("yuqing-test", 1) == 1


class PublishingStage(RecordingStage):
    """Publishes each message's value to `out`, one message at a time; its backend is down after the first."""

    def __init__(self, transport, backend_down_times=0):
        super().__init__(backend_down_times=backend_down_times)
        self.transport = transport

    def process(self, messages):
        for message in messages:
            self.transport.publish("out", message.value, key=message.key)
            if self.backend_down_times:
                self.backend_down_times -= 1
                raise SearchBackendError("index is down")
        return super().process(messages)


def test_a_batch_reaches_the_next_stage_whole_and_once_even_when_it_failed_half_way(transport, monkeypatch):
    """What a stage publishes while its batch fails is not appended: the batch comes again and publishes again, so
    the next stage sees each output once (it saw the first output twice when each publish was appended at once)."""
    monkeypatch.setattr("workers.runner.time.sleep", lambda s: None)
    transport.publish_many("in", [("k", {"i": i}) for i in range(3)])
    consumer = transport.consumer("next", ["out"])
    consumer.poll(10, 0.0)
    outcomes = Worker(transport, PublishingStage(transport, backend_down_times=1), poll_timeout=0.05).run(
        until_idle=True)
    assert outcomes["backend_down"] == 1 and outcomes["processed"] == 3
    assert [m.value["i"] for m in consumer.poll(10, 0.0)] == [0, 1, 2]
    consumer.close()


def test_transport_down_at_commit_redelivers_instead_of_stopping(transport, monkeypatch):
    from transport.base import TransportError
    from transport.sqlite_log import SqliteConsumer

    monkeypatch.setattr("workers.runner.time.sleep", lambda s: None)
    real_commit = SqliteConsumer.commit
    failures = iter([True])

    def flaky_commit(self, messages):
        if next(failures, False):
            raise TransportError("log unavailable")
        real_commit(self, messages)

    monkeypatch.setattr(SqliteConsumer, "commit", flaky_commit)
    transport.publish_many("in", [(str(i), {"i": i}) for i in range(3)])
    stage = RecordingStage()
    outcomes = Worker(transport, stage, poll_timeout=0.05).run(until_idle=True)
    assert sorted(stage.seen) == [0, 0, 1, 1, 2, 2]  # at least once: the uncommitted batch came again
    assert outcomes["backend_down"] == 1
    assert stats_of(transport)["in"].lag == {"yuqing-test": 0}


def test_a_long_run_keeps_what_is_loaded_out_of_the_collectors_sight_and_restores_it_after() -> None:
    import gc

    from workers.runner import GC_YOUNG_THRESHOLD, steady_heap

    before, frozen_before = gc.get_threshold(), gc.get_freeze_count()
    loaded = [{"model": n} for n in range(1000)]
    with steady_heap():
        assert gc.get_threshold()[0] >= GC_YOUNG_THRESHOLD
        assert gc.get_freeze_count() >= frozen_before + len(loaded)
    assert gc.get_threshold() == before and gc.get_freeze_count() == 0


# Freed after a large block has raised glibc's threshold (16 MiB: it then keeps freed space up to twice that), 20 MiB
# of 256 KiB blocks: what stays resident.
_BLOCKS_FREED_AFTER_A_LARGE_ONE = """
import sys
from pathlib import Path
from workers.runner import map_large_blocks_apart

def anonymous_kib():
    line = next(l for l in Path("/proc/self/status").read_text().splitlines() if l.startswith("RssAnon"))
    return int(line.split()[1])

if sys.argv[1] == "apart":
    assert map_large_blocks_apart()
large = bytearray(16 << 20)
del large
before = anonymous_kib()
blocks = [bytearray(256 << 10) for _ in range(80)]
del blocks
print(anonymous_kib() - before)
"""


@pytest.mark.skipif(platform.libc_ver()[0] != "glibc", reason="glibc's malloc")
def test_a_stage_process_gives_back_the_large_blocks_it_frees() -> None:
    def kept_kib(mode: str) -> int:
        run = subprocess.run([sys.executable, "-c", _BLOCKS_FREED_AFTER_A_LARGE_ONE, mode], capture_output=True,
                             text=True, check=True, cwd=Path(__file__).resolve().parents[1])
        return int(run.stdout)

    assert kept_kib("default") > 15 * 1024  # what the heap kept before: a month's fragments grow from such
    assert kept_kib("apart") < 5 * 1024


class BatchSizes(RecordingStage):
    """Records the size of each batch; publishes `more` after its first empty poll."""

    def __init__(self, transport, more):
        super().__init__()
        self.transport, self.more, self.sizes = transport, more, []

    def process(self, messages):
        self.sizes.append(len(messages))
        return super().process(messages)

    def idle(self):
        if self.more:
            self.transport.publish_many("in", self.more)
            self.more = []
            self.sizes.append("idle")


def test_a_worker_starts_a_backlog_with_a_small_batch_and_doubles_it_up_to_its_batch_size(tmp_path):
    """So that the stage after it gets work after a small batch, not after a whole one (the pipeline fills sooner):
    at the start, and again after an empty poll."""
    transport = SqliteTransport(tmp_path / "log.sqlite3", partitions=1)
    transport.publish_many("in", [(None, {"i": i}) for i in range(1300)])
    stage = BatchSizes(transport, more=[(None, {"i": i}) for i in range(1300, 1400)])
    outcomes = Worker(transport, stage, batch_size=300, first_batch=50, poll_timeout=0.05).run(until_idle=True)
    assert stage.sizes == [50, 100, 200, 300, 300, 300, 50, "idle", 50, 50]
    assert outcomes["processed"] == 1400 and sorted(stage.seen) == list(range(1400))
    transport.close()


def test_without_a_first_batch_every_poll_takes_the_batch_size(transport):
    transport.publish_many("in", [(None, {"i": i}) for i in range(700)])
    stage = BatchSizes(transport, more=[])
    Worker(transport, stage, batch_size=300, poll_timeout=0.05).run(until_idle=True)
    assert stage.sizes == [300, 300, 100]


def test_a_lingering_worker_takes_what_comes_soon_after_into_the_same_batch(transport):
    """A stage that publishes one batch in several commits (the events stage: posts, re-links, events) is read in one
    batch by a worker that lingers, not in one batch per commit (each costs the index stage its transaction)."""
    import threading

    transport.publish_many("in", [(None, {"i": i}) for i in range(3)])
    later = threading.Timer(0.2, lambda: transport.publish_many("in", [(None, {"i": i}) for i in range(3, 5)]))
    later.start()
    stage = BatchSizes(transport, more=[])
    Worker(transport, stage, batch_size=5, linger=30.0, poll_timeout=0.05).run(until_idle=True)
    later.join()
    assert stage.sizes == [5] and sorted(stage.seen) == [0, 1, 2, 3, 4]


def test_yuqing_worker_starts_a_backlog_small_only_where_the_crawls_feed_it_and_reads_the_events_stage_whole(
        transport):
    from transport import ANNOTATED_POSTS, ENRICHED_POSTS, EVENTS, RAW_POSTS
    from workers.runner import BATCH_SIZE, FIRST_BATCH, FOLLOWER_BATCH_SIZE, FOLLOWER_LINGER
    from yuqing.cli.commands.worker import worker

    def reading(*topics):
        stage = RecordingStage()
        stage.topics = topics
        return stage

    crawled = worker(transport, reading(RAW_POSTS), None)
    assert (crawled.batch_size, crawled.first_batch, crawled.linger) == (BATCH_SIZE, FIRST_BATCH, 0.0)
    annotated = worker(transport, reading(ANNOTATED_POSTS), None)
    assert (annotated.batch_size, annotated.first_batch, annotated.linger) == (BATCH_SIZE, BATCH_SIZE, 0.0)
    follower = worker(transport, reading(ENRICHED_POSTS, EVENTS), None)
    # The embedded log appends each batch of the events stage in one commit: nothing to linger for.
    assert (follower.batch_size, follower.first_batch, follower.linger) == (
        FOLLOWER_BATCH_SIZE, FOLLOWER_BATCH_SIZE, 0.0)
    apart = SqliteTransport(transport.path)
    apart.publishes_together = False  # as Kafka: the events stage's three topics come in pieces
    assert worker(apart, reading(ENRICHED_POSTS, EVENTS), None).linger == FOLLOWER_LINGER
    apart.close()
    assert FOLLOWER_BATCH_SIZE >= 1.5 * BATCH_SIZE  # one batch of the events stage's output, whole
    assert worker(transport, reading(ENRICHED_POSTS), 7).batch_size == 7  # --batch-size wins


def test_a_worker_leaves_its_heap_out_of_the_exit_collection(tmp_path):
    """A stopped worker's exit walked everything it built for cycles (0.5 s of the alert worker's stop at load 8,
    which made tests/faults/test_webhooks.py's stop limit fail under CI's load): after its run the heap is frozen."""
    import os
    import subprocess
    import sys
    from pathlib import Path

    code = ("import gc; from yuqing.cli.main import main; "
            "assert main(['worker', 'enrich', '--until-idle']) == 0; print(gc.get_freeze_count())")
    env = {**os.environ, "YUQING_DATA_DIR": str(tmp_path)}
    env.pop("YUQING_CONFIG", None)
    done = subprocess.run([sys.executable, "-c", code], cwd=Path(__file__).resolve().parent.parent, env=env,
                          capture_output=True, text=True, timeout=120, check=True)
    assert int(done.stdout.split()[-1]) > 10_000, "what the stage built is frozen: the exit does not walk it"
