"""Places: the gazetteer data file resolves mentions and metadata to the most specific place."""

from __future__ import annotations

from pathlib import Path

import pytest

from analysis.gazetteer import Gazetteer
from workers.build import load_gazetteer, shipped_segmenter
from yuqing.config import ConfigError
from yuqing.config.settings import DEFAULT_DATA


@pytest.fixture(scope="module")
def gazetteer() -> Gazetteer:
    return load_gazetteer(DEFAULT_DATA / "gazetteer.yaml", shipped_segmenter())


@pytest.mark.parametrize(
    ("text", "hints", "expected"),
    [
        ("曹县青菏街道老旧小区改造漏水", [], ["青菏街道"]),
        ("菏泽市牡丹区的道路坑洼不平", [], ["牡丹区"]),
        ("菏泽今天下雨了", [], ["菏泽市"]),
        ("郓城县和鄄城县都出现了这种情况", [], ["郓城县", "鄄城县"]),
        ("定陶区仿山镇的村民反映", [], ["仿山镇"]),
        ("菏泽高新区万福街道新开了一家医院", [], ["万福街道"]),
        ("经开区的企业用工需求大", [], ["菏泽经济技术开发区"]),
        ("东明县城关街道停水了", [], ["城关街道"]),
        # 北城街道 exists in 牡丹区 and in 单县: another mention or the metadata settles it.
        ("单县北城街道的路灯坏了", [], ["单县北城街道"]),
        ("北城街道的路灯坏了", ["单县人民政府"], ["单县北城街道"]),
        ("牡丹区北城街道有积水", [], ["牡丹区北城街道"]),
        ("北城街道的路灯坏了", [], ["菏泽市"]),
        # No mention in the text: the source metadata (a board's 地点) places the post.
        ("小区门口垃圾没人清运", ["巨野县麒麟镇"], ["麒麟镇"]),
        ("今天天气不错", [], []),
    ],
)
def test_resolves_to_most_specific_place(gazetteer: Gazetteer, text: str, hints: list[str],
                                         expected: list[str]) -> None:
    assert gazetteer.resolve(shipped_segmenter().segment_post(text).all_words, hints) == expected


def test_lineage_runs_up_to_the_city(gazetteer: Gazetteer) -> None:
    assert gazetteer.lineage("青菏街道") == ["青菏街道", "曹县", "菏泽市"]
    assert gazetteer.lineage("单县北城街道") == ["单县北城街道", "单县", "菏泽市"]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("市住建局回应了老旧小区改造的问题", ["市住建局"]),
        ("住建部门和城管局都说不归他们管", ["市住建局", "市城管局"]),
        ("孩子入学的事情一直没有解决", ["市教育局"]),  # no department named: its topic decides
        ("今天天气不错", []),
    ],
)
def test_departments_from_names_and_topics(gazetteer: Gazetteer, text: str, expected: list[str]) -> None:
    assert gazetteer.departments(shipped_segmenter().segment_post(text).all_words) == expected


def test_department_full_names_map_to_short_names(gazetteer: Gazetteer) -> None:
    assert gazetteer.department_of("菏泽市住房和城乡建设局") == "市住建局"
    assert gazetteer.department_of("市卫健委") == "市卫生健康委"
    assert gazetteer.department_of("不存在的局") is None


def test_the_words_naming_departments_are_those_department_of_knows(gazetteer: Gazetteer) -> None:
    names = [*gazetteer._departments]
    words = [*names, *(gazetteer.city + name for name in names), "不存在的局", "市", "", gazetteer.city, "住建局局"]
    assert gazetteer.department_words(words) == [word for word in words if gazetteer.department_of(word)]


def test_another_city_is_a_data_change(tmp_path: Path) -> None:
    path = tmp_path / "gazetteer.yaml"
    path.write_text(
        "city:\n  name: 临沂市\n  places:\n    - name: 兰山区\n      level: district\n      places:\n"
        "        - {name: 银雀山街道, level: street}\n"
        "departments:\n  - {name: 市水务局, aliases: [水务局], topics: [停水]}\n",
        encoding="utf-8",
    )
    other = load_gazetteer(path, shipped_segmenter())
    words = shipped_segmenter().segment_post("兰山区银雀山街道又停水了").all_words
    assert other.resolve(words) == ["银雀山街道"]
    assert other.departments(words) == ["市水务局"]


def test_bad_gazetteer_file_names_the_key(tmp_path: Path) -> None:
    path = tmp_path / "gazetteer.yaml"
    path.write_text("city:\n  name: 菏泽市\n  places:\n    - level: county\n", encoding="utf-8")
    with pytest.raises(ConfigError) as caught:
        load_gazetteer(path, shipped_segmenter())
    assert "places[0].name" in caught.value.message
