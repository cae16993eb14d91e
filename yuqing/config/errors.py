"""User errors: a bad file or setting gets one clear message and exit code 2, no traceback."""

from __future__ import annotations

import re
from pathlib import Path

from pydantic import ValidationError


class ConfigError(Exception):
    """A user-fixable problem in a configuration or data file."""

    exit_code = 2

    def __init__(self, source: str | Path, where: str, expected: str) -> None:
        self.source = str(source)
        self.where = where
        self.expected = expected
        super().__init__(self.message)

    @property
    def message(self) -> str:
        where = f" {self.where}:" if self.where else ""
        return f"配置错误 (config error) in {self.source}:{where} {self.expected}"


def _location(loc: tuple[int | str, ...]) -> str:
    parts: list[str] = []
    for item in loc:
        if isinstance(item, int):
            parts.append(f"[{item}]")
        else:
            parts.append(("." if parts else "") + str(item))
    return "".join(parts)


# Keys whose values are never echoed in a message, and credentials inside a URL or a key=value string.
_SECRET_KEYS = ("password", "api_key", "cookie", "secret", "token")
_CREDENTIALS = re.compile(r"(://[^:/@\s]*:)[^@\s]*@|(password\s*=\s*)[^\s'\"]+", re.IGNORECASE)


def _shown(loc: tuple[int | str, ...], value: object) -> str:
    """`value` as a message may show it: a secret's hidden, a URL's password masked."""
    if any(isinstance(part, str) and any(key in part.lower() for key in _SECRET_KEYS) for part in loc):
        return "'**********'"
    return _CREDENTIALS.sub(lambda m: f"{m[1]}**********@" if m[1] else f"{m[2]}**********", repr(value))


def from_validation_error(source: str | Path, error: ValidationError, prefix: str = "") -> ConfigError:
    """Turn pydantic's report into one message naming the key and what is expected."""
    first = error.errors()[0]
    where = _location(tuple(first["loc"]))
    if prefix:
        where = f"{prefix}.{where}" if where and not where.startswith("[") else f"{prefix}{where}"
    more = len(error.errors()) - 1
    expected = first["msg"]
    if "input" in first and first["type"] != "missing":
        expected += f" (got {_shown(tuple(first['loc']), first['input'])})"
    if more:
        expected += f"; and {more} more problem{'s' if more > 1 else ''}"
    return ConfigError(source, where, expected)
