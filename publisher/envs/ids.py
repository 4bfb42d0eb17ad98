"""The env id: the one key of an env's image, venv and execution records (pure)."""

from __future__ import annotations

import functools

from publisher.envs.dockerfile import env_dockerfile, runtime_dockerfile
from publisher.envs.recipe import LOCAL_RECIPE, USER_LAYER_FILES
from publisher.envs.spec import BUILDER_VERSION, EnvSpec
from publisher.hashing import digest, file_parts


@functools.cache  # pure, and asked for every post's env id
def recipe_fingerprint() -> str:
    """A hash of how images and venvs are made (part of every env id)."""
    sample = EnvSpec(None, (), "none")
    return digest([runtime_dockerfile("BASE"), env_dockerfile(sample, "RUNTIME", {}),
                   LOCAL_RECIPE, *USER_LAYER_FILES.values()])


def env_id(spec: EnvSpec, base_image: str) -> str:
    """Stable hash of the spec files' contents + base image + builder version.

    For a spec that installs its folder as a package, the package's ``.py`` files count
    too (they are part of what gets installed); data files and notebooks never do.
    """
    # the recipe stands for the builder: a change to how images are made changes every id
    parts: list[bytes | str] = [BUILDER_VERSION, recipe_fingerprint(), base_image]
    if spec.root is not None:
        files = [spec.root / f for f in spec.files]
        if spec.package_dir is not None:
            files += [
                p
                for p in spec.package_dir.rglob("*.py")
                if p.is_file() and p.name != "setup.py" and ".ipynb_checkpoints" not in p.parts
            ]
        parts += file_parts(spec.root, files)
    return digest(parts)
