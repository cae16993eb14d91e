"""Parameters the page-walking social kinds (board, forum) share: where to start, how far to go."""

from __future__ import annotations

from pydantic import Field

from spiders.base import HttpUrl, KindParams


class StartPagesParams(KindParams):
    start_urls: list[HttpUrl] = Field(min_length=1, description="listing pages")
    max_pages: int = Field(default=3, ge=1, description="listing pages per start URL, the first included")
