"""Secrets out of everything that is written down: log lines, stored delivery errors, stderr.

A robot URL carries its secret in the query (DingTalk `access_token`, WeCom `key`) or in the path
(Feishu's hook token); a request library's error names the URL, its debug log the request line,
and a receiver may echo it back. Whoever reads a secret from the environment calls
`remember_secret`; `redact` then removes it, in whatever piece of it shows up, together with
every secret-named URL parameter and URL password, known or not. `RedactingFilter` applies
`redact` to every log record a handler writes, tracebacks included.
"""

from __future__ import annotations

import logging
import re
import traceback
from urllib.parse import parse_qsl, quote, quote_plus, urlsplit

REDACTED = "***"
# Shorter pieces of a secret URL are words ("send", "open-apis"), not secrets, and replacing them
# everywhere would garble the message. Tokens in a path are long (a UUID, 64 hex digits).
MIN_SECRET_PIECE = 8
MIN_PATH_TOKEN = 16

_SECRET_PARAMETER = re.compile(
    r"(?i)(\b(?:access_token|token|key|sign|signature|secret|password|passwd|pwd|api_?key|auth)=)[^&\s'\"<>#]+"
)
_URL_PASSWORD = re.compile(r"(?i)(\b[a-z][a-z0-9+.-]*://[^/\s:@]+:)[^/\s@]+(@)")


def secret_parts(value: str) -> set[str]:
    """`value` and, when it is a URL, the pieces of it an error message may show on their own:
    the request target (path and query), long path segments (a token in the path) and query values."""
    parts = {value}
    url = urlsplit(value)
    if url.scheme and url.netloc:
        target = url.path + (f"?{url.query}" if url.query else "")
        parts.add(target)
        parts.update(segment for segment in url.path.split("/") if len(segment) >= MIN_PATH_TOKEN)
        parts.update(item for _, item in parse_qsl(url.query) if item)
        if url.password:
            parts.add(url.password)
    # As a query string or a form would carry them, too.
    parts.update({quote(part, safe="") for part in parts} | {quote_plus(part) for part in parts})
    return {part for part in parts if len(part) >= MIN_SECRET_PIECE}


# Every secret this process has read, in its pieces, longest first (a URL before its pieces).
_known: list[str] = []


def remember_secret(value: str) -> None:
    """From now on, `redact` removes `value` (and the pieces of it an error may show)."""
    if value:
        _known[:] = sorted(set(_known) | secret_parts(value), key=len, reverse=True)


def redact(text: str) -> str:
    """`text` with every remembered secret, secret-named URL parameters and URL passwords
    replaced by '***'."""
    for secret in _known:
        if secret in text:
            text = text.replace(secret, REDACTED)
    text = _SECRET_PARAMETER.sub(rf"\1{REDACTED}", text)
    return _URL_PASSWORD.sub(rf"\1{REDACTED}\2", text)


class RedactingFilter(logging.Filter):
    """A handler filter: each record's message and traceback redacted before it is written."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        redacted = redact(message)
        if redacted != message:
            record.msg, record.args = redacted, ()
        if record.exc_info and not record.exc_text:
            record.exc_text = redact("".join(traceback.format_exception(*record.exc_info))).rstrip("\n")
        return True


def redact_logs() -> None:
    """Put a RedactingFilter on every handler of the root logger (call after configuring logging)."""
    for handler in logging.getLogger().handlers:
        if not any(isinstance(f, RedactingFilter) for f in handler.filters):
            handler.addFilter(RedactingFilter())
