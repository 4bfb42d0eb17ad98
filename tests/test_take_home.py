"""A post's "Run it yourself" zip: the executed notebook, the post's data files, its env files
where repo2docker reads them, a README with the ways to run it. Unpacked, publish finds the
same env (same env id), and the local backend's env rules build it afresh and run the
notebook to the outputs the site shows."""

from __future__ import annotations

import io
import json
import zipfile
from pathlib import Path

import pytest

from publisher.backends.base import ExecJob
from publisher.backends.local import LocalBackend
from publisher.config import load_config
from publisher.content.post import read_post
from publisher.envs.ids import env_id
from publisher.envs.spec import find_env_spec
from publisher.pipeline import take_home
from publisher.pipeline.pipeline import BuildOptions, build
from publisher.progress import Reporter
from tests.conftest import CONFIG, md_post, write_files

TABLE = md_post("A table", "2024-03-01", """\
    # A table

    ```{code-cell} python
    import csv, tabulate
    rows = list(csv.reader(open("data/rows.csv")))
    print(tabulate.tabulate(rows[1:], headers=rows[0]))
    ```
    """)


def outputs(notebook: dict[str, object]) -> list[list[str]]:
    """Each code cell's text outputs."""
    cells = notebook["cells"]
    assert isinstance(cells, list)
    return [["".join(o.get("text", "")) + json.dumps(o.get("data", {}).get("text/plain", ""))
             for o in c["outputs"]] for c in cells if c["cell_type"] == "code"]


def unpack(zip_path: Path, into: Path) -> Path:
    with zipfile.ZipFile(zip_path) as z:
        assert all(not n.startswith(("/", "..")) and ".." not in n.split("/")
                   for n in z.namelist())
        z.extractall(into)
    (folder,) = into.iterdir()
    return folder


@pytest.mark.slow
def test_the_zip_runs_the_post_to_the_outputs_the_site_shows(tmp_path: Path) -> None:
    site = tmp_path / "site"
    write_files(site, {"publish.toml": CONFIG, "posts/table/index.md": TABLE,
                       "posts/table/requirements.txt": "tabulate==0.9.0\n",
                       "posts/table/data/rows.csv": "name,count\nseeds,3\nsprouts,5\n",
                       "posts/text.md": md_post("Words", "2024-01-01", "# Words only\n")})
    report = build(site, BuildOptions(backend="local"), Reporter(quiet=True))
    assert report.ok, report.problems
    out = site / "_site"
    zip_path = out / "_publish/take-home/table.zip"
    page = (out / "posts/table/index.html").read_text()
    assert 'href="../../_publish/take-home/table.zip" download>run it yourself (.zip)' in page
    assert not (out / "_publish/take-home/text.zip").exists()  # no code: nothing to run
    assert "run it yourself" not in (out / "posts/text/index.html").read_text()

    folder = unpack(zip_path, tmp_path / "home")
    assert folder.name == "table"
    assert sorted(p.relative_to(folder).as_posix() for p in folder.rglob("*") if p.is_file()) \
        == ["README.md", "data/rows.csv", "index.ipynb", "requirements.txt"]
    published = json.loads((out / "_publish/notebooks/table/index.ipynb").read_text())
    assert json.loads((folder / "index.ipynb").read_text()) == published
    post_env = next(p["env_id"] for p in json.loads((out / "_publish/site.json")
                                                    .read_text())["posts"]
                    if p["slug"] == "table")
    readme = (folder / "README.md").read_text()
    assert f"env id `{post_env}`" in readme
    assert "pip install jupyterlab -r requirements.txt" in readme and "repo2docker ." in readme
    # the same env: publish's rules find the same files in the unpacked folder
    spec = find_env_spec(folder, folder)
    assert spec.files == ("requirements.txt",)
    base = load_config(site).base_image  # the base the site's env ids are made with
    assert env_id(spec, base) == post_env
    # built afresh (a cache of its own) and run: the outputs the site shows
    backend = LocalBackend(cache_dir=tmp_path / "cache")
    try:
        ref = backend.ensure_env(spec, env_id(spec, ""))
        result = backend.execute(ref, ExecJob(
            "table", (folder / "index.ipynb").read_text(), folder,
            tuple(p for p in folder.rglob("*") if p.is_file() and p.name != "index.ipynb")))
    finally:
        backend.close()
    assert result.error is None, result.error
    ran = json.loads(result.notebook)
    assert outputs(ran) == outputs(published) and "sprouts" in str(outputs(ran))

    # built again with nothing changed: the zip is kept, not made again
    before = zip_path.read_bytes()
    assert build(site, BuildOptions(backend="local"), Reporter(quiet=True)).ok
    assert zip_path.read_bytes() == before
    # a data file changed: the zip holds the new one
    (site / "posts/table/data/rows.csv").write_text("name,count\nseeds,3\ntrees,8\n")
    assert build(site, BuildOptions(backend="local"), Reporter(quiet=True)).ok
    with zipfile.ZipFile(zip_path) as z:
        assert b"trees" in z.read("table/data/rows.csv")


def layout_of(site: Path, post_dir: str) -> dict[str, bytes]:
    """The zip of the post in *site*/posts/*post_dir* (not executed): member -> bytes."""
    folder = site / "posts" / post_dir
    post = read_post(post_dir, folder / "index.md", site)
    spec = find_env_spec(site, folder)
    files = [f for f in folder.rglob("*") if f.is_file() and f.name != "index.md"
             and f.relative_to(folder).parts[0] not in ("binder", ".binder")]
    b = take_home.bundle_of(post, "{}", spec, "e1", site, files, "http://x/p", "Blog")
    data = take_home.zip_bytes(b)
    assert data == take_home.zip_bytes(b)  # the same inputs, the same bytes
    with zipfile.ZipFile(io.BytesIO(data)) as z:
        return {n: z.read(n) for n in z.namelist()}


CODE = md_post("P", "2024-01-01", "```{code-cell} python\nprint(1)\n```\n")


@pytest.mark.parametrize(("files", "expected"), [
    # env files in the post's binder/: there again
    ({"posts/p/binder/requirements.txt": "six\n", "posts/p/binder/apt.txt": "curl\n"},
     {"binder/apt.txt", "binder/requirements.txt"}),
    # the site's default env: in binder/
    ({"binder/requirements.txt": "six\n", "binder/runtime.txt": "python-3.11\n"},
     {"binder/requirements.txt", "binder/runtime.txt"}),
    # a Dockerfile in the post's folder: its build context is the folder, all of it (the
    # source document too: the Dockerfile may copy it)
    ({"posts/p/Dockerfile": "FROM x\n", "posts/p/data.txt": "d\n"},
     {"Dockerfile", "data.txt", "index.md"}),
    # no env files: Python and Jupyter only
    ({}, set()),
])
def test_env_files_go_where_repo2docker_reads_them(tmp_path: Path, files: dict[str, str],
                                                   expected: set[str]) -> None:
    write_files(tmp_path, {"publish.toml": CONFIG, "posts/p/index.md": CODE, **files})
    members = layout_of(tmp_path, "p")
    assert set(members) == {"p/README.md", "p/index.ipynb"} | {f"p/{e}" for e in expected}
    unpacked = tmp_path / "home"
    for name, data in members.items():
        (unpacked / name).parent.mkdir(parents=True, exist_ok=True)
        (unpacked / name).write_bytes(data)
    original = find_env_spec(tmp_path, tmp_path / "posts/p")
    again = find_env_spec(unpacked / "p", unpacked / "p")
    assert again.files == original.files
    assert env_id(again, "b") == env_id(original, "b")
    readme = members["p/README.md"].decode()
    if not expected:
        assert "needs no packages beyond Python and Jupyter" in readme


def test_a_site_wide_build_context_is_not_packed(tmp_path: Path) -> None:
    """A Dockerfile at the site's root has the whole site as its context: only the
    Dockerfile comes, and the README says so."""
    write_files(tmp_path, {"publish.toml": CONFIG, "posts/p/index.md": CODE,
                           "Dockerfile": "FROM x\n", "notes/private.txt": "not this\n"})
    members = layout_of(tmp_path, "p")
    assert set(members) == {"p/README.md", "p/index.ipynb", "p/binder/Dockerfile"}
    assert "only its environment files are here" in members["p/README.md"].decode()
