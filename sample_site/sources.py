"""The demo's data files, pointed at a running sample site.

`sample_site/sources.yaml` writes every URL with a `{site}` placeholder for the base URL; the
policy registry (`yuqing/config/data/policies.yaml`) writes the site's URLs at the default port
`DEFAULT_PORT`, which `policies_for` moves to wherever the site really runs.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pydantic import ValidationError

from yuqing.config.datafiles import Source, load_policies, read_yaml_mapping
from yuqing.config.errors import ConfigError, from_validation_error
from yuqing.config.settings import DEFAULT_DATA
from yuqing.schema import Policy

HERE = Path(__file__).resolve().parent
SOURCES_FILE = HERE / "sources.yaml"
WATCHLISTS_FILE = HERE / "watchlists.yaml"
POLICIES_FILE = DEFAULT_DATA / "policies.yaml"
DEFAULT_PORT = 18620  # the port `yuqing demo` serves the site on (yuqing.cli.commands.demo.DEMO_PORT)
DEFAULT_BASE = f"http://127.0.0.1:{DEFAULT_PORT}"
PLACEHOLDER = "{site}"


def _substitute(value: Any, base_url: str) -> Any:
    if isinstance(value, str):
        return value.replace(PLACEHOLDER, base_url)
    if isinstance(value, list):
        return [_substitute(item, base_url) for item in value]
    if isinstance(value, dict):
        return {key: _substitute(item, base_url) for key, item in value.items()}
    return value


def sources_for(base_url: str, path: Path = SOURCES_FILE) -> list[Source]:
    """The demo's crawl sources with `{site}` replaced by `base_url` (e.g. http://127.0.0.1:41234)."""
    base_url = base_url.rstrip("/")
    entries = read_yaml_mapping(path).get("sources")
    if not isinstance(entries, list):
        raise ConfigError(path, "sources", "expected a list of entries under 'sources'")
    sources: list[Source] = []
    for number, entry in enumerate(entries):
        try:
            sources.append(Source.model_validate(_substitute(entry, base_url)))
        except ValidationError as exc:
            raise from_validation_error(path, exc, prefix=f"sources[{number}]") from exc
    names = [source.name for source in sources]
    duplicates = sorted({name for name in names if names.count(name) > 1})
    if duplicates:
        raise ConfigError(path, "sources", f"duplicate source names {duplicates}; each must be unique")
    return sources


def policies_for(base_url: str, path: Path = POLICIES_FILE) -> list[Policy]:
    """The policy registry with its sample-site URLs moved from the default port to `base_url`."""
    base_url = base_url.rstrip("/")

    def moved(url: str | None) -> str | None:
        if url and url.startswith(DEFAULT_BASE):
            return base_url + url[len(DEFAULT_BASE) :]
        return url

    return [
        policy.model_copy(
            update={"url": moved(policy.url), "interpretation_url": moved(policy.interpretation_url)}
        )
        for policy in load_policies(path)
    ]
