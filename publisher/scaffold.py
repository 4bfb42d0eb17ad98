"""``publish new``: a new site with one example post."""

from __future__ import annotations

import shutil
from pathlib import Path

from publisher.errors import PublishError

SCAFFOLD = Path(__file__).resolve().parent / "templates" / "scaffold"


def create_site(directory: Path) -> None:
    if directory.exists() and any(directory.iterdir()):
        raise PublishError(f"{directory}: exists and is not empty; choose a new folder.")
    shutil.copytree(SCAFFOLD, directory, dirs_exist_ok=True)
