"""Mask personal data before anything is indexed or sent: pure, idempotent text functions.

What is masked: mainland mobile numbers however they are written (138.1234.5678, spaced, dashed,
full-width digits, run into "vx"/"VX同号"), private landlines, resident ID numbers (spaced ones
too), bank-card numbers, e-mail addresses, QQ numbers and WeChat ids, vehicle plates (lowercase
too) and house-number-level address parts (路…号, …号楼…单元…室, 小区26-2-2501, a room number
without 室). A landline labelled as an office's (监督电话, 咨询电话, a department's number) is
public and stays. Masks keep a short prefix/suffix so an analyst still sees what kind of datum
was there ("138****5678"), and never contain digits that a second pass could match again.

Every pattern runs in linear time: a pattern that scans a run of digits or letters may only
start where the run starts (a look-behind), and its repeats are possessive, so a megabyte of
digits is one scan, not a scan from every position.

`mask_author_name` masks the author field: a phone number used as a name anywhere, and a private
person's full name where message boards show real names; screen names and public accounts stay.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

MASK = "*"

# Full-width digits and letters read as ASCII (１３８… is a phone number); the translation is one
# character for one, so it never moves what the patterns find.
_FULLWIDTH = {code: code - 0xFEE0 for code in range(0xFF10, 0xFF5B) if chr(code).isalnum()}
_FULLWIDTH_RUN = re.compile("[\uff10-\uff19\uff21-\uff3a\uff41-\uff5a]+")

# Digits must not run on from a neighbouring digit or latin letter (order numbers, hashes).
_NOT_AFTER = r"(?<![0-9A-Za-z])"
_NOT_BEFORE = r"(?![0-9A-Za-z])"
# Separators people put inside numbers: space, hyphen (ASCII, full-width, dashes), dot, middle dot.
_SEP = r"[ \t\u3000\-－—–.．·]"
# Labels written straight against a number: "vx138…", "tel138…", "138…VX同号".
_LABEL_BEFORE = r"(?<=[vVwW][xX])|(?<=[Tt][Ee][Ll])|(?<=[Qq][Qq])"
_LABEL_AFTER = r"[vVwW][xX]|[Qq][Qq]"

_MOBILE = re.compile(
    rf"(?:{_NOT_AFTER}|{_LABEL_BEFORE})(?:(?:\+|00)?86{_SEP}?)?"
    rf"(1{_SEP}?[3-9](?:{_SEP}?\d){{9}})(?=$|[^0-9A-Za-z]|{_LABEL_AFTER})"
)
_LANDLINE = re.compile(
    _NOT_AFTER + r"(\(?0\d{2,3}\)?)([\s-]?)(\d{3,4})[\s-]?(\d{4})(?:[-转](\d{1,5}))?" + _NOT_BEFORE
)
# Words before a landline that make it an office's published number, not a private person's.
_PUBLIC_LINE = re.compile(
    r"监督|举报|投诉|咨询|服务|热线|值班|办公|受理|传真|报名|客服|总机|联系|政府|部门|单位|中心|窗口"
    r"|[局委厅办处科所站院校]"
)
_PRIVATE_LINE = re.compile(r"我|家里|家中|家庭|住宅|住处|住址|宅电|本人|私人|个人")
_CLAUSE_END = re.compile(r"[。！？!?；;\n]")
_LANDLINE_CONTEXT = 12

# ID numbers and cards: digits with at most one separator between any two; checked after matching.
_ID_CANDIDATE = re.compile(
    _NOT_AFTER + r"\d(?:[ \-]?\d){16}[ \-]?[\dXx]" + _NOT_BEFORE + "|" + _NOT_AFTER + r"\d(?:[ \-]?\d){14}" + _NOT_BEFORE
)
_DATE = r"(?:0[1-9]|1[0-2])(?:0[1-9]|[12]\d|3[01])"
_ID_NUMBER = re.compile(rf"[1-9]\d{{5}}(?:18|19|20)\d{{2}}{_DATE}\d{{3}}[\dXx]|[1-9]\d{{5}}\d{{2}}{_DATE}\d{{3}}")
_CARD_CANDIDATE = re.compile(_NOT_AFTER + r"\d{4}(?:[ \-]?\d{4}){2,3}(?:[ \-]?\d{1,3})?" + _NOT_BEFORE)
# UnionPay (62), the old domestic cards (9558 and kin, 60): numbers of this shape are cards
# whatever their check digit; Visa, Mastercard and Amex shapes only with a valid check digit
# or a card word before them, since order and serial numbers take those shapes too.
_DOMESTIC_CARD = re.compile(r"62|60|9[45]")
_FOREIGN_CARD = re.compile(r"4|5[1-5]|3[47]")
_CARD_WORDS = re.compile(r"卡|账|帐|户号|汇款|转账|收款")
_CARD_CONTEXT = 8

_EMAIL = re.compile(r"(?<![A-Za-z0-9._%+-])([A-Za-z0-9._%+-])[A-Za-z0-9._%+-]*+@([A-Za-z0-9-]++(?:\.[A-Za-z0-9-]++)+)")
_QQ = re.compile(r"(?<![A-Za-z])([Qq]{2}|扣扣|企鹅)(号码?)?([\s:：]{0,3})(\d{5,11})(?!\d)")
_WECHAT = re.compile(
    r"(?:(?<![A-Za-z])(?:[vVwW][xX]|[Ww]ei[Xx]in|[Ww]e[Cc]hat)|微信|威信|薇信|[vV]信)(号码?|ID|id)?([\s:：]{0,3})"
    r"([A-Za-z][A-Za-z0-9_-]{5,19}+)(?![A-Za-z0-9_-])"
    r"|(?<![A-Za-z0-9_-])(wxid_)([A-Za-z0-9_-]{4,}+)"
)
_PROVINCES = "京津沪渝冀豫云辽黑湘皖鲁新苏浙赣鄂桂甘晋蒙陕吉闽贵粤青藏川宁琼"
_PLATE_LETTERS = "A-HJ-NP-Za-hj-np-z"
_PLATE = re.compile(
    rf"([{_PROVINCES}][{_PLATE_LETTERS}])([·•.\s]?)([{_PLATE_LETTERS}0-9]{{4,5}}[{_PLATE_LETTERS}0-9挂学警]?)"
    r"(?![A-Za-z0-9])"
)
_PLATE_MIN_DIGITS = 3
# House-number level: the number after a road/lane, building/unit/room numbers, and an estate's
# building-unit-room written with dashes.
_STREET_NUMBER = re.compile(r"([路街道巷弄里村]|胡同|大道)(\d++(?:[-－之]\d++)?)(号)")
_BUILDING = re.compile(r"(?<!\d)(\d++)(号楼|栋|幢)(?:(\d++)(单元))?(?:(\d++)(室|户|号|房)?)?")
_ROOM = re.compile(r"(单元)(\d++)(室|户|号|房)?")
_ESTATE = "小区|花园|家园|公寓|新村|社区|大厦|山庄|庄园|苑|府|院"
_DASHED_ROOM = re.compile(
    rf"(?:({_ESTATE}|家住|住在)\s?)(\d{{1,3}}(?:[-－]\d{{1,4}}){{2}}|\d{{1,3}}[-－]\d{{3,4}})(?![\d\-－])"
    r"|(?<![\d\-－])(\d{1,3}(?:[-－]\d{1,4}){1,2})(室|户|房)"
)
_ROOM_MIN_DIGITS = 3


def _luhn_ok(digits: str) -> bool:
    total = 0
    for position, char in enumerate(reversed(digits)):
        value = int(char)
        if position % 2 == 1:
            value *= 2
            if value > 9:
                value -= 9
        total += value
    return total % 10 == 0


def _stars(text: str) -> str:
    return MASK * len(text)


def _digits_only(text: str) -> str:
    return "".join(char for char in text if char.isdigit())


def _mask_id_card(match: re.Match[str]) -> str:
    number = "".join(char for char in match.group(0) if char not in " -")
    if not _ID_NUMBER.fullmatch(number):
        return match.group(0)
    return number[:4] + _stars(number[4:-4]) + number[-4:]


def _phone_separators_ok(written: str) -> bool:
    """No separator, separators only between the 3-4-4 groups, or the same one between every digit:
    '1.3 1.4 1.5 …' (a row of figures) is not a phone number."""
    gaps = re.split(r"\d", written)[1:-1]
    if not any(gaps):
        return True
    if all(gap == "" for position, gap in enumerate(gaps) if position not in (2, 6)):
        return True
    return len(set(gaps)) == 1


def _mask_mobile(match: re.Match[str]) -> str:
    if not _phone_separators_ok(match.group(1)):
        return match.group(0)
    digits = _digits_only(match.group(1))
    return f"{digits[:3]}****{digits[-4:]}"


def _mask_landline(match: re.Match[str]) -> str:
    start = match.start()
    before = match.string[max(0, start - _LANDLINE_CONTEXT):start]
    before = _CLAUSE_END.split(before)[-1]
    if _PUBLIC_LINE.search(before) and not _PRIVATE_LINE.search(before):
        return match.group(0)
    area, separator, middle = match.group(1), match.group(2), match.group(3)
    extension = match.group(0)[match.end(4) - match.start(0):]
    return f"{area}{separator or '-'}{_stars(middle)}{match.group(4)}{extension}"


def _mask_bank_card(match: re.Match[str]) -> str:
    card = match.group(0)
    digits = _digits_only(card)
    if not 16 <= len(digits) <= 19:
        return card
    before = match.string[max(0, match.start() - _CARD_CONTEXT):match.start()]
    is_card = (_DOMESTIC_CARD.match(digits) or _luhn_ok(digits)
               or (_FOREIGN_CARD.match(digits) and (card != digits or _CARD_WORDS.search(before))))
    if not is_card:
        return card
    return _stars(digits[:-4]) + digits[-4:]


def _mask_email(match: re.Match[str]) -> str:
    return f"{match.group(1)}***@{match.group(2)}"


def _mask_qq(match: re.Match[str]) -> str:
    label, suffix, separator, number = match.groups()
    return f"{label}{suffix or ''}{separator}{number[0]}{_stars(number[1:-2])}{number[-2:]}"


def _mask_wechat(match: re.Match[str]) -> str:
    if match.group(4):  # wxid_…
        return f"{match.group(4)}{_stars(match.group(5))}"
    whole, account = match.group(0), match.group(3)
    return f"{whole[:match.start(3) - match.start()]}{account[0]}{_stars(account[1:])}"


def _mask_plate(match: re.Match[str]) -> str:
    rest = match.group(3)
    if sum(char.isdigit() for char in rest) < _PLATE_MIN_DIGITS:
        return match.group(0)
    return f"{match.group(1)}{match.group(2)}{_stars(rest[:-2])}{rest[-2:]}"


def _mask_street_number(match: re.Match[str]) -> str:
    return f"{match.group(1)}{_stars(match.group(2))}{match.group(3)}"


def _mask_building(match: re.Match[str]) -> str:
    # "3栋" alone is as likely a count of buildings as an address; 号楼 always is an address.
    # A bare number after the building is a room only when it is as long as one (501, 1502).
    building, label, unit, unit_label, room, room_label = match.groups()
    if room and not room_label and len(room) < _ROOM_MIN_DIGITS:
        if label != "号楼" and not unit:
            return match.group(0)
        return _mask_building_parts(building, label, unit, unit_label, None, None) + room
    if label != "号楼" and not (unit or room):
        return match.group(0)
    return _mask_building_parts(building, label, unit, unit_label, room, room_label)


def _mask_building_parts(building: str, label: str, unit: str | None, unit_label: str | None,
                         room: str | None, room_label: str | None) -> str:
    parts = [_stars(building), label]
    if unit:
        parts += [_stars(unit), unit_label or ""]
    if room:
        parts += [_stars(room), room_label or ""]
    return "".join(parts)


def _mask_room(match: re.Match[str]) -> str:
    label, room, room_label = match.groups()
    if not room_label and len(room) < _ROOM_MIN_DIGITS:
        return match.group(0)
    return f"{label}{_stars(room)}{room_label or ''}"


def _mask_dashed_room(match: re.Match[str]) -> str:
    if match.group(3):  # 26-2-2501室
        return re.sub(r"\d", MASK, match.group(3)) + match.group(4)
    return match.group(0)[:match.start(2) - match.start()] + re.sub(r"\d", MASK, match.group(2))


# What each rule's matches must contain: a text without it skips the rule's pass (a scan for one of a few
# characters is far cheaper than a rule's own scan, which tries its look-behinds and alternatives at every
# position). Broader than the rules where that makes the scan cheaper: a rule run on a text it finds nothing
# in changes nothing. Masks never add a digit, an "@", a latin letter or a label (vx, QQ, 号楼), so checking the
# text once, before any rule, suffices.
_DIGIT = re.compile(r"\d")  # the rules' \d: any Unicode decimal digit
_LATIN = re.compile(r"[A-Za-z]")
# What every rule needs one of, before full-width digits and letters are read as ASCII (full-width digits are \d).
_DIGIT_LATIN_OR_AT = re.compile(r"[\dA-Za-z@\uff21-\uff3a\uff41-\uff5a]")
_EMAIL_DOMAIN = re.compile(r"@[A-Za-z0-9-]++\.")  # a mention (@菏泽发布) has none
# ID numbers, cards, mobiles (11) and landlines (10) have as many. Matched from the start, one pass over the text:
# searched for as \d(?:\D*+\d){9}, it scanned the rest of the text again from each of a few digits.
_TEN_DIGITS = re.compile(r"(?:\D*+\d){10}")
_QQ_LABEL = re.compile(r"[Qq扣企][Qq扣鹅]")  # QQ, qq, 扣扣, 企鹅
_WECHAT_LABEL = re.compile(r"[vVwW微威薇][xXe信]")  # vx, wx(id_), WeiXin, WeChat, 微信, 威信, 薇信, v信
_DASHED_DIGITS = re.compile(r"\d[-－]\d")
_BUILDING_LABEL = re.compile(r"[楼栋幢]")


def _has_ten_digits(text: str) -> bool:
    return _TEN_DIGITS.match(text) is not None


def _has_dashed_digits(text: str) -> bool:
    # A dash is looked for first (str's own search): most texts have none, and the pattern tries every digit.
    return ("-" in text or "－" in text) and _DASHED_DIGITS.search(text) is not None


def _has_number_sign(text: str) -> bool:
    return "号" in text


def _has_unit(text: str) -> bool:
    return "单元" in text


# Order matters: e-mail first (a QQ mail is an address); ID numbers before bank cards (both are
# long digit runs); cards before phones; addresses last, once no phone digits are left.
# Each rule with what its matches need: every test of the tuple must find something in the text.
_Rule = tuple[re.Pattern[str], Callable[[re.Match[str]], str], tuple[Callable[[str], object], ...]]
_RULES: tuple[_Rule, ...] = (
    (_EMAIL, _mask_email, (_EMAIL_DOMAIN.search,)),
    (_ID_CANDIDATE, _mask_id_card, (_DIGIT.search, _has_ten_digits)),
    (_CARD_CANDIDATE, _mask_bank_card, (_DIGIT.search, _has_ten_digits)),
    (_MOBILE, _mask_mobile, (_DIGIT.search, _has_ten_digits)),
    (_LANDLINE, _mask_landline, (_DIGIT.search, _has_ten_digits)),
    (_QQ, _mask_qq, (_DIGIT.search, _QQ_LABEL.search)),
    (_WECHAT, _mask_wechat, (_LATIN.search, _WECHAT_LABEL.search)),
    (_PLATE, _mask_plate, (_LATIN.search,)),
    (_DASHED_ROOM, _mask_dashed_room, (_DIGIT.search, _has_dashed_digits)),
    (_BUILDING, _mask_building, (_DIGIT.search, _BUILDING_LABEL.search)),
    (_ROOM, _mask_room, (_DIGIT.search, _has_unit)),
    (_STREET_NUMBER, _mask_street_number, (_DIGIT.search, _has_number_sign)),
)


def mask_personal_data(text: str) -> str:
    """`text` with personal data replaced by partial masks; masking twice changes nothing.
    Full-width digits and letters come back as ASCII."""
    if not text or _DIGIT_LATIN_OR_AT.search(text) is None:  # nothing to mask, nothing full-width to read
        return text
    text = _FULLWIDTH_RUN.sub(lambda run: run.group().translate(_FULLWIDTH), text)
    found: dict[Callable[[str], object], bool] = {}  # each test of the needs run once, on first need
    for pattern, replace, needs in _RULES:
        for need in needs:
            present = found.get(need)
            if present is None:
                present = found[need] = bool(need(text))
            if not present:
                break
        else:
            text = pattern.sub(replace, text)
    return text


# Extra values that are identifiers of public documents, never personal data.
UNMASKED_METADATA = frozenset({"索引号", "发文字号", "成文日期", "发布日期", "回复时间", "政策解读"})


def _mask_value(value: Any) -> Any:
    if isinstance(value, str):
        # Link targets stay as they are: masking digits inside a URL would break it.
        return value if value.startswith(("http://", "https://")) else mask_personal_data(value)
    if isinstance(value, list):
        return [_mask_value(item) for item in value]
    if isinstance(value, dict):
        return {key: (item if key == "url" else _mask_value(item)) for key, item in value.items()}
    return value


def mask_metadata(extra: dict[str, Any]) -> dict[str, Any]:
    """A post's free-text metadata masked (a board's 回复内容 may hold a phone number); document
    identifiers (索引号, 发文字号, dates) and links stay as they are."""
    return {key: (value if key in UNMASKED_METADATA else _mask_value(value)) for key, value in extra.items()}


# -- author names -------------------------------------------------------------------------------

# Platforms whose author field carries what people typed into a form, real names included
# (留言板); elsewhere it is a screen name or an outlet, public by the author's choice.
REAL_NAME_PLATFORMS = frozenset({"board"})
# The commonest surnames (about 90% of the population), compound ones first.
_COMPOUND_SURNAMES = "欧阳|司马|上官|诸葛|东方|皇甫|尉迟|公孙|慕容|长孙|宇文|司徒|夏侯|令狐|端木|独孤"
_SURNAMES = (
    "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗郑梁谢宋唐许韩冯邓曹彭曾肖田董袁潘于蒋蔡余杜叶程苏魏吕丁任沈"
    "姚卢姜崔钟谭陆汪范金石廖贾夏韦付方白邹孟熊秦邱江尹薛闫段雷侯龙史陶黎贺顾毛郝龚邵万钱严覃武戴莫孔向汤"
    "常温康施文牛樊葛邢安齐易乔伍庞颜倪庄聂章鲁岳翟殷詹申欧耿关兰焦俞左柳甘祝包宁尚符舒阮柯纪梅童凌毕单季"
    "裴霍涂成苗谷盛曲翁冉骆蓝路游辛靳管柴蒙鲍华喻祁蒲房滕屈饶解牟艾尤阳时穆农司卓古吉缪简车项连芦麦褚娄窦"
    "戚岑景党宫费卜冷晏席卫米柏宗瞿桂全佟应臧闵苟邬边卞姬师和仇栾隋商刁沙荣巫寇桑郎甄丛仲虞敖巩明佘池查麻"
    "苑迟邝"
)
_REAL_NAME = re.compile(rf"(?:{_COMPOUND_SURNAMES}|[{_SURNAMES}])[\u4e00-\u9fff]{{1,2}}")
# Forms that name nobody: 张先生, 王女士, 李某, 市民, and organisations.
_NOT_A_PRIVATE_NAME = re.compile(
    r"先生|女士|小姐|老师|师傅|阿姨|大爷|大妈|大姐|大哥|同志|网友|市民|居民|群众|业主|家长|某"
    r"|媒体|官方|政务|发布|新闻|日报|晚报|电视|广播|网|局|委|办|厅|院|政府|中心|公安|法院|街道|社区|公司|集团|协会"
)


def mask_author_name(name: str | None, platform: str, *, verified: bool = False) -> str | None:
    """The author field as it may be shown: personal data in it masked as in the text (a phone
    number used as a name), and a private person's full name on a real-name platform reduced to
    the surname ('李**'). Verified accounts, screen names, organisations and 张先生-style forms stay."""
    if not name:
        return name
    masked = mask_personal_data(name)
    if verified or platform not in REAL_NAME_PLATFORMS:
        return masked
    stripped = masked.strip()
    if _REAL_NAME.fullmatch(stripped) and not _NOT_A_PRIVATE_NAME.search(stripped):
        given = 2 if stripped[:2] in _COMPOUND_SURNAMES.split("|") else 1
        return stripped[:given] + _stars(stripped[given:])
    return masked
