"""The data files users edit: sources, policies, watchlists, the gazetteer (alert rules live with `alerts/`).

Each file is YAML with one top-level key holding a list; every entry is validated and a problem
is reported once, naming the file, the entry and the key.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any, TypeVar

import yaml
from pydantic import AfterValidator, BaseModel, ConfigDict, Field, ValidationError, field_validator

from yuqing.config.errors import ConfigError, from_validation_error
from yuqing.schema import Policy
from yuqing.schema.names import SOURCE_KIND_NAMES

# libyaml's parser when PyYAML was built with it: the same safe subset, several times faster.
SAFE_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)

Model = TypeVar("Model", bound=BaseModel)



def _known_kind(kind: str) -> str:
    if kind not in SOURCE_KIND_NAMES:
        raise ValueError(f"unknown kind {kind!r}; expected one of {', '.join(map(repr, SOURCE_KIND_NAMES))}")
    return kind


# A kind registered in `yuqing.schema.names.SOURCE_KIND_NAMES`.
SourceKind = Annotated[str, AfterValidator(_known_kind)]


class Source(BaseModel):
    """A place Yuqing crawls: a kind plus its parameters. A new site of a known kind is data only."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, pattern=r"^[\w\-.]+$")
    kind: SourceKind
    title: str | None = Field(default=None, description="human name shown in reports, e.g. 菏泽市人民政府")
    enabled: bool = True
    obey_robots: bool | None = None  # None: the crawl setting decides
    params: dict[str, Any] = Field(default_factory=dict)


class Watchlist(BaseModel):
    """Terms whose volume and tone analysis tracks, optionally tied to places or policies."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1)
    terms: list[str] = Field(min_length=1)
    context: list[str] = Field(default_factory=list)
    places: list[str] = Field(default_factory=list)
    policies: list[str] = Field(default_factory=list)

    @field_validator("terms")
    @classmethod
    def _no_blank_terms(cls, terms: list[str]) -> list[str]:
        if any(not t.strip() for t in terms):
            raise ValueError("terms must not be blank")
        return terms


# Values a data file may hold once its aliases are expanded. The biggest real file (a city's
# policies) holds tens of thousands; nine levels of nine aliases ("billion laughs") hold 387
# million, which would hang whatever walks them next.
MAX_EXPANDED_VALUES = 1_000_000


def _expanded_size(data: Any, path: Path) -> int:
    """How many values `data` holds with every alias expanded, computed once per shared node;
    ConfigError past MAX_EXPANDED_VALUES or for an alias that contains itself."""
    sizes: dict[int, int] = {}
    open_nodes: set[int] = set()

    def size(node: Any) -> int:
        if not isinstance(node, dict | list):
            return 1
        key = id(node)
        if key in sizes:
            return sizes[key]
        if key in open_nodes:
            raise ConfigError(path, "", "a YAML alias refers to itself (an endless structure)")
        open_nodes.add(key)
        total = 1
        for item in (node.values() if isinstance(node, dict) else node):
            total += size(item)
            if total > MAX_EXPANDED_VALUES:
                raise ConfigError(path, "", f"YAML aliases expand to more than {MAX_EXPANDED_VALUES:,} values "
                                            "(an alias bomb?); write the values out instead")
        open_nodes.discard(key)
        sizes[key] = total
        return total

    return size(data)


class _Entry(BaseModel):
    model_config = ConfigDict(extra="forbid")


class PlaceEntry(_Entry):
    name: str = Field(min_length=1)
    level: str = "town"
    aliases: list[str] = Field(default_factory=list)
    places: list[PlaceEntry] = Field(default_factory=list)


class CityEntry(PlaceEntry):
    level: str = "city"
    province: str | None = None


class DepartmentEntry(_Entry):
    name: str = Field(min_length=1, description="short name shown to users, e.g. 市住建局")
    full_name: str | None = None
    aliases: list[str] = Field(default_factory=list)
    topics: list[str] = Field(default_factory=list, description="words that make a post this department's business")


class GazetteerFile(_Entry):
    city: CityEntry
    departments: list[DepartmentEntry] = Field(default_factory=list)


def read_yaml_mapping(path: Path) -> dict[str, Any]:
    """Read a YAML file that must hold a mapping; errors name the file and line. A file whose
    aliases expand beyond MAX_EXPANDED_VALUES, or loop, is refused before anything walks it."""
    try:
        text = Path(path).read_text(encoding="utf-8")
    except FileNotFoundError as exc:
        raise ConfigError(path, "", "file not found") from exc
    except UnicodeDecodeError as exc:
        raise ConfigError(path, "", "file is not UTF-8 text") from exc
    try:
        data = yaml.load(text, Loader=SAFE_LOADER)
        _expanded_size(data, path)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"line {mark.line + 1}" if mark else ""
        raise ConfigError(path, where, f"not valid YAML ({getattr(exc, 'problem', exc)})") from exc
    except RecursionError as exc:
        raise ConfigError(path, "", "nested too deeply") from exc
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ConfigError(path, "", "expected a mapping at the top level")
    return data


def load_list(path: Path, key: str, model: type[Model]) -> list[Model]:
    """Load `key: [...]` from a YAML file as a list of `model`, with unique names or ids."""
    data = read_yaml_mapping(path)
    entries = data.get(key, [])
    if not isinstance(entries, list):
        raise ConfigError(path, key, f"expected a list of entries under '{key}'")
    items: list[Model] = []
    for number, entry in enumerate(entries):
        if not isinstance(entry, dict):
            raise ConfigError(path, f"{key}[{number}]", "expected a mapping of keys to values")
        try:
            items.append(model.model_validate(entry))
        except ValidationError as exc:
            label = entry.get("name") or entry.get("id")
            prefix = f"{key}[{number}]" + (f" ({label})" if label else "")
            raise from_validation_error(path, exc, prefix=prefix) from exc
    ident = "name" if "name" in model.model_fields else "id"
    seen: set[str] = set()
    for number, item in enumerate(items):
        value = getattr(item, ident)
        if value in seen:
            raise ConfigError(path, f"{key}[{number}].{ident}", f"duplicate {ident} {value!r}; each must be unique")
        seen.add(value)
    return items


def load_sources(path: Path) -> list[Source]:
    return load_list(path, "sources", Source)


def load_policies(path: Path) -> list[Policy]:
    return load_list(path, "policies", Policy)


def load_watchlists(path: Path) -> list[Watchlist]:
    return load_list(path, "watchlists", Watchlist)


def load_gazetteer_file(path: Path) -> GazetteerFile:
    """Read and validate the gazetteer file; a problem names the file and the key."""
    try:
        return GazetteerFile.model_validate(read_yaml_mapping(path))
    except ValidationError as exc:
        raise from_validation_error(path, exc) from exc
