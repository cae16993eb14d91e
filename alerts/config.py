"""The rules file: rules, channels, deadlines per level, silences and retry timing, validated.

Every problem is one `ConfigError` naming the file, the entry and the key: an unknown rule or
channel type (with the known ones listed), a missing or unknown option, a rule naming a channel
that is not defined. Secrets are never in the file: options name environment variables.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from alerts.channels import CHANNEL_TYPES, Channel, ChannelContext
from alerts.durations import Duration
from alerts.rules import RULE_TYPES, Rule
from alerts.rules.base import WindowRule
from yuqing.config.datafiles import read_yaml_mapping
from yuqing.config.errors import ConfigError, from_validation_error
from yuqing.schema import AlertLevel, ResponseKind, aware


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class DeadlineSpec(_Strict):
    """A clock a level implies, e.g. 发布权威信息 within 5 h, met by the listed kinds of response."""

    name: str = Field(min_length=1)
    within: Duration
    met_by: list[ResponseKind] = Field(default_factory=lambda: list(ResponseKind), min_length=1)


def default_deadlines() -> dict[AlertLevel, list[DeadlineSpec]]:
    """国办发〔2016〕61号: major and especially major incidents get authoritative information within
    5 hours and a press conference within 24 hours; other government-related opinion an answer within 48 hours."""
    answer = [DeadlineSpec(name="回应", within=timedelta(hours=48))]
    major = [
        DeadlineSpec(name="发布权威信息", within=timedelta(hours=5), met_by=[
            ResponseKind.AUTHORITATIVE_INFO, ResponseKind.INTERPRETATION, ResponseKind.PRESS_CONFERENCE]),
        DeadlineSpec(name="新闻发布会", within=timedelta(hours=24), met_by=[ResponseKind.PRESS_CONFERENCE]),
    ]
    return {AlertLevel.GENERAL: answer, AlertLevel.LARGE: list(answer),
            AlertLevel.MAJOR: major, AlertLevel.EXTRAORDINARY: list(major)}


class ChannelSpec(_Strict):
    name: str = Field(min_length=1, pattern=r"^[\w\-.]+$")
    type: str
    rate_per_minute: int | None = Field(default=None, ge=1, description="default: the channel type's limit")
    concurrency: int = Field(default=1, ge=1, le=16, description="sends to this channel in flight at once")
    options: dict[str, Any] = Field(default_factory=dict)


class SilenceSpec(_Strict):
    """No alert from `rule` (all rules when empty) about `subject` (all when empty) between start and end."""

    start: datetime
    end: datetime
    rule: str | None = None
    subject: str | None = None
    reason: str = ""

    @field_validator("start", "end")
    @classmethod
    def _aware(cls, value: datetime) -> datetime:
        return aware(value)

    def covers(self, rule: str, subject_id: str, at: datetime) -> bool:
        return (self.start <= at < self.end and (self.rule is None or self.rule == rule)
                and (self.subject is None or self.subject == subject_id))


class RuleSpec(_Strict):
    name: str = Field(min_length=1)
    type: str
    enabled: bool = True
    title: str | None = Field(default=None, description="shown before the finding's own title")
    level: AlertLevel = AlertLevel.GENERAL
    # Level by magnitude (posts, platforms...): {重大: 50} raises the alert to 重大 at 50.
    levels: dict[AlertLevel, float] = Field(default_factory=dict)
    cooldown: Duration | None = None
    # Response clocks of the 2016 notice apply to public opinion, not to e.g. a blind crawler.
    deadlines: bool = True
    channels: list[str] | None = None
    escalate_to: list[str] | None = None
    options: dict[str, Any] = Field(default_factory=dict)


class Defaults(_Strict):
    channels: list[str] = Field(default_factory=lambda: ["local_file"])
    escalate_to: list[str] = Field(default_factory=list)
    cooldown: Duration = timedelta(hours=6)


class RetrySpec(_Strict):
    """Outbox re-sends: first after `first`, doubling, never longer apart than `max`; never given up."""

    first: Duration = timedelta(seconds=10)
    max: Duration = timedelta(minutes=5)


# Delivered messages are dropped from the outbox this long after they went out, unless the rules file says otherwise.
SENT_KEPT = timedelta(days=7)


class DeliverySpec(_Strict):
    """When notifications go out: a new alert group waits `settle` (the first crawl of an incident brings
    several findings within seconds: one message with all of them, not five), and later messages about one
    alert reach one channel at most once per `min_interval`, what came in between folded into one. A delivered
    message stays in the outbox for `sent_kept` (the audit keeps for good which channels each change notified):
    an alert's next message is spaced from it, so never less than `min_interval`."""

    settle: Duration = timedelta(seconds=60)
    min_interval: Duration = timedelta(minutes=5)
    sent_kept: Duration = SENT_KEPT

    @model_validator(mode="after")
    def _sent_kept_spans_min_interval(self) -> DeliverySpec:
        if self.sent_kept < self.min_interval:
            raise ValueError(f"sent_kept ({self.sent_kept}) must be at least min_interval ({self.min_interval})")
        return self


class AlertConfig(_Strict):
    defaults: Defaults = Field(default_factory=Defaults)
    deadlines: dict[AlertLevel, list[DeadlineSpec]] = Field(default_factory=default_deadlines)
    warn_at: float = Field(default=0.8, gt=0, lt=1, description="share of a deadline after which to escalate")
    # subject: every rule's findings about one policy/event/place/source update one alert (one incident,
    # one alert); rule: each rule keeps its own alert per subject.
    grouping: Literal["subject", "rule"] = "subject"
    # A first crawl or a catch-up reads weeks of history: what a post said long ago is not news to page anyone with.
    stale_after: Duration = timedelta(hours=48)
    retry: RetrySpec = Field(default_factory=RetrySpec)
    delivery: DeliverySpec = Field(default_factory=DeliverySpec)
    silences: list[SilenceSpec] = Field(default_factory=list)
    channels: list[ChannelSpec] = Field(default_factory=lambda: [ChannelSpec(name="local_file", type="file")])
    rules: list[RuleSpec] = Field(default_factory=list)

    @model_validator(mode="after")
    def _every_level_has_deadlines(self) -> AlertConfig:
        merged = default_deadlines()
        merged.update(self.deadlines)
        self.deadlines = merged
        return self

    def channels_of(self, spec: RuleSpec) -> list[str]:
        return spec.channels if spec.channels is not None else self.defaults.channels

    def escalation_of(self, spec: RuleSpec) -> list[str]:
        return spec.escalate_to if spec.escalate_to is not None else self.defaults.escalate_to

    def cooldown_of(self, spec: RuleSpec) -> timedelta:
        return spec.cooldown if spec.cooldown is not None else self.defaults.cooldown


def _check_unique(source: Path | str, key: str, names: list[str]) -> None:
    seen: set[str] = set()
    for number, name in enumerate(names):
        if name in seen:
            raise ConfigError(source, f"{key}[{number}].name", f"duplicate name {name!r}; each must be unique")
        seen.add(name)


def _validate_options(source: Path | str, where: str, model: type[BaseModel], options: dict[str, Any]) -> BaseModel:
    try:
        return model.model_validate(options)
    except ValidationError as exc:
        raise from_validation_error(source, exc, prefix=f"{where}.options") from exc


def parse_alert_config(data: dict[str, Any], source: Path | str = "rules") -> AlertConfig:
    """Validate a rules mapping: structure, then each rule's and channel's options by its type."""
    try:
        config = AlertConfig.model_validate(data)
    except ValidationError as exc:
        raise from_validation_error(source, exc) from exc
    _check_unique(source, "channels", [c.name for c in config.channels])
    _check_unique(source, "rules", [r.name for r in config.rules])
    for number, channel in enumerate(config.channels):
        where = f"channels[{number}] ({channel.name})"
        if channel.type not in CHANNEL_TYPES:
            raise ConfigError(source, f"{where}.type",
                              f"unknown channel type {channel.type!r}; known: {', '.join(sorted(CHANNEL_TYPES))}")
        _validate_options(source, where, CHANNEL_TYPES[channel.type].options_model, channel.options)
    known_channels = {c.name for c in config.channels}
    for number, spec in enumerate(config.rules):
        where = f"rules[{number}] ({spec.name})"
        if spec.type not in RULE_TYPES:
            raise ConfigError(source, f"{where}.type",
                              f"unknown rule type {spec.type!r}; known: {', '.join(sorted(RULE_TYPES))}")
        _validate_options(source, where, RULE_TYPES[spec.type].options_model, spec.options)
        for key, names in (("channels", config.channels_of(spec)), ("escalate_to", config.escalation_of(spec))):
            missing = [name for name in names if name not in known_channels]
            if missing:
                raise ConfigError(source, f"{where}.{key}",
                                  f"channel {missing[0]!r} is not defined under 'channels'")
    return config


def load_alert_config(path: Path | str) -> AlertConfig:
    return parse_alert_config(read_yaml_mapping(Path(path)), path)


def build_rules(config: AlertConfig) -> list[tuple[RuleSpec, Rule]]:
    """A fresh state machine for every enabled rule."""
    built: list[tuple[RuleSpec, Rule]] = []
    for spec in config.rules:
        if spec.enabled:
            rule_class = RULE_TYPES[spec.type]
            rule = rule_class(rule_class.options_model.model_validate(spec.options))
            if isinstance(rule, WindowRule):
                # An item later than `stale_after` raises no alert: its window need not wait longer for it (a
                # subject quiet for longer than its window and that is forgotten).
                rule.window.lateness = config.stale_after
            built.append((spec, rule))
    return built


def build_channels(config: AlertConfig, context: ChannelContext) -> dict[str, Channel]:
    channels: dict[str, Channel] = {}
    for spec in config.channels:
        channel_class = CHANNEL_TYPES[spec.type]
        channels[spec.name] = channel_class(spec.name, channel_class.options_model.model_validate(spec.options),
                                            context)
    return channels


def channel_spec(config: AlertConfig, channel_name: str) -> ChannelSpec | None:
    return next((c for c in config.channels if c.name == channel_name), None)


def rate_limit(config: AlertConfig, channel_name: str) -> int | None:
    spec = next((c for c in config.channels if c.name == channel_name), None)
    if spec is None:
        return None
    return spec.rate_per_minute or CHANNEL_TYPES[spec.type].default_rate_per_minute
