"""Where publish keeps what it reuses across runs."""

from __future__ import annotations

import os
from pathlib import Path


def cache_root() -> Path:
    """``$PUBLISH_CACHE_DIR`` or ``$XDG_CACHE_HOME/publish`` (``~/.cache/publish``)."""
    if os.environ.get("PUBLISH_CACHE_DIR"):
        return Path(os.environ["PUBLISH_CACHE_DIR"])
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "publish"
