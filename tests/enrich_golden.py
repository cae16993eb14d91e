"""What the enrich step made of a fixed stream of posts, kept to pin its outputs while it is made faster.

The stream is built from ../shared/data (real Weibo posts and news headlines) mixed with what the enrich step
treats specially: personal data of every kind it masks, repost chains, mentions, links, quotations and 《titles》,
the office beside another party, places, departments, the registry's policies by title and 文号, crawled policy
documents, board messages with a reply unit, real names and phone numbers as author names. Each post's
`Annotated.to_json()` is one line of tests/data/enrich_golden.jsonl.gz.

Regenerate it only when an output is meant to change (say why in the commit), from the code that is right:

    python -m tests.enrich_golden
"""

from __future__ import annotations

import csv
import gzip
import json
import math
import random
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from analysis.enrich import Enricher
from analysis.gazetteer import Gazetteer
from analysis.language import Language
from stores.language import load_keyword_table, load_segmenter, load_sentiment_model
from yuqing.config.datafiles import load_gazetteer_file, load_policies, load_watchlists
from yuqing.config.settings import DEFAULT_DATA
from yuqing.schema import (
    BOARD_PLACE,
    BOARD_REPLY,
    BOARD_REPLY_UNIT,
    GOV_DOC_NUMBER,
    GOV_ISSUER,
    GOV_VALIDITY,
    SHANGHAI,
    Author,
    Platform,
    Post,
)

REPO = Path(__file__).resolve().parent.parent
SHARED = REPO.parent / "shared" / "data"
GOLDEN = Path(__file__).resolve().parent / "data" / "enrich_golden.jsonl.gz"
POSTS = 1_000
SEED = 15

PLACES = ["牡丹区", "定陶区", "曹县", "单县", "成武县", "巨野县", "郓城县", "鄄城县", "东明县", "何楼街道", "南城街道"]
SUBJECTS = ["老旧小区改造", "楼顶漏水", "供暖不热", "物业乱收费", "学校招生", "医保报销", "道路施工扰民", "拆迁补偿",
            "公交线路调整", "停水", "垃圾清运", "噪音扰民", "农民工工资", "燃气涨价"]
PERSONAL = ["电话13812345678", "打138 1234 5678找我", "vx13912345678同号", "身份证370102199003071234",
            "卡号6222021234567890128", "邮箱zhangsan@example.com", "QQ号：12345678", "微信：abc_12345",
            "车牌鲁R12345", "住在幸福小区3号楼2单元501", "人民路28号", "家住小区26-2-2501", "我家座机0530-5312345",
            "监督电话0530-5312345", "１３８１２３４５６７８", "wxid_abcdef123", "2单元502室"]
STANCE = ["感谢街道办及时协调，施工队天天半夜施工", "物业太差了，社区工作人员很负责", "开发商跑路了，政府赶紧管管吧",
          "城管执法很文明，商家乱摆摊", "市住建局回复很快，点赞"]
MARKUP = ["//@菏泽发布: 转发微博", "回复@小王:", "@牡丹晚报 ", "https://t.cn/abc123 ", "“这是一个很长的引用通知内容”",
          "《菏泽市2022年城镇老旧小区改造工作实施方案》", "按照菏政办字〔2022〕9号文件", "#老旧小区改造#", "不是很满意",
          "（来源：菏泽日报）", "责任编辑：王某", "【幸福小区停水三天】", "Hello WORLD 2023", "哈哈哈哈"]
AUTHORS = [None, "王小明", "曹县汉服小姐姐", "13812345678", "菏泽发布", "张先生", "欧阳娜娜", "牡丹区融媒体中心"]
REPLY_UNITS = [None, "菏泽市住房和城乡建设局", "市住建局", "某某物业公司", "牡丹区人民政府"]


def shared_texts() -> tuple[list[str], list[str]]:
    """(Weibo posts, news headlines) from ../shared/data."""
    with (SHARED / "sentiment" / "weibo_senti_100k_subset.csv").open(encoding="utf-8-sig", newline="") as rows:
        posts = [row["review"].strip() for row in csv.DictReader(rows) if row.get("review")]
    posts += [item["content"] for item in json.loads((SHARED / "sentiment" / "smp2020_usual_eval.json").read_text(
        encoding="utf-8"))]
    lines = (SHARED / "topics" / "thucnews_titles_dev.txt").read_text(encoding="utf-8").splitlines()
    titles = [line.split("\t")[0].strip() for line in lines]
    return [p for p in posts if p.strip()], [t for t in titles if t]


def stream(count: int = POSTS, seed: int = SEED) -> Iterator[Post]:
    """`count` posts, the same ones every time for the same shared data."""
    rng = random.Random(seed)
    chatter, headlines = shared_texts()
    start = datetime(2025, 6, 1, tzinfo=SHANGHAI)
    platforms = [Platform.WEIBO] * 6 + [Platform.NEWS, Platform.NEWS, Platform.BOARD, Platform.FORUM, Platform.GOV]
    for number in range(count):
        platform = rng.choice(platforms)
        parts = [rng.choice(chatter)]
        for extras, share in ((PERSONAL, 0.2), (STANCE, 0.1), (MARKUP, 0.3), (PLACES, 0.4), (SUBJECTS, 0.4)):
            if rng.random() < share:
                parts.insert(rng.randrange(len(parts) + 1), rng.choice(extras))
        if rng.random() < 0.2:
            parts.append(f"//@{rng.choice(['张三', '菏泽交警', 'abc'])}: {rng.choice(chatter)}")
        text = rng.choice(["", "，", "。", " ", "\n"]).join(parts)
        title: str | None = None
        extra: dict[str, Any] = {}
        if platform in (Platform.NEWS, Platform.FORUM, Platform.GOV):
            title = rng.choice(headlines)
            text = f"{text}\n{rng.choice(headlines)}，{rng.choice(chatter)}"
        if platform is Platform.GOV:
            title = f"关于印发菏泽市{rng.choice(SUBJECTS)}工作方案的通知"
            extra = {GOV_ISSUER: "菏泽市人民政府办公室", GOV_VALIDITY: "现行有效"}
            if rng.random() < 0.5:
                extra[GOV_DOC_NUMBER] = f"菏政办字〔2025〕{number}号"
        elif platform is Platform.BOARD:
            title = f"关于{rng.choice(SUBJECTS)}的问题 {rng.choice(PERSONAL)}"
            extra = {BOARD_PLACE: rng.choice(PLACES)}
            if (unit := rng.choice(REPLY_UNITS)) is not None:
                extra[BOARD_REPLY_UNIT] = unit
                extra[BOARD_REPLY] = f"已联系，{rng.choice(PERSONAL)}"
        when = start + timedelta(minutes=number * 7)
        yield Post(id=f"golden:{number}", url=f"https://{platform.value}.example.cn/{number}", platform=platform,
                   source=f"{platform.value}_golden", title=title, text=text, published_at=when,
                   fetched_at=when + timedelta(minutes=5), extra=extra,
                   author=Author(name=rng.choice(AUTHORS), verified=rng.random() < 0.1))


def fresh_enricher() -> Enricher:
    """An enricher with a segmenter of its own (the terms other tests add to the process's stay out of it),
    the shipped policies, watchlists and gazetteer."""
    segmenter = load_segmenter()
    language = Language(segmenter, load_keyword_table(), load_sentiment_model())
    return Enricher(language, load_policies(DEFAULT_DATA / "policies.yaml"),
                    load_watchlists(DEFAULT_DATA / "watchlists.yaml"),
                    Gazetteer(load_gazetteer_file(DEFAULT_DATA / "gazetteer.yaml"), segmenter))


def annotated_lines() -> Iterator[dict[str, Any]]:
    enricher = fresh_enricher()
    for post in stream():
        annotated = enricher.annotate(post)
        line = json.loads(annotated.to_json())
        # Every field of the post, `masked_text` too (the message leaves it out when it repeats `text`).
        line["post"] = json.loads(annotated.post.model_dump_json())
        yield line


def read_golden() -> list[dict[str, Any]]:
    with gzip.open(GOLDEN, "rt", encoding="utf-8") as lines:
        return [json.loads(line) for line in lines]


def differences(expected: Any, found: Any, where: str = "") -> Iterator[str]:
    """Where `found` differs from `expected`; floats within 1e-9 are equal (a sum taken in another order)."""
    if isinstance(expected, float) and isinstance(found, (float, int)):
        if not math.isclose(expected, found, rel_tol=1e-9, abs_tol=1e-9):
            yield f"{where}: {expected!r} != {found!r}"
    elif isinstance(expected, dict) and isinstance(found, dict):
        for key in expected.keys() | found.keys():
            if key not in expected or key not in found:
                yield f"{where}.{key}: only in {'found' if key in found else 'expected'}"
            else:
                yield from differences(expected[key], found[key], f"{where}.{key}")
    elif isinstance(expected, list) and isinstance(found, list):
        if len(expected) != len(found):
            yield f"{where}: {expected!r} != {found!r}"
        else:
            for index, (one, other) in enumerate(zip(expected, found, strict=True)):
                yield from differences(one, other, f"{where}[{index}]")
    elif expected != found or type(expected) is not type(found):
        yield f"{where}: {expected!r} != {found!r}"


def main() -> None:
    GOLDEN.parent.mkdir(parents=True, exist_ok=True)
    # mtime 0: the same outputs give the same bytes.
    with gzip.GzipFile(GOLDEN, "wb", compresslevel=9, mtime=0) as out:
        for line in annotated_lines():
            out.write((json.dumps(line, ensure_ascii=False, sort_keys=True) + "\n").encode())
    print(f"wrote {GOLDEN}")


if __name__ == "__main__":
    main()
