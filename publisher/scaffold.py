"""``publish new``: a new site with one example post, a ``.gitignore`` and a GitHub Actions
workflow that builds the site and puts it on GitHub Pages."""

from __future__ import annotations

import shutil
from pathlib import Path

from publisher import DISTRIBUTION, __version__
from publisher.errors import PublishError

TEMPLATES = Path(__file__).resolve().parent / "templates"
SCAFFOLD = TEMPLATES / "scaffold"
# files whose names start with a dot, kept under plain names in the package (a wheel's
# package data need not include dot files)
EXTRA = {"gitignore": ".gitignore", "publish-workflow.yml": ".github/workflows/publish.yml"}


def create_site(directory: Path, static: bool = False) -> None:
    """*static*: ``[launch] mode = "off"`` (no launch badges, no live code)."""
    if directory.exists() and any(directory.iterdir()):
        raise PublishError(f"{directory}: exists and is not empty; choose a new folder.")
    shutil.copytree(SCAFFOLD, directory, dirs_exist_ok=True)
    if static:
        toml = directory / "publish.toml"
        text = toml.read_text(encoding="utf-8")
        toml.write_text(text.replace('mode = "launcher"  ', 'mode = "off"       ', 1),
                        encoding="utf-8")
    for name, target in EXTRA.items():
        text = (TEMPLATES / "scaffold-extra" / name).read_text(encoding="utf-8")
        path = directory / target
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text.replace("@PACKAGE@", f"{DISTRIBUTION}=={__version__}"),
                        encoding="utf-8")
