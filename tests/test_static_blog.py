"""A static blog: ``[launch] mode = "off"``. No launch badge, no Binder badge, no "Run
code here" (nor its scripts), nothing to run where the site lands, so ``publish deploy
check`` passes on a static host with ``[launch] url`` empty; Colab's link, which needs
nothing of ours, stays when the repository is on GitHub."""

from __future__ import annotations

import html
import re
from pathlib import Path

import pytest
from click.testing import CliRunner

from publisher.cli import main
from publisher.config import load_config, parse_config
from publisher.deploy_check import check
from publisher.errors import ConfigError
from publisher.pipeline.pipeline import BuildOptions, build
from publisher.progress import Reporter
from tests.conftest import md_post, notebook, write_files

CODE_POST = md_post("Walk", "2024-01-01", """\
    ```{code-cell} python
    print(6 * 7)
    ```
    """)
STATIC = """\
[site]
title = "T"
base_url = "https://ada.github.io/blog/"

[launch]
mode = "off"
"""


def badges(page: str) -> dict[str, str]:
    return {m.group(1): html.unescape(m.group(2) or "") for m in re.finditer(
        r'class="publish-badge (publish-\w+)"(?: href="([^"]*)")?', page)}


def test_off_is_a_launch_mode_that_needs_no_repository(tmp_path: Path) -> None:
    assert parse_config({"launch": {"mode": "off"}}, tmp_path).launch.mode == "off"
    with pytest.raises(ConfigError, match='"both" needs \\[launch\\] repository'):
        parse_config({"launch": {"mode": "both"}}, tmp_path)
    with pytest.raises(ConfigError, match="off"):  # the choices named
        parse_config({"launch": {"mode": "none"}}, tmp_path)
    # the static host's check: no launcher, no env refs asked for
    cfg = parse_config({"site": {"base_url": "https://ada.github.io/blog/"},
                        "launch": {"mode": "off", "url": ""}}, tmp_path)
    assert check(cfg, static_host=True) == []
    launcher = parse_config({"site": {"base_url": "https://ada.github.io/blog/"}}, tmp_path)
    assert any('mode = "off" for a static blog' in p
               for p in check(launcher, static_host=True))


@pytest.mark.slow
def test_a_static_blog_builds_pages_without_launching_and_passes_deploy_check(
        tmp_path: Path) -> None:
    site = tmp_path / "blog"
    write_files(site, {"publish.toml": STATIC, "posts/walk/index.md": CODE_POST,
                       "posts/walk/requirements.txt": "tabulate==0.9.0\n"})
    report = build(site, BuildOptions(backend="local", execute="off"), Reporter(quiet=True))
    assert report.ok, report.problems
    assert not [w for w in report.warnings if "live code" in w]  # thebe not even fetched
    page = (site / "_site/posts/walk/index.html").read_text()
    assert badges(page) == {}, badges(page)
    assert "publish-badges" not in page and "Run code here" not in page
    for script in ("publish-live.js", "publish-events.js", "publish-keep.js", "publish-live.css"):
        assert script not in page, script
    assert not (site / "_site/_publish/thebe").exists()
    assert "publish-download" in page  # the notebook and its env are still to take home

    checked = CliRunner().invoke(main, ["deploy", "check", str(site)])
    assert checked.exit_code == 0 and checked.output.startswith("ok:"), checked.output

    # a GitHub repository: Colab's link (Google runs it, nothing of ours); no Binder badge
    (site / "publish.toml").write_text(STATIC + 'repository = "https://github.com/ada/blog"\n')
    write_files(site, {"posts/nb/index.ipynb": notebook(("code", "print(1)"),
                                                         front="title: Nb\ndate: 2024-02-01")})
    build(site, BuildOptions(backend="local", execute="off"), Reporter(quiet=True))
    page = (site / "_site/posts/nb/index.html").read_text()
    assert badges(page) == {"publish-colab": "https://colab.research.google.com/github/ada/"
                            "blog/blob/main/posts/nb/index.ipynb"}, badges(page)
    assert "publish-live.js" not in page
    checked = CliRunner().invoke(main, ["deploy", "check", str(site)])
    assert checked.exit_code == 0, checked.output

    # the same site with the default mode: badges and live code, and the check refuses it
    (site / "publish.toml").write_text(STATIC.replace('mode = "off"', ""))
    build(site, BuildOptions(backend="local", execute="off"), Reporter(quiet=True))
    page = (site / "_site/posts/walk/index.html").read_text()
    assert "publish-launch" in badges(page) and "publish-live.js" in page
    checked = CliRunner().invoke(main, ["deploy", "check", str(site)])
    assert checked.exit_code == 1 and 'mode = "off"' in checked.output, checked.output


def test_publish_new_static_makes_a_blog_that_deploys_with_its_address_alone(
        tmp_path: Path) -> None:
    site = tmp_path / "blog"
    made = CliRunner().invoke(main, ["new", str(site), "--static"])
    assert made.exit_code == 0, made.output
    toml = site / "publish.toml"
    assert load_config(site).launch.mode == "off"
    toml.write_text(toml.read_text().replace(
        'base_url = ""', 'base_url = "https://ada.github.io/blog/"'))
    checked = CliRunner().invoke(main, ["deploy", "check", str(site)])
    assert checked.exit_code == 0, checked.output
    # without --static: launch badges, which a static host cannot serve
    assert CliRunner().invoke(main, ["new", str(tmp_path / "other")]).exit_code == 0
    assert load_config(tmp_path / "other").launch.mode == "launcher"
