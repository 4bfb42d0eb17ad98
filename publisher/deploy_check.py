"""What would be broken where a deployed site lands: a ``base_url`` left at a local
address (feed, canonical links), launch badges on a static host's own address (a 404
there), Binder badges naming env refs the repository lacks (a static blog, ``[launch]
mode = "off"``, has neither badge). ``publish deploy`` stops on
them (exit 1, nothing pushed or copied) unless ``--force``."""

from __future__ import annotations

import ipaddress
import socket
from urllib.parse import urlsplit

from publisher.binder import pushed_refs
from publisher.binderhub import provider_spec
from publisher.config import Config
from publisher.errors import BuildFailed, PublishError
from publisher.web.addresses import origin_of


def is_local(url: str) -> bool:
    """Whether *url* names this machine (or no machine): a reader's browser elsewhere
    cannot reach it. Private-network addresses count as reachable (an intranet blog)."""
    host = (urlsplit(url).hostname or "").rstrip(".").lower()
    if not host or host == "localhost" or host.endswith(".localhost"):
        return True
    try:
        ip = ipaddress.ip_address(host)
    except ValueError:
        try:  # the shorthands browsers accept too: 127.1, 0x7f.1
            ip = ipaddress.ip_address(socket.inet_aton(host))
        except OSError:
            return False
    return ip.is_loopback or ip.is_unspecified or ip.is_link_local


def pages_address(config: Config, remote_url: str) -> str:
    """Where GitHub Pages serves a repository's gh-pages branch, or "" when *remote_url*
    is not on GitHub."""
    if config.deploy.cname:
        return f"https://{config.deploy.cname}/"
    provider, spec = provider_spec(remote_url, "")
    if provider != "gh":
        return ""
    owner, repo = spec.split("/")[:2]
    if repo.lower() == f"{owner.lower()}.github.io":
        return f"https://{repo.lower()}/"
    return f"https://{owner.lower()}.github.io/{repo}/"


def launcher_at(root: str, timeout: float = 5.0) -> bool:
    """Whether a publish launcher answers at *root* (its ``versions`` route)."""
    import httpx

    try:
        response = httpx.get(root.rstrip("/") + "/versions", timeout=timeout,
                             follow_redirects=True)
        return response.status_code == 200 and "publish" in response.json()
    except (httpx.HTTPError, ValueError):
        return False


def _base_problems(config: Config, suggestion: str) -> list[str]:
    base = config.site.base_url
    e_g = f", e.g. {suggestion}" if suggestion else ""
    if not base:
        return ["[site] base_url is not set: the feed, the canonical links and every absolute "
                f"link would name {config.site.url}. Set it in publish.toml to the address "
                f"where the site lands{e_g}."]
    if not origin_of(base):
        return [f"[site] base_url is {base}, not an absolute http(s) address: the feed and "
                "the canonical links need one. Set it to the address where the site "
                f"lands{e_g}."]
    if is_local(base):
        return [f"[site] base_url is {base}, an address of this machine: the feed and the "
                "canonical links would send readers there. Set it to the address where the "
                f"site lands{e_g}."]
    return []


def _launch_problems(config: Config, static_host: bool) -> list[str]:
    """Launch badges open ``<[launch] url>/launch/<slug>``: on the site's own address when
    the url is empty or a path."""
    url, site = config.launch.url, origin_of(config.site.base_url)
    if url and not url.startswith("/"):
        if not origin_of(url):
            return [f"[launch] url is {url}, neither a path on the site's address nor an "
                    "absolute http(s) address: badges would open it relative to each post. "
                    "Set it to the launcher's address, e.g. https://live.example.org."]
        if static_host and origin_of(url) == site:
            return [f"[launch] url is {url}, on the site's own address ({site}), which the "
                    "static host serves: readers would get a 404 there. Set it to the address "
                    "of a launcher on a server of yours."]
        if is_local(url):
            return [f"[launch] url is {url}, an address of this machine: readers' browsers "
                    "would look for a launcher on their own computer. Set it to the "
                    "launcher's public address."]
        return []
    root = f"{site}{url.rstrip('/')}"
    opens = f"{root}/launch/<slug>" + ("" if site else " on the site's own address")
    fix = ("set [launch] url to your launcher's address (README: \"Run the launcher on a "
           'server"), or [launch] mode = "binderhub" for Binder badges only, or [launch] '
           'mode = "off" for a static blog (no launch badges).')
    if static_host:
        return [f"[launch] url is {url or 'empty'}: every launch badge opens {opens}, on the "
                "static host, which only serves files: readers would get a 404. Run a "
                f"launcher on a server of yours and {fix}"]
    if site and not launcher_at(root):
        return [f"[launch] url is {url or 'empty'}: every launch badge opens {opens}, and no "
                f"publish launcher answers at {root}/versions. Start the launcher behind the "
                f"same server first (deploy/), or {fix}"]
    return []


def _binder_problems(config: Config) -> list[str]:
    where = config.launch.repository
    try:
        plans, pushed = pushed_refs(config)
    except PublishError as exc:
        return [f"Binder badges: cannot read the env refs on {where}: {exc.message}"]
    behind = sorted(p.branch for p in plans if p.branch not in pushed)
    if not behind:
        return []
    return [f"Binder badges: {len(behind)} of {len(plans)} env refs are missing or out of "
            f"date on {where} ({', '.join(behind)}): their badges would fail on the "
            "BinderHub. Run `publish binder refs --push REMOTE` first."]


def check(config: Config, static_host: bool, suggestion: str = "") -> list[str]:
    """What would be broken where the site lands. *static_host*: the host serves files
    only (GitHub Pages, any static host); else a server of the author's, which may put a
    launcher on the site's own address (``deploy/nginx-publish.conf``)."""
    mode = config.launch.mode  # "off": a static blog, no badge of ours to check
    return (_base_problems(config, suggestion)
            + (_launch_problems(config, static_host) if mode in ("launcher", "both") else [])
            + (_binder_problems(config) if mode in ("binderhub", "both") else []))


def checked(config: Config, static_host: bool, force: bool, suggestion: str = "") -> list[str]:
    """Lines to print before deploying: nothing when the check passes; the problems as
    warnings with *force*; else a :class:`BuildFailed` (nothing deployed)."""
    problems = check(config, static_host, suggestion)
    if problems and not force:
        raise BuildFailed(problems, "Not deployed: where the site lands, these would be "
                          "broken (fix them, or deploy anyway with --force):")
    return [f"warning: deployed with --force although {p}" for p in problems]
