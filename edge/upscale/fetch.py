"""The `image_url` download, safe against server-side request forgery.

`Downloads.get(url)` answers the body (at most MAX_BYTES) or raises DownloadFailed
(state -3) or DownloadTooLarge (-5). Every hop, the first and each redirect (at most
MAX_REDIRECTS), is an http(s) URL whose host passes the AddressPolicy: an IP literal
is checked here, a name by the GuardedResolver at connection time. Downloads use
their own session: no proxy from the environment, no cookies, no connection kept
between downloads, and a resolver that the bucket sources must not have.
"""

from __future__ import annotations

import asyncio
import ipaddress
from functools import partial

import aiohttp
from aiohttp.abc import AbstractResolver
from aiohttp.resolver import ThreadedResolver
from yarl import URL

from edge.streams import CHUNK, read_capped
from edge.upscale.addresses import AddressPolicy, AddressRefused, GuardedResolver
from edge.upscale.errors import DownloadFailed, DownloadTooLarge
from edge.upscale.rules import DOWNLOAD_SECONDS, MAX_BYTES

MAX_REDIRECTS = 3
_REDIRECTS = (301, 302, 303, 307, 308)


class Downloads:
    """Open with `open()` (in the event loop), close with `close()`. Names are resolved by
    `resolver` (getaddrinfo in a thread by default), always through the policy."""

    def __init__(self, policy: AddressPolicy, resolver: AbstractResolver | None = None) -> None:
        self.policy = policy
        self._resolver = resolver
        self._session: aiohttp.ClientSession | None = None

    async def open(self) -> None:
        resolver = GuardedResolver(self.policy, self._resolver or ThreadedResolver())
        connector = aiohttp.TCPConnector(resolver=resolver, use_dns_cache=False, force_close=True, limit=64)
        self._session = aiohttp.ClientSession(connector=connector, trust_env=False,
                                              cookie_jar=aiohttp.DummyCookieJar(),
                                              headers={"User-Agent": "edge-upscale"})

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()

    async def get(self, url: str) -> bytes:
        """The body of `url` after at most MAX_REDIRECTS redirects, within DOWNLOAD_SECONDS in all."""
        try:
            async with asyncio.timeout(DOWNLOAD_SECONDS):
                return await self._follow(URL(url))
        except TimeoutError:
            raise DownloadFailed(f"image_url did not arrive within {DOWNLOAD_SECONDS:g} s") from None

    async def _follow(self, url: URL) -> bytes:
        for _ in range(MAX_REDIRECTS + 1):
            self._check_literal(url)
            try:
                async with self._session.get(url, allow_redirects=False) as response:
                    if response.status in _REDIRECTS and "Location" in response.headers:
                        url = url.join(URL(response.headers["Location"]))
                        continue
                    if response.status != 200:
                        raise DownloadFailed(f"image_url answered HTTP {response.status}")
                    return await _read_capped(response)
            except aiohttp.ClientConnectorError as exc:
                if isinstance(exc.os_error, AddressRefused):
                    raise DownloadFailed(str(exc.os_error)) from None
                raise DownloadFailed(f"image_url could not be reached: {exc.os_error.strerror or exc}") from None
            except ValueError:  # aiohttp's InvalidURL too
                raise DownloadFailed("image_url, or a URL it redirected to, is not a valid URL") from None
            except aiohttp.ClientError:
                raise DownloadFailed("image_url could not be downloaded: the connection failed or the answer "
                                     "was malformed") from None
        raise DownloadFailed(f"image_url redirected more than {MAX_REDIRECTS} times")

    def _check_literal(self, url: URL) -> None:
        """Refuse a hop that is not http(s), or whose host is a refused IP literal (aiohttp does
        not resolve those, so the GuardedResolver never sees them)."""
        if url.scheme not in ("http", "https") or not url.host:
            raise DownloadFailed(f"image_url led to {str(url)[:100]!r}, which is not an http(s) URL")
        try:
            address = ipaddress.ip_address(url.host)
        except ValueError:
            return
        try:
            self.policy.check(address, url.host)
        except AddressRefused as exc:
            raise DownloadFailed(str(exc)) from None


async def _read_capped(response: aiohttp.ClientResponse) -> bytes:
    """The body, refused (DownloadTooLarge) as soon as it is known to pass MAX_BYTES."""
    if (response.content_length or 0) > MAX_BYTES:
        raise DownloadTooLarge(f"image_url is {response.content_length} bytes; at most {MAX_BYTES} (15 MB)")
    return await read_capped(response.content.iter_chunked(CHUNK), MAX_BYTES,
                             partial(DownloadTooLarge, f"image_url is more than {MAX_BYTES} bytes (15 MB)"))
