"""MathJax served from the site itself (see ``npm``): equations in pages and in notebook
outputs are typeset with no request leaving the site.

MathJax 3 carries its fonts and its on-demand TeX extensions in one package (MathJax 4
loads its fonts from a CDN of their own). A page with math (Sphinx's mathjax extension
loads it on those alone) loads MathJax's components one by one rather than its combined
``tex-mml-chtml.js`` (1.17 MB, 264 kB gzipped): the loader (``startup.js``), its core,
TeX input, CommonHTML output and its fonts, and the hidden MathML that screen readers
read (``LOAD``): 0.76 MB, 160 kB gzipped. Left out: MathML input (a page's ``<math>`` is
drawn by the browser itself) and the right-click menu (0.43 MB). The TeX extensions it
autoloads come from ``input/[tex]/``; the speech engine (4 MB) stays out.
"""

from __future__ import annotations

import shutil
from pathlib import Path

from publisher.pipeline import npm

MATHJAX = npm.Package(
    "mathjax", "3.2.2",
    "sha512-Bt+SSVU8eBG27zChVewOicYs7Xsdt40qm4+UpHyX7k0/O9NliPc+x77k1/FEsPsjKPZGJvtRZM1vO+geW0OhGw==",
    folder="es5", main="startup.js",
    # tex-mml-chtml.js: what builds before served (the cache is shared); not copied out
    keep=("startup.js", "core.js", "tex-mml-chtml.js", "input/", "output/chtml", "ui/",
          "a11y/", "adaptors/"))
SCRIPT = "startup.js"
LOAD = ["input/tex", "output/chtml", "a11y/assistive-mml"]  # core: the loader's own
UNUSED = "tex-mml-chtml.js"
CDN = f"https://cdn.jsdelivr.net/npm/mathjax@{MATHJAX.version}/es5/{SCRIPT}"


def mathjax_lib() -> Path:
    """MathJax's served files in the cache, fetched on first use; raises PublishError."""
    return npm.fetch(MATHJAX)


def mathjax_path(local: bool) -> str:
    """Sphinx's ``mathjax_path``: relative to the output's ``_static/`` when served from the
    site, else MathJax's CDN."""
    return f"../{MATHJAX.out_dir}/{SCRIPT}" if local else CDN


def mathjax_config() -> dict[str, object]:
    """Sphinx's ``mathjax3_config``: what the loader loads, and which elements hold math."""
    return {"loader": {"load": LOAD},
            "options": {"processHtmlClass": "tex2jax_process|mathjax_process|math|output_area"}}


def copy_into(lib: Path, out: Path, copy: npm.Copy = shutil.copy2) -> None:
    def copy_used(src: Path, target: Path) -> object:
        return None if src.parent == lib and src.name == UNUSED else copy(src, target)

    npm.copy_into(MATHJAX, lib, out, copy_used)
