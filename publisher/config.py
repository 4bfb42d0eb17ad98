"""The ``publish.toml`` schema.

Every section is a frozen dataclass; :func:`load_config` checks every key against the
schema, collects *all* problems (unknown keys, wrong types, bad values) with their key
path, and raises once.
"""

from __future__ import annotations

import dataclasses
import os
import re
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from publisher.backends import CHOICES as BACKEND_CHOICES
from publisher.config_values import (
    addresses,
    date_format,
    http_url,
    one_id,
    origins,
    setting,
    size,
    suggest,
    url_path,
    value_of,
)
from publisher.errors import ConfigError
from publisher.layout import CONFIG_FILE
from publisher.web.addresses import shared_domain

DEFAULT_BASE_IMAGE = "python:3.11-slim"
LOCAL_URL = "http://127.0.0.1:8000/"  # the site's address when [site] base_url is unset


@dataclass(frozen=True)
class SiteSection:
    title: str = "A research blog"
    author: str = ""
    authors: list[str] = field(default_factory=list)
    description: str = ""
    base_url: str = ""
    language: str = "en"
    math: str = "site"  # site: MathJax served from the site (fetched once from npm) | cdn
    listing: str = "list"  # how listings show posts: list | grid
    page_size: int = 10  # posts per listing page (home, all posts, each tag, year, author)
    date_format: str = setting(
        "%-d %B %Y", 'How pages write a day (strftime codes): "%-d %B %Y" is 2 May 2025, '
        '"%Y-%m-%d" 2025-05-02; posts, listings and sidebars alike.', flag=False,
        check=date_format)
    bibliography: list[str] = setting(
        [], 'BibTeX files every post may cite, from the site folder: ["references.bib"] '
        "(Jupyter Book's bibtex_bibfiles; a post's own: front matter bibliography).",
        flag=False)
    substitutions: dict[str, str] = setting(
        {}, "{{ name }} substitutions every post may use (a post's own: front matter "
        "myst: substitutions).", flag=False)
    redirects: dict[str, str] = setting(
        {}, 'Old addresses answered by a redirect page: { "2021/01/01/x.html" = "posts/x/" } '
        "(paths from the site's root; publisher.pipeline.redirects).", flag=False)
    favicon: str = setting(
        "", "The site's icon: a file of the site folder (e.g. static/favicon.png) or a web "
        "address; publish's own without one.", flag=False)
    feed_aliases: list[str] = setting(
        [], 'Old addresses of the feed, e.g. ["feed.xml", "index.xml"]: a copy of '
        "blog/atom.xml is written there (a feed reader follows no redirect page).",
        flag=False)

    @property
    def url(self) -> str:
        """The site's absolute address, ending in '/': ``base_url``, else where ``publish
        serve`` answers (what feeds, canonical links and the sitemap name)."""
        return (self.base_url or LOCAL_URL).rstrip("/") + "/"


@dataclass(frozen=True)
class LaunchSection:
    url: str = ""  # empty: the launcher on the same origin (/launch/...)
    repository: str = ""  # a git URL, for Binder / Colab / GitHub badges
    branch: str = "main"
    binderhub_url: str = "https://mybinder.org"
    path_in_repository: str = ""  # where the site folder sits inside the repository
    # which launch badges: launcher | binderhub | both | off (a static blog: no badge and
    # no live code of ours, nothing to run; Colab's link stays with a GitHub repository)
    mode: str = "launcher"
    ref_prefix: str = "publish/env/"  # env refs: refs/heads/<ref_prefix><env id>


@dataclass(frozen=True)
class ExecuteSection:
    mode: str = "cache"
    timeout: int = 120
    allow_errors: bool = False
    backend: str = "auto"
    # a cell's text outputs on its page (publisher.pipeline.long_outputs); 0: no limit
    max_output_lines: int = 500
    max_output_bytes: int = 100_000


@dataclass(frozen=True)
class InteractiveSection:
    """``[interactive]``: live code in the page (thebe)."""

    thebe: str = "site"  # site: served from the site (fetched once from npm) | cdn | off
    cdn_url: str = "https://cdn.jsdelivr.net/npm/thebe@{version}/lib/"


@dataclass(frozen=True)
class DeploySection:
    """``[deploy]``: where ``publish deploy gh-pages`` puts the built site."""

    remote: str = "origin"  # a git remote's name or URL
    branch: str = "gh-pages"
    cname: str = ""  # a custom domain for GitHub Pages: written to CNAME


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
    max_sessions: int = setting(20, "Sessions at once, pool included (then: busy).")
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


@dataclass(frozen=True)
class Config:
    root: Path
    site: SiteSection = SiteSection()
    launch: LaunchSection = LaunchSection()
    execute: ExecuteSection = ExecuteSection()
    launcher: LauncherSection = LauncherSection()
    interactive: InteractiveSection = InteractiveSection()
    deploy: DeploySection = DeploySection()

    @property
    def all_authors(self) -> list[str]:
        names = list(self.site.authors)
        if self.site.author and self.site.author not in names:
            names.insert(0, self.site.author)
        return names

    @property
    def base_image(self) -> str:
        """The base image: ``PUBLISH_BASE_IMAGE`` wins over ``[launcher] base_image``."""
        return (
            os.environ.get("PUBLISH_BASE_IMAGE")
            or self.launcher.base_image
            or DEFAULT_BASE_IMAGE
        )


SECTIONS: dict[str, type[Any]] = {
    "site": SiteSection,
    "launch": LaunchSection,
    "execute": ExecuteSection,
    "launcher": LauncherSection,
    "interactive": InteractiveSection,
    "deploy": DeploySection,
}

CHOICES: dict[tuple[str, str], tuple[str, ...]] = {
    ("execute", "mode"): ("off", "cache", "force"),
    ("execute", "backend"): BACKEND_CHOICES,
    ("interactive", "thebe"): ("site", "cdn", "off"),
    ("site", "math"): ("site", "cdn"),
    ("site", "listing"): ("list", "grid"),
    ("launch", "mode"): ("launcher", "binderhub", "both", "off"),
}
# a branch prefix that is a folder of its own (ends in "/"), so that no branch of the
# author's is ever read as an env ref: "publish/env/"
REF_PREFIX = re.compile(r"(?!.*(?:\.\.|//|@\{|\.lock/|/\.))[A-Za-z0-9][A-Za-z0-9._/-]*/")


def _cross_checks(cfg: Config) -> list[str]:
    """Problems that involve more than one key."""
    problems = []
    if cfg.launch.mode in ("binderhub", "both") and not cfg.launch.repository:
        problems.append(f'[launch] mode: "{cfg.launch.mode}" needs [launch] repository (the '
                        "git URL a BinderHub clones the env refs from)")
    if re.match(r"^[a-z][a-z0-9+.-]*://[^/]*@", cfg.launch.repository, re.I):
        problems.append("[launch] repository: holds credentials (user:token@); they would "
                        "be in every badge. Use the public URL; give git its credentials "
                        "another way (a credential helper, an SSH key).")
    if cfg.launcher.overflow and not cfg.launch.repository:
        problems.append("[launcher] overflow: needs [launch] repository (the git URL the "
                        "BinderHub clones the env refs from)")
    if not REF_PREFIX.fullmatch(cfg.launch.ref_prefix):
        problems.append(f"[launch] ref_prefix: {cfg.launch.ref_prefix!r} is not a valid git "
                        'branch folder (e.g. "publish/env/": letters, digits, ".", "_", "-", '
                        'ending in "/")')
    shared = "" if cfg.launcher.session_host_same_site else shared_domain(
        cfg.launcher.session_host, cfg.site.base_url)
    if shared:
        problems.append(
            f"[launcher] session_host: {cfg.launcher.session_host!r} is under {shared}, the "
            "registrable domain of [site] base_url: a reader's session page could set "
            f"cookies for {shared} and lock every reader out of the blog and the other "
            "sessions (a cookie bomb). Put session hosts under a domain of their own (as "
            "GitHub does with githubusercontent.com), e.g. '{id}.example-live.org', or set "
            "[launcher] session_host_same_site = true to accept that.")
    for name in cfg.site.bibliography:
        if not (cfg.root / name).is_file() or ".." in Path(name).parts:
            problems.append(f"[site] bibliography: {name!r} is not a file of the site folder "
                            "(a path such as \"references.bib\", from the site folder)")
    for key in ("max_output_lines", "max_output_bytes"):
        if getattr(cfg.execute, key) < 0:
            problems.append(f"[execute] {key}: must be 0 (no limit) or more, got "
                            f"{getattr(cfg.execute, key)}")
    if cfg.site.page_size < 1:
        problems.append(f"[site] page_size: must be 1 or more, got {cfg.site.page_size}")
    if cfg.deploy.cname and not re.fullmatch(
            r"(?=.{1,253}$)([a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]{2,63}",
            cfg.deploy.cname, re.I):
        problems.append(f"[deploy] cname: {cfg.deploy.cname!r} is not a domain name (e.g. "
                        '"blog.example.org": no scheme, no path)')
    return problems


def parse_config(data: dict[str, Any], root: Path, source: str = CONFIG_FILE) -> Config:
    """Validate *data* (a parsed TOML document) against the schema."""
    problems: list[str] = []
    sections: dict[str, Any] = {}
    for name, value in data.items():
        if name not in SECTIONS:
            problems.append(f"[{name}]: unknown section{suggest(name, list(SECTIONS))}")
            continue
        if not isinstance(value, dict):
            problems.append(f"{name}: expected a table [{name}]")
            continue
        cls = SECTIONS[name]
        kwargs: dict[str, Any] = {}
        for key, raw in value.items():
            coerced, problem = value_of(cls, key, raw, CHOICES.get((name, key)))
            if problem:
                problems.append(f"[{name}] {key}: {problem}")
            else:
                kwargs[key] = coerced
        sections[name] = cls(**kwargs)
    cfg = Config(root=root, **sections)
    if not problems:
        problems = _cross_checks(cfg)
    if problems:
        raise ConfigError(
            f"{source} has {len(problems)} problem(s):\n"
            + "\n".join(f"  {p}" for p in problems)
            + "\nFix them and run the command again."
        )
    return cfg


def with_overrides(cfg: Config, section: str, overrides: dict[str, Any]) -> Config:
    """*cfg* with command-line values (None: not given) over the file's, checked alike."""
    cls = SECTIONS[section]
    changes: dict[str, Any] = {}
    problems: list[str] = []
    for key, raw in overrides.items():
        if raw is None:
            continue
        value, problem = value_of(cls, key, raw, CHOICES.get((section, key)))
        if problem:
            problems.append(f"--{key.replace('_', '-')}: {problem}")
        else:
            changes[key] = value
    new = dataclasses.replace(cfg, **{section: dataclasses.replace(getattr(cfg, section),
                                                                    **changes)})
    problems += [] if problems else _cross_checks(new)
    if problems:
        raise ConfigError("\n".join(problems))
    return new


def load_config(root: Path) -> Config:
    """Read ``publish.toml`` from the site folder *root*."""
    path = root / CONFIG_FILE
    if not root.is_dir():
        raise ConfigError(f"{root}: no such site folder. Create one with `publish new {root}`.")
    if not path.is_file():
        raise ConfigError(
            f"{path}: not found. A site folder needs a {CONFIG_FILE} "
            f"(create a site with `publish new DIR`, or pass the site folder as argument)."
        )
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: invalid TOML: {exc}. Fix the syntax and try again.") from exc
    return parse_config(data, root.resolve(), source=str(path))
