"""How jsonschema imports: without rfc3987-syntax.

rfc3987-syntax (pulled in by jupyter-events, and imported by jsonschema's format checker
when installed) compiles a grammar on import: 1.4-2.3 s of every session start and every
command. No Jupyter schema (nbformat's, jupyter-events') checks IRI formats, so the
runtime image uninstalls it and our processes tell Python the module is absent:
jsonschema's ``import rfc3987_syntax`` then fails as it does when the package is not
installed, and the format is left unchecked.
"""

from __future__ import annotations

import sys
from types import ModuleType
from typing import cast

from publisher.compat.versions import require

VERSIONS = ">=4.26,<4.27"  # jsonschema/_format.py: `from rfc3987_syntax import ...`
require("jsonschema", VERSIONS)

SLOW_PACKAGE = "rfc3987-syntax"
SLOW_MODULE = "rfc3987_syntax"
HIDE_SLOW_MODULE = f"import sys; sys.modules.setdefault({SLOW_MODULE!r}, None)"  # for -c


def hide_slow_module() -> None:
    """Tell Python the slow module is absent (this process): jsonschema then skips it."""
    sys.modules.setdefault(SLOW_MODULE, cast(ModuleType, None))
