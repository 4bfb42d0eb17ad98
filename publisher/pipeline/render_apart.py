"""A render in a fresh process (see :func:`publisher.pipeline.sphinx_app.run_sphinx`):
``python -m publisher.pipeline.render_apart SRC OUT DOCTREES RESULT`` writes
the warnings and the refused files to RESULT as JSON."""

from __future__ import annotations

import json
import sys
from pathlib import Path

from publisher.errors import PublishError
from publisher.pipeline.sphinx_app import FilesRefused, run_sphinx


def main(argv: list[str]) -> None:
    from publisher.compat.jsonschema import hide_slow_module

    hide_slow_module()
    src, out, doctrees, result = argv
    refused: dict[str, list[str]] = {}
    try:
        found = run_sphinx(Path(src), Path(out), Path(doctrees))
    except FilesRefused as exc:
        found, refused = [], exc.by_doc
    except PublishError as exc:
        sys.exit(exc.message)
    Path(result).write_text(json.dumps({"warnings": found, "refused": refused}))


if __name__ == "__main__":
    main(sys.argv[1:])
