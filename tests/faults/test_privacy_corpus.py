"""The privacy corpus: generated posts carrying personal data of every kind, in the forms people
write it, through both places masking runs (the crawl's pipelines and the analyze stage, `yuqing
analyze` included). Counts masked/leaked per kind are printed; no leak is allowed, and public
numbers, document identifiers and public accounts must come through unchanged."""

from __future__ import annotations

import json
import random
import re
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest

from analysis.enrich import Analyzer
from pipelines.items import mask_post, normalise_post
from workers.build import load_gazetteer, shipped_language, shipped_segmenter
from yuqing.cli.main import main
from yuqing.config.settings import DEFAULT_DATA
from yuqing.schema import Post

pytestmark = pytest.mark.faults

POSTS = 500
FULLWIDTH = str.maketrans("0123456789", "０１２３４５６７８９")


@dataclass(frozen=True)
class Item:
    kind: str
    written: str  # as the post writes it
    secret: str  # what must not survive: a leak when it is in the output (digits compared alone)


def _digits(rng: random.Random, count: int) -> str:
    return "".join(rng.choice("0123456789") for _ in range(count))


def _luhn_digit(body: str) -> str:
    total = 0
    for position, char in enumerate(reversed(body)):
        value = int(char) * (2 if position % 2 == 0 else 1)
        total += value - 9 if value > 9 else value
    return str((10 - total % 10) % 10)


def mobile(rng: random.Random) -> Item:
    number = rng.choice(["13", "15", "18", "19", "17"]) + _digits(rng, 9)
    a, b, c = number[:3], number[3:7], number[7:]
    written = rng.choice([
        number, f"{a}-{b}-{c}", f"{a} {b} {c}", f"{a}.{b}.{c}", f"+86 {a}-{b}-{c}", number.translate(FULLWIDTH),
        f"vx{number}", f"{number}VX同号", " ".join(number), f"{a}－{b}－{c}", f"tel{number}",
    ])
    return Item("mobile", written, number)


def home_landline(rng: random.Random) -> Item:
    number = "0530-" + rng.choice("5678") + _digits(rng, 6)
    return Item("home_landline", f"我家座机{number}", number.replace("-", ""))


def id_card(rng: random.Random) -> Item:
    region = rng.choice(["370102", "371702", "110105", "420106"])
    birth = f"{rng.randint(1950, 2005)}{rng.randint(1, 12):02d}{rng.randint(1, 28):02d}"
    number = region + birth + _digits(rng, 3) + rng.choice("0123456789X")
    written = rng.choice([number, f"{region} {birth} {number[14:]}", number.lower()])
    return Item("id_card", written, number.upper())


def bank_card(rng: random.Random) -> Item:
    body = rng.choice(["622202", "622848", "621700", "955880", "622588"]) + _digits(rng, rng.choice([9, 12]))
    valid = rng.random() < 0.5
    check = _luhn_digit(body)
    number = body + (check if valid else str((int(check) + 1) % 10))
    grouped = " ".join(number[i:i + 4] for i in range(0, len(number), 4))
    return Item("bank_card", rng.choice([number, grouped]), number)


def email(rng: random.Random) -> Item:
    local = rng.choice(["zhang", "li.wei", "wang_fang", "chen88", "heze.resident"]) + _digits(rng, 3)
    domain = rng.choice(["qq.com", "163.com", "126.com", "sina.com", "example.cn"])
    return Item("email", f"{local}@{domain}", f"{local}@")


def qq(rng: random.Random) -> Item:
    number = str(rng.randint(10000, 3999999999))
    return Item("qq", rng.choice([f"QQ{number}", f"QQ：{number}", f"qq号 {number}", f"扣扣{number}"]), number)


def wechat(rng: random.Random) -> Item:
    account = rng.choice("abcdefghkmnpz") + rng.choice(["hang", "_li", "wei-", "fang"]) + _digits(rng, 4)
    return Item("wechat", rng.choice([f"微信：{account}", f"微信号 {account}", f"vx:{account}", f"加V信{account}",
                                      f"WX {account}"]), account)


def plate(rng: random.Random) -> Item:
    letter = rng.choice("ABCDEFGHJKLMNPQRS")
    rest = rng.choice(["", "D", "F"]) + _digits(rng, 5 if rng.random() < 0.5 else 4) + rng.choice(["", "X"])
    rest = rest[:6] if len(rest) > 5 else rest
    written = rng.choice([f"鲁{letter}{rest}", f"鲁{letter}·{rest}", f"鲁{letter.lower()}{rest.lower()}"])
    return Item("plate", written, rest)


def address(rng: random.Random) -> Item:
    building, unit, room = rng.randint(1, 40), rng.randint(1, 6), rng.randint(1, 28) * 100 + rng.randint(1, 4)
    street = rng.randint(10, 999)
    written, secret = rng.choice([
        (f"中华路{street}号", f"路{street}号"),
        (f"{building}号楼{unit}单元{room}室", f"{room}室"),
        (f"{building}号楼{unit}单元{room}", f"单元{room}"),
        (f"和平小区{building}-{unit}-{room}", f"{building}-{unit}-{room}"),
        (f"{building}栋{room}", f"栋{room}"),
        (f"{building}-{unit}-{room}室", f"{building}-{unit}-{room}"),
    ])
    return Item("address", written, secret)


GENERATORS: tuple[Callable[[random.Random], Item], ...] = (
    mobile, home_landline, id_card, bank_card, email, qq, wechat, plate, address)
TEMPLATES = (
    "小区门口的路灯坏了一个月，联系方式{}，请尽快处理。",
    "反映问题：物业乱收费，本人{}，希望有关部门核实。",
    "{}，这是我的信息，拆迁补偿至今没到位！",
    "楼上漏水好几天了（{}），找物业没人管",
)
# (author name, platform, verified): private names where boards show real names, phone numbers anywhere.
PRIVATE_AUTHORS = (("李建国", "board"), ("王秀英", "board"), ("欧阳明华", "board"), ("张伟", "board"))
PUBLIC_AUTHORS = (("张先生", "board"), ("王女士", "board"), ("热心市民", "board"), ("菏泽发布", "weibo"),
                  ("市住房和城乡建设局", "board"), ("风中的蒲公英", "weibo"), ("菏泽日报", "news"))

# Text that is public and must come through unchanged (the crawl makes full-width digits ASCII).
PUBLIC_TEXTS = (
    "居民对改造工作有意见建议的，可拨打市住房和城乡建设局监督电话0530-5310000反映。",
    "咨询电话：0530-5312345，工作日受理。",
    "索引号：11371700004345623G/2022-00118，发文字号：菏政办发〔2022〕12号。",
    "请拨打12345政务服务便民热线或12315投诉。",
    "2022年完成改造老旧小区210个，惠及居民4.3万户，共改造3栋楼。",
    "发布时间：2022-06-02 10:31:05，网站标识码：3717000001。",
    "增长率分别为1.3 1.4 1.5 2.0 2.1 2.2个百分点。",
    "关注微信公众号菏泽发布，加入QQ群了解详情。",
)


@dataclass
class Corpus:
    posts: list[Post]
    items: dict[str, list[Item]]  # post id -> personal items in it


def build_corpus(seed: int = 9) -> Corpus:
    rng = random.Random(seed)
    posts, items = [], {}
    for number in range(POSTS):
        chosen = [rng.choice(GENERATORS)(rng) for _ in range(rng.randint(2, 4))]
        text = "".join(rng.choice(TEMPLATES).format(item.written) for item in chosen)
        post_id = f"board:{number}"
        if number % 3 == 0:
            name, platform = rng.choice(PRIVATE_AUTHORS)
            chosen.append(Item("author_real_name", name, name))
        elif number % 3 == 1:
            phone = mobile(rng).secret
            name, platform = phone, rng.choice(["weibo", "board", "forum"])
            chosen.append(Item("author_phone", name, phone))
        else:
            name, platform = rng.choice(PUBLIC_AUTHORS)
        posts.append(Post(id=post_id, url=f"https://liuyan.example.org/{number}", platform=platform,
                          source="corpus", author={"name": name}, text=text))
        items[post_id] = chosen
    return Corpus(posts, items)


def _compact(text: str) -> str:
    return re.sub(r"[^0-9A-Za-z@\u4e00-\u9fff]", "", text)


def leaked(item: Item, shown: str) -> bool:
    """The secret is in the output: as written, or with separators and spacing taken out."""
    secret = item.secret
    return secret in shown or secret.lower() in shown.lower() or _compact(secret) in _compact(shown)


def tally(corpus: Corpus, shown: dict[str, str]) -> dict[str, Counter[str]]:
    counts: dict[str, Counter[str]] = {}
    for post_id, items in corpus.items.items():
        for item in items:
            counts.setdefault(item.kind, Counter())["leaked" if leaked(item, shown[post_id]) else "masked"] += 1
    return counts


def report(path: str, counts: dict[str, Counter[str]]) -> None:
    print(f"\n{path}: kind masked leaked")
    for kind in sorted(counts):
        print(f"  {kind:18} {counts[kind]['masked']:6} {counts[kind]['leaked']:6}")


def assert_nothing_leaked(counts: dict[str, Counter[str]]) -> None:
    assert len(counts) == len(GENERATORS) + 2  # every kind, author kinds included, was generated
    assert {kind: c["leaked"] for kind, c in counts.items() if c["leaked"]} == {}


@pytest.fixture(scope="module")
def corpus() -> Corpus:
    return build_corpus()


def _shown(post: Post) -> str:
    """Everything a reader could see of a post: author, title, text, metadata."""
    return json.dumps([post.author.name, post.title, post.text, post.extra], ensure_ascii=False)


def test_the_crawl_pipeline_leaks_nothing(corpus: Corpus) -> None:
    shown = {post.id: _shown(mask_post(normalise_post(post))) for post in corpus.posts}
    counts = tally(corpus, shown)
    report("crawl pipeline", counts)
    assert_nothing_leaked(counts)


@pytest.fixture(scope="module")
def analyzer() -> Analyzer:
    analyzer = Analyzer(shipped_language(), [], [], load_gazetteer(DEFAULT_DATA / "gazetteer.yaml", shipped_segmenter()))
    yield analyzer
    analyzer.close()


def test_the_analyze_stage_leaks_nothing(corpus: Corpus, analyzer: Analyzer) -> None:
    # The analyze stage gets posts as they are written (full-width digits included), not normalised.
    shown = {post.id: analyzer.enrich(post).model_dump_json() for post in corpus.posts}
    counts = tally(corpus, shown)
    report("analyze stage", counts)
    assert_nothing_leaked(counts)


def test_yuqing_analyze_leaks_nothing(corpus: Corpus, tmp_path: Path, capsys, monkeypatch) -> None:
    monkeypatch.setenv("YUQING_DATA_DIR", str(tmp_path / "var"))
    source = tmp_path / "corpus.jsonl"
    source.write_text("".join(post.model_dump_json() + "\n" for post in corpus.posts), encoding="utf-8")
    assert main(["analyze", "--no-progress", str(source)]) == 0
    rows = {json.loads(line)["id"]: line for line in capsys.readouterr().out.splitlines()}
    assert len(rows) == POSTS
    counts = tally(corpus, rows)
    report("yuqing analyze", counts)
    assert_nothing_leaked(counts)


@pytest.mark.parametrize("text", PUBLIC_TEXTS)
def test_public_text_is_not_masked(text: str, analyzer: Analyzer) -> None:
    post = Post(url="https://www.heze.gov.cn/art/1.html", platform="gov", source="corpus", text=text)
    assert mask_post(normalise_post(post)).text == text
    assert analyzer.enrich(post).text == text


@pytest.mark.parametrize(("name", "platform"), PUBLIC_AUTHORS)
def test_public_authors_and_screen_names_stay(name: str, platform: str, analyzer: Analyzer) -> None:
    post = Post(url=f"https://x.org/{platform}/{len(name)}", platform=platform, source="corpus", text="路灯坏了",
                author={"name": name})
    assert mask_post(post).author.name == name
    assert analyzer.enrich(post).author.name == name
