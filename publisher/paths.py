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


# where the host says its CA bundle is (a proxy that intercepts TLS, a corporate network)
CA_VARS = ("PIP_CERT", "SSL_CERT_FILE", "REQUESTS_CA_BUNDLE")


def ca_bundle(environ: dict[str, str] | None = None) -> Path | None:
    """The host's CA bundle file, from the first of :data:`CA_VARS` naming a file."""
    env = os.environ if environ is None else environ
    for var in CA_VARS:
        path = env.get(var)
        if path and Path(path).is_file():
            return Path(path)
    return None
