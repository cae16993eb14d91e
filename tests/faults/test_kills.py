"""`kill -9` of each worker at random moments over a stream with known incidents, on the embedded log and
on Kafka (tansu): every post indexed once, every expected alert group fired once at its level, no
notification delivered twice."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.faults.harness import kill_run
from tests.kafka_broker import TansuBroker, names_of_its_own

pytestmark = pytest.mark.faults


def test_kill_9_on_the_embedded_log_loses_and_doubles_nothing(tmp_path: Path):
    figures = kill_run(tmp_path / "var", posts=300, kills=6, seed=3)
    print("\n".join(figures.lines()))
    assert figures.kills == 6
    assert (figures.posts_lost, figures.posts_duplicated) == (0, 0), figures.lines()
    assert (figures.groups_missing, figures.groups_doubled, figures.wrong_levels) == (0, 0, []), figures.lines()
    assert figures.groups_fired == figures.groups_expected == 5
    assert figures.notifications_twice == 0, figures.lines()


def test_kill_9_on_kafka_loses_and_doubles_nothing(tmp_path: Path, broker: TansuBroker):
    kafka = {"YUQING_TRANSPORT": "kafka", "YUQING_KAFKA__BOOTSTRAP_SERVERS": broker.bootstrap,
             **names_of_its_own("fault"),
             "YUQING_KAFKA__SESSION_TIMEOUT": "6", "YUQING_KAFKA__HEARTBEAT_INTERVAL": "0.5",
             "YUQING_KAFKA__MAX_POLL_INTERVAL": "20"}
    figures = kill_run(tmp_path / "var", posts=200, kills=3, settings_env=kafka, transport_name="kafka",
                       seed=5, min_gap=4.0, max_gap=8.0)
    print("\n".join(figures.lines()))
    assert figures.kills == 3
    assert (figures.posts_lost, figures.posts_duplicated) == (0, 0), figures.lines()
    assert (figures.groups_missing, figures.groups_doubled, figures.wrong_levels) == (0, 0, []), figures.lines()
    assert figures.notifications_twice == 0, figures.lines()
