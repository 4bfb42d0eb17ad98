"""Plotly outputs drawn as in JupyterLab.

A notebook saved by JupyterLab holds a Plotly chart as its figure
(``application/vnd.plotly.v1+json``), an HTML part that calls RequireJS (``require is not
defined`` in a page: a blank box) and often a PNG. The figure is drawn here by plotly.js,
served from the site like MathJax (fetched once from the npm registry; ``[site] math =
"cdn"``: from jsDelivr); when plotly.js cannot be had, or fails to load in the reader's
browser, the output's own image is shown instead.
"""

from __future__ import annotations

import html
import json
import shutil
from pathlib import Path
from typing import Any

from nbformat import NotebookNode

from publisher.errors import PublishError
from publisher.pipeline import npm
from publisher.pipeline.charts import IMAGES, draw_charts, image_tag

PLOTLY = npm.Package(
    "plotly.js-dist-min", "2.35.3",
    "sha512-sz2HLP8gkysLx/BanM2PtJTtZ1PLPwdHwMWNri2YxLBy3IOeuDsVQtlmWa4hoK3j/fi4naaD3uZJqH5ozM3zGg==",
    folder=".", main="plotly.min.js", keep=("plotly.min.js",))
PLOTLY_MIME = "application/vnd.plotly.v1+json"
PLOTLY_CDN = f"https://cdn.jsdelivr.net/npm/{PLOTLY.name}@{PLOTLY.version}/{PLOTLY.main}"

# one loader per page, shared by the page's charts; RequireJS (if a page has it) must not
# take plotly.js as an anonymous module
LOADER = """(function () {
  var box = document.currentScript.parentElement;
  function shown(ok) {
    var img = box.querySelector(".publish-plotly-image");
    if (img) { if (ok) { img.remove(); } else { img.hidden = false; } }
    if (!ok) { box.querySelector(".publish-plotly-chart").remove(); }
  }
  function draw() {
    var fig = JSON.parse(box.querySelector("script[type='application/json']").textContent);
    var config = Object.assign({responsive: true}, fig.config || {});
    window.Plotly.newPlot(box.querySelector(".publish-plotly-chart"), fig.data || [],
                          fig.layout || {}, config).then(function () { shown(true); },
                                                         function () { shown(false); });
  }
  if (!window.publishPlotly) {
    window.publishPlotly = new Promise(function (ok, no) {
      if (window.Plotly) { return ok(); }
      var define = window.define, tag = document.createElement("script");
      window.define = undefined;
      tag.src = box.getAttribute("data-src");
      tag.onload = function () { window.define = define; ok(); };
      tag.onerror = function () { window.define = define; no(); };
      document.head.appendChild(tag);
    });
  }
  window.publishPlotly.then(draw, function () { shown(false); });
})();"""


def plotly_cache() -> Path:
    """Where plotly.js is in the cache once fetched."""
    from publisher.paths import cache_root

    return cache_root() / "npm" / f"{PLOTLY.name}-{PLOTLY.version}"


def plotly_lib(math: str) -> Path | None:
    """plotly.js's folder in the cache (``math = "site"``), fetched on first use; None when
    it comes from its CDN or cannot be had."""
    if math != "site":
        return None
    try:
        return npm.fetch(PLOTLY)
    except PublishError:
        return None


def plotly_src(math: str, lib: Path | None, depth: str = "../../") -> str:
    """Where a post's page (*depth* below the site) loads plotly.js from; "" none."""
    if math != "site":
        return PLOTLY_CDN
    return f"{depth}{PLOTLY.out_dir}/{PLOTLY.main}" if lib is not None else ""


def copy_plotly(lib: Path, out: Path) -> None:
    """plotly.js into an output folder (when it is not there as it is already)."""
    src, dest = lib / PLOTLY.main, out / PLOTLY.out_dir / PLOTLY.main
    if dest.is_file() and dest.stat().st_size == src.stat().st_size:
        return
    dest.parent.mkdir(parents=True, exist_ok=True)
    shutil.copy2(src, dest)


def plotly_html(figure: Any, data: dict[str, Any], src: str) -> str:
    """The chart's HTML: the figure, plotly.js's loader, the output's image as fallback."""
    fig = json.dumps(figure if isinstance(figure, dict) else {}, separators=(",", ":"))
    fig = fig.replace("</", "<\\/")  # no "</script>" inside the figure ends its script
    layout = figure.get("layout", {}) if isinstance(figure, dict) else {}
    height = layout.get("height") if isinstance(layout.get("height"), int | float) else 450
    return (f'<div class="publish-plotly" data-src="{html.escape(src)}">'
            f'<div class="publish-plotly-chart" style="width:100%;height:{height}px"></div>'
            f'{image_tag(data, "publish-plotly-image", "a Plotly chart")}'
            f'<script type="application/json">{fig}</script>'
            f"<script>{LOADER}</script></div>")


def rich_outputs(nb: NotebookNode, math: str) -> None:
    """Every Plotly output of *nb* drawn by plotly.js (from the site with *math* "site",
    else from its CDN); when plotly.js cannot be had, the output's image (when it has one)
    in place of its RequireJS HTML. Vega and Bokeh outputs: :mod:`.charts`."""
    draw_charts(nb, math)
    src: str | None = None
    for cell in nb.cells:
        for output in cell.get("outputs", []) if cell.cell_type == "code" else []:
            data = output.get("data")
            if not isinstance(data, dict) or PLOTLY_MIME not in data:
                continue
            if src is None:
                src = plotly_src(math, plotly_lib(math))
            if src:
                data["text/html"] = plotly_html(data[PLOTLY_MIME], data, src)
            elif any(m in data for m in IMAGES):
                data.pop("text/html", None)
            data.pop(PLOTLY_MIME, None)
