"""`yuqing search` and `yuqing trends` through the real entry point, on a temporary data directory."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from search.base import SearchQuery
from search.sqlite_fts import SqliteIndex
from tests.index_suite import SEED
from tests.recorded_http import unused_loopback_url
from yuqing.cli.main import main
from yuqing.config import load_settings


@pytest.fixture
def data_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("YUQING_DATA_DIR", str(tmp_path / "var"))
    monkeypatch.delenv("YUQING_CONFIG", raising=False)
    monkeypatch.delenv("YUQING_INDEX", raising=False)
    with SqliteIndex(load_settings().path("index.sqlite3")) as index:
        index.upsert(SEED)
    return tmp_path / "var"


def test_search_json_is_one_object_with_total_and_hits(data_dir, capsys):
    assert main(["search", "老旧小区 -楼道", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["total"] == 1 and [h["id"] for h in out["hits"]] == [SEED[0].id]
    hit = out["hits"][0]
    assert hit["snippet"] == "牡丹区«老旧小区»改造停工三个月，路面挖开没人管"
    assert hit["platform"] == "weibo" and hit["sentiment"] == "negative" and hit["url"] == SEED[0].url


def test_search_table_is_chinese_with_the_match_marked(data_dir, capsys):
    assert main(["search", "活动 OR 租赁", "--sort", "reach", "--limit", "1"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0] == "“活动 OR 租赁” 共 3 条，按传播量排序，显示前 1 条"
    assert lines[1].split() == ["时间", "平台", "来源/作者", "情感", "摘要（«»内为命中词）", "链接"]
    assert len(lines) == 3 and "«" in lines[2] and "https://m.weibo.cn/status/" in lines[2]


@pytest.mark.parametrize("command", [["search", "老旧小区 (停水 OR"], ["trends", "platform:twitter"]])
def test_a_malformed_query_is_one_line_and_exit_2(data_dir, capsys, command):
    assert main(command) == 2
    captured = capsys.readouterr()
    assert captured.out == "" and len(captured.err.strip().splitlines()) == 1
    assert captured.err.startswith("查询语句第") and "Traceback" not in captured.err


@pytest.mark.parametrize("command", [["search", "老旧小区"], ["trends", "老旧小区"]])
def test_unreachable_elasticsearch_is_one_line_and_exit_2(data_dir, capsys, monkeypatch, command):
    monkeypatch.setenv("YUQING_INDEX", "elasticsearch")
    monkeypatch.setenv("YUQING_ELASTICSEARCH__URL", unused_loopback_url())
    assert main(command) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "is unreachable" in err[0] and err[0].startswith("检索服务不可用")


def test_trends_json_and_chart(data_dir, capsys, tmp_path):
    chart = tmp_path / "trend.svg"
    assert main(["trends", "--by", "day", "--facet", "places", "--facet", "platforms", "--json",
                 "--chart", str(chart)]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["total"] == 5
    assert [(b["start"][:10], b["count"], b["sentiment"]["positive"]) for b in out["buckets"]] == [
        ("2022-06-02", 2, 1), ("2022-06-03", 2, 2), ("2022-06-04", 1, 0)]
    assert out["facets"]["platforms"] == [{"value": "weibo", "count": 3}, {"value": "gov", "count": 1},
                                          {"value": "news", "count": 1}]
    assert set(out["facets"]) == {"places", "platforms"}
    svg = chart.read_text(encoding="utf-8")
    assert svg.lstrip().startswith("<?xml") and "<svg" in svg and "情感走势" in svg


def test_trends_text_folds_runs_of_empty_buckets(data_dir, capsys):
    assert main(["trends", "老旧小区", "--by", "hour", "--facet", "sentiments"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0] == "“老旧小区” 共 2 条（按小时）"
    assert lines[2].startswith("2022-06-02 09:00") and lines[3] == "（2022-06-02 10:00 至 2022-06-03 14:00 无）"
    assert lines[4].startswith("2022-06-03 15:00")
    assert lines[5] == "情感倾向：负面 1、正面 1"  # ties by value: negative before positive


def test_trends_rejects_a_chart_of_another_kind(data_dir, capsys):
    assert main(["trends", "--chart", "trend.pdf"]) == 2
    assert "--chart" in capsys.readouterr().err


def test_index_prune_deletes_the_posts_before_the_day_and_says_how_many(data_dir, capsys):
    assert main(["index", "prune", "--before", "2022-06-03"]) == 0
    assert capsys.readouterr().out.strip() == ("已删除 2 条 2022-06-03 之前发布的帖子 "
                                               "(deleted 2 posts published before 2022-06-03)")
    with SqliteIndex(load_settings().path("index.sqlite3")) as index:
        assert sorted(p.id for p in index.scan(SearchQuery())) == sorted(p.id for p in SEED[2:])


@pytest.mark.parametrize("value,says", [("2022-06-31", "YYYY-MM-DD"), ("昨天", "YYYY-MM-DD"),
                                        ("2999-01-01", "future")])
def test_index_prune_refuses_a_bad_or_future_date_in_one_line(data_dir, capsys, value, says):
    assert main(["index", "prune", "--before", value]) == 2
    captured = capsys.readouterr()
    assert captured.out == "" and len(captured.err.strip().splitlines()) == 1 and says in captured.err
    with SqliteIndex(load_settings().path("index.sqlite3")) as index:
        assert index.count(SearchQuery()) == len(SEED)  # nothing deleted
