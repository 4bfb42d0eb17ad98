"""Altair/Vega and Bokeh outputs drawn as in JupyterLab (:mod:`.richoutputs` does Plotly).

JupyterLab draws ``application/vnd.vegalite.v4+json``/``v5+json`` and
``application/vnd.vega.v5+json`` with vega-embed, and Bokeh's ``output_notebook()`` /
``show()`` outputs with BokehJS, which the load output fetches from cdn.bokeh.org. Here
the libraries come from the npm registry (pinned, their integrity checked) and are served
from the site (``[site] math = "cdn"``: from jsDelivr), loaded only by pages with such a
chart. BokehJS is the version the output names (its integrity as the registry publishes
it), else a pinned one. When a library cannot be had, or fails in the reader's browser,
the output's image is shown, else a note saying what is missing: never a blank box.
"""

from __future__ import annotations

import base64
import html
import json
import re
from pathlib import Path
from typing import Any

from nbformat import NotebookNode

from publisher.errors import PublishError
from publisher.pipeline import npm

VEGA = npm.Package(
    "vega", "5.30.0",
    "sha512-ZGoC8LdfEUV0LlXIuz7hup9jxuQYhSaWek2M7r9dEHAPbPrzSQvKXZ0BbsJbrarM100TGRpTVN/l1AFxCwDkWw==",
    folder="build", main="vega.min.js", keep=("vega.min.js",))
VEGA_LITE = npm.Package(
    "vega-lite", "5.21.0",
    "sha512-hNxM9nuMqpI1vkUOhEx6ewEf23WWLmJxSFJ4TA86AW43ixJyqcLV+iSCO0NipuVTE0rlDcc2e8joSewWyOlEwA==",
    folder="build", main="vega-lite.min.js", keep=("vega-lite.min.js",))
VEGA_EMBED = npm.Package(
    "vega-embed", "6.26.0",
    "sha512-AZCTdKHDAuhp6TFZRQOOs332tStCwZr/5e4uZMNEuJL69A57cT66NNZJdNiCP6u66REzIToYtMJhMTL9wl5B3A==",
    folder="build", main="vega-embed.min.js", keep=("vega-embed.min.js",))
VEGA_MIMES = {"application/vnd.vegalite.v5+json": "vega-lite",
              "application/vnd.vegalite.v4+json": "vega-lite",
              "application/vnd.vega.v5+json": "vega"}
BOKEH_NAME = "bokehjs"
BOKEH_SCOPE = "@bokeh/bokehjs"
BOKEH_FILES = ("bokeh.min.js", "bokeh-gl.min.js", "bokeh-widgets.min.js",
               "bokeh-tables.min.js", "bokeh-mathjax.min.js")
BOKEH_PINNED = {  # version: the registry's integrity; the last is used when none is named
    "3.4.1": "sha512-s7eCG9gEcGE5/e+eSCIS26rtqJ5G5gilnIOjPRwmulQ5I8XafZvRlCOZBuZmTvrI1jtK3QOdq"
             "C/YX4+GYMfHhw==",
    "3.10.0": "sha512-Vm6XsrtOfzS9W2dZkp576SijCxlNPZHB2nOknO987EpYWvr+s3LVTMZD9bvTtZOIOehS4xf"
              "BmmxZIgAllGE/BA==",
}
BOKEH_LOAD = "application/vnd.bokehjs_load.v0+json"
BOKEH_EXEC = "application/vnd.bokehjs_exec.v0+json"
BOKEH_VERSION = re.compile(r"bokeh-(\d+\.\d+\.\d+(?:(?:\.dev|rc)\d+)?)\.min\.js|"
                           r"\"version\"\s*:\s*\"(\d+\.\d+\.\d+(?:(?:\.dev|rc)\d+)?)\"")
BOKEH_EXTRA = re.compile(r"bokeh-(gl|widgets|tables|mathjax)-\d")
SCRIPT = re.compile(r"<script[^>]*>(.*?)</script>", re.S | re.I)
IMAGES = ("image/svg+xml", "image/png", "image/jpeg")

# one loader shared by a page's charts: the scripts in order, once; RequireJS (if a page
# has it) must not take them as anonymous modules
LOAD = """window.publishLoad = window.publishLoad || function (srcs) {
  var loaded = window.publishLoaded = window.publishLoaded || {}, key = srcs.join(" ");
  if (!loaded[key]) {
    loaded[key] = srcs.reduce(function (done, src) {
      return done.then(function () { return new Promise(function (ok, no) {
        var define = window.define, tag = document.createElement("script");
        window.define = undefined;
        tag.src = src;
        tag.onload = function () { window.define = define; ok(); };
        tag.onerror = function () { window.define = define; no(new Error(src)); };
        document.head.appendChild(tag);
      }); });
    }, Promise.resolve());
  }
  return loaded[key];
};
function publishShown(box, ok) {
  var other = box.querySelector(".publish-chart-fallback");
  if (other) { if (ok) { other.remove(); } else { other.hidden = false; } }
  if (!ok) { box.querySelector(".publish-chart").remove(); }
}"""
VEGA_DRAW = """(function () {
  var box = document.currentScript.parentElement;
  var spec = JSON.parse(box.querySelector("script[type='application/json']").textContent);
  publishLoad(JSON.parse(box.getAttribute("data-srcs"))).then(function () {
    return window.vegaEmbed(box.querySelector(".publish-chart"), spec, {
      mode: box.getAttribute("data-mode"),
      actions: {export: true, source: false, compiled: false, editor: false}});
  }).then(function () { publishShown(box, true); },
          function (e) { console.warn("vega-embed:", e); publishShown(box, false); });
})();"""
BOKEH_DRAW = """(function () {
  var box = document.currentScript.parentElement;
  publishLoad(JSON.parse(box.getAttribute("data-srcs"))).then(function () {
    publishShown(box, true);
    %s
  }, function (e) { console.warn("BokehJS:", e); publishShown(box, false); });
})();"""


def text(value: Any) -> str:
    """A notebook output's value: a string, or a list of lines."""
    return "".join(value) if isinstance(value, list) else str(value)


def image_tag(data: dict[str, Any], css_class: str, alt: str, hidden: bool = True) -> str:
    """The output's own image (SVG, PNG or JPEG) as an ``<img>``, or "" without one."""
    for mime in IMAGES:
        if mime in data:
            body = text(data[mime]).replace("\n", "")
            if mime == "image/svg+xml":
                body = base64.b64encode(body.encode()).decode()
            return (f'<img class="{css_class}" alt="{html.escape(alt)}"'
                    f'{" hidden" if hidden else ""} src="data:{mime};base64,{body}">')
    return ""


def _fallback(data: dict[str, Any], what: str, hidden: bool = True) -> str:
    """The output's image, else a note: shown when the chart cannot be drawn."""
    image = image_tag(data, "publish-chart-fallback", what, hidden)
    if image:
        return image
    flag = " hidden" if hidden else ""
    return (f'<div class="publish-chart-fallback admonition note"{flag}><p>{html.escape(what)} '
            "could not be drawn here: its library did not load. Run the notebook to see "
            "it.</p></div>")


def _script_json(value: Any) -> str:
    return json.dumps(value, separators=(",", ":")).replace("</", "<\\/")


class Libraries:
    """Where a page below the site (``../../``) loads each library from, fetching it into
    the cache on first use (``math = "site"``); None when it cannot be had."""

    def __init__(self, math: str, depth: str = "../../") -> None:
        self.math, self.depth = math, depth
        self.known: dict[str, str | None] = {}

    def src(self, pkg: npm.Package, file: str) -> str | None:
        if self.math != "site":
            return f"https://cdn.jsdelivr.net/npm/{pkg.name}@{pkg.version}/{pkg.folder}/{file}"
        if pkg.tarball not in self.known:
            try:
                npm.fetch(pkg)
                self.known[pkg.tarball] = f"{self.depth}{pkg.out_dir}/"
            except PublishError:
                self.known[pkg.tarball] = None
        base = self.known[pkg.tarball]
        return None if base is None else base + file

    def vega(self) -> list[str] | None:
        srcs = [self.src(p, p.main) for p in (VEGA, VEGA_LITE, VEGA_EMBED)]
        return None if None in srcs else [s for s in srcs if s]

    def bokeh(self, version: str | None, extras: list[str]) -> list[str] | None:
        pkg = bokeh_package(version or list(BOKEH_PINNED)[-1], self.math == "site")
        if pkg is None:
            return None
        srcs = [self.src(pkg, f) for f in ("bokeh.min.js", *extras)]
        return None if None in srcs else [s for s in srcs if s]


def bokeh_package(version: str, fetching: bool) -> npm.Package | None:
    """BokehJS *version* (the registry's integrity unless pinned here); None when its
    integrity cannot be had."""
    integrity = BOKEH_PINNED.get(version, "")
    if not integrity and fetching and not bokeh_cached(version):
        try:
            integrity = npm.published_integrity(BOKEH_SCOPE, version)
        except PublishError:
            return None
    return npm.Package(BOKEH_SCOPE, version, integrity or "sha512-cached",
                       folder="build/js", main="bokeh.min.js", keep=BOKEH_FILES)


def bokeh_cached(version: str) -> bool:
    from publisher.paths import cache_root

    return (cache_root() / "npm" / f"{BOKEH_SCOPE}-{version}" / ".complete").is_file()


def vega_html(spec: Any, mode: str, data: dict[str, Any], srcs: list[str]) -> str:
    return (f'<div class="publish-vega" data-mode="{mode}" '
            f'data-srcs="{html.escape(json.dumps(srcs))}">'
            f'<div class="publish-chart"></div>{_fallback(data, "A Vega chart")}'
            f'<script type="application/json">{_script_json(spec)}</script>'
            f"<script>{LOAD}\n{VEGA_DRAW}</script></div>")


def bokeh_html(data: dict[str, Any], srcs: list[str]) -> str:
    """The exec output's element, and its embedding script run once BokehJS is loaded."""
    page = text(data.get("text/html", ""))
    code = text(data.get("application/javascript", "")) or "\n".join(SCRIPT.findall(page))
    code = code.replace("</", "<\\/")
    return (f'<div class="publish-bokeh" data-srcs="{html.escape(json.dumps(srcs))}">'
            f'<div class="publish-chart">{SCRIPT.sub("", page)}</div>'
            f'{_fallback(data, "A Bokeh chart")}'
            f"<script>{LOAD}\n{BOKEH_DRAW % code}</script></div>")


def _bokeh_banner(output: Any) -> bool:
    """The "Loading BokehJS ..." box output_notebook() prints before its load script."""
    data = output.get("data")
    return isinstance(data, dict) and set(data) <= {"text/html", "text/plain"} \
        and "BokehJS" in text(data.get("text/html", "")) \
        and "Loading" in text(data.get("text/html", ""))


def draw_charts(nb: NotebookNode, math: str) -> None:
    """Every Vega and Bokeh output of *nb* drawn by its library (see the module's doc)."""
    libs = Libraries(math)
    loads = [text(o["data"].get(BOKEH_LOAD, "")) for c in nb.cells
             for o in c.get("outputs", []) if isinstance(o.get("data"), dict)
             and BOKEH_LOAD in o["data"]]
    named = BOKEH_VERSION.search("\n".join(loads))
    extras = sorted({f"bokeh-{m[1]}.min.js" for m in BOKEH_EXTRA.finditer("\n".join(loads))})
    for cell in nb.cells:
        if cell.cell_type != "code":
            continue
        kept = []
        for output in cell.get("outputs", []):
            data = output.get("data")
            if (isinstance(data, dict) and BOKEH_LOAD in data) or (loads and _bokeh_banner(output)):
                continue  # BokehJS is loaded by the charts themselves
            if isinstance(data, dict):
                _one_output(data, libs, named, extras)
            kept.append(output)
        cell.outputs = kept


def _one_output(data: dict[str, Any], libs: Libraries, named: re.Match[str] | None,
                extras: list[str]) -> None:
    mime = next((m for m in VEGA_MIMES if m in data), "")
    if mime:
        srcs = libs.vega()
        if srcs:
            data["text/html"] = vega_html(data[mime], VEGA_MIMES[mime], data, srcs)
        elif not any(m in data for m in IMAGES):
            data["text/html"] = _fallback(data, "A Vega chart", hidden=False)
        for m in VEGA_MIMES:
            data.pop(m, None)
        return
    if BOKEH_EXEC in data:
        script = text(data.get("application/javascript", "")) + text(data.get("text/html", ""))
        found = named or BOKEH_VERSION.search(script)
        version = (found[1] or found[2]) if found else None
        srcs = libs.bokeh(version, extras)
        if srcs:
            data["text/html"] = bokeh_html(data, srcs)
        elif any(m in data for m in IMAGES):
            data.pop("text/html", None)
        else:
            data["text/html"] = _fallback(data, "A Bokeh chart", hidden=False)
        data.pop("application/javascript", None)
        data.pop(BOKEH_EXEC, None)


def copy_libraries(body: str, out: Path) -> None:
    """The libraries a page's *body* loads from the site (``_publish/<name>/<version>/``,
    in the cache since its notebook was rendered) into the output."""
    from publisher.paths import cache_root

    for name, version in set(re.findall(r"_publish/((?:@[\w.-]+/)?[\w.-]+)/([\w.-]+)/", body)):
        pkg = next((p for p in (VEGA, VEGA_LITE, VEGA_EMBED) if p.name == name), None)
        folder = pkg.folder if pkg else "build/js" if name == BOKEH_SCOPE else ""
        lib = cache_root() / "npm" / f"{name}-{version}" / folder
        if folder and (lib.parent if folder == "." else lib).is_dir() \
                and not (out / "_publish" / name / version).is_dir():
            npm.copy_into(npm.Package(name, version, "", folder, ""), lib, out)
