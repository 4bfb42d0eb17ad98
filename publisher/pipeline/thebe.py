"""thebe (the live-code library of Jupyter Book and sphinx-thebe), served from the site
itself (see ``npm``)."""

from __future__ import annotations

import shutil
from pathlib import Path

from publisher.config import Config
from publisher.pipeline import npm

THEBE = npm.Package(
    "thebe", "0.9.3",
    "sha512-Rb/7kVhtlffXra3kIe7OuIGE7awsm2/fGWxw21DiNfnWLnUQiDl9AWqYdshPwZPG/5DzLpsJRPix2xtCPtJmQQ==",
    folder="lib", main="index.js")
VERSION = THEBE.version
OUT_DIR = THEBE.out_dir


def thebe_lib() -> Path:
    """thebe's ``lib/`` folder in the cache, fetched on first use; raises PublishError."""
    return npm.fetch(THEBE)


def copy_into(lib: Path, out: Path, copy: npm.Copy = shutil.copy2) -> None:
    npm.copy_into(THEBE, lib, out, copy)


def live_code_on(config: Config) -> bool:
    """Whether pages with code get "Run code here" (and its scripts)."""
    return config.interactive.thebe != "off" and config.launch.mode != "off"


def thebe_url(config: Config, from_page: str) -> str:
    """Where a page finds thebe's folder (ends in '/'), or "" when live code is off.

    *from_page*: the page's way back to the site root, e.g. ``../../``. A static blog
    (``[launch] mode = "off"``) has no live code: nothing would start its sessions."""
    if not live_code_on(config):
        return ""
    mode = config.interactive.thebe
    if mode == "cdn":
        return config.interactive.cdn_url.format(version=VERSION).rstrip("/") + "/"
    if mode == "site":
        return f"{from_page}{OUT_DIR}/"
    return ""
