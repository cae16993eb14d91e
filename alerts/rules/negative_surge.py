"""Negative surge: a policy, department or event whose negative share and negative count rise
well above the baseline that analysis computed (`BurstSignal`)."""

from __future__ import annotations

from pydantic import Field

from alerts.rules.base import Finding, Rule, SignalScopeOptions
from yuqing.schema import BurstSignal


class NegativeSurgeOptions(SignalScopeOptions):
    subject_kinds: list[str] = Field(default_factory=lambda: ["policy", "department", "event"], min_length=1)
    min_negative: int = Field(default=10, ge=1, description="negative posts in the recent window")
    min_negative_share: float = Field(default=0.4, ge=0, le=1)
    min_share_rise: float = Field(default=0.15, ge=0, le=1, description="share above the baseline share")


class NegativeSurgeRule(Rule[NegativeSurgeOptions]):
    type_name = "negative_surge"
    options_model = NegativeSurgeOptions

    def on_signal(self, signal: BurstSignal) -> list[Finding]:
        opts = self.options
        if not opts.covers(signal):
            return []
        rise = signal.negative_share - signal.baseline_negative_share
        if signal.negative < opts.min_negative or signal.negative_share < opts.min_negative_share \
                or rise < opts.min_share_rise:
            return []
        return [Finding(
            subject_kind=signal.subject_kind, subject_id=signal.subject_id, at=signal.computed_at,
            magnitude=signal.negative,
            title=f"{signal.label}负面舆情上升：负面占比{signal.negative_share:.0%}（基线{signal.baseline_negative_share:.0%}）",
            summary=f"近{signal.window.split('/')[0]}共{signal.count}条，其中负面{signal.negative}条。",
            post_ids=tuple(signal.post_ids),
            evidence={
                "window": signal.window, "count": signal.count, "negative": signal.negative,
                "negative_share": round(signal.negative_share, 3),
                "baseline_negative_share": round(signal.baseline_negative_share, 3),
                "ratio": round(signal.ratio, 2),
            },
        )]
