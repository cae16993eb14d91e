import subprocess
import sys
from pathlib import Path

import pytest

from yuqing.config import ConfigError, load_settings
from yuqing.config.datafiles import load_sources, load_watchlists

ROOT = Path(__file__).resolve().parent.parent


def test_defaults_are_embedded(monkeypatch):
    monkeypatch.delenv("YUQING_CONFIG", raising=False)
    settings = load_settings()
    assert settings.transport == "embedded" and settings.index == "embedded"


def test_yaml_file_then_environment_wins(tmp_path, monkeypatch):
    cfg = tmp_path / "yuqing.yaml"
    cfg.write_text("data_dir: state\nkafka:\n  bootstrap_servers: k1:9092\n", encoding="utf-8")
    monkeypatch.setenv("YUQING_KAFKA__BOOTSTRAP_SERVERS", "k2:9092")
    settings = load_settings(cfg)
    assert settings.data_dir == (tmp_path / "state").resolve()
    assert settings.kafka.bootstrap_servers == "k2:9092"


def test_secrets_are_masked_when_shown(monkeypatch):
    monkeypatch.setenv("YUQING_ELASTICSEARCH__API_KEY", "s3cret")
    settings = load_settings()
    assert settings.elasticsearch.api_key.get_secret_value() == "s3cret"
    assert "s3cret" not in str(settings.masked())


@pytest.mark.parametrize("content,where,expected", [
    ("transport: rabbit\n", "transport", "'embedded' or 'kafka'"),
    ("crawl:\n  concurrency_per_domain: 0\n", "crawl.concurrency_per_domain", "greater than or equal to 1"),
    ("colour: red\n", "colour", "Extra inputs are not permitted"),
    ("transport: [\n", "line", "not valid YAML"),
    ("- a\n- b\n", "", "mapping"),
])
def test_bad_settings_file_names_file_key_and_expectation(tmp_path, content, where, expected):
    cfg = tmp_path / "bad.yaml"
    cfg.write_text(content, encoding="utf-8")
    with pytest.raises(ConfigError) as info:
        load_settings(cfg)
    message = info.value.message
    assert str(cfg) in message and where in message and expected in message


def test_bad_sources_file_names_entry_and_key(tmp_path):
    path = tmp_path / "sources.yaml"
    path.write_text("sources:\n  - name: a\n    kind: rss\n  - name: b\n    kind: telegram\n", encoding="utf-8")
    with pytest.raises(ConfigError) as info:
        load_sources(path)
    assert "sources[1] (b).kind" in info.value.message
    assert "'rss'" in info.value.message


def test_duplicate_names_are_rejected(tmp_path):
    path = tmp_path / "w.yaml"
    path.write_text("watchlists:\n  - {name: 拆迁, terms: [拆迁]}\n  - {name: 拆迁, terms: [强拆]}\n", encoding="utf-8")
    with pytest.raises(ConfigError, match="duplicate name"):
        load_watchlists(path)


def test_cli_reports_config_error_with_exit_code_2_and_no_traceback(tmp_path):
    cfg = tmp_path / "bad.yaml"
    cfg.write_text("index: solr\n", encoding="utf-8")
    proc = subprocess.run([sys.executable, "-m", "yuqing.cli.main", "--config", str(cfg), "status"],
                          capture_output=True, text=True, cwd=ROOT)
    assert proc.returncode == 2
    assert "bad.yaml" in proc.stderr and "index" in proc.stderr
    assert "Traceback" not in proc.stderr


def test_help_says_where_the_data_directory_is_by_default():
    from yuqing.cli.main import build_parser

    text = " ".join(build_parser().format_help().split())
    assert "$YUQING_DATA_DIR" in text and "var/ beside the settings file" in text and "./var" in text
