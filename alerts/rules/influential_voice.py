"""Influential voice: a verified media or government account, or one with many followers,
posting negatively about a watched policy. One such post can move opinion more than a thousand."""

from __future__ import annotations

from datetime import timedelta

from pydantic import Field

from alerts.durations import Duration
from alerts.rules.base import Finding, RuleOptions, WindowRule, is_negative, linked_policies
from yuqing.schema import EnrichedPost

# Words in a verification reason that mark a media or government account (新浪微博's 认证 text).
DEFAULT_INSTITUTION_WORDS = ["媒体", "新闻", "日报", "晚报", "电视", "广播", "记者", "政务", "政府", "官方", "公安"]


class InfluentialVoiceOptions(RuleOptions):
    policies: list[str] = Field(default_factory=list, description="watched policies (empty: any linked policy)")
    min_policy_score: float = Field(default=0.0, ge=0)
    min_followers: int = Field(default=100_000, ge=0)
    institution_words: list[str] = Field(default_factory=lambda: list(DEFAULT_INSTITUTION_WORDS))
    window: Duration = timedelta(hours=24)


class InfluentialVoiceRule(WindowRule[InfluentialVoiceOptions]):
    type_name = "influential_voice"
    options_model = InfluentialVoiceOptions

    def _why_influential(self, post: EnrichedPost) -> str | None:
        author = post.author
        reason = author.verified_reason or ""
        if author.verified and any(word in reason for word in self.options.institution_words):
            return f"认证机构账号（{reason}）"
        if (author.followers or 0) >= self.options.min_followers:
            return f"粉丝{author.followers}"
        return None

    def on_post(self, post: EnrichedPost) -> list[Finding]:
        if not is_negative(post):
            return []
        why = self._why_influential(post)
        if why is None:
            return []
        findings = []
        for policy in linked_policies(post, self.options.min_policy_score, self.options.policies):
            who = post.author.name or post.source
            if not self.window.add(policy, post.when, post.id, {"author": who, "why": why, "url": post.url}):
                continue
            voices = [value for _, _, value in self.window.items(policy)]
            accounts = len({voice["author"] for voice in voices})
            findings.append(Finding(
                subject_kind="policy", subject_id=policy, at=post.when, magnitude=accounts,
                title=f"有影响力账号负面发声：{who}（{why}）谈及政策{policy}",
                summary=f"“{(post.title or post.text)[:60]}”" + (f"（24小时内{accounts}个账号）" if accounts > 1 else ""),
                post_ids=self.window.ids(policy),
                evidence={"voices": voices, "accounts": accounts},
            ))
        return findings
