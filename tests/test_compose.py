"""docker-compose.yml is valid Compose and every Yuqing service runs a real `yuqing` command."""

import os
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from yuqing.cli.main import build_parser

COMPOSE_FILE = Path(__file__).resolve().parent.parent / "docker-compose.yml"


@pytest.mark.skipif(shutil.which("docker-compose") is None,
                    reason="Debian's docker-compose is not installed (make test installs it as root)")
def test_compose_file_validates():
    # The database password comes from the shell or .env: without it Compose refuses, saying which to set.
    environment = {k: v for k, v in os.environ.items() if k != "YUQING_POSTGRES__PASSWORD"}
    refused = subprocess.run(["docker-compose", "-f", str(COMPOSE_FILE), "config", "-q"],
                             capture_output=True, text=True, timeout=60, env=environment)
    assert refused.returncode != 0 and "YUQING_POSTGRES__PASSWORD" in refused.stderr
    done = subprocess.run(["docker-compose", "-f", str(COMPOSE_FILE), "config", "-q"], capture_output=True,
                          text=True, timeout=60, env={**environment, "YUQING_POSTGRES__PASSWORD": "only-for-config"})
    assert done.returncode == 0, done.stderr


def all_services():
    return yaml.safe_load(COMPOSE_FILE.read_text())["services"]


def yuqing_services():
    return {name: spec for name, spec in all_services().items() if spec.get("image") == "yuqing:latest"}


def test_every_yuqing_service_runs_a_real_command():
    services = yuqing_services()
    assert {"setup", "state-setup", "enrich", "events", "index", "alert", "crawl", "console"} <= set(services)
    parser = build_parser()
    for name, spec in services.items():
        args = parser.parse_args(spec["command"])  # exits (SystemExit) on an unknown command or flag
        assert callable(args.func), name


def test_secrets_are_not_written_in_the_compose_file():
    for spec in yuqing_services().values():
        for key, value in spec["environment"].items():
            assert not any(word in key for word in ("PASSWORD", "API_KEY", "COOKIE")) or "${" in str(value), key


def test_the_stateful_stages_run_with_a_standby_on_the_shared_state():
    services = yuqing_services()
    assert services["events"]["command"] == ["worker", "events"] and services["alert"]["command"] == ["worker", "alert"]
    for name in ("events", "alert"):
        assert services[name]["deploy"]["replicas"] == 2, name  # one active, one standing by
    assert "deploy" not in services["enrich"]  # scaled from the command line: --scale enrich=4
    for name, spec in services.items():
        assert spec["environment"]["YUQING_STATE"] == "postgres", name
        assert spec["environment"]["YUQING_POSTGRES__URL"].startswith("postgresql://yuqing@postgres:"), name
    workers = {name: spec for name, spec in services.items() if name not in ("setup", "state-setup")}
    for name, spec in workers.items():  # started once the backends answer and both setups have finished
        assert spec["depends_on"] == {
            "kafka": {"condition": "service_healthy"}, "elasticsearch": {"condition": "service_healthy"},
            "postgres": {"condition": "service_healthy"}, "setup": {"condition": "service_completed_successfully"},
            "state-setup": {"condition": "service_completed_successfully"}}, name
    assert services["state-setup"]["command"] == ["state", "setup"]
    assert services["crawl"]["command"][:1] == ["run"] and "--workers" in services["crawl"]["command"]


def test_the_backends_have_health_checks_and_volumes():
    services = all_services()
    for name in ("kafka", "elasticsearch", "kibana", "postgres", "console"):
        assert services[name]["healthcheck"]["test"], name
    assert services["postgres"]["volumes"] == ["pg-data:/var/lib/postgresql/data"]
    assert "${YUQING_POSTGRES__PASSWORD" in services["postgres"]["environment"]["POSTGRES_PASSWORD"]
