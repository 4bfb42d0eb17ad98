"""Our Sphinx extension: the launch badges and the Environment box on each post page.

The generated notebook of a post carries a ``publish-post`` directive whose content is
JSON (slug, env id, env files, links). Keeping that data *in the document* means a
change to one post's environment re-reads only that post.
"""

from __future__ import annotations

import html
import json
from pathlib import Path
from typing import Any

from docutils import nodes
from docutils.parsers.rst import Directive
from sphinx.application import Sphinx

STATIC = Path(__file__).resolve().parent.parent / "templates" / "static"


def _badge(href: str, label: str, value: str, cls: str, title: str) -> str:
    return (
        f'<a class="publish-badge {cls}" href="{html.escape(href)}" title="{html.escape(title)}">'
        f'<span class="publish-badge-label">{html.escape(label)}</span>'
        f'<span class="publish-badge-value">{html.escape(value)}</span></a>'
    )


def render_post_box(data: dict[str, Any]) -> str:
    """HTML for the badges row and the Environment box (pure; unit-tested)."""
    badges = []
    if data.get("launch_url"):
        badges.append(_badge(data["launch_url"], "launch", "live notebook", "publish-launch",
                             "Start a live Jupyter session of this post, in its own "
                             "environment"))
    if data.get("binder_url"):
        badges.append(_badge(data["binder_url"], "launch", "binder", "publish-binder",
                             "Open this post in its own environment on a BinderHub"))
    if data.get("colab_url"):
        badges.append(_badge(data["colab_url"], "open in", "colab", "publish-colab",
                             "Open this notebook in Google Colab"))
    live = data.get("live")
    if live:
        badges.append(
            f'<button type="button" class="publish-badge publish-live" aria-pressed="false" '
            f'aria-label="Run code here" data-live="{html.escape(json.dumps(live))}" '
            f'title="Make the code cells of this page editable and runnable, in this post\'s '
            f'own environment"><span class="publish-badge-label">run</span>'
            f'<span class="publish-badge-value">code here</span></button>')
    for label, href in data.get("downloads", []):
        badges.append(_badge(href, "download", label, "publish-download",
                             f"Download the {label}"))
    files = data.get("env_files") or []
    files_html = (
        ", ".join(f"<code>{html.escape(f)}</code>" for f in files)
        if files else "no environment files (the runtime only)"
    )
    packages = data.get("packages") or []
    pkg_html = ""
    if packages:
        items = "".join(f"<li><code>{html.escape(p)}</code></li>" for p in packages[:12])
        more = f"<li>… {len(packages) - 12} more</li>" if len(packages) > 12 else ""
        pkg_html = f'<ul class="publish-env-packages">{items}{more}</ul>'
    computed = html.escape(data.get("computed", ""))
    return (
        f'<div class="publish-badges" role="group" aria-label="Launch and download">'
        f'{"".join(badges)}</div>'
        f'<aside class="publish-env" aria-label="Environment">'
        f'<p class="publish-env-title">Environment</p>'
        f"<p>Files: {files_html} <span class=\"publish-env-origin\">"
        f"({html.escape(data.get('env_origin', ''))})</span></p>"
        f"{pkg_html}"
        f'<p>Env id <code class="publish-env-id">{html.escape(data["env_id"])}</code>'
        f"{' · ' + computed if computed else ''}</p></aside>"
    )


class PublishPostDirective(Directive):  # type: ignore[misc]
    has_content = True

    def run(self) -> list[nodes.Node]:
        try:
            data = json.loads("\n".join(self.content))
        except ValueError as exc:
            raise self.error(f"publish-post: invalid JSON: {exc}") from exc
        return [nodes.raw("", render_post_box(data), format="html")]


def _pydata_components() -> str:
    import pydata_sphinx_theme

    return str(Path(pydata_sphinx_theme.__file__).parent / "theme" / "pydata_sphinx_theme"
               / "components")


def _stable_config(app: Sphinx, config: Any) -> None:
    """Give the fresh config, at config-inited, the values the build adds later.

    Sphinx compares the pickled config (as it was at the end of the last build) with a
    fresh one; a difference makes it rewrite every page. Our static folder and the pydata
    theme's components folder (appended by the theme when the builder starts) are added
    here already, so the two agree and a no-op build writes nothing.
    """
    if str(STATIC) not in config.html_static_path:
        config.html_static_path.append(str(STATIC))
    if _pydata_components() not in config.templates_path:
        config.templates_path.append(_pydata_components())
    config.templates_path[:] = list(dict.fromkeys(config.templates_path))


def _dedupe_templates(app: Sphinx) -> None:
    # the theme appends its components folder once more when the builder starts
    app.config.templates_path[:] = list(dict.fromkeys(app.config.templates_path))


def setup(app: Sphinx) -> dict[str, Any]:
    app.add_directive("publish-post", PublishPostDirective)
    app.connect("config-inited", _stable_config, priority=900)
    app.connect("builder-inited", _dedupe_templates)
    app.add_css_file("publish.css")
    app.add_js_file("publish-live.js", loading_method="defer")
    return {"version": "1", "parallel_read_safe": True, "parallel_write_safe": True}
