"""One page fetched outside a crawl (`yuqing extract URL`) under the crawler's own limits.

The crawler's limits are defined here once: Scrapy gets them as DOWNLOAD_TIMEOUT/DOWNLOAD_MAXSIZE
(its compression middleware applies the size to the decompressed body too). A one-off fetch obeys
the same: http(s) only, at most DOWNLOAD_MAXSIZE bytes after decompression (a 0.5 MB gzip bomb
once took 2.2 GB), DOWNLOAD_TIMEOUT seconds in all, and, unless allowed, no loopback or internal
address, at the first hop or after a redirect, so the command cannot be pointed at a service
that only trusts the local network.
"""

from __future__ import annotations

import ipaddress
import socket
import time
from dataclasses import dataclass
from urllib.parse import urljoin, urlsplit

import requests

DOWNLOAD_TIMEOUT = 30  # seconds for the whole page
DOWNLOAD_MAXSIZE = 20 * 1024 * 1024  # bytes after decompression
DOWNLOAD_WARNSIZE = 5 * 1024 * 1024
MAX_REDIRECTS = 5
_CHUNK = 64 * 1024


class FetchError(Exception):
    """The page cannot or may not be fetched; the message says why, in one line."""


@dataclass(frozen=True)
class FetchedPage:
    body: bytes
    content_type: str | None
    url: str


def internal_address(url: str) -> str | None:
    """The loopback, private, link-local or otherwise non-public address `url`'s host resolves to;
    None when every address it resolves to is public. Raises FetchError when it does not resolve."""
    parts = urlsplit(url)
    if parts.scheme.lower() not in ("http", "https") or not parts.hostname:
        raise FetchError(f"not an http(s) URL: {url}")
    try:
        infos = socket.getaddrinfo(parts.hostname, parts.port or None, proto=socket.IPPROTO_TCP)
    except (socket.gaierror, UnicodeError) as exc:
        raise FetchError(f"cannot resolve {parts.hostname} ({exc})") from exc
    for info in infos:
        address: ipaddress.IPv4Address | ipaddress.IPv6Address = ipaddress.ip_address(str(info[4][0]).split("%")[0])
        if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped:
            address = address.ipv4_mapped
        if not address.is_global or address.is_multicast:
            return str(address)
    return None


def fetch_page(url: str, *, user_agent: str, allow_internal: bool = False, max_bytes: int = DOWNLOAD_MAXSIZE,
               timeout: float = DOWNLOAD_TIMEOUT, session: requests.Session | None = None) -> FetchedPage:
    """GET `url` following up to MAX_REDIRECTS redirects, each hop checked; FetchError on any refusal,
    an HTTP error status, a body over `max_bytes` or a fetch over `timeout` seconds."""
    session = session or requests.Session()
    deadline = time.monotonic() + timeout
    for _ in range(MAX_REDIRECTS + 1):
        if not allow_internal and (address := internal_address(url)):
            raise FetchError(f"{url} points to an internal address ({address}); "
                             "pass --allow-private to fetch a local or intranet page")
        try:
            response = session.get(url, headers={"User-Agent": user_agent}, stream=True, allow_redirects=False,
                                   timeout=max(deadline - time.monotonic(), 0.1))
        except requests.RequestException as exc:
            raise FetchError(f"cannot fetch the page ({type(exc).__name__})") from exc
        with response:
            if response.is_redirect and response.headers.get("Location"):
                url = urljoin(url, response.headers["Location"])
                continue
            if response.status_code >= 400:
                raise FetchError(f"the server answered HTTP {response.status_code}")
            return FetchedPage(_bounded_body(response, max_bytes, deadline), response.headers.get("Content-Type"),
                               url)
    raise FetchError(f"more than {MAX_REDIRECTS} redirects")


def _bounded_body(response: requests.Response, max_bytes: int, deadline: float) -> bytes:
    """The decompressed body, read in chunks: refused as soon as it passes `max_bytes` or the
    deadline, so neither a compression bomb nor a trickling server costs more than the limits."""
    declared = response.headers.get("Content-Length", "")
    if declared.isdigit() and int(declared) > max_bytes:
        raise FetchError(f"the page is larger than the crawler's limit of {max_bytes // (1024 * 1024)} MB")
    chunks, size = [], 0
    try:
        for chunk in response.iter_content(_CHUNK):
            size += len(chunk)
            if size > max_bytes:
                raise FetchError(f"the page is larger than the crawler's limit of {max_bytes // (1024 * 1024)} MB "
                                 "once decompressed")
            if time.monotonic() > deadline:
                raise FetchError("the page took longer than the crawler's time limit to download")
            chunks.append(chunk)
    except requests.RequestException as exc:
        raise FetchError(f"cannot fetch the page ({type(exc).__name__})") from exc
    return b"".join(chunks)
