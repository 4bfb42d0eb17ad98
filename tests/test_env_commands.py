"""`publish env list / prune / show` on a machine with two blogs: each command acts on its
own site's envs, on the backend it is given, with real virtualenvs (local backend)."""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import sys
import uuid
from pathlib import Path

import pytest

from tests.conftest import md_post, write_files

pytestmark = pytest.mark.slow  # real virtualenvs

SHARED = "# the env both blogs use\n"


def _blog(root: Path, title: str, posts: dict[str, str]) -> Path:
    files = {"publish.toml": f'[site]\ntitle = "{title}"\nauthor = "A"\n'
                             'base_url = "http://example.org/"\n'}
    for slug, requirements in posts.items():
        files[f"posts/{slug}/index.md"] = md_post(slug, "2024-01-01", f"# {slug}\n")
        files[f"posts/{slug}/requirements.txt"] = requirements
    write_files(root, files)
    return root


def publish(cache: Path, *args: str | Path, docker: bool = False) -> str:
    """`publish ARGS…` with its own cache (the machine's envs) and, unless *docker*, no
    Docker engine reachable: a command on the local backend must not need one."""
    env = {**os.environ, "PUBLISH_CACHE_DIR": str(cache)}
    if not docker:
        env["DOCKER_HOST"] = "unix:///nonexistent"
    res = subprocess.run([sys.executable, "-m", "publisher", *map(str, args)], env=env,
                         capture_output=True, text=True, timeout=600)
    assert res.returncode == 0, res.stdout + res.stderr
    return res.stdout


def _env_id(cache: Path, site: Path, slug: str) -> str:
    out = publish(cache, "env", "show", site, "--post", slug, "--backend", "local")
    return next(line.split()[-1] for line in out.splitlines() if line.startswith("env id"))


def test_pruning_one_blog_leaves_the_other_blogs_envs(tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    a = _blog(tmp_path / "blog-a", "A", {"one": SHARED, "two": "# A's own, for now\n"})
    b = _blog(tmp_path / "blog-b", "B", {"uno": SHARED, "dos": "# B's own\n"})
    shared, a_own, b_own = (_env_id(cache, a, "one"), _env_id(cache, a, "two"),
                            _env_id(cache, b, "dos"))
    assert shared == _env_id(cache, b, "uno")
    publish(cache, "build", a, "--backend", "local")  # a build records what A uses
    publish(cache, "env", "build", b, "--backend", "local")
    venvs = cache / "envs"
    assert {p.name for p in venvs.iterdir()} >= {shared, a_own, b_own}

    # A's list: A's envs, each last used just now; B's own is not A's
    listed = publish(cache, "env", "list", a, "--backend", "local")
    rows = {line.split()[0]: line for line in listed.splitlines()[1:] if line[:1] != "("}
    assert set(rows) == {shared, a_own}, listed
    assert "never" not in listed, listed
    assert "1 more local envs, of other sites" in listed
    every = publish(cache, "env", "list", a, "--backend", "local", "--all")
    assert b_own in every and "(blog-b)" in every, every

    # A moves on from its own env; B stops using its own: pruning A removes A's old env
    # only, never B's (nor the one both use)
    (a / "posts/two/requirements.txt").write_text(SHARED)
    (b / "posts/dos/requirements.txt").write_text(SHARED)
    pruned = publish(cache, "env", "prune", a, "--backend", "local")
    assert f"removed {venvs / a_own}" in pruned, pruned
    assert {p.name for p in venvs.iterdir()} >= {shared, b_own}
    assert a_own not in {p.name for p in venvs.iterdir()}
    # B's unused env goes when B is pruned
    assert f"removed {venvs / b_own}" in publish(cache, "env", "prune", b, "--backend",
                                                 "local")
    assert shared in {p.name for p in venvs.iterdir()}

    # a blog that stops using the shared env keeps it while the other blog uses it; once
    # that blog is gone (its folder removed), pruning frees it
    (a / "posts/one/requirements.txt").write_text("# A again\n")
    (a / "posts/two/requirements.txt").write_text("# A again\n")
    assert "kept" in publish(cache, "env", "prune", a, "--backend", "local")
    assert shared in {p.name for p in venvs.iterdir()}
    shutil.rmtree(b)
    assert f"removed {venvs / shared}" in publish(cache, "env", "prune", a, "--backend",
                                                  "local")


def test_env_show_prints_what_the_local_backend_builds(tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    site = _blog(tmp_path / "blog", "Blog", {"p": "numpy\n"})
    (site / "posts/p/postBuild").write_text("echo built\n")
    out = publish(cache, "env", "show", site, "--post", "p", "--backend", "local")
    assert "backend   local" in out and "FROM " not in out, out
    assert f"venv      {cache / 'envs'}" in out and "(not built yet)" in out
    assert "  numpy" in out  # the requirements it installs
    assert "pip install" in out and "-r requirements.txt" in out
    assert "bash postBuild" in out


@pytest.mark.docker
@pytest.mark.usefixtures("docker_engine")
def test_pruning_one_blog_leaves_the_other_blogs_images(tmp_path: Path) -> None:
    """The same with the docker backend: the engine's images are every site's."""
    import docker

    cache, mark = tmp_path / "cache", uuid.uuid4().hex
    a = _blog(tmp_path / "blog-a", "A", {"one": f"# {mark} A\n"})
    b = _blog(tmp_path / "blog-b", "B", {"uno": f"# {mark} B\n"})
    a_own, b_own = _env_id(cache, a, "one"), _env_id(cache, b, "uno")
    client = docker.from_env()
    try:
        for site in (a, b):
            publish(cache, "env", "build", site, "--backend", "docker", docker=True)
        listed = publish(cache, "env", "list", a, "--backend", "docker", docker=True)
        assert a_own in listed and b_own not in listed, listed
        assert "never" not in listed.split(a_own, 1)[1].splitlines()[0]
        (a / "posts/one/requirements.txt").write_text(f"# {mark} A, changed\n")
        (b / "posts/uno/requirements.txt").write_text(f"# {mark} B, changed\n")
        pruned = publish(cache, "env", "prune", a, "--backend", "docker", docker=True)
        assert f"removed publish-env:{a_own}" in pruned and b_own not in pruned, pruned
        assert client.images.list(name=f"publish-env:{b_own}")
        assert not client.images.list(name=f"publish-env:{a_own}")
    finally:
        for eid in (a_own, b_own):
            with contextlib.suppress(docker.errors.ImageNotFound):
                client.images.remove(f"publish-env:{eid}", force=True)
        client.close()
