"""MathJax served from the site itself (see ``npm``): equations in pages and in notebook
outputs are typeset with no request leaving the site.

MathJax 3 carries its fonts and its on-demand TeX extensions in one package (MathJax 4
loads its fonts from a CDN of their own), so the served part is: the combined TeX + MathML
+ CommonHTML file, the TeX extensions it autoloads, the CommonHTML fonts, the menu and the
accessibility components the menu loads. The speech engine (4 MB) stays out.
"""

from __future__ import annotations

import shutil
from pathlib import Path

from publisher.pipeline import npm

MATHJAX = npm.Package(
    "mathjax", "3.2.2",
    "sha512-Bt+SSVU8eBG27zChVewOicYs7Xsdt40qm4+UpHyX7k0/O9NliPc+x77k1/FEsPsjKPZGJvtRZM1vO+geW0OhGw==",
    folder="es5", main="tex-mml-chtml.js",
    keep=("tex-mml-chtml.js", "input/", "output/chtml", "ui/", "a11y/", "adaptors/"))
SCRIPT = "tex-mml-chtml.js"
CDN = f"https://cdn.jsdelivr.net/npm/mathjax@{MATHJAX.version}/es5/{SCRIPT}"


def mathjax_lib() -> Path:
    """MathJax's served files in the cache, fetched on first use; raises PublishError."""
    return npm.fetch(MATHJAX)


def mathjax_path(local: bool) -> str:
    """Sphinx's ``mathjax_path``: relative to the output's ``_static/`` when served from the
    site, else MathJax's CDN."""
    return f"../{MATHJAX.out_dir}/{SCRIPT}" if local else CDN


def copy_into(lib: Path, out: Path, copy: npm.Copy = shutil.copy2) -> None:
    npm.copy_into(MATHJAX, lib, out, copy)
