"""Volume burst: an event or watched keyword far louder than its baseline (`BurstSignal.ratio`)."""

from __future__ import annotations

from pydantic import Field

from alerts.rules.base import Finding, Rule, SignalScopeOptions
from yuqing.schema import BurstSignal


class VolumeBurstOptions(SignalScopeOptions):
    subject_kinds: list[str] = Field(default_factory=lambda: ["event", "keyword"], min_length=1)
    min_count: int = Field(default=20, ge=1, description="posts in the recent window")
    min_ratio: float = Field(default=3.0, gt=0, description="recent count against the baseline rate")


class VolumeBurstRule(Rule[VolumeBurstOptions]):
    type_name = "volume_burst"
    options_model = VolumeBurstOptions

    def on_signal(self, signal: BurstSignal) -> list[Finding]:
        opts = self.options
        if not opts.covers(signal):
            return []
        if signal.count < opts.min_count or signal.ratio < opts.min_ratio:
            return []
        # An event's label is its top keywords: quoted, it reads as a name ("化肥厂家属院 停工 牡丹区").
        subject = f"事件“{signal.label}”" if signal.subject_kind == "event" else signal.label
        return [Finding(
            subject_kind=signal.subject_kind, subject_id=signal.subject_id, at=signal.computed_at,
            magnitude=signal.count,
            title=f"{subject}声量突增：{signal.count}条，为基线的{signal.ratio:.1f}倍",
            summary=f"窗口{signal.window}，基线每窗口{signal.baseline_rate:.1f}条。",
            post_ids=tuple(signal.post_ids),
            evidence={"window": signal.window, "count": signal.count, "ratio": round(signal.ratio, 2),
                      "baseline_rate": round(signal.baseline_rate, 2)},
        )]
