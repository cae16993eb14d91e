import os
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
    ("kafka:\n  session_timeout: 1\n", "kafka", "heartbeat_interval (0.5 s) must be at most a third of"),
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


def billion_laughs(levels: int = 9) -> str:
    lines = ['l0: &l0 ["lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol"]']
    lines += [f"l{n}: &l{n} [{', '.join([f'*l{n - 1}'] * 9)}]" for n in range(1, levels + 1)]
    return "\n".join(lines) + "\n"


@pytest.mark.parametrize(("where", "tail"), [
    ("settings", "crawl:\n  contact: *l9\n"),
    ("sources", "sources:\n  - name: a\n    kind: news\n    params:\n      start_urls: [http://x.cn/]\n      huge: *l9\n"),
])
@pytest.mark.timeout(60)
def test_a_yaml_alias_bomb_is_refused_with_a_clear_message(tmp_path, where, tail):
    path = tmp_path / f"{where}.yaml"
    path.write_text(billion_laughs() + tail, encoding="utf-8")
    command = ["--config", str(path), "status"] if where == "settings" else ["sources", "check", str(path)]
    proc = subprocess.run([sys.executable, "-m", "yuqing.cli.main", *command], capture_output=True, text=True,
                          cwd=ROOT, timeout=50)
    assert proc.returncode == 2
    assert f"{where}.yaml" in proc.stderr and "YAML aliases expand" in proc.stderr and "Traceback" not in proc.stderr


def test_a_yaml_alias_that_refers_to_itself_is_refused(tmp_path):
    path = tmp_path / "w.yaml"
    path.write_text("watchlists: &w\n  - {name: a, terms: *w}\n", encoding="utf-8")
    with pytest.raises(ConfigError, match="YAML alias refers to itself"):
        load_watchlists(path)


def test_modest_aliases_still_work(tmp_path):
    path = tmp_path / "w.yaml"
    path.write_text("common: &terms [拆迁, 强拆]\nwatchlists:\n  - {name: a, terms: *terms}\n  - {name: b, terms: *terms}\n",
                    encoding="utf-8")
    assert [w.terms for w in load_watchlists(path)] == [["拆迁", "强拆"]] * 2


@pytest.mark.parametrize("data_dir", ["a_file", "a_file/below"])
def test_a_data_dir_that_is_a_file_is_a_config_error(tmp_path, data_dir):
    (tmp_path / "a_file").write_text("not a directory", encoding="utf-8")
    proc = subprocess.run([sys.executable, "-m", "yuqing.cli.main", "status"], capture_output=True, text=True,
                          cwd=ROOT, env={**os.environ, "YUQING_DATA_DIR": str(tmp_path / data_dir)})
    assert proc.returncode == 2
    assert "data_dir" in proc.stderr and "not a directory" in proc.stderr and "Traceback" not in proc.stderr


def test_help_says_where_the_data_directory_is_by_default():
    from yuqing.cli.main import build_parser

    text = " ".join(build_parser().format_help().split())
    assert "$YUQING_DATA_DIR" in text and "var/ beside the settings file" in text and "./var" in text
