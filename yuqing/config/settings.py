"""The one settings object: `YUQING_*` environment variables over an optional YAML file.

The YAML file is named by `YUQING_CONFIG` (or `--config` on the command line). Nested keys use
`__` in the environment: `YUQING_KAFKA__BOOTSTRAP_SERVERS=host:9092`. Secrets are `SecretStr`
and come from the environment; they are masked when settings are printed.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, Field, SecretStr, ValidationError, field_validator, model_validator
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict

from yuqing.config.datafiles import read_yaml_mapping
from yuqing.config.errors import ConfigError, from_validation_error

DEFAULT_DATA = Path(__file__).resolve().parent / "data"


class KafkaSettings(BaseModel):
    bootstrap_servers: str = "127.0.0.1:9092"
    topic_prefix: str = "yuqing."
    # Put before every consumer group's name (the stages' groups are named after the stages): deployments, or
    # test runs, that share one cluster under different topic prefixes then keep groups of their own.
    group_prefix: str = ""
    partitions: int = Field(default=3, ge=1)
    security_protocol: str = "PLAINTEXT"
    sasl_mechanism: str | None = None
    sasl_username: str | None = None
    sasl_password: SecretStr | None = None
    # retention.ms of the topics Yuqing creates: a stopped stage can catch up after a week's outage.
    retention_hours: float = Field(default=168, gt=0)
    # Seconds. A killed worker's partitions pass to the others after `session_timeout`; a member that
    # spends longer than `max_poll_interval` on one batch is taken out of its group. Short, so that a
    # worker joins in seconds: tansu answers a JoinGroup once it has held it for half the session
    # timeout, checked once a second (2 s: held 1 s; 3 or 4 s: held 2 s), and a live member rejoins only
    # after a heartbeat tells it of the rebalance, so a second worker waits about one heartbeat and two
    # holds (Kafka waits group.initial.rebalance.delay.ms instead). Three heartbeats per session at least
    # (the check below), so one late heartbeat does not cost a member its partitions. Kafka refuses a
    # session timeout below its group.min.session.timeout.ms (6 s unless set lower, as
    # docker-compose.yml does).
    session_timeout: float = Field(default=2.0, gt=0)
    heartbeat_interval: float = Field(default=0.5, gt=0)
    max_poll_interval: float = Field(default=300.0, gt=0)
    # How long a request (a publish's acknowledgement, a flush waits twice this) may take before the
    # broker counts as away: the crawl then spools what it has not confirmed.
    request_timeout: float = Field(default=30.0, gt=0)

    @model_validator(mode="after")
    def _heartbeats_fit_in_a_session(self) -> KafkaSettings:
        if self.heartbeat_interval * 3 > self.session_timeout:
            raise ValueError(f"kafka.heartbeat_interval ({self.heartbeat_interval:g} s) must be at most a third of "
                             f"kafka.session_timeout ({self.session_timeout:g} s)")
        return self


class EmbeddedLogSettings(BaseModel):
    # A message is freed once every group that reads its topic (has joined it) has committed past it and it
    # is older than this; topics no group reads (dead letters) are kept until replayed or removed by hand.
    # Short, unlike Kafka's week: what a stopped stage has not committed is kept whatever its age, so the
    # time only keeps what every stage is done with (the last hour's traffic, to look at).
    retention_hours: float = Field(default=1, gt=0)
    # Seconds after which a killed worker's partitions pass to another member of its group.
    session_timeout: float = Field(default=10.0, gt=0)


class ElasticsearchSettings(BaseModel):
    url: str = "http://127.0.0.1:9200"
    index: str = "yuqing-posts"
    api_key: SecretStr | None = None
    username: str | None = None
    password: SecretStr | None = None
    verify_certs: bool = True


class KibanaSettings(BaseModel):
    url: str = "http://127.0.0.1:5601"
    space: str | None = None
    api_key: SecretStr | None = None
    username: str | None = None
    password: SecretStr | None = None


class PostgresSettings(BaseModel):
    """The shared state database of the scale-out path (`state: postgres`)."""

    # A libpq URL or key=value string without a password: e.g. postgresql://yuqing@db:5432/yuqing.
    url: str = "postgresql://yuqing@127.0.0.1:5432/yuqing"
    # From the environment only (YUQING_POSTGRES__PASSWORD), so it is in no file and never printed.
    password: SecretStr | None = None
    connect_timeout: int = Field(default=10, ge=1, description="seconds")

    @field_validator("url")
    @classmethod
    def _no_password_in_url(cls, url: str) -> str:
        from psycopg.conninfo import conninfo_to_dict
        from psycopg.errors import ProgrammingError

        try:
            parts = conninfo_to_dict(url)
        except ProgrammingError as exc:
            raise ValueError(f"not a PostgreSQL connection URL: {exc}") from None
        if "password" in parts:
            raise ValueError("the password goes in YUQING_POSTGRES__PASSWORD, not in the URL")
        return url


class CrawlSettings(BaseModel):
    contact: str = "https://github.com/yuqing-project/yuqing"
    obey_robots: bool = True
    concurrency_per_domain: int = Field(default=4, ge=1)
    download_delay: float = Field(default=0.5, ge=0)
    autothrottle: bool = True
    revisit_days: float = Field(default=3.0, ge=0, description="weibo/board items revisited within")
    silent_runs_before_blind: int = Field(default=3, ge=1)
    weibo_cookie: SecretStr | None = None


DEFAULT_ATTACHMENTS: tuple[Literal["docx", "pdf", "html"], ...] = ("docx", "pdf")


class ReportDeliverySettings(BaseModel):
    """Where `yuqing run` sends the daily and weekly briefings it writes: an e-mail channel of the rules
    file (its server and sender), to `recipients` (empty: the channel's own), with these files attached."""

    channel: str | None = None  # None: reports are written, not sent
    recipients: list[str] = Field(default_factory=list)
    attach: list[Literal["docx", "pdf", "html"]] = Field(default_factory=lambda: list(DEFAULT_ATTACHMENTS))


class Settings(BaseSettings):
    """Everything Yuqing can be told. Switching to scale-out is `transport: kafka`, `index: elasticsearch`
    and `state: postgres`."""

    model_config = SettingsConfigDict(
        env_prefix="YUQING_", env_nested_delimiter="__", extra="forbid", case_sensitive=False
    )

    # Not inside the installed package: `var/` beside the settings file, or in the working directory.
    data_dir: Path = Field(default_factory=lambda: Path.cwd() / "var")
    transport: Literal["embedded", "kafka"] = "embedded"
    index: Literal["embedded", "elasticsearch"] = "embedded"
    # Posts published longer ago than this are deleted from the index by the index worker (every hour);
    # None keeps them for ever. `yuqing index prune --before DATE` deletes once, by hand.
    index_retention_days: float | None = Field(default=None, gt=0)
    # Where the stages keep their state (the crawler's seen-store, the burst counts, the alert workflow and the
    # rules' memory, events and reprints, console accounts): SQLite files in data_dir, or the PostgreSQL database
    # that replicas on several machines share.
    state: Literal["embedded", "postgres"] = "embedded"

    sources_file: Path = DEFAULT_DATA / "sources.yaml"
    policies_file: Path = DEFAULT_DATA / "policies.yaml"
    rules_file: Path = DEFAULT_DATA / "alert_rules.yaml"
    watchlists_file: Path = DEFAULT_DATA / "watchlists.yaml"
    gazetteer_file: Path = DEFAULT_DATA / "gazetteer.yaml"
    report_dir: Path | None = None

    kafka: KafkaSettings = Field(default_factory=KafkaSettings)
    embedded_log: EmbeddedLogSettings = Field(default_factory=EmbeddedLogSettings)
    elasticsearch: ElasticsearchSettings = Field(default_factory=ElasticsearchSettings)
    kibana: KibanaSettings = Field(default_factory=KibanaSettings)
    crawl: CrawlSettings = Field(default_factory=CrawlSettings)
    report_delivery: ReportDeliverySettings = Field(default_factory=ReportDeliverySettings)
    postgres: PostgresSettings = Field(default_factory=PostgresSettings)

    # Filled from the YAML file by `load_settings`; not an environment variable.
    config_file: Path | None = None

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        # The environment wins over the YAML file (passed as init values).
        return (env_settings, init_settings)

    @property
    def reports_path(self) -> Path:
        return self.report_dir or self.data_dir / "reports"

    @field_validator("data_dir")
    @classmethod
    def _a_directory(cls, data_dir: Path) -> Path:
        # Checked here, so a mistake is one clear line (exit 2) and not a traceback from a mkdir.
        for part in (data_dir, *data_dir.parents):
            if part.exists():
                if not part.is_dir():
                    raise ValueError(f"{part} exists and is not a directory")
                break
        return data_dir

    def path(self, name: str) -> Path:
        """A file under the data directory, created on first use."""
        try:
            self.data_dir.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise ConfigError(self.config_file or "environment (YUQING_*)", "data_dir",
                              f"a directory Yuqing can create and write ({exc.strerror}: {self.data_dir})") from exc
        return self.data_dir / name

    def masked(self) -> dict[str, Any]:
        """Settings as a dict for display, secrets shown as '**********'."""
        return self.model_dump(mode="json")


def load_settings(config_file: str | Path | None = None, **overrides: Any) -> Settings:
    """Build the settings from the environment and the YAML file; raise ConfigError if invalid."""
    path = config_file or os.environ.get("YUQING_CONFIG")
    values: dict[str, Any] = {}
    if path:
        path = Path(path)
        values = read_yaml_mapping(path)
        values["config_file"] = path
        base = path.resolve().parent
        values.setdefault("data_dir", str(base / "var"))
        # Relative paths in the YAML file are relative to the file, not to the working directory.
        for key, value in list(values.items()):
            if (key.endswith("_file") or key.endswith("_dir")) and isinstance(value, str):
                values[key] = str((base / value).resolve()) if not Path(value).is_absolute() else value
    values.update(overrides)
    try:
        return Settings(**values)
    except ValidationError as exc:
        raise from_validation_error(path or "environment (YUQING_*)", exc) from exc
