"""Kinds of source by name: each kind is a spider class plus the pydantic model of its params.

The kinds are those named in `yuqing.schema.names.SOURCE_KIND_NAMES`; kind `k` is the spider class
that `spiders/<k>.py` registers on import with `@register_kind("k")`. `resolve(source)` validates a
source's params against its kind's model and raises `ConfigError` naming the entry and key.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from pydantic import ValidationError

from spiders.base import KindParams, YuqingSpider
from yuqing.config.datafiles import Source
from yuqing.config.errors import ConfigError, from_validation_error
from yuqing.schema.names import SOURCE_KIND_NAMES


@dataclass(frozen=True)
class Kind:
    name: str
    spider: type[YuqingSpider]
    params: type[KindParams]


KINDS: dict[str, Kind] = {}

SpiderClass = type[YuqingSpider]


def register_kind(name: str) -> Callable[[SpiderClass], SpiderClass]:
    """Class decorator: register a spider class (with its `params_model`) as kind `name`."""

    if name not in SOURCE_KIND_NAMES:
        raise ValueError(f"source kind {name!r} is not named in yuqing.schema.names.SOURCE_KIND_NAMES")

    def decorate(spider: SpiderClass) -> SpiderClass:
        spider.kind = name
        KINDS[name] = Kind(name=name, spider=spider, params=spider.params_model)
        return spider

    return decorate


def load_kinds() -> dict[str, Kind]:
    """Import the module of every kind; returns the registry."""
    for kind in SOURCE_KIND_NAMES:
        importlib.import_module(f"spiders.{kind}")
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
