"""Pure parts of charts and citations: Pandoc citations as sphinxcontrib-bibtex
roles, and Vega/Bokeh outputs rewritten (CDN mode, and when a library cannot be had).
The built pages and the browser: tests/test_rich_outputs.py."""

from __future__ import annotations

import json
from pathlib import Path

import nbformat
import pytest

from publisher.content.quarto import quarto_markdown
from publisher.errors import PublishError
from publisher.pipeline import charts, npm

FIXTURES = Path(__file__).resolve().parent / "conventions" / "rich-outputs"


@pytest.mark.parametrize(("text", "want"), [
    ("as shown [@knuth1984].", "as shown {cite:p}`knuth1984`."),
    ("[@a; @b]", "{cite:p}`a,b`"),
    ("[see @a, p. 3; @b]", "{cite:p}`{see}a{p. 3},b`"),
    ("[-@a]", "({cite:year}`a`)"),
    ("[@a] and @b said", "{cite:p}`a` and {cite:t}`b` said"),
    ("mail me@example.org or @someone", "mail me@example.org or @someone"),
    ("[@fig-x] and @eq-y", "{numref}`fig-x` and {eq}`eq-y`"),
    ("[@a](https://x.org)", "[@a](https://x.org)"),
    ("`[@a]` in code", "`[@a]` in code"),
])
def test_pandoc_citations(text: str, want: str) -> None:
    assert quarto_markdown(text, []) == want


def test_a_bare_key_is_a_citation_only_where_the_post_cites() -> None:
    assert quarto_markdown("As @markov1906 showed", [], cites=True) == \
        "As {cite:t}`markov1906` showed"
    assert quarto_markdown("As @markov1906 showed", []) == "As @markov1906 showed"


def _outputs(nb: nbformat.NotebookNode) -> list[dict[str, object]]:
    return [o["data"] for c in nb.cells if c.cell_type == "code" for o in c.outputs]


def test_cdn_mode_loads_the_libraries_from_jsdelivr() -> None:
    vega = nbformat.read(FIXTURES / "vega-charts" / "index.ipynb", as_version=4)
    bokeh = nbformat.read(FIXTURES / "bokeh-chart" / "index.ipynb", as_version=4)
    charts.draw_charts(vega, "cdn")
    charts.draw_charts(bokeh, "cdn")
    html = [str(d["text/html"]) for d in _outputs(vega)]
    assert len(html) == 3 and all("cdn.jsdelivr.net/npm/vega-embed@6.26.0/" in h for h in html)
    assert not any(m in d for d in _outputs(vega) for m in charts.VEGA_MIMES)
    [only] = _outputs(bokeh)  # the load output and the "Loading BokehJS" banner are gone
    assert "cdn.jsdelivr.net/npm/@bokeh/bokehjs@3.4.1/build/js/bokeh.min.js" in str(
        only["text/html"])
    assert "application/javascript" not in only and charts.BOKEH_EXEC not in only


def test_without_the_libraries_an_image_or_a_note_never_a_blank(
        monkeypatch: pytest.MonkeyPatch) -> None:
    def no_network(pkg: npm.Package) -> Path:
        raise PublishError("offline")

    monkeypatch.setattr(npm, "fetch", no_network)
    nb = nbformat.read(FIXTURES / "vega-charts" / "index.ipynb", as_version=4)
    nb.cells[1].outputs[0]["data"]["image/png"] = "iVBORw0KGgo="
    charts.draw_charts(nb, "site")
    first, second, _ = _outputs(nb)
    assert "text/html" not in first and first["image/png"]  # the output's image
    assert "could not be drawn" in str(second["text/html"])  # a note
    bokeh = nbformat.read(FIXTURES / "bokeh-chart" / "index.ipynb", as_version=4)
    charts.draw_charts(bokeh, "site")
    [only] = _outputs(bokeh)
    assert "could not be drawn" in str(only["text/html"])
    assert "application/javascript" not in only
    assert json.dumps(only).count("cdn.bokeh.org") == 0
