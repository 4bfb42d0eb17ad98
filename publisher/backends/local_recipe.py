"""What the local backend runs to realise an env as a virtualenv: one list of steps, which
the build runs and `publish env show --backend local` prints."""

from __future__ import annotations

import os
import shlex
import sys
from dataclasses import dataclass, field
from pathlib import Path

from publisher.envs.spec import EnvSpec


@dataclass(frozen=True)
class Step:
    cmd: list[str]
    what: str  # for messages: "installing packages failed"
    cwd: Path | None = None
    env: dict[str, str] = field(default_factory=dict)  # added to the process environment
    venv_first: Path | None = None  # this venv's bin/ first on PATH, VIRTUAL_ENV set

    def environment(self) -> dict[str, str] | None:
        """The process environment to run it with (None: this process's)."""
        if not self.env and self.venv_first is None:
            return None
        out = {**os.environ, **self.env}
        if self.venv_first is not None:
            out["PATH"] = f"{self.venv_first / 'bin'}{os.pathsep}{os.environ.get('PATH', '')}"
            out["VIRTUAL_ENV"] = str(self.venv_first)
        return out

    def shown(self, root: Path) -> str:
        """The step as a shell line run from the site's folder *root*: paths in its
        working folder (else in *root*) relative to that."""
        base = self.cwd or root

        def short(arg: str, under: Path) -> str:
            return arg[len(str(under)) + 1:] if arg.startswith(f"{under}/") else arg

        prefix = [shlex.quote(f"{k}={v}") for k, v in self.env.items()]
        if self.venv_first is not None:
            prefix += [f"PATH={shlex.quote(str(self.venv_first / 'bin'))}:$PATH",
                       shlex.quote(f"VIRTUAL_ENV={self.venv_first}")]
        where = ""
        if self.cwd is not None:
            where = f"cd {shlex.quote(short(str(self.cwd), root) if self.cwd != root else '.')} && "
        return where + " ".join([*prefix, shlex.join(short(a, base) for a in self.cmd)])


@dataclass(frozen=True)
class VenvRecipe:
    """Create the venv and install the env spec's packages (:attr:`install`); the backend
    then adds the reader's pip layer and the kernel spec; :attr:`post_build` last."""

    install: list[Step]
    post_build: Step | None  # the env's postBuild, with the venv first on PATH


def venv_recipe(spec: EnvSpec, venv: Path, uv: str | None) -> VenvRecipe:
    """How the local backend realises *spec* as the virtualenv *venv* (with *uv*, else
    ``python -m venv`` and pip)."""
    python = spec.python or sys.executable
    packages = ["ipykernel"]
    if "requirements.txt" in spec.files:
        packages += ["-r", str(spec.path("requirements.txt"))]
    if spec.package_dir is not None:
        packages.append(str(spec.package_dir))
    steps: list[Step]
    if uv:
        no_downloads = {"UV_PYTHON_DOWNLOADS": "never"}
        steps = [
            Step([uv, "venv", "--quiet", "--seed", "--relocatable", "--python", python,
                  str(venv)], "creating the virtualenv", env=no_downloads),
            # byte-compiled now, so no kernel pays for compiling numpy & co on every start
            # (and PYTHONDONTWRITEBYTECODE environments never cache it at all)
            Step([uv, "pip", "install", "--compile-bytecode", "--python",
                  str(venv / "bin" / "python"), *packages],
                 "installing packages", cwd=spec.root, env=no_downloads),
        ]
    else:
        steps = [Step([python, "-m", "venv", str(venv)], "creating the virtualenv"),
                 Step([str(venv / "bin" / "python"), "-m", "pip", "install", *packages],
                      "installing packages", cwd=spec.root)]
    post = Step(["bash", str(spec.path("postBuild"))], "postBuild", cwd=spec.root,
                venv_first=venv) if "postBuild" in spec.files else None
    return VenvRecipe(steps, post)
