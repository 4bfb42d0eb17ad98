"""A post's "Run it yourself" download: one zip that runs the post on a reader's machine.

``<slug>/`` holds the executed notebook (outputs as published), the post's data files,
the env files it was executed with, laid out as repo2docker reads them, and a README with
the two ways to run it (pip + JupyterLab, or ``repo2docker .``) and the env id. Unpacked,
publish finds the same env spec in it, so the same env id: the files are exactly the
post's.

Where the env files go: where the author had them relative to the post (the post folder
itself, or its ``binder/``), and a site-wide env's into ``binder/``. A Dockerfile or
package env's whole folder (its build context) comes along, but never a whole site (a
site-root Dockerfile's context): that one's spec files only, and the README says so.

Made again only when what goes in changed: the zip's comment holds the key of its
inputs (the notebook's text, each file's size and time, the env id).
"""

from __future__ import annotations

import io
import os
import zipfile
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from publisher import layout
from publisher.content.post import Post
from publisher.envs.spec import EnvSpec
from publisher.hashing import digest
from publisher.paths import files_under

ZIP_TIME = (1980, 1, 1, 0, 0, 0)  # every member's: the same inputs, the same bytes
KEY_PREFIX = b"publish take-home "


@dataclass(frozen=True)
class Bundle:
    """What goes into one post's zip."""

    slug: str
    title: str
    page_url: str  # the post's address on the blog
    site_title: str
    notebook_name: str
    notebook: str  # the executed notebook's JSON text
    files: dict[str, Path]  # path in the post's folder -> the file
    env_id: str
    env_dir: str  # where the env files are ("" the post's folder, "binder", ".binder")
    env_files: tuple[str, ...]  # the spec's files (names in env_dir)
    context_left_out: bool  # a site-root build context: only the spec files came

    def key(self) -> bytes:
        parts: list[str | bytes] = [self.notebook, self.notebook_name, self.env_id,
                                    self.title, self.page_url, self.site_title]
        for rel, path in sorted(self.files.items()):
            st = path.stat()
            parts.append(f"{rel}:{st.st_size}:{st.st_mtime_ns}")
        return KEY_PREFIX + digest(parts).encode()


def has_code(post: Post) -> bool:
    """Whether the post has code to run (a zip is made for those only)."""
    return any(c.cell_type == "code" and c.source.strip() for c in post.notebook.cells)


def bundle_of(post: Post, notebook: str, spec: EnvSpec, env_id: str, site_root: Path,
              post_files: list[Path], page_url: str, site_title: str) -> Bundle:
    files: dict[str, Path] = {}
    if post.folder is not None:
        files |= {f.relative_to(post.folder).as_posix(): f for f in post_files}
    env_dir, left_out = "", False
    if spec.root is not None:
        if post.folder is not None and spec.root.is_relative_to(post.folder):
            env_dir = spec.root.relative_to(post.folder).as_posix()
            env_dir = "" if env_dir == "." else env_dir
        else:
            env_dir = "binder"
        whole = spec.dockerfile or spec.package_dir is not None
        if whole and spec.root != site_root:
            env = files_under(spec.root, site_root, lambda name: name in {
                layout.WORK, layout.DEFAULT_OUT, ".git"})
        else:
            env = [spec.path(name) for name in spec.files]
            left_out = whole
        for f in env:
            rel = f.relative_to(spec.root).as_posix()
            files[f"{env_dir}/{rel}" if env_dir else rel] = f
    files.pop(post.notebook_name, None)  # the executed one goes in instead
    return Bundle(post.slug, post.title, page_url, site_title, post.notebook_name, notebook,
                  files, env_id, env_dir, spec.files, left_out)


def readme(b: Bundle) -> str:
    """How to run it, for someone who has only this folder."""
    where = f"{b.env_dir}/" if b.env_dir else ""
    files = set(b.env_files)
    lines = [f"# {b.title}", "",
             f"From {b.site_title or 'the blog'}: {b.page_url}", "",
             f"This folder runs the post on your own machine: `{b.notebook_name}` with its "
             "outputs as published, the post's data files, and the environment it was "
             f"executed in (env id `{b.env_id}`).", ""]
    if not files:
        lines += ["The post needs no packages beyond Python and Jupyter.", ""]
    lines += ["## With pip and JupyterLab", "", "```sh",
              "python3 -m venv .venv", ". .venv/bin/activate"]
    if "requirements.txt" in files:
        lines.append(f"pip install jupyterlab -r {where}requirements.txt")
    elif {"pyproject.toml", "setup.py"} & files:
        lines.append(f"pip install jupyterlab ./{where}")
    else:
        lines.append("pip install jupyterlab")
    lines += [f"jupyter lab {b.notebook_name}", "```", ""]
    if "apt.txt" in files:
        lines += [f"`{where}apt.txt` lists the system packages it needs (on Debian or "
                  f"Ubuntu: `sudo apt install $(grep -v '^#' {where}apt.txt)`).", ""]
    if "runtime.txt" in files:
        lines += [f"`{where}runtime.txt` names the Python version it was run with.", ""]
    if {"postBuild", "start"} & files:
        lines += [f"`{where}postBuild` and `{where}start` are repo2docker's build and start "
                  "steps: run them yourself when you use pip.", ""]
    if "Dockerfile" in files:
        lines += ["## With Docker", "", "```sh", f"docker build -t {b.slug} {where or '.'}",
                  f"docker run -p 8888:8888 {b.slug}", "```", ""]
    lines += ["## With repo2docker", "", "```sh", "pip install jupyter-repo2docker",
              "repo2docker .", "```", ""]
    if b.context_left_out:
        lines += ["The site's whole folder was this environment's build context; only its "
                  "environment files are here.", ""]
    return "\n".join(lines)


def zip_bytes(b: Bundle) -> bytes:
    """The zip: every member under ``<slug>/``, in name order, with one time."""
    out = io.BytesIO()
    top = PurePosixPath(b.slug)
    members: dict[str, bytes | Path] = {"README.md": readme(b).encode(),
                                        b.notebook_name: b.notebook.encode()}
    members |= {rel: path for rel, path in b.files.items() if rel not in members}
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED, compresslevel=6) as z:
        for rel in sorted(members):
            info = zipfile.ZipInfo(str(top / rel), ZIP_TIME)
            info.compress_type = zipfile.ZIP_DEFLATED
            source = members[rel]
            executable = isinstance(source, Path) and os.access(source, os.X_OK)
            info.external_attr = (0o755 if executable else 0o644) << 16
            z.writestr(info, source if isinstance(source, bytes) else source.read_bytes())
        z.comment = b.key()
    return out.getvalue()


def is_current(path: Path, bundle: Bundle) -> bool:
    """Whether the zip at *path* was made of what *bundle* holds now."""
    try:
        with zipfile.ZipFile(path) as z:
            return z.comment == bundle.key()
    except (OSError, zipfile.BadZipFile):
        return False
