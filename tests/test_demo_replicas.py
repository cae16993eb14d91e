"""The demo's crawl shared by two enrich replicas on Kafka makes the same events, posts and alert as the demo's
embedded run. A module of its own, with its own demo run, so that pytest-xdist (one worker per module) runs it beside
tests/test_demo_e2e.py instead of after it."""

import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest

from tests.demo_data import ROOT, demo_env, first_crawl, free_port, outcome, yuqing
from tests.faults.harness import settings_with, worker_env
from transport import RAW_POSTS, open_transport
from workers.stages import stage_groups
from yuqing.cli.commands.demo import run_stages

pytestmark = [pytest.mark.slow, pytest.mark.kafka]

REJOIN = 5.0  # seconds for a group member to rejoin after another left (heartbeat 0.5 s, tansu's 3 s join delay)


@pytest.fixture(scope="module")
def demo_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The data directory of one `yuqing demo` run (a second run adds nothing: tests/test_demo_e2e.py)."""
    data_dir = tmp_path_factory.mktemp("demo")
    run = yuqing("demo", "--port", str(free_port()), env=demo_env(data_dir))
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    return data_dir


def stop(replica: subprocess.Popen[str], then_settle: bool) -> str:
    """Stop a replica and return its summary; with `then_settle`, give the group the few seconds its other member
    needs to rejoin. Two members leaving at once can leave the test broker (tansu) holding one of them as the
    group's leader: the next member's join then goes round until its join timeout, a minute of waiting."""
    replica.send_signal(signal.SIGTERM)
    summary = replica.communicate(timeout=60)[0]
    if then_settle:
        time.sleep(REJOIN)
    return summary


def test_two_enrich_replicas_on_kafka_make_the_demos_events_and_alert(demo_run: Path, broker, tmp_path: Path) -> None:
    data_dir = demo_run
    crawled = first_crawl(data_dir)
    kafka = {"YUQING_DATA_DIR": str(tmp_path), "YUQING_TRANSPORT": "kafka",
             "YUQING_KAFKA__BOOTSTRAP_SERVERS": broker.bootstrap, "YUQING_KAFKA__PARTITIONS": "4",
             "YUQING_KAFKA__TOPIC_PREFIX": f"demo-{uuid.uuid4().hex[:6]}.", "YUQING_KAFKA__SESSION_TIMEOUT": "6",
             "YUQING_KAFKA__HEARTBEAT_INTERVAL": "0.5", "YUQING_KAFKA__MAX_POLL_INTERVAL": "20"}
    settings = settings_with(kafka)
    replicas = [subprocess.Popen([sys.executable, "-m", "yuqing.cli.main", "worker", "enrich"], cwd=ROOT,
                                 env=worker_env(kafka), stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
                for _ in range(2)]
    try:
        with open_transport(settings) as transport:
            # The crawl arrives over half a minute, as a crawl does: both replicas have joined the group long before
            # it ends, and share the partitions from then on.
            pieces = [crawled[n::10] for n in range(10)]
            for piece in pieces:
                transport.publish_many(RAW_POSTS, [(p["id"], p) for p in piece])
                time.sleep(3)
            deadline = time.monotonic() + 120
            while any(stat.lag.get("yuqing-enrich") for stat in transport.stats(expected=stage_groups())
                      if stat.topic == RAW_POSTS):
                assert time.monotonic() < deadline, "the enrich replicas did not drain the raw posts"
                time.sleep(1)
    finally:
        summaries = [stop(replica, then_settle=replica is not replicas[-1]) for replica in replicas]
    shares = [int(summary.split("processed=")[1].split(",")[0].split()[0]) for summary in summaries]
    assert all(share > 0 for share in shares) and sum(shares) >= len(crawled), summaries  # both did part of it
    processed = run_stages(settings)  # events, index and alert (enrich finds nothing left)
    assert processed["enrich"] == 0 and processed["events"] >= len(crawled)
    events, posts, alerts = outcome(tmp_path)
    assert (events, posts, alerts) == outcome(data_dir)
    assert alerts and any("老旧小区" in title for *_, title in alerts)
