"""How envs are made, the parts both backends share (pure): the kernel spec, the reader's
own layer, and the recipe fingerprint that is part of every env id."""

from __future__ import annotations

# change it when venvs are made differently
LOCAL_RECIPE = "venv-3: uv, byte-compiled, ipykernel, pip, user layer"


def kernel_spec(python: str) -> dict[str, object]:
    """The ``kernel.json`` of an env whose Python is *python*."""
    return {
        "argv": [python, "-m", "ipykernel_launcher", "-f", "{connection_file}"],
        "display_name": "Python 3",
        "language": "python",
        "metadata": {"debugger": True},
    }


# `pip install` in a session (a terminal, `!pip`, `%pip`) adds to the post's env in a layer
# of the reader's own, put on the path *before* the env's packages, as repo2docker's
# writable env would let it. The env itself is shared by every session (and cached by
# content hash), so it never changes: pip is pointed at the layer (PIP_PREFIX) and the
# env's Python puts the layer on its path (a virtualenv hides the user site; the module
# below, loaded by a .pth file in the env's site-packages, shows it again) in sessions
# only (PUBLISH_USER_LAYER): builds and postBuild never see a user's ~/.local.
USER_LAYER_MODULE = "_publish_user_layer"
USER_LAYER_FILES = {
    f"{USER_LAYER_MODULE}.py": '''\
"""publish: the reader's own layer of this environment (see publisher.envs.recipe)."""
import os as _os
import site as _site
import sys as _sys

if _os.environ.get("PUBLISH_USER_LAYER") and not _sys.flags.no_user_site:
    _user = _site.getusersitepackages()
    try:  # present from the start, so a kernel sees what `%pip` adds
        _os.makedirs(_user, exist_ok=True)
    except OSError:
        pass
    if _user not in _sys.path:
        _env = [i for i, p in enumerate(_sys.path)
                if p.startswith(_sys.prefix) and p.rstrip("/").endswith("site-packages")]
        _sys.path.insert(_env[0] if _env else len(_sys.path), _user)
''',
    "publish-user-layer.pth": f"import {USER_LAYER_MODULE}\n",
}


def user_layer_env(user_base: str) -> dict[str, str]:
    """Variables of a session or execution whose reader's layer is *user_base*."""
    return {"PUBLISH_USER_LAYER": "1", "PYTHONUSERBASE": user_base, "PIP_PREFIX": user_base}
