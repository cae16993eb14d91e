"""analysis.privacy.mask_personal_data: what is masked, what must survive, idempotence."""

import pytest

from analysis.privacy import mask_personal_data

MASKED = [
    # (text, personal datum that must be gone, what the mask keeps)
    ("联系电话13812345678。", "13812345678", "138****5678"),
    ("手机：+86 139-1234-5678", "1234", "139****5678"),
    ("电话 138 1234 5678 找王女士", "138 1234 5678", "138****5678"),
    ("举报电话0530-5310000", "5310000", "0530-***0000"),
    ("座机(0530)5310000转123", "5310000", "转123"),
    ("身份证号370102199001011234", "370102199001011234", "3701**********1234"),
    ("身份证37010219900101123X", "37010219900101123X", "3701"),
    ("旧身份证370102900101123", "370102900101123", "3701"),
    ("银行卡6222021234567890128", "6222021234567890128", "0128"),
    ("卡号 6222 0212 3456 7890 128", "6222 0212 3456 7890 128", "0128"),
    ("邮箱 zhangsan@heze.gov.cn", "zhangsan@", "@heze.gov.cn"),
    ("车牌鲁R·12345", "12345", "鲁R·***45"),
    ("新能源车鲁RD12345违停", "D12345", "鲁R"),
    ("家住中华路123号", "123号", "中华路***号"),
    ("3号楼2单元501室", "501", "单元***室"),
    ("5栋2单元", "5栋2", "*栋*单元"),
]


@pytest.mark.parametrize(("text", "gone", "kept"), MASKED)
def test_personal_data_is_masked(text, gone, kept):
    masked = mask_personal_data(text)
    assert gone not in masked
    assert kept in masked


KEPT = [
    "索引号：11371700004345623G/2022-00118",
    "菏政办发〔2022〕12号",
    "发布时间：2022-06-02 10:31:05",
    "请拨打12345政务服务便民热线或12315投诉",
    "2022年完成改造老旧小区210个，惠及居民4.3万户",
    "订单号A1381234567890",
    "共改造3栋楼",
    "网站标识码：3717000001",
]


@pytest.mark.parametrize("text", KEPT)
def test_public_identifiers_and_numbers_survive(text):
    assert mask_personal_data(text) == text


@pytest.mark.parametrize("text", [row[0] for row in MASKED] + KEPT)
def test_masking_is_idempotent(text):
    once = mask_personal_data(text)
    assert mask_personal_data(once) == once


def test_invalid_card_number_is_not_masked_as_a_card():
    # 16 digits failing the Luhn check: a serial number, not a card.
    assert "6222021234567891" in mask_personal_data("编号6222021234567891")


def test_empty_text():
    assert mask_personal_data("") == ""
