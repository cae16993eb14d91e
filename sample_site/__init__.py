"""The bundled sample site: a demo city's portal, newspaper, Weibo-style API, message board and forum
on loopback, with one clear incident for the demo to find.

`SampleSite().start()` serves it; `sources_for(base_url)` gives the crawl sources pointing at it;
`policies_for(base_url)` gives the policy registry with the site's URLs.
"""

from sample_site.server import SampleSite
from sample_site.sources import SOURCES_FILE, WATCHLISTS_FILE, policies_for, sources_for

__all__ = ["SOURCES_FILE", "WATCHLISTS_FILE", "SampleSite", "policies_for", "sources_for"]
