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
from publisher.config_launcher import LauncherSection as LauncherSection
from publisher.config_launcher import Limits as Limits
from publisher.config_values import (
    date_format,
    setting,
    suggest,
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
