"""analysis.privacy: what is masked, what must survive, idempotence, linear time, author names."""

import time

import pytest

from analysis.privacy import mask_author_name, mask_metadata, mask_personal_data

MASKED = [
    # (text, personal datum that must be gone, what the mask keeps)
    ("联系电话13812345678。", "13812345678", "138****5678"),
    ("手机：+86 139-1234-5678", "1234", "139****5678"),
    ("电话 138 1234 5678 找王女士", "138 1234 5678", "138****5678"),
    ("电话138.1234.5678", "1234", "138****5678"),
    ("电话138－1234－5678", "1234", "138****5678"),
    ("电话１３８１２３４５６７８", "１２３４", "138****5678"),
    ("打1 3 8 1 2 3 4 5 6 7 8", "2 3 4", "138****5678"),
    ("加vx13812345678详聊", "12345678", "vx138****5678"),
    ("13812345678VX同号", "12345678", "138****5678VX同号"),
    ("座机(0530)5310000转123", "5310000", "转123"),
    ("我家电话0530-5312345", "5312345", "0530-"),
    ("身份证号370102199001011234", "370102199001011234", "3701**********1234"),
    ("身份证37010219900101123X", "37010219900101123X", "3701"),
    ("旧身份证370102900101123", "370102900101123", "3701"),
    ("身份证 370102 19900101 1234", "19900101", "1234"),
    ("身份证3701 0219 9001 0112 34", "9001", "3701"),
    ("银行卡6222021234567890128", "6222021234567890128", "0128"),
    ("卡号 6222 0212 3456 7890 128", "6222 0212 3456 7890 128", "0128"),
    ("工行卡9558801234567890123", "95588012345678", "0123"),
    ("卡号6222021234567891", "622202123456", "7891"),  # fails the check digit: still a card
    ("邮箱 zhangsan@heze.gov.cn", "zhangsan@", "@heze.gov.cn"),
    ("车牌鲁R·12345", "12345", "鲁R·***45"),
    ("新能源车鲁RD12345违停", "D12345", "鲁R"),
    ("车牌鲁r12345", "r12345", "鲁r"),
    ("家住中华路123号", "123号", "中华路***号"),
    ("3号楼2单元501室", "501", "单元***室"),
    ("5栋2单元", "5栋2", "*栋*单元"),
    ("住在和平小区26-2-2501", "26-2-2501", "小区"),
    ("3号楼2单元501，楼上漏水", "501", "单元***"),
    ("住5栋1502，楼上漏水", "1502", "*栋****"),
    ("QQ：123456789", "123456789", "QQ："),
    ("扣扣 87654321", "87654321", "扣扣"),
    ("微信号：zhang_san1990", "zhang_san1990", "微信号："),
    ("加vx: wxid_abcdef123", "abcdef123", "vx"),
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
    "举报电话0530-5310000",
    "可拨打市住房和城乡建设局监督电话0530-5310000反映",
    "咨询电话：0530-5312345",
    "增长1.3 1.4 1.5 2.0 2.1 2.2",
    "编号4000123412341235",  # 16 digits failing the check digit, no card context: a serial number
    "距离3公里1-2小时",
    "微信公众号菏泽发布",
    "QQ群",
    "3室2厅",
]


@pytest.mark.parametrize("text", KEPT)
def test_public_identifiers_and_numbers_survive(text):
    assert mask_personal_data(text) == text


@pytest.mark.parametrize("text", [row[0] for row in MASKED] + KEPT)
def test_masking_is_idempotent(text):
    once = mask_personal_data(text)
    assert mask_personal_data(once) == once


def test_empty_text():
    assert mask_personal_data("") == ""


# Inputs that made a pattern backtrack over the whole run at every position (quadratic: 20k
# digits took 3.3 s, 1 MB over 30 s). Linear code does each 1 MB input in well under a second;
# the bound is generous for a loaded machine and still fails the quadratic code by far.
ONE_MB = 1_000_000
HOSTILE_TEXTS = {
    "digits": "1" * ONE_MB,
    "local_part_without_domain": "a" * ONE_MB + "@",
    "dotted_local_part": "a." * (ONE_MB // 2) + "@",
    "domain_without_dot": "a@" + "b" * ONE_MB,
    "spaced_digits": "1 " * (ONE_MB // 2),
    "dashed_digits": "1-" * (ONE_MB // 2),
    "building_numbers": "1号" * (ONE_MB // 2),
    "plate_like": "鲁A" * (ONE_MB // 2),
    "qq_labels": "QQ1" * (ONE_MB // 3),
    "wechat_labels": "vx a" * (ONE_MB // 4),
}


@pytest.mark.parametrize("name", sorted(HOSTILE_TEXTS))
def test_masking_a_megabyte_takes_linear_time(name):
    text = HOSTILE_TEXTS[name]
    started = time.process_time()
    mask_personal_data(text)
    assert time.process_time() - started < 5.0, f"{name}: masking 1 MB is not linear"


AUTHORS = [
    # (name, platform, verified, masked?)
    ("13812345678", "weibo", False, True),
    ("李建国", "board", False, True),
    ("欧阳明华", "board", False, True),
    ("张先生", "board", False, False),
    ("王女士", "board", False, False),
    ("热心市民", "board", False, False),
    ("网友", "board", False, False),
    ("菏泽市住房和城乡建设局", "board", False, False),
    ("王小明", "weibo", False, False),  # a screen name: public by the author's choice
    ("菏泽日报", "news", True, False),
    ("李建国", "board", True, False),  # a verified account is public
]


@pytest.mark.parametrize(("name", "platform", "verified", "masked"), AUTHORS)
def test_author_names(name, platform, verified, masked):
    result = mask_author_name(name, platform, verified=verified)
    assert (result != name) is masked
    if masked:
        assert mask_author_name(result, platform, verified=verified) == result
    if masked and not name.isdigit():
        assert result[0] == name[0] and "*" in result


def test_metadata_keeps_document_identifiers_and_links():
    extra = {"索引号": "11371700004345623G/2022-00118", "回复内容": "请拨打13912345678联系",
             "附件": [{"title": "13812345678.pdf", "url": "http://x.cn/13812345678.pdf"}],
             "转载": "https://x.cn/13812345678.html"}
    masked = mask_metadata(extra)
    assert masked["索引号"] == extra["索引号"]
    assert masked["回复内容"] == "请拨打139****5678联系"
    assert masked["附件"][0]["url"] == "http://x.cn/13812345678.pdf"
    assert "13812345678" not in masked["附件"][0]["title"]
    assert masked["转载"] == extra["转载"]
