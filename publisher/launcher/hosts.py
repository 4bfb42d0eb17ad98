"""Where a launcher may listen (light: `publish serve` checks it without loading the
launcher)."""

from __future__ import annotations

import ipaddress

from publisher.errors import PublishError


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def check_host(host: str, backend_name: str, with_launcher: bool, unsafe_local: bool,
               verb: str = "listen") -> str:
    """Refuse to expose unsandboxed sessions; return a warning for a non-loopback host.

    The launcher runs readers' code: with the local backend, as the author, with no
    isolation. So it listens beyond this machine only when asked in so many words
    (``--unsafe-local``). Used by ``publish launcher`` and ``publish serve``.
    """
    if is_loopback(host):
        return ""
    if with_launcher and backend_name == "local":
        if not unsafe_local:
            raise PublishError(
                f"refusing to {verb} on {host} with the local backend: anyone who can reach "
                "this address could start a session, and local sessions run code as you, "
                "with no isolation. Use --host 127.0.0.1 (the default), the docker backend "
                "(--backend docker), --no-launcher (publish serve), or --unsafe-local if you "
                "really mean it."
            )
        return (f"warning: --unsafe-local: anyone who can reach {host} can run code as you, "
                "with no isolation.")
    return (f"warning: {host} is reachable beyond this machine: make sure only the people "
            "you mean can reach it.")
