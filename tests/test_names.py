"""One vocabulary: each status, platform, tone and source kind has one Chinese name, defined once."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from spiders.registry import load_kinds, register_kind
from yuqing.config.datafiles import Source
from yuqing.schema import AlertStatus, Platform, SentimentLabel
from yuqing.schema.names import PLATFORM_NAMES, SENTIMENT_NAMES, SOURCE_KIND_NAMES, STATUS_NAMES


@pytest.mark.parametrize(("names", "values"), [
    (STATUS_NAMES, set(AlertStatus)), (PLATFORM_NAMES, set(Platform)),
    (SENTIMENT_NAMES, {*SentimentLabel, "unknown"}),
])
def test_every_value_has_one_distinct_name(names: dict[str, str], values: set[str]) -> None:
    assert set(names) == values
    assert len(set(names.values())) == len(names)


def test_the_named_source_kinds_are_the_kinds_with_spiders_and_the_kinds_sources_accept() -> None:
    assert set(load_kinds()) == set(SOURCE_KIND_NAMES)
    for kind in SOURCE_KIND_NAMES:
        assert Source(name="s", kind=kind).kind == kind
    with pytest.raises(ValidationError, match="unknown kind 'telegram'; expected one of 'rss', 'news'"):
        Source(name="s", kind="telegram")


def test_a_spider_cannot_register_a_kind_the_vocabulary_does_not_name() -> None:
    with pytest.raises(ValueError, match="telegram"):
        register_kind("telegram")
