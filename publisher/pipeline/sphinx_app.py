"""Stage 5, rendering: run Sphinx on the project :mod:`render` wrote.

A long-lived process keeps one Sphinx application per output folder
(:class:`SphinxApps`): a second build re-reads only what changed (~0.4 s) instead of paying
Sphinx's start-up (~3 s). A render in another language than the process's first runs in
a fresh process (:mod:`publisher.pipeline.render_apart`).
"""

from __future__ import annotations

import contextlib
import io
import json
import re
import secrets
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from publisher import proc
from publisher.errors import BuildFailed, PublishError
from publisher.pipeline.reads import REFUSED, refusals
from publisher.pipeline.sphinx_warnings import Touched, keep, watch

# a kept application holds the environment of the doctrees folder it made; this file
# there names the application (not after that folder was deleted or replaced)
APP_TOKEN = ".publish-app"
LANGUAGE_FILE = ".publish-language"


class FilesRefused(BuildFailed):
    """Pages that name files outside the site (:mod:`publisher.pipeline.reads`): each
    refusal with the author's file and line, by document."""

    def __init__(self, by_doc: dict[str, list[str]]) -> None:
        self.by_doc = by_doc
        super().__init__([m for messages in by_doc.values() for m in messages],
                         "The build failed (the site was not changed):")


@dataclass
class KeptApp:
    conf: str  # the conf.py it was made with
    app: Any
    warnings: io.StringIO
    token: str
    touched: Touched  # the documents each build reads or writes


@dataclass
class SphinxApps:
    """The Sphinx applications of a long-lived process, by (source, output)."""

    apps: dict[tuple[str, str], KeptApp] = field(default_factory=dict)


# The language of this process's Sphinx applications. Sphinx translates some of its
# words once per process, when its modules are imported (the module index's title…):
# that state is Sphinx's and process-wide, so this record of it is too. A render in
# another language runs in a fresh process instead.
_LANGUAGE: list[str] = []


def run_sphinx(src: Path, out: Path, doctrees: Path,
               kept: SphinxApps | None = None) -> list[str]:
    """Render *src* into *out*; returns every warning of the site's documents, those of
    documents reused from Sphinx's cache too (:mod:`.sphinx_warnings`; raises on
    errors). *kept*: the applications of earlier builds of a long-lived process (None: a
    new one)."""
    from sphinx.errors import SphinxError
    from sphinx.util.console import nocolor

    nocolor()
    kept = kept if kept is not None else SphinxApps()
    key = (str(src), str(out))
    conf = (src / "conf.py").read_text()
    found = re.search(r"^language = (.*)$", conf, re.MULTILINE)
    language = found[1] if found else ""
    if _LANGUAGE and _LANGUAGE[0] != language:
        return _run_sphinx_apart(src, out, doctrees)
    current = kept.apps.get(key)
    token = doctrees / APP_TOKEN
    if current is not None and not (token.is_file() and token.read_text() == current.token):
        current = None
    app: Any = None
    warnings = current.warnings if current is not None else io.StringIO()
    try:
        if current is None or current.conf != conf:
            warnings = io.StringIO()  # what Sphinx says from its start: read on a failure
            current = kept.apps[key] = _new_app(src, out, doctrees, conf, language, warnings)
        app, warnings = current.app, current.warnings
        start = warnings.tell()
        current.touched.docs.clear()
        app.build()  # leftovers of removed posts are pruned by sphinx_ext
    except (SphinxError, Exception) as exc:
        kept.apps.pop(key, None)
        if app is not None and (refused := refusals(app)):  # what made it fail, said
            raise FilesRefused(refused) from None
        text = warnings.getvalue().strip()
        raise PublishError(
            f"rendering failed: {exc}" + (f"\nSphinx said:\n{text}" if text else "")
        ) from exc
    if refused := refusals(app):  # pages that name files outside the site
        raise FilesRefused(refused)
    return keep(doctrees, src, _new_warnings(warnings, start), current.touched.docs,
                set(app.env.found_docs))


def _new_app(src: Path, out: Path, doctrees: Path, conf: str, language: str,
             warnings: io.StringIO) -> KeptApp:
    from sphinx.application import Sphinx

    # Sphinx keeps the labels it translated (the module index's…) in a saved
    # environment whatever the language: a new language starts a new one
    said = doctrees / LANGUAGE_FILE
    fresh = not said.is_file() or said.read_text() != language
    _LANGUAGE[:] = [language]
    # sphinxext-opengraph prints a note on import when matplotlib is missing (for
    # its generated cards, which publish does not use)
    with contextlib.redirect_stdout(io.StringIO()):
        app = Sphinx(
            str(src), str(src), str(out), str(doctrees), "html",
            status=None, warning=warnings, freshenv=fresh, verbosity=0,
        )
    made = KeptApp(conf, app, warnings, secrets.token_hex(8), watch(app))
    doctrees.mkdir(parents=True, exist_ok=True)
    (doctrees / APP_TOKEN).write_text(made.token)
    said.write_text(language)
    return made


def _new_warnings(warnings: io.StringIO, start: int) -> list[str]:
    """What Sphinx said since *start*: its warnings (--strict judges them all, kept ones
    too: an application's status code stays failed after one failed build)."""
    warnings.seek(start)
    return [
        line for line in warnings.read().splitlines()
        # a second Sphinx app in one process re-registers the extensions' nodes: harmless;
        # a refused file is said by FilesRefused, not as the file a reader did not find
        if line.strip() and "is already registered" not in line and REFUSED not in line
    ]


def _run_sphinx_apart(src: Path, out: Path, doctrees: Path) -> list[str]:
    with tempfile.TemporaryDirectory(prefix="publish-render-") as tmp:
        result = Path(tmp) / "warnings.json"
        # -P and the source folder as the working one: no module of the site's shadows
        # one Sphinx imports
        res = proc.run([sys.executable, "-P", "-m", "publisher.pipeline.render_apart",
                        str(src), str(out), str(doctrees), str(result)], cwd=src)
        if res.returncode != 0:
            raise PublishError(res.stderr.strip()[-4000:]
                               or f"rendering failed (exit {res.returncode})")
        try:
            found = json.loads(result.read_text())
            warnings, refused = found["warnings"], found["refused"]
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise PublishError(f"rendering gave no result: {exc}") from exc
        if refused:
            raise FilesRefused(refused)
        return [str(w) for w in warnings]
