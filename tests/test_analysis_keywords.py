"""Keywords: TF-IDF over our words with our IDF; slogans stay whole, set phrases do not surface."""

from __future__ import annotations

import pytest

from workers.build import load_gazetteer, shipped_language, shipped_segmenter
from yuqing.config.settings import DEFAULT_DATA


@pytest.fixture(scope="module", autouse=True)
def runtime_vocabulary() -> None:
    """Place names are single tokens once the gazetteer is loaded, as in the analyzer."""
    load_gazetteer(DEFAULT_DATA / "gazetteer.yaml", shipped_segmenter())


def keywords_of(text: str, top_k: int = 8) -> list[str]:
    language = shipped_language()
    return language.keywords_of(language.segmenter.segment_post(text).all_words, top_k)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("深化放管服改革，持续优化营商环境", ["放管服", "营商环境"]),
        ("全面推行双随机、一公开监管，加强事中事后监管", ["双随机、一公开"]),
        ("围绕231特色产业体系，推动四个突破落地见效", ["231特色产业体系", "四个突破"]),
        ("牡丹区老旧小区改造工程停工三个月，居民家中漏水", ["老旧小区改造", "停工", "漏水"]),
        ("曹县保障性租赁住房申请条件公布", ["保障性租赁住房", "曹县"]),
    ],
)
def test_public_affairs_terms_are_keywords(text: str, expected: list[str]) -> None:
    found = keywords_of(text)
    for term in expected:
        assert term in found


@pytest.mark.parametrize(
    "text",
    [
        "要进一步加强工作部署，切实推进各项措施落实落地，确保取得实效",
        "转发微博 网页链接 [哈哈] 12345 的了吗",
    ],
)
def test_stopwords_and_noise_never_surface(text: str) -> None:
    stop = shipped_language().keywords.stopwords
    for word in keywords_of(text):
        assert word not in stop
        assert not word.startswith("[")
        assert not word.isdigit()


def test_rarer_words_outrank_common_ones() -> None:
    # 疫情 is frequent in the IDF corpus (Weibo 2020); a district name is rarer there.
    table, unseen = shipped_language().keywords.idf, shipped_language().keywords.unseen_idf
    assert table["疫情"] < table.get("郓城县", unseen)
    found = keywords_of("疫情期间郓城县的疫情防控")
    assert found.index("郓城县") < found.index("疫情")


def test_idf_comes_from_a_real_corpus() -> None:
    table, unseen = shipped_language().keywords.idf, shipped_language().keywords.unseen_idf
    assert len(table) > 10_000
    assert unseen > max(table.values()) - 1e-9


def test_candidates_drop_single_characters_numbers_and_emoticons() -> None:
    assert shipped_language().keywords.candidate_words(["的", "我", "2023", "[怒]", "，", "政务公开", "abc", "哈哈哈哈"]) == ["政务公开", "abc"]


def test_top_k_is_respected_and_order_is_stable() -> None:
    text = "菏泽市教育局公布中考招生计划，学区划分和入学条件有调整"
    assert len(keywords_of(text, 3)) == 3
    assert keywords_of(text) == keywords_of(text)
