"""The package is installed by one name everywhere: pyproject.toml's distribution, the
workflow `publish new` writes, and the README's first lines. "publish" on the package
index is another project (0.3.x): a workflow that installs `publish` gets that."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

import yaml
from click.testing import CliRunner

from publisher import DISTRIBUTION, __version__
from publisher.cli import main

ROOT = Path(__file__).resolve().parent.parent


def test_the_distribution_is_not_the_index_s_publish() -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    assert project["name"] == DISTRIBUTION and project["version"] == __version__
    assert re.sub(r"[-_.]+", "-", DISTRIBUTION).lower() != "publish"
    assert project["scripts"] == {"publish": "publisher.cli:main"}  # the command stays


def test_a_new_site_s_workflow_installs_the_distribution(tmp_path: Path) -> None:
    site = tmp_path / "blog"
    assert CliRunner().invoke(main, ["new", str(site)]).exit_code == 0
    text = (site / ".github" / "workflows" / "publish.yml").read_text()
    flow = yaml.safe_load(text)
    assert flow["env"]["PUBLISH_PACKAGE"] == f"{DISTRIBUTION}=={__version__}"
    steps = flow["jobs"]["build"]["steps"]
    install = next(s for s in steps if s.get("name") == "Install publish")
    assert install["run"] == 'python -m pip install "$PUBLISH_PACKAGE"'
    assert "publish==" not in text


def test_the_readme_starts_with_the_install_command() -> None:
    readme = (ROOT / "README.md").read_text()
    first_block = readme.split("```", 2)[1]
    assert readme.index("```") < readme.index("\n## ")  # before any section
    lines = [line.split("#")[0].strip() for line in first_block.strip().splitlines()]
    assert f"pip install {DISTRIBUTION}" in lines
    assert f"pipx install {DISTRIBUTION}" in first_block
    assert f"uv tool install {DISTRIBUTION}" in first_block
    assert "pip install publish\n" not in readme and "publish==" not in readme
