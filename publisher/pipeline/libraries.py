"""The JavaScript libraries an output may carry besides Sphinx's: thebe (live code) and
MathJax, from the npm registry; or why this build does without them."""

from __future__ import annotations

from pathlib import Path

from publisher.config import Config
from publisher.errors import PublishError
from publisher.pipeline.mathjax import mathjax_lib
from publisher.pipeline.thebe import live_code_on, thebe_lib


def live_code(cfg: Config, any_code: bool) -> tuple[Path | None, str | None]:
    """(thebe's folder to put in the output, or None; the warning when live code is off
    for this build although the site wants it)."""
    if cfg.interactive.thebe != "site" or not live_code_on(cfg) or not any_code:
        return None, None
    try:
        return thebe_lib(), None
    except PublishError as exc:
        return None, (f"live code is off in this build: {exc.message}. Build where the npm "
                      'registry is reachable, or set [interactive] thebe = "cdn" (or "off").')


def math_lib(cfg: Config) -> tuple[Path | None, str | None]:
    """(MathJax's folder to put in the output, or None; the warning when it comes from its
    CDN in this build although the site wants it served from the site)."""
    if cfg.site.math != "site":
        return None, None
    try:
        return mathjax_lib(), None
    except PublishError as exc:
        return None, (f"math is typeset by MathJax from its CDN in this build: {exc.message}. "
                      "Build where the npm registry is reachable, or set [site] math = "
                      '"cdn".')
