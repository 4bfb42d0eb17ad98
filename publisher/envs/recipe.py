"""How envs are made, the parts both backends share (pure): the kernel spec, the slow
import every runtime drops, and the recipe fingerprint that is part of every env id."""

from __future__ import annotations

import sys

# rfc3987-syntax (pulled in by jupyter-events, and by jsonschema when installed) compiles
# a grammar on import: 1.4-2.3 s of every session start and every command. No Jupyter
# schema checks IRI formats, so the runtime image uninstalls it and our processes tell
# Python the module is absent.
SLOW_PACKAGE = "rfc3987-syntax"
SLOW_MODULE = "rfc3987_syntax"
HIDE_SLOW_MODULE = f"import sys; sys.modules.setdefault({SLOW_MODULE!r}, None)"  # for -c


def hide_slow_module() -> None:
    """Tell Python the slow module is absent (this process): jsonschema then skips it."""
    sys.modules.setdefault(SLOW_MODULE, None)  # type: ignore[arg-type]

LOCAL_RECIPE = "venv-2: uv, byte-compiled, ipykernel"  # change it when venvs are made differently


def kernel_spec(python: str) -> dict[str, object]:
    """The ``kernel.json`` of an env whose Python is *python*."""
    return {
        "argv": [python, "-m", "ipykernel_launcher", "-f", "{connection_file}"],
        "display_name": "Python 3",
        "language": "python",
        "metadata": {"debugger": True},
    }
