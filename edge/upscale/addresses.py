"""Which IP addresses an `image_url` download may connect to, and a resolver that enforces it.

Only globally routable unicast addresses, unless the operator allows a network
(`[upscale] allow_networks`). That refuses loopback, private (10/8, 172.16/12,
192.168/16, fc00::/7), link-local (169.254/16 with the cloud metadata service
169.254.169.254, fe80::/10), shared (100.64/10, Alibaba Cloud's metadata 100.100.100.200),
multicast, reserved, unspecified and documentation ranges; an IPv6 address that carries
an IPv4 one (::ffff:127.0.0.1) is judged by the IPv4 address.

`GuardedResolver` checks every address a name resolves to and hands aiohttp exactly the
checked addresses to connect to: the check and the connection use one resolution, so a
DNS answer cannot change between them (DNS rebinding).
"""

from __future__ import annotations

import ipaddress
import socket

from aiohttp.abc import AbstractResolver, ResolveResult

Address = ipaddress.IPv4Address | ipaddress.IPv6Address


class AddressRefused(OSError):
    """The host is, or resolves to, an address that downloads may not reach."""


class AddressPolicy:
    """`check(address)` raises AddressRefused unless downloads may connect to `address`."""

    def __init__(self, allowed_networks: tuple[str, ...] = ()) -> None:
        self.allowed = tuple(ipaddress.ip_network(network) for network in allowed_networks)

    def check(self, address: Address, host: str) -> None:
        if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
            address = address.ipv4_mapped
        if any(address in network for network in self.allowed):
            return
        if not address.is_global or address.is_multicast:
            raise AddressRefused(f"{host} is, or resolves to, {address}: a private, loopback, link-local or "
                                 f"reserved address that image_url may not reach")


class GuardedResolver(AbstractResolver):
    """Resolves with `resolver` and refuses the whole answer when any address in it fails the
    policy: a name that points inside is refused even when it also points outside."""

    def __init__(self, policy: AddressPolicy, resolver: AbstractResolver) -> None:
        self.policy = policy
        self.resolver = resolver

    async def resolve(self, host: str, port: int = 0,
                      family: socket.AddressFamily = socket.AF_INET) -> list[ResolveResult]:
        answer = await self.resolver.resolve(host, port, family)
        for entry in answer:
            self.policy.check(ipaddress.ip_address(entry["host"]), host)
        return answer

    async def close(self) -> None:
        await self.resolver.close()
