"""bench.transport decides when a pipeline is done from the groups' committed offsets: not too early."""

import subprocess
import sys
import textwrap

from bench import transport as bench_transport
from bench.transport import finished, main, other_threads_cpu, process_cpu, progress, worker_command
from tests.faults.harness import settings_with
from transport import ANNOTATED_POSTS, ENRICHED_POSTS, EVENTS, RAW_POSTS
from transport.base import TopicStats
from workers.runner import group_of


class Looks:
    """A transport whose statistics are given look by look."""

    def __init__(self, *looks: list[TopicStats]) -> None:
        self.looks = iter(looks)

    def stats(self, expected=None) -> list[TopicStats]:
        return next(self.looks)


def look(enriched: int, indexed: int) -> list[TopicStats]:
    """Ten posts through enrich and events; `enriched` messages on posts.enriched, `indexed` of them committed."""
    return [TopicStats(RAW_POSTS, 10, {group_of("enrich"): 0}),
            TopicStats(ANNOTATED_POSTS, 10, {group_of("events"): 0}),
            TopicStats(ENRICHED_POSTS, enriched, {group_of("index"): enriched - indexed}),
            TopicStats(EVENTS, 0, {})]


def test_a_look_that_read_the_ends_before_the_last_publish_does_not_end_the_run():
    """Statistics read the topics' ends before the groups' offsets: events published its last two posts and the
    index committed eight in between, so the first look says complete with two posts still to index."""
    transport = Looks(look(enriched=8, indexed=8), look(enriched=10, indexed=8), look(enriched=10, indexed=10),
                      look(enriched=10, indexed=10))
    first, second, third, fourth = (progress(transport, 10) for _ in range(4))
    assert first.complete, "what one look says"
    assert not finished(first, second)
    assert not finished(second, third)
    assert finished(third, fourth)


def test_the_cpu_of_a_process_s_other_threads_leaves_its_main_thread_out():
    """What the bench prints as the Kafka client's threads is the CPU of every thread but the main one: a process
    whose main thread spins and whose other thread sleeps has (next to) none; its other thread spinning, most."""
    spinner = textwrap.dedent("""
        import sys, threading, time
        def spin(seconds):
            until = time.thread_time() + seconds
            while time.thread_time() < until:
                pass
        spun = threading.Event()
        def other():  # stays alive: an ended thread's CPU is no longer listed apart
            if sys.argv[1] == "thread":
                spin(0.3)
            spun.set()
            time.sleep(30)
        threading.Thread(target=other, daemon=True).start()
        if sys.argv[1] == "main":
            spin(0.3)
        spun.wait()
        print("done", flush=True)
        time.sleep(30)
    """)

    spent = {}
    for where in ("main", "thread"):
        with subprocess.Popen([sys.executable, "-c", spinner, where], stdout=subprocess.PIPE, text=True) as process:
            try:
                assert process.stdout is not None and process.stdout.readline() == "done\n"
                spent[where] = (process_cpu(process.pid), other_threads_cpu(process.pid))
            finally:
                process.kill()
    (main_total, main_others), (thread_total, thread_others) = spent["main"], spent["thread"]
    assert main_total >= 0.25 and main_others < 0.05
    assert thread_others >= 0.25 and thread_total >= thread_others


def test_a_hand_off_is_timed_from_the_publish_not_from_the_poll(tmp_path, monkeypatch):
    """Each round publishes 0.3 s into the member's wait: what is measured starts at the publish, so a transport
    that hands the message over at once (the embedded log wakes its member) shows well under those 0.3 s."""
    monkeypatch.setattr(bench_transport.random, "uniform", lambda low, high: 0.3)
    settings = settings_with({"YUQING_TRANSPORT": "embedded", "YUQING_DATA_DIR": str(tmp_path)})
    delays = bench_transport.hand_offs(settings, rounds=3)
    assert len(delays) == 3 and all(0 <= delay < 0.3 for delay in delays), delays


def test_the_workers_take_the_batches_yuqing_worker_gives_them_unless_told(monkeypatch):
    """The index stage takes one of the events stage's batches whole (up to 1,000 messages) in `yuqing worker`; the
    bench passed 500 to every stage, which split each of them in two: it measured batches `yuqing run` never makes."""
    assert "--batch-size" not in worker_command("index", None)
    assert worker_command("index", 200)[-2:] == ["--batch-size", "200"]
    started = []
    monkeypatch.setattr(bench_transport, "run_pipeline", lambda name, env, root, posts, replicas, batch_size, *_:
                        started.append(batch_size) or bench_transport.Figures(name, len(posts)))
    monkeypatch.setattr(bench_transport, "transport_cost", lambda *_: {})
    monkeypatch.setattr(bench_transport, "idle_cost", lambda *_: {})
    monkeypatch.setattr(bench_transport, "hand_offs", lambda *_: [0.001])
    main(["--posts", "10", "--only", "embedded", "--no-alone"])
    assert started == [None]
