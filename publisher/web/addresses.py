"""How an address is read: the origin of a URL as browsers send it, the name in a
``Host`` header, the registrable domain two names share (pure)."""

from __future__ import annotations

import functools
import ipaddress
from typing import Any
from urllib.parse import urlsplit

DEFAULT_PORTS = {"http": 80, "https": 443}


def origin_of(url: str) -> str:
    """scheme://host[:port] of *url* as browsers send it in ``Origin`` (lower case, no
    default port), or "" when it has none (or user info, or a port that is no number)."""
    parts = urlsplit(url.strip())
    scheme = parts.scheme.lower()
    try:
        port = parts.port
    except ValueError:
        return ""
    if scheme not in DEFAULT_PORTS or not parts.hostname or "@" in parts.netloc:
        return ""
    host = parts.hostname.lower()
    if ":" in host:  # IPv6
        host = f"[{host}]"
    return f"{scheme}://{host}" + (f":{port}" if port and port != DEFAULT_PORTS[scheme] else "")


def host_name(value: str) -> str:
    """The name in a ``Host`` header value: lower case, without port or brackets."""
    value = value.strip().lower()
    if value.startswith("["):
        return value[1:value.find("]")] if "]" in value else value
    return value.rsplit(":", 1)[0] if value.count(":") == 1 else value


def shared_domain(session_host: str, site_url: str) -> str:
    """The registrable domain (Public Suffix List) that *session_host* (a template) and
    the host of *site_url* share, or "" (none, or an address or a local name)."""
    domains = set()
    for name in (host_name(session_host.replace("{id}", "x")),
                 (urlsplit(site_url).hostname or "").lower()):
        name = name.strip(".")
        if not name or name == "localhost" or name.endswith(".localhost"):
            return ""
        try:
            ipaddress.ip_address(name)
            return ""
        except ValueError:
            domains.add(_suffixes().privatesuffix(name) or name)
    return domains.pop() if len(domains) == 1 else ""


@functools.cache
def _suffixes() -> Any:
    from publicsuffixlist import PublicSuffixList  # the list ships with the package

    return PublicSuffixList()
