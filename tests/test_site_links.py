"""Links in a site: followed while they stay inside the site folder; a link out of it
(a host file, ``/proc/self/environ``), a dangling one or a loop is refused by name, and
its target is never read into a page, a session, an env or the output.

Posts come from authors, but also from guest authors, pull requests and imported blogs:
each test plants a link to a file outside the site that holds a unique secret, and looks
for that secret everywhere the build wrote. (The launcher: tests/attacks/test_links.py;
`publish deploy`: tests/test_deploy_site.py.)
"""

from __future__ import annotations

import subprocess
import sys
import uuid
from pathlib import Path

import pytest

from publisher.content.site import discover
from publisher.errors import ContentError
from tests.conftest import SiteFactory, md_post, notebook
from tests.helpers import holders


def secret_file(tmp_path: Path, name: str = "secret.txt") -> tuple[Path, str]:
    """A file outside any site that the test process can read, holding a unique secret."""
    secret = f"SECRET-{uuid.uuid4().hex}"
    path = tmp_path / "outside" / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(f"{secret}\n")
    return path, secret


def publish(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "publisher", *args], capture_output=True,
                          text=True, timeout=600, check=False)


READS = notebook(("code", "print(open('notes.txt').read())"),
                 ("code", "print(open('table.csv').read())"),
                 front="title: Leaky\ndate: 2024-01-02")
# a post whose links stay inside the site: a file and a folder, both followed
INSIDE = notebook(("code", "print(open('data.csv').read())"),
                  ("code", "print(open('lib/words.txt').read())"),
                  front="title: Good\ndate: 2024-01-01")


def linked_site(make_site: SiteFactory, tmp_path: Path) -> tuple[Path, Path, str]:
    """A site with one post of links inside it and one post of each kind of bad link."""
    target, secret = secret_file(tmp_path)
    away = tmp_path / "outside" / "away"
    away.mkdir()
    (away / "index.md").write_text(md_post("Away", "2024-01-03", f"{secret}\n"))
    (tmp_path / "outside" / "leak.md").write_text(md_post("Leak", "2024-01-04", f"{secret}\n"))
    (tmp_path / "outside" / "about.md").write_text(f"# About\n\n{secret}\n")
    root = make_site({
        "shared/data.csv": "x,y\ninside-the-site-data\n",
        "shared/lib/words.txt": "inside-the-site-folder\n",
        "posts/good/index.ipynb": INSIDE,
        "posts/leaky/index.ipynb": READS,
        "posts/env/index.md": md_post("Env", "2024-01-05", "# Env\n"),
        "posts/loop/index.md": md_post("Loop", "2024-01-06", "# Loop\n"),
        "posts/dangling/index.md": md_post("Dangling", "2024-01-07", "# Dangling\n"),
        "pages/contact.md": "# Contact\n\nWrite to us.\n",
    })
    (root / "posts/good/data.csv").symlink_to("../../shared/data.csv")
    (root / "posts/good/lib").symlink_to(root / "shared/lib")
    (root / "posts/leaky/notes.txt").symlink_to(target)
    (root / "posts/leaky/table.csv").symlink_to(target)
    (root / "posts/away").symlink_to(away)  # a whole post folder out of the site
    (root / "posts/leak.md").symlink_to(tmp_path / "outside" / "leak.md")  # the document
    (root / "posts/env/requirements.txt").symlink_to(target)  # an env file
    (root / "posts/loop/again").symlink_to(".")
    (root / "posts/dangling/gone.csv").symlink_to("nowhere.csv")
    (root / "pages/about.md").symlink_to(tmp_path / "outside" / "about.md")
    return root, target, secret


REFUSED = {  # link -> what its message must say besides its name
    "posts/leaky/notes.txt": "outside the site folder",
    "posts/away": "outside the site folder",
    "posts/leak.md": "outside the site folder",
    "posts/env/requirements.txt": "outside the site folder",
    "posts/loop/again": "a loop",
    "posts/dangling/gone.csv": "does not exist",
    "pages/about.md": "outside the site folder",
}


def assert_refused(output: str, target: Path) -> None:
    for link, words in REFUSED.items():
        line = next((ln for ln in output.splitlines() if f"- {link}: " in ln), "")
        assert words in line, (link, output)
    assert f"a link to {target}," in output, output
    assert "Copy the file into the site, or remove the link" in output, output
    assert "Traceback" not in output, output


@pytest.mark.slow
def test_a_build_refuses_links_out_of_the_site_and_follows_those_inside(
        make_site: SiteFactory, tmp_path: Path) -> None:
    root, target, secret = linked_site(make_site, tmp_path)
    res = publish("build", str(root), "--backend", "local")
    assert res.returncode == 1, res.stdout + res.stderr
    assert "nothing was built" in res.stderr
    assert_refused(res.stderr, target)
    assert secret not in res.stdout + res.stderr
    assert not (root / "_site").exists()

    # --keep-going: the other posts are built; the refused ones are listed, not dropped
    res = publish("build", str(root), "--backend", "local", "--keep-going")
    assert res.returncode == 1, res.stdout + res.stderr
    assert_refused(res.stderr, target)
    assert secret not in res.stdout + res.stderr
    page = (root / "_site/posts/good/index.html").read_text()
    assert "inside-the-site-data" in page and "inside-the-site-folder" in page
    assert (root / "_site/pages/contact.html").is_file()
    for slug in ("leaky", "away", "leak", "env", "loop", "dangling"):
        assert not (root / f"_site/posts/{slug}").exists(), slug
    assert not (root / "_site/pages/about.html").exists()
    assert holders(root / "_site", secret) == [] and holders(root / "_build", secret) == []


def test_discovery_names_each_link_and_where_it_leads(make_site: SiteFactory,
                                                      tmp_path: Path) -> None:
    root, target, _ = linked_site(make_site, tmp_path)
    site = discover(root)
    assert [p.slug for p in site.posts] == ["good"]
    assert [p.name for p in site.pages] == ["contact.md"]
    text = "\n".join(f"- {p}" for p in site.problems)
    for link in REFUSED:
        assert f"- {link}: " in text, (link, text)
    assert f"posts/leaky/notes.txt: a link to {target}, outside the site folder" in text
    # a linked post folder is named as the link, not as a file of where it leads
    assert "- posts/away: a link to " in text and "posts/away/index.md" not in text
    # the files the build and the launcher take from the good post: through its links
    good = site.posts[0]
    assert good.folder is not None
    assert [f.relative_to(good.folder).as_posix() for f in good.data_files()] == [
        "data.csv", "lib/words.txt"]
    assert good.source == root.resolve() / "posts/good/index.ipynb"


def test_env_files_that_link_out_of_the_site_are_refused(make_site: SiteFactory,
                                                          tmp_path: Path) -> None:
    """Env files outside a post folder (the site's default env), and a Dockerfile's build
    context, for `publish build` and for `publish env build` (which reads no post)."""
    from publisher.envs.resolve import envs_by_id, resolve_envs

    target, secret = secret_file(tmp_path)
    root = make_site({"posts/a/index.md": md_post("A", "2024-01-01", "# A\n"),
                      "posts/b/index.md": md_post("B", "2024-01-02", "# B\n"),
                      "binder/apt.txt": "less\n",
                      "posts/b/binder/Dockerfile": "FROM scratch\nCOPY key.txt /\n"})
    (root / "binder/requirements.txt").symlink_to(target)  # the site's default env
    (root / "posts/b/binder/key.txt").symlink_to(target)  # in a Dockerfile's context
    site = discover(root)
    assert [p.slug for p in site.posts] == ["a"]
    assert site.problems == [f"posts/b/binder/key.txt: a link to {target}, outside the site "
                             f"folder ({root.resolve()}); publish takes no file from outside "
                             "it (it would be published, or copied into readers' sessions). "
                             "Copy the file into the site, or remove the link."]
    items, problems = resolve_envs(site)
    assert items == []
    assert problems == [f"binder/requirements.txt: a link to {target}, outside the site "
                        f"folder ({root.resolve()}); publish takes no file from outside it "
                        "(it would be published, or copied into readers' sessions). Copy "
                        "the file into the site, or remove the link."]
    _, envs, problems = envs_by_id(root, keep_going=True)  # `publish env build`
    assert envs == {}
    assert sorted(p.split(":")[0] for p in problems) == [
        "binder/requirements.txt", "posts/b/binder/key.txt"]
    assert secret not in "".join(problems)


def test_the_walk_follows_links_inside_and_stops_at_loops(tmp_path: Path) -> None:
    from publisher.paths import files_under

    root = tmp_path / "site"
    (root / "a/b").mkdir(parents=True)
    (root / "a/b/f.txt").write_text("f")
    (root / "shared").mkdir()
    (root / "shared/s.txt").write_text("s")
    (root / "a/s").symlink_to("../shared")
    (root / "a/s2").symlink_to("../shared")  # the same folder twice is no loop
    assert [p.relative_to(root).as_posix() for p in files_under(root / "a", root)] == [
        "a/b/f.txt", "a/s/s.txt", "a/s2/s.txt"]
    (root / "shared/back").symlink_to("../a")  # a -> shared -> a
    with pytest.raises(ContentError, match=r"^a/s/back: a link to \.\./a,.*a loop"):
        files_under(root / "a", root)
    (root / "shared/back").unlink()
    (root / "a/b/ring").symlink_to("ring")  # a link to itself
    with pytest.raises(ContentError, match=r"^a/b/ring: a link to ring,.*a loop"):
        files_under(root / "a", root)


@pytest.mark.slow
def test_the_static_copy_refuses_links_out_of_the_site(make_site: SiteFactory,
                                                      tmp_path: Path) -> None:
    target, secret = secret_file(tmp_path)
    root = make_site({"posts/a/index.md": md_post("A", "2024-01-01", "# A\n"),
                      "shared/logo.txt": "inside-logo\n",
                      "shared/fonts/f.txt": "inside-font\n"})
    (root / "static").mkdir()
    (root / "static/logo.txt").symlink_to("../shared/logo.txt")
    (root / "static/fonts").symlink_to(root / "shared/fonts")
    (root / "static/x").symlink_to(target)
    res = publish("build", str(root), "--execute", "off")
    assert res.returncode == 1
    assert f"static/x: a link to {target}, outside the site folder" in res.stderr, res.stderr
    assert "Traceback" not in res.stderr and secret not in res.stdout + res.stderr
    assert not (root / "_site").exists()
    # with --keep-going too: the static copy refuses, nothing is copied
    res = publish("build", str(root), "--execute", "off", "--keep-going")
    assert res.returncode == 1 and "static/x: a link to" in res.stderr, res.stderr
    assert not (root / "_site").exists() or holders(root / "_site", secret) == []
    (root / "static/x").unlink()
    (root / "static/sub").mkdir()
    (root / "static/sub/up").symlink_to("..")  # a loop inside the site
    res = publish("build", str(root), "--execute", "off")
    assert res.returncode == 1 and "static/sub/up: a link to .., " in res.stderr, res.stderr
    assert "a loop" in res.stderr and "Traceback" not in res.stderr
    (root / "static/sub/up").unlink()
    res = publish("build", str(root), "--execute", "off")
    assert res.returncode == 0, res.stderr
    assert (root / "_site/static/logo.txt").read_text() == "inside-logo\n"
    assert (root / "_site/static/fonts/f.txt").read_text() == "inside-font\n"
    assert not (root / "_site/static/fonts").is_symlink()
    assert holders(root / "_site", secret) == []


DOCKERFILE = """\
ARG PUBLISH_RUNTIME_IMAGE
FROM ${PUBLISH_RUNTIME_IMAGE}
COPY key.txt /home/reader/key.txt
"""


@pytest.mark.docker
@pytest.mark.slow
@pytest.mark.usefixtures("docker_engine")
def test_a_docker_build_refuses_links_out_of_the_site(make_site: SiteFactory,
                                                      tmp_path: Path) -> None:
    root, target, secret = linked_site(make_site, tmp_path)
    res = publish("build", str(root), "--backend", "docker", "--keep-going")
    assert res.returncode == 1, res.stdout + res.stderr
    assert_refused(res.stderr, target)
    assert secret not in res.stdout + res.stderr
    page = (root / "_site/posts/good/index.html").read_text()
    assert "inside-the-site-data" in page and "inside-the-site-folder" in page
    assert "(docker backend)" in page
    assert not (root / "_site/posts/leaky").exists()
    assert holders(root / "_site", secret) == [] and holders(root / "_build", secret) == []

    # a Dockerfile env at the site's root: its build context is the site itself
    site2 = tmp_path / "site2"
    site2.mkdir()
    (site2 / "publish.toml").write_text((root / "publish.toml").read_text())
    (site2 / "posts/k").mkdir(parents=True)
    (site2 / "posts/k/index.ipynb").write_text(notebook(
        ("code", "print(open('/home/reader/key.txt').read())"),
        front="title: K\ndate: 2024-01-01"))
    (site2 / "Dockerfile").write_text(DOCKERFILE)
    (site2 / "key.txt").symlink_to(target)
    res = publish("build", str(site2), "--backend", "docker")
    assert res.returncode == 1, res.stdout + res.stderr
    assert f"key.txt: a link to {target}, outside the site folder" in res.stderr, res.stderr
    assert secret not in res.stdout + res.stderr and "Traceback" not in res.stderr
    assert not (site2 / "_site").exists()
