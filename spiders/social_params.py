"""Parameters the page-walking social kinds (board, forum) share: where to start, how far to go."""

from __future__ import annotations

from pydantic import Field, field_validator

from spiders.base import KindParams


def check_http_url(url: str) -> str:
    if not url.startswith(("http://", "https://")):
        raise ValueError(f"not an http(s) URL: {url!r}")
    return url


class StartPagesParams(KindParams):
    start_urls: list[str] = Field(min_length=1, description="listing pages")
    max_pages: int = Field(default=3, ge=1, description="listing pages per start URL, the first included")

    @field_validator("start_urls")
    @classmethod
    def _http_urls(cls, urls: list[str]) -> list[str]:
        return [check_http_url(url) for url in urls]
