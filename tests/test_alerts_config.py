"""The rules file: the default one is valid; every mistake is one clear message naming the place."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest

from alerts.config import build_rules, load_alert_config, parse_alert_config
from alerts.durations import human_duration, parse_duration
from alerts.rules import RULE_TYPES
from yuqing.config.errors import ConfigError
from yuqing.config.settings import DEFAULT_DATA
from yuqing.schema import AlertLevel, ResponseKind


def test_default_rules_file_is_valid_and_uses_every_rule_type():
    config = load_alert_config(DEFAULT_DATA / "alert_rules.yaml")
    assert {spec.type for spec, _ in build_rules(config)} == set(RULE_TYPES)
    major = config.deadlines[AlertLevel.MAJOR]
    assert [(d.name, d.within) for d in major] == [("发布权威信息", timedelta(hours=5)), ("新闻发布会", timedelta(hours=24))]
    assert config.deadlines[AlertLevel.GENERAL][0].within == timedelta(hours=48)


@pytest.mark.parametrize(("data", "message"), [
    ({"rules": [{"name": "a", "type": "keyword_contxt"}]}, "rules[0] (a).type: unknown rule type 'keyword_contxt'; known: crawl_health"),
    ({"rules": [{"name": "a", "type": "keyword_context"}]}, "rules[0] (a).options.terms: Field required"),
    ({"rules": [{"name": "a", "type": "keyword_context", "options": {"terms": ["x"], "windw": "2h"}}]},
     "rules[0] (a).options.windw: Extra inputs are not permitted"),
    ({"rules": [{"name": "a", "type": "keyword_context", "options": {"terms": ["x"], "window": "soon"}}]},
     "expected a duration like 90s, 30m, 6h or 3d"),
    ({"rules": [{"name": "a", "type": "negative_surge", "level": "严重"}]}, "rules[0].level"),
    ({"rules": [{"name": "a", "type": "negative_surge", "channels": ["dd"]}]},
     "rules[0] (a).channels: channel 'dd' is not defined under 'channels'"),
    ({"rules": [{"name": "a", "type": "negative_surge"}, {"name": "a", "type": "volume_burst"}]},
     "rules[1].name: duplicate name 'a'"),
    ({"channels": [{"name": "dd", "type": "dingtalk", "options": {"url_env": "X"}}]},
     "channels[0] (dd).options.secret_env: Field required"),
    ({"channels": [{"name": "dd", "type": "pager"}]}, "unknown channel type 'pager'; known: dingtalk, email"),
    ({"channels": [{"name": "h", "type": "webhook", "options": {}}]}, "give exactly one of url or url_env"),
    ({"rulez": []}, "rulez: Extra inputs are not permitted"),
])
def test_mistakes_are_reported_once_with_their_place(data: dict, message: str):
    with pytest.raises(ConfigError) as caught:
        parse_alert_config(data, "rules.yaml")
    assert message in caught.value.message
    assert caught.value.message.startswith("配置错误 (config error) in rules.yaml:")


def test_missing_and_broken_files(tmp_path: Path):
    with pytest.raises(ConfigError, match="file not found"):
        load_alert_config(tmp_path / "nope.yaml")
    broken = tmp_path / "broken.yaml"
    broken.write_text("rules:\n  - name: a\n    type: [unclosed\n", encoding="utf-8")
    with pytest.raises(ConfigError, match="line"):
        load_alert_config(broken)


def test_deadlines_can_be_overridden_per_level_and_the_rest_keep_their_defaults():
    config = parse_alert_config({"deadlines": {"重大": [{"name": "发布权威信息", "within": "3h",
                                                          "met_by": ["发布权威信息"]}]}})
    assert [(d.name, d.within) for d in config.deadlines[AlertLevel.MAJOR]] == [("发布权威信息", timedelta(hours=3))]
    assert config.deadlines[AlertLevel.MAJOR][0].met_by == [ResponseKind.AUTHORITATIVE_INFO]
    assert [d.name for d in config.deadlines[AlertLevel.EXTRAORDINARY]] == ["发布权威信息", "新闻发布会"]


@pytest.mark.parametrize(("text", "seconds"), [("90s", 90), ("30m", 1800), ("6h", 21600), ("3d", 259200),
                                               ("1.5h", 5400), (45, 45)])
def test_durations(text: str | int, seconds: int):
    assert parse_duration(text).total_seconds() == seconds


def test_human_durations_read_naturally():
    assert [human_duration(timedelta(seconds=s)) for s in (45, 1800, 21600, 86400, 259200)] == [
        "45秒", "30分钟", "6小时", "24小时", "3天"]
