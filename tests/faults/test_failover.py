"""Failover on the scale-out path: Kafka (tansu) and PostgreSQL state, two replicas of every stage; `kill -9` of
the active one (the events and alert stages' writer of the shared state, any enrich or index replica) at random
moments while a stream with known incidents is published. Every post indexed once, each incident one event, one
alert group each, every notification sent once (`bench/failover.py` runs the long version)."""

from __future__ import annotations

from pathlib import Path

import pytest

from stores import postgres
from tests.faults.harness import kill_run
from tests.kafka_broker import TansuBroker, names_of_its_own
from yuqing.config.settings import PostgresSettings

pytestmark = pytest.mark.faults


SESSION_TIMEOUT = 6
RESTART_AFTER = SESSION_TIMEOUT + 4.0


def scale_out_env(bootstrap: str, database: PostgresSettings) -> dict[str, str]:
    """Settings of the workers: Kafka with short session timeouts (a dead member's partitions move within
    seconds) and the shared PostgreSQL state."""
    assert database.password is not None  # the test server's
    return {"YUQING_TRANSPORT": "kafka", "YUQING_KAFKA__BOOTSTRAP_SERVERS": bootstrap,
            **names_of_its_own("failover"),
            "YUQING_KAFKA__SESSION_TIMEOUT": str(SESSION_TIMEOUT), "YUQING_KAFKA__HEARTBEAT_INTERVAL": "0.5",
            "YUQING_KAFKA__MAX_POLL_INTERVAL": "20",
            "YUQING_STATE": "postgres", "YUQING_POSTGRES__URL": database.url,
            "YUQING_POSTGRES__PASSWORD": database.password.get_secret_value()}


def test_killing_the_active_replica_of_every_stage_loses_and_doubles_nothing(
        tmp_path: Path, broker: TansuBroker, postgres_settings: PostgresSettings) -> None:
    postgres.setup(postgres_settings)
    # A killed replica comes back after the session timeout: the standby has taken over by then.
    figures = kill_run(tmp_path / "var", posts=400, kills=8, replicas=2, restart_after=RESTART_AFTER,
                       transport_name="kafka+postgres", settings_env=scale_out_env(broker.bootstrap, postgres_settings),
                       seed=11, min_gap=4.0, max_gap=8.0)
    print("\n".join(figures.lines()))
    assert figures.kills == 8
    # The events and alert stages' active replica was killed twice each, and each time a standby took over.
    assert figures.stateful_kills == figures.takeovers == {"events": 2, "alert": 2}, figures.lines()
    assert (figures.posts_lost, figures.posts_duplicated) == (0, 0), figures.lines()
    assert figures.incidents_split == [], figures.lines()
    assert (figures.groups_missing, figures.groups_doubled, figures.wrong_levels) == (0, 0, []), figures.lines()
    assert figures.groups_fired == figures.groups_expected == 5
    assert (figures.notifications_twice, figures.notifications_missing) == (0, 0), figures.lines()
