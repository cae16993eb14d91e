"""Kinds of source by name: each kind is a spider class plus the pydantic model of its params.

A kind module registers itself on import with `@register_kind`. `resolve(source)` validates a
source's params against its kind's model and raises `ConfigError` naming the entry and key.
"""

from __future__ import annotations

import importlib
import importlib.util
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from pydantic import ValidationError

from spiders.base import KindParams, YuqingSpider
from yuqing.config.datafiles import Source
from yuqing.config.errors import ConfigError, from_validation_error

# Modules that define kinds; the ones not present in this checkout are skipped.
KIND_MODULES = ("spiders.rss", "spiders.news", "spiders.gov_policy", "spiders.weibo", "spiders.board",
                "spiders.forum")


@dataclass(frozen=True)
class Kind:
    name: str
    spider: type[YuqingSpider]
    params: type[KindParams]


KINDS: dict[str, Kind] = {}

SpiderClass = type[YuqingSpider]


def register_kind(name: str) -> Callable[[SpiderClass], SpiderClass]:
    """Class decorator: register a spider class (with its `params_model`) as kind `name`."""

    def decorate(spider: SpiderClass) -> SpiderClass:
        spider.kind = name
        KINDS[name] = Kind(name=name, spider=spider, params=spider.params_model)
        return spider

    return decorate


def load_kinds() -> dict[str, Kind]:
    """Import every kind module present; returns the registry."""
    for module in KIND_MODULES:
        if importlib.util.find_spec(module):
            importlib.import_module(module)
    return KINDS


def resolve(source: Source, file: str | Path = "sources") -> tuple[Kind, KindParams]:
    """The kind of `source` and its validated params; ConfigError when either is wrong."""
    kinds = load_kinds()
    kind = kinds.get(source.kind)
    if kind is None:
        raise ConfigError(file, f"sources ({source.name}).kind",
                          f"kind {source.kind!r} has no spider in this installation; known: {', '.join(sorted(kinds))}")
    try:
        params = kind.params.model_validate(source.params)
    except ValidationError as exc:
        raise from_validation_error(file, exc, prefix=f"sources ({source.name}).params") from exc
    return kind, params
