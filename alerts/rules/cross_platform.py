"""Cross-platform spread: one event seen on K or more platforms within T (it has left its corner)."""

from __future__ import annotations

from datetime import timedelta

from pydantic import Field

from alerts.durations import Duration, human_duration
from alerts.rules.base import Finding, RuleOptions, WindowRule, is_negative
from yuqing.schema import EnrichedPost


class CrossPlatformOptions(RuleOptions):
    min_platforms: int = Field(default=3, ge=2)
    window: Duration = timedelta(hours=6)
    negative_only: bool = Field(default=False, description="count only negative posts")


class CrossPlatformRule(WindowRule[CrossPlatformOptions]):
    type_name = "cross_platform"
    options_model = CrossPlatformOptions

    def on_post(self, post: EnrichedPost) -> list[Finding]:
        if post.event_id is None or (self.options.negative_only and not is_negative(post)):
            return []
        if not self.window.add(post.event_id, post.when, post.id, post.platform.value):
            return []
        platforms = sorted({platform for _, _, platform in self.window.items(post.event_id)})
        if len(platforms) < self.options.min_platforms:
            return []
        return [Finding(
            subject_kind="event", subject_id=post.event_id, at=post.when, magnitude=len(platforms),
            title=f"事件跨平台传播：{human_duration(self.options.window)}内出现在{len(platforms)}个平台",
            summary="平台：" + "、".join(platforms),
            post_ids=self.window.ids(post.event_id),
            evidence={"platforms": platforms, "posts_in_window": self.window.count(post.event_id)},
        )]
