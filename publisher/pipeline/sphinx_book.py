"""Sphinx side of Jupyter Book's conventions (:mod:`publisher.pipeline.extensions`).

- A post's ``{cite}`` roles cite the post's own bibliography first: its keys are in the
  site's one database prefixed with the post's slug.
- An unknown directive keeps its content: MyST's warning (at the author's file and line)
  stays, and the content is shown in a box named after the directive, where Sphinx would
  drop it.
- An unknown role keeps its text: MyST's warning stays, the text is shown as literal text.
- plotly.js, vega and BokehJS into the output, when pages draw such charts from the site.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

from docutils import nodes
from sphinx.application import Sphinx

from publisher.pipeline.extensions import KEY_SEPARATOR

POST_DOC = re.compile(r"^posts/([^/]+)/index$")
KEY = r"(?<![^\s,}}]){key}(?![^\s,{{])"


def _post_keys(target: str, slug: str, known: Any) -> str:
    """*target* (``key1,key2`` with optional ``{pre}``/``{post}`` text) with each key the
    post's own bibliography has replaced by its prefixed key."""
    from sphinxcontrib.bibtex.citation_target import parse_citation_targets

    try:
        keys = [t.key for t in parse_citation_targets(target)]
    except Exception:  # sphinxcontrib-bibtex says what is wrong with it
        return target
    for key in dict.fromkeys(keys):
        own = f"{slug}{KEY_SEPARATOR}{key}"
        if own in known:
            target = re.sub(KEY.format(key=re.escape(key)), own.replace("\\", "\\\\"), target)
    return target


def _own_keys(original: Callable[..., Any]) -> Callable[..., Any]:
    """sphinxcontrib-bibtex's citation roles, finding a post's own keys first."""

    def result_nodes(self: Any, document: Any, env: Any, node: Any, is_ref: bool) -> Any:
        found = POST_DOC.match(env.docname)
        if found:
            known = env.get_domain("cite").bibdata.data.entries
            target = _post_keys(self.target, found[1], known)
            if target != self.target:
                self.target = node["reftarget"] = target
        return original(self, document, env, node, is_ref)

    return result_nodes


def _own_bibliography(original: Callable[..., Any]) -> Callable[..., Any]:
    """A post's ``{bibliography}`` lists what the post cites (sphinxcontrib-bibtex's
    default, for a book, is what any page cites)."""

    def run(self: Any) -> Any:
        env = self.state.document.settings.env
        if POST_DOC.match(env.docname) and not {"filter", "all", "cited", "notcited"} \
                & set(self.options):
            self.options["filter"] = "docname in docnames"
        return original(self)

    return run


def _content_kept(original: Callable[..., Any]) -> Callable[..., Any]:
    """MyST's renderer: an unknown directive's content shown, not dropped."""
    from docutils.parsers.rst import directives

    def run_directive(self: Any, name: str, first_line: str, content: str, position: int,
                      additional_options: dict[str, str] | None = None, *,
                      block_text: str | None = None) -> list[nodes.Element]:
        result: list[nodes.Element] = original(
            self, name, first_line, content, position, additional_options,
            block_text=block_text)
        known, _ = directives.directive(name, self.language_module_rst, self.document)
        if known is not None:
            return result
        box = nodes.admonition(classes=["publish-unknown-directive"])
        box += nodes.title(text=f"{name} {first_line}".strip())
        box.source, box.line = self.document["source"], position
        with self.current_node_context(box):
            self.nested_render_text(content, position + 1)
        return [*result, box]

    return run_directive


def _text_kept(original: Callable[..., Any]) -> Callable[..., Any]:
    """MyST's renderer: an unknown role's text shown as literal text, not dropped."""
    from docutils.parsers.rst import roles

    def render_myst_role(self: Any, token: Any) -> None:
        original(self, token)
        name = token.meta["name"]
        known, _ = roles.role(name, self.language_module_rst, 0, self.reporter)
        if known is None:
            self.current_node += nodes.literal(f":{name}:`{token.content}`", token.content,
                                               classes=["publish-unknown-role"])

    return render_myst_role


def _plotly_page(app: Sphinx, pagename: str, templatename: str, context: dict[str, Any],
                 doctree: Any) -> None:
    if 'class="publish-plotly"' in str(context.get("body", "")):
        vars(app)["publish_plotly"] = True
    body = str(context.get("body", ""))
    if 'class="publish-vega"' in body or 'class="publish-bokeh"' in body:
        from publisher.pipeline.charts import copy_libraries

        copy_libraries(body, Path(app.outdir))


def _copy_plotly(app: Sphinx, exc: Exception | None) -> None:
    lib = app.config.publish_plotly_lib
    if exc is None and getattr(app, "publish_plotly", False) and lib and Path(lib).is_dir():
        from publisher.pipeline.richoutputs import copy_plotly

        copy_plotly(Path(lib), Path(app.outdir))


def setup(app: Sphinx) -> dict[str, Any]:
    from publisher.compat import bibtex, myst

    bibtex.wrap_cite_role(_own_keys)
    bibtex.wrap_bibliography(_own_bibliography)
    myst.wrap_run_directive(_content_kept)
    myst.wrap_render_role(_text_kept)
    app.add_config_value("publish_plotly_lib", "", "env", types=frozenset({str}))
    app.connect("html-page-context", _plotly_page)
    app.connect("build-finished", _copy_plotly)
    return {"version": "1", "parallel_read_safe": True, "parallel_write_safe": True}
