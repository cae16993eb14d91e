"""A replayed week with known incidents: every incident raises exactly one alert group at the
right level, and nothing else fires, with the default rules file a city office would start from."""

from __future__ import annotations

from pathlib import Path

import pytest

from alerts.config import load_alert_config
from alerts.replay import read_items, replay
from alerts.testing import incident_stream
from yuqing.config.errors import ConfigError
from yuqing.config.settings import DEFAULT_DATA

DEFAULT_RULES = DEFAULT_DATA / "alert_rules.yaml"


@pytest.mark.parametrize("seed", [7, 11, 2026])
def test_each_known_incident_raises_one_group_at_its_level_and_nothing_else(seed: int):
    scenario = incident_stream(seed=seed)
    result = replay(load_alert_config(DEFAULT_RULES), scenario.items, now=scenario.end)
    fired = {(a.rule, f"{a.subject_kind}:{a.subject_id}", a.level.value) for a in result.alerts}
    assert fired == scenario.expected
    assert len(result.alerts) == len(scenario.expected)  # one alert per group, however many findings
    fired_notices = [item for item in result.notifications if item.message["kind"] == "fired"]
    assert len(fired_notices) == len(scenario.expected)


def test_surge_alert_updates_instead_of_repeating():
    scenario = incident_stream()
    result = replay(load_alert_config(DEFAULT_RULES), scenario.items, now=scenario.end)
    [surge] = [a for a in result.alerts if a.rule == "政策负面舆情上升"]
    assert surge.updates >= 2
    assert [d.name for d in surge.deadlines] == ["发布权威信息", "新闻发布会"]
    kinds = [item.message["kind"] for item in result.notifications if item.alert_id == surge.id]
    assert kinds.count("fired") == 1 and "level_raised" in kinds


def test_replay_reads_saved_posts_signals_and_health_from_jsonl(tmp_path: Path):
    scenario = incident_stream()
    data = tmp_path / "stream.jsonl"
    data.write_text("".join(item.model_dump_json() + "\n" for item in scenario.items), encoding="utf-8")
    items = read_items(data)
    assert len(items) == len(scenario.items)
    result = replay(load_alert_config(DEFAULT_RULES), items, now=scenario.end)
    assert {(a.rule, a.level.value) for a in result.alerts} == {(r, lv) for r, _, lv in scenario.expected}


def test_bad_lines_are_reported_with_their_number(tmp_path: Path):
    data = tmp_path / "bad.jsonl"
    data.write_text('{"url": "https://x.cn/1", "platform": "weibo", "source": "s"}\n{not json\n', encoding="utf-8")
    with pytest.raises(ConfigError, match="line 2: not valid JSON"):
        read_items(data)
    data.write_text('{"url": "https://x.cn/1", "platform": "carrier-pigeon", "source": "s"}\n', encoding="utf-8")
    with pytest.raises(ConfigError, match="line 1.platform"):
        read_items(data)
