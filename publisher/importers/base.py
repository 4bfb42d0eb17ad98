"""What every importer shares: the plan of a site to write, and writing it.

An importer is a module with ``NAME``, ``detect(src) -> bool`` and ``plan(src) -> Plan``
(pure: it reads SRC and decides; nothing is written). :func:`write` puts a plan into DEST
and records what it wrote (``.publish-import.json``: every file's hash), so that importing
again updates DEST without touching what the author changed there since.
"""

from __future__ import annotations

import dataclasses
import json
import re
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from publisher.content.conventions import dated_name
from publisher.errors import PublishError
from publisher.hashing import hex_of
from publisher.layout import POSTS

MANIFEST = ".publish-import.json"
OWN_PAGES = {"", "index.html", "blog.html", "search.html", "genindex.html"}  # publish's own
SKIP = {".git", ".ipynb_checkpoints", "__pycache__", ".DS_Store", "_build", ".github"}


@dataclass
class Plan:
    """A publish site to write: DEST-relative path -> a file of SRC (copied byte for byte)
    or the bytes to write; the settings of publish.toml; old URL -> new; the report."""

    tool: str
    files: dict[str, Path | bytes] = field(default_factory=dict)
    site: dict[str, Any] = field(default_factory=dict)  # [site]
    execute: dict[str, Any] = field(default_factory=dict)  # [execute]
    redirects: dict[str, str] = field(default_factory=dict)  # old path -> posts/<slug>/
    posts: list[str] = field(default_factory=list)  # DEST-relative sources of the posts
    notes: list[str] = field(default_factory=list)  # what needs the author's hand

    def add(self, dest: str, source: Path | bytes) -> None:
        self.files[dest] = source

    def tree(self, src: Path, dest: str) -> None:
        """Every file under *src* to *dest* (as the tool kept it)."""
        for path in sorted(src.rglob("*")):
            rel = path.relative_to(src)
            if path.is_file() and not SKIP & set(rel.parts):
                self.files[f"{dest}/{rel.as_posix()}".lstrip("/")] = path

    def redirect(self, old: str, slug: str) -> None:
        old = re.sub(r"/+", "/", old).lstrip("/")
        new = f"{POSTS}/{slug}/"
        if old in OWN_PAGES:  # a book's front page: the site's home page is there now
            self.notes.append(f"{old or '/'} was the page of {new}; it is the site's "
                              "home page now (no redirect)")
        elif old not in (new, new + "index.html"):
            self.redirects[old] = new


def slug_of(name: str) -> str:
    """The slug publish gives a post named *name* (``YYYY-MM-DD-slug``: slug)."""
    dated = dated_name(name)
    return dated[1] if dated else name


def unique_slugs(names: list[str]) -> dict[str, str]:
    """name -> slug, as discovery makes them: two dated names of one slug keep their names."""
    by_slug: dict[str, list[str]] = {}
    for n in names:
        by_slug.setdefault(slug_of(n), []).append(n)
    return {n: (s if len(ns) == 1 else n) for s, ns in by_slug.items() for n in ns}


FRONT = re.compile(r"\A---[ \t]*\r?\n(.*?)^---[ \t]*$", re.S | re.M)


def front_matter(text: str) -> dict[str, Any]:
    """A Markdown file's YAML front matter ({} when none or unreadable: discovery says why)."""
    m = FRONT.match(text)
    if not m:
        return {}
    try:
        data = yaml.safe_load(m[1])
    except yaml.YAMLError:
        return {}
    return data if isinstance(data, dict) else {}


def read_yaml(path: Path) -> dict[str, Any]:
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as exc:
        raise PublishError(f"{path}: cannot read it ({exc}); fix the file and import again."
                           ) from exc
    return data if isinstance(data, dict) else {}


def as_list(value: Any, split: str | None = None) -> list[str]:
    if value is None or value == "":
        return []
    if isinstance(value, str):
        return [v.strip() for v in (value.split(split) if split else value.split()) if v.strip()]
    if isinstance(value, list):
        return [str(v).strip() for v in value if str(v).strip()]
    return [str(value)]


# --- publish.toml ---------------------------------------------------------------------


def _toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return str(value)
    if isinstance(value, list):
        return "[" + ", ".join(_toml_value(v) for v in value) + "]"
    return json.dumps(str(value), ensure_ascii=False)  # a TOML basic string


def site_knows(key: str) -> bool:
    """Whether ``[site]`` has the setting *key* in this publish."""
    from publisher.config import SiteSection

    return key in {f.name for f in dataclasses.fields(SiteSection)}


def config_text(plan: Plan, source: Path) -> str:
    lines = [f"# Made by `publish import` from the {plan.tool} blog {source}.", "", "[site]"]
    site = dict(plan.site)
    bib = site.pop("bibliography", None)
    for key, value in site.items():
        if value not in ("", None, []) and site_knows(key):  # an older publish: left out
            lines.append(f"{key} = {_toml_value(value)}")
    if bib and site_knows("bibliography"):
        lines.append(f"bibliography = {_toml_value(bib)}")
    if plan.redirects:
        table = ", ".join(f"{_toml_value(k)} = {_toml_value(v)}"
                          for k, v in sorted(plan.redirects.items()))
        line = f"# the posts' old addresses, each a redirect page to its new one\nredirects = {{ {table} }}"
        if not site_knows("redirects"):  # an older publish: kept for when it reads them
            line = "# " + line.replace("\n", "\n# ")
        lines.append(line)
    if plan.execute:
        lines += ["", "[execute]"]
        lines += [f"{k} = {_toml_value(v)}" for k, v in plan.execute.items()]
    return "\n".join(lines) + "\n"


# --- writing --------------------------------------------------------------------------


@dataclass
class Written:
    written: list[str] = field(default_factory=list)
    kept: list[str] = field(default_factory=list)  # changed in DEST since: left as they are
    removed: list[str] = field(default_factory=list)


def _sha(data: bytes) -> str:
    return hex_of(data)


def write(plan: Plan, source: Path, dest: Path) -> Written:
    """Write *plan* into *dest*. A file the author changed (or made) in DEST since the last
    import is left as it is and listed; a file the last import wrote that the plan no
    longer has is removed when unchanged. A DEST that holds files but no record of an
    import is refused."""
    manifest_path = dest / MANIFEST
    old: dict[str, str] = {}
    if manifest_path.is_file():
        old = json.loads(manifest_path.read_text())["files"]
    elif dest.exists() and any(dest.iterdir()):
        raise PublishError(
            f"{dest} already exists and was not made by `publish import` (no {MANIFEST}); "
            "import into a new folder, or empty this one.")
    files = dict(plan.files)
    files["publish.toml"] = config_text(plan, source).encode()
    done = Written()
    new: dict[str, str] = {}
    for rel, what in sorted(files.items()):
        data = what.read_bytes() if isinstance(what, Path) else what
        target = dest / rel
        if target.is_file():
            current = _sha(target.read_bytes())
            if current != old.get(rel) and current != _sha(data):
                done.kept.append(rel)  # the author's edit (or file) wins
                if rel in old:
                    new[rel] = old[rel]
                continue
            if current == _sha(data):
                new[rel] = current
                continue
        target.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(what, Path):
            shutil.copyfile(what, target)  # byte for byte
        else:
            target.write_bytes(data)
        new[rel] = _sha(data)
        done.written.append(rel)
    for rel, sha in old.items():
        target = dest / rel
        if rel not in files and target.is_file() and _sha(target.read_bytes()) == sha:
            target.unlink()
            done.removed.append(rel)
    manifest_path.write_text(json.dumps({"tool": plan.tool, "source": str(source),
                                         "files": new}, indent=1, sort_keys=True) + "\n")
    return done


def report(plan: Plan, written: Written, dest: Path) -> list[str]:
    """The short report: what was carried over, then what needs the author's hand."""
    lines = [f"Imported {len(plan.posts)} posts from a {plan.tool} blog into {dest}: "
             f"{len(written.written)} files written, {len(plan.redirects)} old addresses "
             "kept as redirects."]
    notes = list(plan.notes)
    if written.kept:
        shown = ", ".join(written.kept[:5]) + (f" and {len(written.kept) - 5} more"
                                               if len(written.kept) > 5 else "")
        notes.insert(0, f"{len(written.kept)} files you changed in {dest} since the last "
                     f"import were left as they are: {shown}")
    if plan.redirects and not site_knows("redirects"):
        notes.append("old addresses: this publish does not read [site] redirects yet; the "
                     "table is in publish.toml, commented out")
    if notes:
        lines.append("Needs your hand:")
        lines += [f"- {n}" for n in notes]
    lines.append(f"Next: publish build {dest} --execute off (or publish serve {dest})")
    return lines
