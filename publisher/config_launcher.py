"""``[launcher]`` of ``publish.toml``: every launcher setting, declared once (re-exported
by :mod:`publisher.config`, which checks the file against it)."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from publisher.config_values import (
    addresses,
    http_url,
    one_id,
    origins,
    setting,
    size,
    url_path,
)


@dataclass(frozen=True)
class Limits:
    """What one session may use."""

    memory: str = "1g"
    cpus: float = 1.0
    pids: int = 256
    disk: str = "512m"  # the session's writable space ($HOME, /tmp): memory-backed


@dataclass(frozen=True)
class LauncherSection:
    """``[launcher]``: every launcher setting, declared once. ``publish launcher`` derives
    its options from the fields marked ``flag`` (a flag wins over the file)."""

    base_image: str = setting("", "Base image of env images (PUBLISH_BASE_IMAGE wins).",
                              flag=False)
    base_images: dict[str, str] = setting(
        {}, 'Base images by runtime.txt version, e.g. { "3.12" = "python:3.12-slim" }.',
        flag=False)
    memory: str = setting(Limits.memory, "Memory per session, e.g. 1g.")
    cpus: float = setting(Limits.cpus, "CPUs per session.")
    pids: int = setting(Limits.pids, "Processes per session.")
    disk: str = setting(Limits.disk, "Writable space per session ($HOME, /tmp; counts as "
                        "memory).")
    idle_timeout: float = setting(600.0, "Seconds without activity before a session is culled.")
    max_age: float = setting(6 * 3600.0, "Seconds a session may live.")
    max_sessions: int = setting(
        100, "Sessions at once at most, pool included; the host's memory, as sessions "
        "measure, may admit fewer (see memory_headroom); then readers wait in line.")
    pool: int = setting(0, "Pre-started sessions per env.")
    pool_max: int = setting(
        0, "Pre-started sessions per env at most while its launches come fast: the pool "
        "grows from pool with the env's launch rate and shrinks when it falls (0: pool alone).")
    queue_length: int = setting(
        100, "Readers who may wait in line for a place when every place is taken (0: none; "
        "then overflow or busy).")
    queue_wait: float = setting(
        600.0, "Seconds a reader waits in line at most (then overflow, else 'try again at').")
    memory_headroom: str = setting(
        "1g", "Memory left free on the host for the launcher and the system: a launch waits "
        "while one session more (as sessions measure) would leave less (0: max_sessions "
        "alone decides).", check=size)
    reclaim_idle_after: float = setting(
        120.0, "While readers wait in line: seconds without activity after which a session "
        "gives its place to the first of them (oldest idle first).")
    reclaim_left_after: float = setting(
        15.0, "While readers wait in line: seconds without activity and without any "
        "connection open (the reader closed the tab) after which a session gives its place "
        "first (0: reclaim_idle_after alone).")
    network: bool = setting(False, "Let every session reach the network (else only posts "
                            "with network: true).")
    admin_token: str = setting("", "Token for /api/sessions (or PUBLISH_ADMIN_TOKEN).",
                               flag=False)  # never on a command line: ps shows it
    admin_token_file: str = setting("", "A file holding the token for /api/sessions.")
    launches_per_minute: int = setting(30, "Launches per client address per minute.")
    sessions_per_client: int = setting(
        4, "Sessions one client address may hold at once (0: no limit; raise it for "
        "classrooms behind one address).")
    session_host: str = setting("", "A host name per session, e.g. '{id}.example-live.org' "
                                "(wildcard DNS and certificate).", check=one_id)
    base_url: str = setting("/", "Path prefix of every route, e.g. /live/.",
                            normalize=url_path)
    session_host_same_site: bool = setting(
        False, "Allow session_host under the registrable domain of [site] base_url (a "
        "session's page can then set cookies for the blog's domain).")
    allowed_hosts: str = setting(
        "", "Host names (comma-separated; '*.example.org' for a domain's) that a launcher "
        "or dev server listening on loopback answers besides localhost, 127.0.0.1, [::1], "
        "[site] base_url's and session_host's: a proxy's public name, say. Others get 403 "
        "(DNS rebinding).")
    forwarded_allow_ips: str = setting(
        "127.0.0.1", "Comma-separated proxy addresses or networks whose X-Forwarded-* "
        "headers count ('*': any).", check=addresses)
    allow_origins: str = setting(
        "", "Origins whose pages may use the launch stream and a session's API with its "
        "token, e.g. thebe on the blog (comma-separated; '*': any). Default: the blog's, "
        "from [site] base_url.", check=origins)
    overflow: str = setting(
        "", "A BinderHub to send readers to when every place is taken, e.g. "
        "https://mybinder.org (needs [launch] repository and the env refs pushed: publish "
        "binder refs --push).", check=http_url)
    sharing: bool = setting(
        False, "Let a reader make share links for their running session: whoever opens "
        "one works in the same Jupyter server until the session ends or the reader stops "
        "sharing.")
    runtime_dir: str = setting("", "Folder for session state (default: PUBLISH_RUNTIME_DIR, "
                               "else the cache folder).")

    def host_names(self, site_url: str) -> list[str]:
        """What a loopback server answers to besides local names (see ``allowed_hosts``):
        the blog's host (*site_url*: single-origin deployments), session hosts, the rest."""
        from urllib.parse import urlsplit

        names = [urlsplit(site_url).netloc, self.session_host, *self.allowed_hosts.split(",")]
        return [n.strip() for n in names if n.strip()]

    @property
    def limits(self) -> Limits:
        return Limits(self.memory, self.cpus, self.pids, self.disk)

    @property
    def cull_interval(self) -> float:
        """Culling looks often enough for the timeouts in force."""
        return max(1.0, min(30.0, self.idle_timeout / 4, self.max_age / 4,
                            self.reclaim_idle_after / 4))

    @property
    def admin_secret(self) -> str:
        """The admin token: ``admin_token``, else ``admin_token_file``'s first line, else
        PUBLISH_ADMIN_TOKEN."""
        if self.admin_token:
            return self.admin_token
        if self.admin_token_file:
            lines = Path(self.admin_token_file).read_text(encoding="utf-8").splitlines()
            return lines[0].strip() if lines else ""
        return os.environ.get("PUBLISH_ADMIN_TOKEN", "")

    @property
    def runtime_path(self) -> Path:
        if self.runtime_dir:
            return Path(self.runtime_dir)
        if os.environ.get("PUBLISH_RUNTIME_DIR"):
            return Path(os.environ["PUBLISH_RUNTIME_DIR"])
        from publisher.paths import cache_root

        return cache_root() / "launcher"
