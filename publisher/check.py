"""``publish check``: every problem of every post in one run, without building.

A build stops at a post's first problem that matters to it; the check is where the author
asks what is wrong, so it reads on: every front matter problem of a post together
(:func:`publisher.content.frontmatter.validate`), the env files of a post whose front
matter is broken too, what a build only warns of but is surely a mistake (a misspelt
key; an ``image`` that is no file is a warning, as in the build), the lines of
``requirements.txt`` pip would refuse, and old addresses a build would refuse.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from publisher.content.site import discover
from publisher.envs.resolve import envs_by_id, resolve_envs
from publisher.pipeline import redirects


@dataclass
class CheckReport:
    problems: list[str] = field(default_factory=list)  # each fails the check (exit 1)
    lines: list[str] = field(default_factory=list)  # what it says when there are none


def check_site(site: Path) -> CheckReport:
    """What ``publish check SITE`` says: its problems, sorted by file, else its lines."""
    s = discover(site, include_drafts=True)
    items, env_problems = resolve_envs(s)
    _, _, every_env = envs_by_id(s.root, keep_going=True)  # broken posts' env files too
    doubts = [d for post in s.posts for d in post.doubts]
    old_addresses = redirects.plan(s)[1]  # aliases and redirects a build would refuse
    found = list(dict.fromkeys([*s.problems, *env_problems, *every_env, *old_addresses,
                                *doubts]))
    # a post's problems together, the posts in the order of their files
    problems = sorted(found, key=lambda p: p.split(":", 1)[0])
    if problems:
        return CheckReport(problems)
    lines: list[str] = []
    if not s.config.site.base_url:
        lines.append(f"note: [site] base_url is not set; the Atom feed will use "
                     f"{s.config.site.url}")
    for pe in items:
        files = ", ".join(pe.spec.describe(s.root)) or "no env files"
        lines.append(f"ok  {pe.post.slug:<28} env {pe.env_id}  ({files})")
    # what discovery had to guess (a title, a date): said, not hidden
    lines += [f"warning: {w}" for w in s.warnings]
    lines += [f"note: {n}" for post in s.posts for n in post.own_keys]
    tags = {t.casefold() for pe in items for t in pe.post.meta.tags}
    lines.append(f"{len(items)} posts, {len(tags)} tags, {len({pe.env_id for pe in items})} "
                 "envs: no problems.")
    return CheckReport([], lines)
