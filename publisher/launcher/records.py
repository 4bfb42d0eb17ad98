"""What the launcher knows of a session, and the small rules about who is asking."""

from __future__ import annotations

import hmac
import ipaddress
import secrets
import shutil
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import anyio

from publisher.backends.sessions import SessionHandle
from publisher.hashing import hex_of


class LaunchRefused(Exception):
    """A launch that cannot start: unknown post (404), busy (503), too many (429)."""

    def __init__(self, status: int, message: str, retry_after: int = 0) -> None:
        super().__init__(message)
        self.status, self.message, self.retry_after = status, message, retry_after


def client_key(host: str) -> str:
    """Whom per-client limits count: the address, or its /64 for IPv6 (one subscriber)."""
    try:
        ip = ipaddress.ip_address(host)
    except ValueError:
        return host
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is None:
        return str(ipaddress.ip_network(f"{ip}/64", strict=False))
    return str(ip.ipv4_mapped or ip) if isinstance(ip, ipaddress.IPv6Address) else str(ip)


def hash_token(token: str) -> str:
    return hex_of(token)


@dataclass
class Session:
    id: str
    slug: str
    env_id: str
    token: str  # Jupyter's own: the launcher's to its server (readable inside the session)
    image: str
    folder: Path  # the launcher's own folder for this session (secret, local work dir)
    handle: SessionHandle | None = None  # None while starting
    started: float = field(default_factory=time.time)
    last_activity: float = field(default_factory=time.time)
    pooled: bool = False
    kernel_id: str = ""  # a pooled session's pre-started kernel
    websockets: int = 0  # open through the proxy
    connected: bool = False  # a WebSocket was opened through the proxy (its reader came)
    client: str = ""  # who launched it (per-client limits)
    # the reader's credential at the proxy: never inside the session, so code that runs
    # there (a guest's, with sharing) cannot read it and keep access once a share ends
    access: str = field(default_factory=lambda: secrets.token_urlsafe(24))
    shares: dict[str, float] = field(default_factory=dict)  # a share link's hash -> made
    guest_sockets: set[anyio.CancelScope] = field(default_factory=set)  # guests' WebSockets
    # a guest opened a link: what they ran may remain (a page or an extension of theirs
    # that the reader's browser runs, with the reader's cookie), so once the reader stops
    # sharing no link is made again (saved: a restarted launcher still refuses)
    joined: bool = False

    @property
    def prefix(self) -> str:
        return f"sessions/{self.id}/"

    def touch(self) -> None:
        """The reader did something: idle culling counts from now."""
        self.last_activity = time.time()

    def token_ok(self, token: str | None) -> bool:
        """Whether *token* is the reader's credential (not Jupyter's token: see access)."""
        return bool(token) and hmac.compare_digest(hash_token(token or ""),
                                                   hash_token(self.access))

    def share_ok(self, capability: str | None) -> bool:
        """Whether *capability* is a share link of this session that is not revoked."""
        return bool(capability) and hash_token(capability or "") in self.shares

    def public(self) -> dict[str, Any]:
        return {"id": self.id, "slug": self.slug, "env_id": self.env_id, "image": self.image,
                "started": self.started, "last_activity": self.last_activity,
                "pooled": self.pooled, "state": "running" if self.handle else "starting"}


def remove_folder(folder: Path) -> None:
    shutil.rmtree(folder, ignore_errors=True)
