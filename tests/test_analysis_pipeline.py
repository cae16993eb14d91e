"""The enrich step: masking comes first and nothing raw goes downstream; every field is filled."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from analysis.enrich import Analyzer
from workers.build import analyzer_from_settings, load_gazetteer, shipped_language, shipped_segmenter
from yuqing.config import load_settings
from yuqing.config.datafiles import load_watchlists
from yuqing.config.settings import DEFAULT_DATA
from yuqing.schema import BOARD_PLACE, BOARD_REPLY_UNIT, Post, SentimentLabel


@pytest.fixture(scope="module")
def analyzer() -> Analyzer:
    analyzer = Analyzer(shipped_language(), [], load_watchlists(DEFAULT_DATA / "watchlists.yaml"),
                        load_gazetteer(DEFAULT_DATA / "gazetteer.yaml", shipped_segmenter()))
    yield analyzer
    analyzer.close()


@pytest.mark.parametrize(
    ("raw", "secret"),
    [
        ("有事打我电话13812345678，物业不管", "13812345678"),
        ("我的身份证号370102199003071234，办不了社保", "370102199003071234"),
        ("工资卡6222021234567890128被冻结了", "6222021234567890128"),
        ("联系邮箱 zhangsan@example.com 反映拆迁问题", "zhangsan@example.com"),
        ("座机0530-5312345一直占线，市长热线也打不通", "5312345"),
    ],
)
def test_personal_data_is_masked_before_anything_else(analyzer: Analyzer, raw: str, secret: str) -> None:
    post = Post(url="https://weibo.com/1/x", platform="weibo", source="weibo", title=f"求助 {raw}", text=raw)
    enriched = analyzer.enrich(post)
    assert enriched.text == enriched.masked_text
    dumped = enriched.model_dump_json()
    assert secret not in dumped
    assert not any(re.search(r"\d{7,}", keyword) for keyword in enriched.keywords)


def test_metadata_is_masked_but_links_survive(analyzer: Analyzer) -> None:
    post = Post(
        url="https://liuyan.example.org/2", platform="board", source="heze_board", text="楼道灯坏了",
        extra={"回复内容": "已联系物业，电话13912345678", "附件": [{"title": "身份证370102199003071234",
                                                            "url": "https://x.org/a_13912345678.pdf"}]},
    )
    enriched = analyzer.enrich(post)
    assert "13912345678" not in enriched.extra["回复内容"]
    assert "370102199003071234" not in enriched.extra["附件"][0]["title"]
    assert enriched.extra["附件"][0]["url"] == "https://x.org/a_13912345678.pdf"


def test_every_field_is_filled(analyzer: Analyzer) -> None:
    post = Post(
        url="https://liuyan.example.org/1", platform="board", source="heze_board",
        title="小区漏水", text="老旧小区改造后楼顶漏水，家里墙面发霉，找了好多次都没人管，太气人了！",
        extra={BOARD_PLACE: "曹县青菏街道", BOARD_REPLY_UNIT: "菏泽市住房和城乡建设局"},
    )
    enriched = analyzer.enrich(post)
    assert enriched.sentiment is not None and enriched.sentiment.label is SentimentLabel.NEGATIVE
    assert "漏水" in enriched.keywords
    assert enriched.places == ["青菏街道"]  # from the board's 地点
    assert enriched.departments[0] == "市住建局"  # from the reply unit
    assert enriched.event_id and enriched.event_id.startswith("evt-")
    assert enriched.id == post.id and enriched.url == post.url


def test_from_settings_uses_the_data_files(tmp_path: Path) -> None:
    settings = load_settings(data_dir=tmp_path, policies_file=tmp_path / "none.yaml")
    analyzer = analyzer_from_settings(settings, settings.path("analysis.sqlite3"))
    try:
        enriched = analyzer.enrich(Post(url="https://x.org/1", platform="weibo", source="w", text="郓城县拖欠工资"))
        assert enriched.places == ["郓城县"]
    finally:
        analyzer.close()
    assert (tmp_path / "analysis.sqlite3").exists()


@pytest.mark.parametrize(("platform", "name", "shown"), [
    ("board", "李建国", "李**"),
    ("weibo", "13812345678", "138****5678"),
    ("board", "王女士", "王女士"),
    ("weibo", "菏泽发布", "菏泽发布"),
])
def test_author_names_are_masked_like_the_text(analyzer: Analyzer, platform: str, name: str, shown: str) -> None:
    post = Post(url=f"https://x.org/{platform}/{len(name)}", platform=platform, source="s", text="楼道灯坏了",
                author={"name": name})
    enriched = analyzer.enrich(post)
    assert enriched.author.name == shown
    if shown != name:
        assert name not in enriched.model_dump_json()


def test_sentiment_is_toward_the_department_the_post_names(analyzer: Analyzer) -> None:
    """水务集团 is a name of 市水务局 in the gazetteer, not a generic office word: only the analyzer,
    which finds the department, can tell sentiment that the praise is of the office and the
    complaint of the contractor."""
    text = "水务集团的师傅抢修很及时，半夜就恢复供水了，谢谢你们！施工队挖断水管，太不负责了，害得全小区停水一天"
    assert shipped_language().classify_text(text).label == SentimentLabel.NEGATIVE  # the words on their own
    enriched = analyzer.enrich(Post(id="stance", url="urn:stance", platform="weibo", source="t", text=text))
    assert enriched.departments == ["市水务局"]
    assert enriched.sentiment is not None and enriched.sentiment.label == SentimentLabel.POSITIVE
