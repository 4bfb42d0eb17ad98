"""Quarto Markdown (``.qmd``) read into a notebook, as Quarto's Jupyter engine does (pure).

- ```` ```{python} ```` / ```` ```{julia} ```` / ```` ```{r} ```` chunks (knitr's
  ``{r, echo=FALSE}`` options too) are code cells, their ``#|`` lines kept for
  :mod:`.cellflags`; ```` ```{.python} ```` and ```` ```python ```` are code shown, not run
  (left in the Markdown, the first as ```` ```python ````);
- everything else is markdown cells (Quarto's syntax is rewritten later, as for any post);
- the kernel: front matter ``jupyter:`` (a kernel name or a kernelspec), else ``engine:``
  (``knitr`` is R), else the first chunk's language, else Python;
- ``execute:`` options (``eval``, ``echo``, ``output``, ``include``) are every chunk's
  default, as Quarto applies them; ``execute: {enabled: false}`` is ``execute: false``.
"""

from __future__ import annotations

import json
import re
from typing import Any

import nbformat
from nbformat import NotebookNode

from publisher.content.notebook import PYTHON_KERNELSPEC, stable_cell_ids

CHUNK = re.compile(r"^ {0,3}(`{3,})\s*\{\s*(python|julia|r|R)\b\s*,?\s*([^}]*)\}\s*$")
DISPLAY = re.compile(r"^( {0,3})(`{3,}|~{3,})\s*\{\s*\.([\w+-]+)[^}]*\}\s*$")
FENCE = re.compile(r"^ {0,3}(`{3,}|~{3,})")
KNITR_OPTION = re.compile(r"([\w.-]+)\s*=\s*(\"[^\"]*\"|'[^']*'|[^,\s]+)")
CELL_OPTIONS = ("eval", "echo", "output", "include")
KERNELS: dict[str, dict[str, str]] = {
    "python": dict(PYTHON_KERNELSPEC),
    "julia": {"name": "julia", "display_name": "Julia", "language": "julia"},
    "r": {"name": "ir", "display_name": "R", "language": "R"},
}
ENGINES = {"knitr": "r", "julia": "julia"}


def _knitr(options: str) -> list[str]:
    """``echo=FALSE, fig.cap="x"`` as ``#|`` lines (knitr's names with '.' as Quarto's '-')."""
    out = []
    for m in KNITR_OPTION.finditer(options):
        value = m[2].strip("\"'") if m[2][0] in "\"'" else m[2]
        shown = {"TRUE": "true", "FALSE": "false", "T": "true", "F": "false"}.get(value)
        out.append(f"#| {m[1].replace('.', '-')}: {shown or json.dumps(value)}")
    return out


def _defaults(execute: dict[str, Any], code: list[str]) -> list[str]:
    """The front matter's ``execute:`` options the chunk does not set itself."""
    own = {m[1] for line in code if (m := re.match(r"^\s*#\|\s*([\w-]+)\s*:", line))}
    return [f"#| {key}: {json.dumps(execute[key])}" for key in CELL_OPTIONS
            if key in execute and key not in own]


def read_qmd(body: str, first_line: int, data: dict[str, Any]
             ) -> tuple[dict[str, Any], NotebookNode, list[int]]:
    """The notebook of a ``.qmd`` body (the text after its front matter, whose first line
    is line *first_line* of the file): (front matter as publish reads it, notebook, the
    file line of each cell)."""
    data = dict(data)
    execute = data.get("execute")
    if isinstance(execute, dict):  # Quarto's options, not publish's true/false
        del data["execute"]
        if execute.get("enabled") is False:
            data["execute"] = False
    else:
        execute = {}
    nb = nbformat.v4.new_notebook()
    lines: list[int] = []
    text: list[str] = []
    text_start = 0
    languages: list[str] = []

    def flush() -> None:
        nonlocal text
        while text and not text[0].strip():
            text.pop(0)
        while text and not text[-1].strip():
            text.pop()
        if text:
            nb.cells.append(nbformat.v4.new_markdown_cell("\n".join(text)))
            lines.append(text_start)
        text = []

    rows = body.split("\n")
    i, fence = 0, ""
    while i < len(rows):
        row = rows[i]
        m = FENCE.match(row)
        if fence:  # inside display code: nothing in it is a chunk
            if m and m[1][0] == fence[0] and len(m[1]) >= len(fence) and not row.strip(
                    )[len(m[1]):].strip():
                fence = ""
            text.append(row)
        elif chunk := CHUNK.match(row):
            flush()
            end = i + 1
            while end < len(rows) and not (
                    (c := FENCE.match(rows[end])) and c[1][0] == "`"
                    and len(c[1]) >= len(chunk[1]) and not rows[end].strip()[len(c[1]):].strip()):
                end += 1
            code = _knitr(chunk[3]) + rows[i + 1:end]
            code = _defaults(execute, code) + code
            language = chunk[2].lower()
            languages.append(language)
            nb.cells.append(nbformat.v4.new_code_cell("\n".join(code).strip("\n")))
            lines.append(first_line + i)
            i = end + 1
            continue
        elif display := DISPLAY.match(row):
            if not text:
                text_start = first_line + i
            fence = display[2]
            text.append(f"{display[1]}{display[2]}{display[3]}")
        else:
            if m:
                fence = m[1]
            if not text and row.strip():
                text_start = first_line + i
            if text or row.strip():
                text.append(row)
        i += 1
    flush()
    nb.metadata["kernelspec"] = kernelspec(data, languages)
    nb.metadata["language_info"] = {"name": nb.metadata["kernelspec"]["language"].lower()}
    stable_cell_ids(nb)
    return data, nb, lines


def kernelspec(data: dict[str, Any], languages: list[str]) -> dict[str, str]:
    """The kernel a ``.qmd`` runs in: ``jupyter:``, else ``engine:``, else its chunks."""
    jupyter = data.get("jupyter")
    if isinstance(jupyter, dict) and isinstance(jupyter.get("kernelspec"), dict):
        ks = jupyter["kernelspec"]
        name = str(ks.get("name") or "python3")
        language = str(ks.get("language") or ("python" if "py" in name else name))
        return {"name": name, "display_name": str(ks.get("display_name") or name),
                "language": language}
    if isinstance(jupyter, str) and jupyter.strip():
        name = jupyter.strip()
        language = next((lang for lang in KERNELS if name.lower().startswith(lang)),
                        "r" if name == "ir" else languages[0] if languages else "python")
        if language == "python":
            return dict(KERNELS["python"])
        return {"name": name, "display_name": name, "language": KERNELS[language]["language"]}
    engine = str(data.get("engine") or "").lower()
    language = ENGINES.get(engine) or (languages[0] if languages else "python")
    return dict(KERNELS[language])
