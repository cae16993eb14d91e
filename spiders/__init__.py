"""Scrapy spiders, one kind per kind of source, configured from the sources file.

- `spiders.base`: `YuqingSpider` (one instance crawls one `Source`), `KindParams`, `CrawlContext`,
  `SourceStats`, `classify_failure`. Helpers every kind uses: `fetch` (failures counted),
  `problem(reason, url)`, `found()`, `should_fetch(url)` / `new_item_urls(urls)` (seen-store,
  revisit window for kinds with `revisits = True`), `html(response)` (GBK-safe decoding; empty
  pages, login walls and captchas counted), `json(response)` ('bad_json' counted), `post_item(...)`.
- `spiders.registry`: `@register_kind(name)` on a spider class with its `params_model`;
  `resolve(source, file)` validates params (ConfigError naming entry and key); `load_kinds()`.
- Kinds here: `rss`, `news`, `gov_policy`; `weibo`, `board`, `forum` live in their own modules.
- `spiders.extract`: `extract_article(html, url, selectors) -> Article` and the `ExtractionPool`.
- `spiders.parsing`: pure helpers (`decode_page`, `parse_datetime`, `find_published_at`,
  `url_allowed`, `page_problem`, ...).
- `spiders.runner`: `crawl(settings, sources, wiring) -> list[CrawlHealth]` (once per process:
  Scrapy's reactor cannot restart) and `crawl_in_subprocess(...)` for repeated runs in one program;
  the item pipelines and the publisher are handed in (`workers.crawl` wires the project's own).
"""
