"""Find a post's env spec with repo2docker's conventions and compute its env id.

Where: ``binder/`` or ``.binder/`` in the post folder (both is an error); otherwise the
env files in the post folder itself; otherwise the site's default (the same rules at the
site root). A ``Dockerfile`` means full control: the other files are ignored.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

from publisher.errors import EnvSpecError
from publisher.paths import check_inside, files_under

BUILDER_VERSION = "1"

SUPPORTED = (
    "requirements.txt",
    "pyproject.toml",
    "setup.py",
    "apt.txt",
    "postBuild",
    "start",
    "runtime.txt",
    "Dockerfile",
)
UNSUPPORTED = {
    "environment.yml": "conda environments",
    "environment.yaml": "conda environments",
    "Pipfile": "Pipenv files",
    "Pipfile.lock": "Pipenv files",
    "install.R": "R packages",
    "DESCRIPTION": "R packages",
    "Project.toml": "Julia projects",
    "REQUIRE": "Julia projects",
}
# repo2docker's forms: python-3 (the default 3.x), python-3.12, python-3.12.1 (the minor counts)
RUNTIME = re.compile(r"^python-(\d+)(?:\.(\d+))?(?:\.(\d+))?$")


@dataclass(frozen=True)
class EnvSpec:
    """The environment files that apply to a post, and where they were found."""

    root: Path | None  # folder holding the files; None: no env files at all
    files: tuple[str, ...]  # names present in root (sorted), SUPPORTED only
    origin: str  # "post binder/", "post folder", "site default", "none"
    python: str | None = None  # from runtime.txt
    package_dir: Path | None = None  # install this folder (pyproject.toml/setup.py)
    # the site it belongs to: links inside it are followed, a link out of it is refused
    site_root: Path | None = field(default=None, compare=False, repr=False)

    @property
    def dockerfile(self) -> bool:
        return "Dockerfile" in self.files

    def path(self, name: str) -> Path:
        assert self.root is not None
        return self.root / name

    def read(self, name: str) -> str:
        return self.path(name).read_text(encoding="utf-8") if name in self.files else ""

    def apt_packages(self) -> list[str]:
        lines = (line.split("#", 1)[0].strip() for line in self.read("apt.txt").splitlines())
        return [line for line in lines if line]

    def describe(self, site_root: Path) -> list[str]:
        """Spec file paths relative to the site, for the Environment box and site.json."""
        if self.root is None:
            return []
        return [(self.root / f).relative_to(site_root).as_posix() for f in self.files]


def _env_files(folder: Path) -> tuple[list[str], list[str]]:
    """The env files in *folder* (a dangling link counts: :func:`_make_spec` names it)."""
    def present(name: str) -> bool:
        path = folder / name
        return path.is_file() or path.is_symlink()

    return [n for n in SUPPORTED if present(n)], [n for n in UNSUPPORTED if present(n)]


def _spec_in(folder: Path, origin: str, site_root: Path) -> EnvSpec | None:
    """The env spec in *folder* (binder/ first), or None if it holds no env files."""
    binder, dot_binder = folder / "binder", folder / ".binder"
    if binder.is_dir() and dot_binder.is_dir():
        rel = folder.relative_to(site_root).as_posix() or "."
        raise EnvSpecError(
            f"{rel}: has both binder/ and .binder/; keep one of them (repo2docker's rule)."
        )
    for candidate, label in ((binder, f"{origin} binder/"), (dot_binder, f"{origin} .binder/")):
        if candidate.is_dir():
            return _make_spec(candidate, label, site_root)
    supported, unsupported = _env_files(folder)
    if supported or unsupported:
        return _make_spec(folder, origin, site_root)
    return None


def _make_spec(folder: Path, origin: str, site_root: Path) -> EnvSpec:
    supported, unsupported = _env_files(folder)
    if unsupported:
        rel = (folder / unsupported[0]).relative_to(site_root).as_posix()
        raise EnvSpecError(
            f"{rel}: {UNSUPPORTED[unsupported[0]]} are not supported yet; "
            "list the Python packages in a requirements.txt instead."
        )
    if "Dockerfile" in supported:
        supported = ["Dockerfile"]
    for name in supported:  # read into an env (an image, a virtualenv): inside the site only
        check_inside(folder / name, site_root, EnvSpecError)
    pkg = folder if {"pyproject.toml", "setup.py"} & set(supported) else None
    if (pkg is not None or "Dockerfile" in supported) and folder != site_root:
        # the folder is the image's build context (or the package installed): all of it
        # (the site's own root is walked when its image is built, not on every read)
        files_under(folder, site_root, error=EnvSpecError)
    if "requirements.txt" in supported:
        rel = (folder / "requirements.txt").relative_to(site_root).as_posix()
        if bad := requirement_problems((folder / "requirements.txt").read_text(
                encoding="utf-8", errors="replace"), rel):
            raise EnvSpecError("\n".join(bad))
    python = None
    if "runtime.txt" in supported:
        text = (folder / "runtime.txt").read_text(encoding="utf-8").strip()
        m = RUNTIME.match(text)
        rel = (folder / "runtime.txt").relative_to(site_root).as_posix()
        if not m:
            raise EnvSpecError(
                f"{rel}: expected a line like 'python-3.12' (or python-3, python-3.12.1), "
                f"got {text!r}."
            )
        if m.group(1) != "3":
            raise EnvSpecError(f"{rel}: Python {m.group(1)} is not supported; use python-3.x.")
        python = f"3.{m.group(2)}" if m.group(2) else None  # python-3: the default image
    # pyproject.toml / setup.py: install the folder that holds them as a package
    return EnvSpec(folder, tuple(sorted(supported)), origin, python, pkg, site_root)


def find_env_spec(site_root: Path, post_folder: Path | None) -> EnvSpec:
    """The env spec for a post (folder or single-file post) in *site_root*."""
    if post_folder is not None:
        spec = _spec_in(post_folder, "post", site_root)
        if spec is not None:
            return spec
    return _site_default(site_root)


def _site_default(site_root: Path) -> EnvSpec:
    binder, dot_binder = site_root / "binder", site_root / ".binder"
    if binder.is_dir() and dot_binder.is_dir():
        raise EnvSpecError("the site has both binder/ and .binder/; keep one of them.")
    for candidate in (binder, dot_binder):
        if candidate.is_dir():
            return _make_spec(candidate, "site default", site_root)
    supported, unsupported = _env_files(site_root)
    # pyproject.toml / setup.py at the site root describe the site's tooling, not an env
    supported = [n for n in supported if n not in ("pyproject.toml", "setup.py")]
    if supported or unsupported:
        spec = _make_spec(site_root, "site default", site_root)
        files = tuple(f for f in spec.files if f not in ("pyproject.toml", "setup.py"))
        return EnvSpec(spec.root, files, spec.origin, spec.python, None, site_root)
    return EnvSpec(None, (), "none")


def base_image_for(spec: EnvSpec, base_image: str, base_images: dict[str, str]) -> str:
    """The base image for *spec*: ``runtime.txt`` picks one from ``[launcher] base_images``.

    A Python version with no image configured keeps a marker in the reference, so the env
    id still differs per version; the docker backend refuses to build it with a clear error.
    """
    if spec.python is None:
        return base_image
    return base_images.get(spec.python, f"{base_image}#python-{spec.python}")


PIP_OPTION = re.compile(r"\s+--?[a-z]")  # pip's options after a requirement (--hash=…)


def requirement_problems(text: str, rel: str) -> list[str]:
    """A message per line of a requirements file that pip would refuse as a requirement
    (``numpy>=``): each requirement line read as PEP 508 says (with ``packaging``), as
    pip reads it. Options (``-r other.txt``, ``--index-url``), paths and URLs are pip's
    own forms: left to pip."""
    from packaging.requirements import InvalidRequirement, Requirement

    problems: list[str] = []
    lines = text.splitlines()
    number = 0
    while number < len(lines):
        start = number
        line = lines[number]
        while line.endswith("\\") and number + 1 < len(lines):  # a line continued
            number += 1
            line = line[:-1] + lines[number]
        number += 1
        line = re.split(r"(?:^|\s)#", line, maxsplit=1)[0].strip()
        if not line or line.startswith(("-", ".", "/")) or re.match(r"^[\w+.-]+://", line):
            continue
        line = PIP_OPTION.split(line, maxsplit=1)[0]
        try:
            Requirement(line)
        except InvalidRequirement as exc:
            problems.append(f"{rel}:{start + 1}: {line!r} is not a requirement pip can "
                            f"read ({str(exc).splitlines()[0]}); write e.g. numpy>=1.26 "
                            "or numpy (PEP 508).")
    return problems
