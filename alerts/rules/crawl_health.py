"""Crawl health: a source silent for N runs means we are blind there, which is itself an alert."""

from __future__ import annotations

from pydantic import Field

from alerts.rules.base import Finding, Rule, RuleOptions
from yuqing.schema import CrawlHealth


class CrawlHealthOptions(RuleOptions):
    silent_runs: int = Field(default=3, ge=1, description="consecutive runs with no item")
    sources: list[str] = Field(default_factory=list, description="only these sources (empty: all)")


class CrawlHealthRule(Rule[CrawlHealthOptions]):
    type_name = "crawl_health"
    options_model = CrawlHealthOptions

    def on_health(self, health: CrawlHealth) -> list[Finding]:
        if self.options.sources and health.source not in self.options.sources:
            return []
        if health.silent_runs < self.options.silent_runs and not health.blind:
            return []
        problems = "、".join(f"{reason}×{count}" for reason, count in sorted(health.problems.items()))
        return [Finding(
            subject_kind="source", subject_id=health.source, at=health.finished_at, magnitude=health.silent_runs,
            title=f"信息源失明：{health.source} 连续{health.silent_runs}次抓取无结果",
            summary=f"最近一次抓取 {health.finished_at:%Y-%m-%d %H:%M}" + (f"；问题：{problems}" if problems else ""),
            evidence={"kind": health.kind, "silent_runs": health.silent_runs, "problems": health.problems},
        )]
