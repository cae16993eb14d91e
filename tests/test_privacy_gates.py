"""Masking skips a rule when the text lacks what every match of the rule contains (analysis/privacy.py, `_RULES`):
a skip must never leave something unmasked that running the rule would mask. Checked against every rule run on
every text, on the privacy tests' examples and on many texts mixing them with digits, dashes, labels and Chinese."""

from __future__ import annotations

import random

import pytest

from analysis import privacy
from analysis.privacy import mask_personal_data
from tests.test_privacy import KEPT, MASKED

PIECES = [row[0] for row in MASKED] + KEPT + [
    "电话13812345678", "打138 1234 5678找我", "vx13912345678同号", "身份证370102199003071234", "卡号6222021234567890128",
    "邮箱zhangsan@example.com", "@菏泽发布", "QQ号：12345678", "扣扣 1234567", "企鹅12345", "微信：abc_12345",
    "WeChat: wx_abcdef", "weixin abcdef1", "wxid_abcdef123", "车牌鲁R12345", "住在幸福小区3号楼2单元501", "人民路28号",
    "家住小区26-2-2501", "3栋2单元", "12幢501", "我家座机0530-5312345", "(0530)5312345", "１３８１２３４５６７８",
    "2单元502室", "5-1-301户", "2023年5月12日", "第3期", "8", "-", "号", "栋", "@", "v", "x", "Q", "q", "信",
    # Full-width letters and digits only: read as ASCII before any rule.
    "ＱＱ１２３４５６７８", "ｗｘｉｄ＿ａｂｃｄｅｆ", "ｖ", "１", "鲁Ｒ１２３４５", "－",
]


def every_rule(text: str) -> str:
    """What masking did before the skips: every rule's pass over every text."""
    text = privacy._FULLWIDTH_RUN.sub(lambda run: run.group().translate(privacy._FULLWIDTH), text)
    for pattern, replace, _needs in privacy._RULES:
        text = pattern.sub(replace, text)
    return text


@pytest.mark.parametrize("text", PIECES)
def test_skipping_rules_masks_what_every_rule_masks(text: str) -> None:
    assert mask_personal_data(text) == every_rule(text)


def test_skipping_rules_masks_what_every_rule_masks_in_mixed_texts() -> None:
    rng = random.Random(7)
    fillers = ["，", " ", "-", "：", "的", "市民反映", "2", "号", "\n", "a", "X", "楼"]
    for _ in range(5_000):
        parts = [rng.choice(PIECES + fillers) for _ in range(rng.randint(1, 6))]
        text = "".join(parts)
        assert mask_personal_data(text) == every_rule(text), text
