"""Mask personal data before anything is indexed or sent: a pure, idempotent text function.

What is masked: mainland mobile numbers, landline numbers with an area code, 18/15-digit
resident ID numbers, bank-card numbers (Luhn-checked, so 索引号 and order numbers survive),
e-mail addresses, vehicle licence plates and house-number-level address parts (路…号,
…号楼…单元…室). Masks keep a short prefix/suffix so an analyst still sees what kind of datum
was there ("138****5678"), and never contain digits that a second pass could match again.
"""

from __future__ import annotations

import re
from collections.abc import Callable

MASK = "*"

# Digits must not run on from a neighbouring digit or latin letter (order numbers, hashes).
_NOT_AFTER = r"(?<![0-9A-Za-z])"
_NOT_BEFORE = r"(?![0-9A-Za-z])"

_ID_CARD = re.compile(
    _NOT_AFTER
    + r"(?:[1-9]\d{5}(?:18|19|20)\d{2}(?:0[1-9]|1[0-2])(?:0[1-9]|[12]\d|3[01])\d{3}[\dXx]"
    + r"|[1-9]\d{5}\d{2}(?:0[1-9]|1[0-2])(?:0[1-9]|[12]\d|3[01])\d{3})"
    + _NOT_BEFORE
)
_MOBILE = re.compile(_NOT_AFTER + r"(?:\+?86[\s-]?)?(1[3-9]\d)[\s-]?(\d{4})[\s-]?(\d{4})" + _NOT_BEFORE)
_LANDLINE = re.compile(
    _NOT_AFTER + r"(\(?0\d{2,3}\)?)([\s-]?)(\d{3,4})[\s-]?(\d{4})(?:[-转](\d{1,5}))?" + _NOT_BEFORE
)
_BANK_CARD = re.compile(_NOT_AFTER + r"((?:62|4\d|5[1-5]|3[47])\d{2}(?:[\s-]?\d{4}){2,3}(?:[\s-]?\d{1,3})?)" + _NOT_BEFORE)
_EMAIL = re.compile(r"([A-Za-z0-9._%+-])[A-Za-z0-9._%+-]*@([A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)+)")
_PROVINCES = "京津沪渝冀豫云辽黑湘皖鲁新苏浙赣鄂桂甘晋蒙陕吉闽贵粤青藏川宁琼"
_PLATE = re.compile(
    rf"([{_PROVINCES}][A-HJ-NP-Z])([·•.\s]?)([A-HJ-NP-Z0-9]{{4,5}}[A-HJ-NP-Z0-9挂学警]?)(?![A-Za-z0-9])"
)
# House-number level: the number after a road/lane, and building/unit/room numbers.
_STREET_NUMBER = re.compile(r"([路街道巷弄里村]|胡同|大道)(\d+(?:[-－之]\d+)?)(号)")
_BUILDING = re.compile(r"(\d+)(号楼|栋|幢)(?:(\d+)(单元))?(?:(\d+)(室|户|号))?")
_ROOM = re.compile(r"(单元)(\d+)(室|户|号)")


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


def _mask_id_card(match: re.Match[str]) -> str:
    number = match.group(0)
    return number[:4] + _stars(number[4:-4]) + number[-4:]


def _mask_mobile(match: re.Match[str]) -> str:
    return f"{match.group(1)}****{match.group(3)}"


def _mask_landline(match: re.Match[str]) -> str:
    area, separator, middle = match.group(1), match.group(2), match.group(3)
    extension = match.group(0)[match.end(4) - match.start(0):]
    return f"{area}{separator or '-'}{_stars(middle)}{match.group(4)}{extension}"


def _mask_bank_card(match: re.Match[str]) -> str:
    card = match.group(1)
    digits = re.sub(r"\D", "", card)
    if not 16 <= len(digits) <= 19 or not _luhn_ok(digits):
        return card
    return _stars(digits[:-4]) + digits[-4:]


def _mask_email(match: re.Match[str]) -> str:
    return f"{match.group(1)}***@{match.group(2)}"


def _mask_plate(match: re.Match[str]) -> str:
    rest = match.group(3)
    return f"{match.group(1)}{match.group(2)}{_stars(rest[:-2])}{rest[-2:]}"


def _mask_street_number(match: re.Match[str]) -> str:
    return f"{match.group(1)}{_stars(match.group(2))}{match.group(3)}"


def _mask_building(match: re.Match[str]) -> str:
    # "3栋" alone is as likely a count of buildings as an address; 号楼 always is an address.
    if match.group(2) != "号楼" and not (match.group(3) or match.group(5)):
        return match.group(0)
    parts = [_stars(match.group(1)), match.group(2)]
    for number, label in ((match.group(3), match.group(4)), (match.group(5), match.group(6))):
        if number:
            parts += [_stars(number), label]
    return "".join(parts)


def _mask_room(match: re.Match[str]) -> str:
    return f"{match.group(1)}{_stars(match.group(2))}{match.group(3)}"


# What each rule's matches must contain: a text without it skips the rule's pass. Masks never
# add a digit, an "@" or a capital letter, so checking the text once, before any rule, suffices.
_DIGIT = re.compile(r"\d")  # the rules' \d: any Unicode decimal digit, full-width ones too
_PLATE_LETTER = re.compile(r"[A-HJ-NP-Z]")

# Order matters: ID numbers before bank cards (both are long digit runs), cards before phones.
_RULES: tuple[tuple[re.Pattern[str], Callable[[re.Match[str]], str], str], ...] = (
    (_EMAIL, _mask_email, "at"),
    (_ID_CARD, _mask_id_card, "digit"),
    (_BANK_CARD, _mask_bank_card, "digit"),
    (_MOBILE, _mask_mobile, "digit"),
    (_LANDLINE, _mask_landline, "digit"),
    (_PLATE, _mask_plate, "letter"),
    (_BUILDING, _mask_building, "digit"),
    (_ROOM, _mask_room, "digit"),
    (_STREET_NUMBER, _mask_street_number, "digit"),
)


def mask_personal_data(text: str) -> str:
    """`text` with personal data replaced by partial masks; masking twice changes nothing."""
    if not text:
        return text
    present = {
        "at": "@" in text,
        "digit": _DIGIT.search(text) is not None,
        "letter": _PLATE_LETTER.search(text) is not None,
    }
    for pattern, replace, needs in _RULES:
        if present[needs]:
            text = pattern.sub(replace, text)
    return text
