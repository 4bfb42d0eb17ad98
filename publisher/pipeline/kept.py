"""What a Sphinx build keeps from the one before, when what it shows did not change.

Sphinx re-reads and re-writes only the documents that changed, but on every build it
renders ABlog's listing pages again, writes every Atom feed again and copies the themes'
static files again. On a blog of a hundred posts that is most of a one-post edit's time
(``publish serve``'s reload). Each of the three is kept when its inputs' fingerprint is
the one recorded after it was last made, and the files it made are still there as made.

The records are files in Sphinx's output folder, not in its environment (that is saved
before pages are written), and each is written only once the build finished: a build
that fails half-way leaves no record, and the next one makes everything again.
"""

from __future__ import annotations

import json
import os
import secrets
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

from sphinx.application import Sphinx

from publisher.compat.sphinx import warning_count, wrap_static_copy
from publisher.hashing import digest
from publisher.memo import stamp
from publisher.pipeline.feeds import write_feeds
from publisher.pipeline.listing import paginated, thumbnail

LISTINGS = ".publish-listings"
FEEDS = ".publish-feeds"
STATIC = ".publish-static"

Generate = Callable[[Sphinx], Iterable[Any] | None]


def _record(app: Sphinx, name: str) -> dict[str, Any] | None:
    try:
        value = json.loads((Path(app.outdir) / name).read_text())
    except (OSError, ValueError):
        return None
    return value if isinstance(value, dict) else None


def _pending(app: Sphinx) -> dict[str, dict[str, Any]]:
    """The records this build writes when it finishes (name -> record)."""
    pending: dict[str, dict[str, Any]] | None = getattr(app, "publish_kept", None)
    if pending is None:
        pending = vars(app)["publish_kept"] = {}
    return pending


def _forget(app: Sphinx, name: str) -> None:
    (Path(app.outdir) / name).unlink(missing_ok=True)


def fingerprint(app: Sphinx) -> str:
    """What ABlog's listing pages and feeds show: every post's and draft's metadata,
    excerpt and thumbnail, the sidebars (catalogs, titles) and the configuration
    (templates, the site's title and address). Made once per build."""
    made: str | None = getattr(app, "publish_fingerprint", None)
    if made is not None:
        return made

    def text(value: Any) -> str:
        if isinstance(value, list) and value and hasattr(value[0], "pformat"):
            return "".join(node.pformat() for node in value)
        return repr(value)

    posts = getattr(app.env, "ablog_posts", {})
    parts: list[bytes | str] = [(Path(app.confdir) / "conf.py").read_bytes()]
    if any(_refers(info.get("excerpt")) for infos in posts.values() for info in infos):
        # an excerpt's cross-reference shows another document's title or number, which
        # this fingerprint does not see: such listings and feeds are always made again
        parts.append(secrets.token_bytes(16))
    parts.append(str(getattr(app.env, "publish_site_wide", "")))  # sidebars
    for docname in sorted(posts):
        # what publish's entries add (summary, reading time, thumbnail), then ABlog's
        parts.append(json.dumps([docname, sorted(app.env.metadata.get(docname, {}).items()),
                                 thumbnail(app, docname)], default=str))
        for info in posts[docname]:
            items = sorted((k, text(v)) for k, v in info.items() if k != "doctree")
            parts.append(json.dumps([docname, items]))
    value = digest(parts, length=64)
    vars(app)["publish_fingerprint"] = value
    return value


def _refers(excerpt: Any) -> bool:
    from sphinx import addnodes

    return isinstance(excerpt, list) and any(
        next(iter(node.findall(addnodes.pending_xref)), None) is not None
        for node in excerpt if hasattr(node, "findall"))


def new_build(app: Sphinx, env: Any, docnames: list[str]) -> None:
    """At env-before-read-docs: this build's fingerprint is made afresh."""
    vars(app).update(publish_fingerprint=None, publish_kept={})


def listings_when_changed(generate: Generate) -> Generate:
    """ABlog's listing pages (every tag, year, author…, and all posts), rendered only
    when what they show changed; otherwise the pages already written are kept."""

    def listings(app: Sphinx) -> list[Any]:
        value = fingerprint(app)
        pages = list(generate(app) or [])
        names = sorted(name for name, _, _ in pages)
        record = _record(app, LISTINGS)
        _pending(app)[LISTINGS] = {"fingerprint": value, "pages": names}
        if record == _pending(app)[LISTINGS] and all(
                (Path(app.outdir) / f"{name}.html").is_file() for name in names):
            vars(app)["publish_pages"].update(names)
            return []
        _forget(app, LISTINGS)
        return pages

    return listings


def feeds_when_changed(write: Callable[[Sphinx], list[Path]]) -> Generate:
    """The blog's Atom feeds (the blog's, and each tag's, year's, author's…), written only
    when what they show changed, and recorded (with their files' stamps) when written."""

    def feeds(app: Sphinx) -> list[Any]:
        value = fingerprint(app)
        record = _record(app, FEEDS)
        out = Path(app.outdir)
        if (record is not None and record.get("fingerprint") == value
                and isinstance(record.get("feeds"), list)
                and all(_same(out / f, s) for f, s in record["feeds"])):
            return []
        _forget(app, FEEDS)
        # one of a collection that is gone is pruned (sphinx_ext._prune_leftovers)
        _pending(app)[FEEDS] = {"fingerprint": value, "feeds": sorted(
            [f.relative_to(out).as_posix(), _stamp_of(f)] for f in write(app))}
        return []

    return feeds


def _stamp_of(path: Path) -> list[int] | None:
    found = stamp(path)
    return None if found is None else list(found)


def _same(path: Path, recorded: Any) -> bool:
    return recorded is not None and _stamp_of(path) == recorded


def wrap_collect_pages(app: Sphinx) -> None:
    """At builder-inited: ABlog's listing pages, and publish's feeds in place of ABlog's,
    each kept when unchanged."""
    from publisher.compat import ablog
    from publisher.compat.sphinx import replace_listener

    replace_listener(app, "html-collect-pages", ablog.LISTINGS,
                     listings_when_changed(paginated(ablog.LISTINGS)))
    replace_listener(app, "html-collect-pages", ablog.FEEDS, feeds_when_changed(write_feeds))


def _plain(value: Any) -> Any:
    """*value* as JSON, for a fingerprint: strings, numbers and their lists and dicts;
    anything else (functions, objects) as its type's name."""
    if value is None or isinstance(value, str | int | float | bool):
        return value
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in sorted(value.items(), key=lambda kv: str(kv[0]))}
    return f"<{type(value).__qualname__}>"


def _files(folder: Path) -> list[list[Any]]:
    found: list[list[Any]] = []
    for parent, _dirs, names in os.walk(folder):
        for name in names:
            path = Path(parent, name)
            found.append([path.as_posix(), _stamp_of(path)])
    return sorted(found)


def _static_inputs(app: Sphinx) -> str:
    builder: Any = app.builder
    config = app.config
    folders = [Path(d, "static") for d in reversed(builder.theme.get_theme_dirs())] \
        if getattr(builder, "theme", None) else []
    folders += [Path(app.confdir, entry) for entry in config.html_static_path]
    files = [_files(f) for f in folders]
    single = [Path(app.confdir, p) for p in (config.html_logo, config.html_favicon)
              if p and "://" not in str(p)]
    context = dict(builder.globalcontext)
    if builder.indexer is not None:
        context.update(builder.indexer.context_for_searchtool())
    return digest([(Path(app.confdir) / "conf.py").read_bytes(),
                   json.dumps([[f.as_posix() for f in folders], files,
                               [[p.as_posix(), _stamp_of(p)] for p in single],
                               _plain(context)], default=str)], length=64)


def static_when_changed(app: Sphinx) -> None:
    """At builder-inited: the HTML builder copies the themes' static files (and renders
    the templated ones) only when a source file or the templates' context changed, or a
    file in ``_static`` is gone or changed since."""
    wrap_static_copy(app, lambda original: lambda: _copy_static_files(app, original))


def _copy_static_files(app: Sphinx, original: Callable[[], None]) -> None:
    """Sphinx's copy of the static files, when what it copies changed."""
    out = Path(app.outdir)
    inputs = _static_inputs(app)
    record = _record(app, STATIC)
    # what is in _static is recorded when the build finished: a theme writes its
    # pygments.css again then, on every build
    _pending(app)[STATIC] = {"inputs": inputs, "files": None}
    if (record is not None and record.get("inputs") == inputs
            and isinstance(record.get("files"), list)
            and all(_same(out / f, s) for f, s in record["files"])):
        return
    for name, _ in record.get("files") or [] if record is not None else []:
        # what the last copy left, made afresh (a language's stemmer, a theme's
        # file: from the old sources, none of them should stay)
        if str(name).startswith("_static/") and ".." not in Path(name).parts:
            (out / name).unlink(missing_ok=True)
    warned = warning_count(app)
    original()
    if warning_count(app) != warned:  # a file not copied: no record
        _pending(app).pop(STATIC, None)


def finished(app: Sphinx, exc: Exception | None) -> None:
    """At build-finished (last): write this build's records, if it succeeded."""
    pending = _pending(app)
    vars(app)["publish_kept"] = {}
    if exc is not None:
        return
    out = Path(app.outdir)
    for name, record in pending.items():
        if name == STATIC:  # every file there, as this build leaves it
            record["files"] = [[Path(f).relative_to(out).as_posix(), s]
                               for f, s in _files(out / "_static")]
        (out / name).write_text(json.dumps(record))
