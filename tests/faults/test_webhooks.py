"""A hanging and a refusing webhook beside a healthy one: the healthy channel's messages still arrive
within seconds, and the alert worker stops promptly on SIGTERM while a send hangs."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from datetime import datetime
from pathlib import Path

import pytest
import yaml

from alerts.channels import ChannelContext
from alerts.config import build_channels, parse_alert_config
from alerts.delivery import Dispatcher
from alerts.service import AlertService
from alerts.store import SqliteAlertStore
from alerts.testing import make_post
from tests.faults.endpoints import Endpoint, webhook_channels
from transport import ENRICHED_POSTS
from transport.sqlite_log import SqliteTransport
from yuqing.schema import SHANGHAI

pytestmark = pytest.mark.faults

ROOT = Path(__file__).resolve().parents[2]
RULE = {"name": "拆迁", "type": "keyword_context",
        "options": {"terms": ["拆迁"], "context": ["上访"], "min_posts": 1, "group_by": "place"}}


@pytest.fixture
def endpoints():
    made = {"healthy": Endpoint("healthy"), "hanging": Endpoint("hanging"), "refusing": Endpoint("refusing")}
    yield made
    for endpoint in made.values():
        endpoint.close()


def rules(endpoints: dict[str, Endpoint]) -> dict:
    return {"defaults": {"channels": list(endpoints)}, "delivery": {"settle": "0s", "min_interval": "0s"},
            "channels": webhook_channels(endpoints), "rules": [RULE]}


def test_a_dead_endpoint_delays_only_its_own_channel(endpoints, tmp_path: Path):
    config = parse_alert_config(rules(endpoints))
    service = AlertService(config, SqliteAlertStore(tmp_path / "alerts.sqlite3"),
                           build_channels(config, ChannelContext(tmp_path, environ={})))
    dispatcher = Dispatcher(service, poll=0.1)
    dispatcher.start()
    fired: dict[str, float] = {}
    try:
        for n in range(6):
            place = f"村{n}"
            fired[place] = time.time()
            moment = datetime.now(SHANGHAI)
            service.process([make_post("拆迁户上访", places=[place], at=moment)], now=moment)
            time.sleep(0.3)
        deadline = time.monotonic() + 20
        while len(endpoints["healthy"].received) < len(fired) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert endpoints["hanging"].arrived.is_set() and endpoints["refusing"].arrived.is_set()
    finally:
        stopping = time.monotonic()
        dispatcher.stop(grace=2.0)
        stopped_in = time.monotonic() - stopping
    delays = {body["alert"]["subject_id"]: at - fired[body["alert"]["subject_id"]]
              for at, body in endpoints["healthy"].received}
    assert set(delays) == set(fired)  # every alert reached the healthy channel, once
    assert len(endpoints["healthy"].received) == len(fired)
    assert max(delays.values()) < 5.0, delays  # beside a 10 s hang per try: never stuck behind it
    assert stopped_in < 3.0
    refused = [item for item in service.store.outbox(pending_only=True) if item.channel == "refusing"]
    assert refused and all("HTTP 400" in (item.last_error or "") for item in refused if item.attempts)


def test_the_alert_worker_stops_promptly_on_sigterm_while_a_webhook_hangs(endpoints, tmp_path: Path):
    data = tmp_path / "var"
    rules_file = tmp_path / "rules.yaml"
    rules_file.write_text(yaml.safe_dump(rules(endpoints), allow_unicode=True), encoding="utf-8")
    transport = SqliteTransport(data / "transport.sqlite3")
    post = make_post("拆迁户上访", places=["东关村"], at=datetime.now(SHANGHAI))
    transport.publish(ENRICHED_POSTS, post.model_dump(mode="json"), key=post.id)
    transport.close()
    env = {**os.environ, "YUQING_DATA_DIR": str(data), "YUQING_RULES_FILE": str(rules_file)}
    env.pop("YUQING_CONFIG", None)
    worker = subprocess.Popen([sys.executable, "-m", "yuqing.cli.main", "worker", "alert"], cwd=ROOT, env=env,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        assert endpoints["hanging"].arrived.wait(60), "the hanging endpoint was never called"
        assert endpoints["healthy"].arrived.wait(10), "the healthy endpoint waited behind the hanging one"
        asked = time.monotonic()
        worker.send_signal(signal.SIGTERM)
        worker.wait(timeout=30)
        took = time.monotonic() - asked
    finally:
        if worker.poll() is None:
            worker.kill()
            worker.wait()
    assert took < 5.0, f"SIGTERM took {took:.1f} s"
