"""Scrapy spiders, one kind per kind of source; see `spiders.base` and `spiders.registry`."""
