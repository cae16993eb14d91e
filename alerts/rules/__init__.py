"""Rule types, registered by the name the rules file uses in `type:`."""

from __future__ import annotations

from alerts.rules.base import Finding, Rule, RuleOptions
from alerts.rules.crawl_health import CrawlHealthRule
from alerts.rules.cross_platform import CrossPlatformRule
from alerts.rules.influential_voice import InfluentialVoiceRule
from alerts.rules.keyword_context import KeywordContextRule
from alerts.rules.negative_surge import NegativeSurgeRule
from alerts.rules.policy_interpretation import PolicyInterpretationRule
from alerts.rules.unanswered_complaints import UnansweredComplaintsRule
from alerts.rules.volume_burst import VolumeBurstRule

RULE_TYPES: dict[str, type[Rule]] = {
    rule.type_name: rule
    for rule in (
        KeywordContextRule,
        NegativeSurgeRule,
        VolumeBurstRule,
        InfluentialVoiceRule,
        CrossPlatformRule,
        UnansweredComplaintsRule,
        PolicyInterpretationRule,
        CrawlHealthRule,
    )
}

__all__ = ["RULE_TYPES", "Finding", "Rule", "RuleOptions"]
