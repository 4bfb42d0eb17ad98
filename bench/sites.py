"""Generate the same N notebook posts as a publish site and as a Jupyter Book 1 project."""

from __future__ import annotations

import textwrap
import time
from pathlib import Path

import nbformat
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

KERNEL = {"kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"}}


def post_notebook(i: int) -> nbformat.NotebookNode:
    nb = new_notebook(metadata=KERNEL)
    nb.cells = [
        new_markdown_cell(f"# Post {i}: a damped oscillator\n\nWe plot $x(t) = e^{{-t/{i + 2}}}"
                          f"\\cos(2\\pi t)$ and compute a few numbers.\n\n"
                          "Some *markdown*, a [link](https://example.org) and a list:\n\n"
                          "- one\n- two\n"),
        new_code_cell("import numpy as np\nimport matplotlib.pyplot as plt\n"
                      f"t = np.linspace(0, 10, 500)\nx = np.exp(-t / {i + 2}) * np.cos(2 * np.pi * t)\n"
                      "print(f'energy {np.sum(x**2):.3f}')"),
        new_code_cell("fig, ax = plt.subplots(figsize=(5, 2.5))\nax.plot(t, x)\n"
                      f"ax.set_title('post {i}')\nplt.show()"),
        new_markdown_cell("That is all for this post."),
    ]
    return nb


def write_publish_site(root: Path, n: int) -> None:
    (root / "posts").mkdir(parents=True, exist_ok=True)
    (root / "publish.toml").write_text(textwrap.dedent("""\
        [site]
        title = "Benchmark blog"
        author = "Bench"
        base_url = "http://127.0.0.1:8000/"
        [execute]
        timeout = 300
        """))
    (root / "requirements.txt").write_text("numpy\nmatplotlib\n")
    for i in range(n):
        d = root / "posts" / f"post-{i:03d}"
        d.mkdir(exist_ok=True)
        nb = post_notebook(i)
        nb.metadata["publish"] = {"date": f"2024-01-{1 + i % 28:02d}", "tags": [f"t{i % 5}"]}
        nbformat.write(nb, d / "index.ipynb")


def write_jupyter_book(root: Path, n: int, execute: str = "cache") -> None:
    (root / "posts").mkdir(parents=True, exist_ok=True)
    (root / "_config.yml").write_text(textwrap.dedent("""\
        title: Benchmark book
        author: Bench
        execute:
          execute_notebooks: EXECUTE
          timeout: 300
        """).replace("EXECUTE", execute))
    chapters = "\n".join(f"- file: posts/post-{i:03d}" for i in range(n))
    (root / "_toc.yml").write_text(f"format: jb-book\nroot: intro\nchapters:\n{chapters}\n")
    (root / "intro.md").write_text("# Benchmark book\n\nThe same posts as the blog.\n")
    for i in range(n):
        nbformat.write(post_notebook(i), root / "posts" / f"post-{i:03d}.ipynb")


def edit_one_post(root: Path, publish: bool) -> None:
    """Change the code of post 0 (re-execution needed)."""
    path = root / "posts" / ("post-000/index.ipynb" if publish else "post-000.ipynb")
    nb = nbformat.read(path, 4)
    nb.cells[1].source += f"\n# edited {time.time()}"
    nbformat.write(nb, path)


def edit_prose(root: Path, publish: bool) -> None:
    """Change the prose of post 0 (nothing to re-execute)."""
    path = root / "posts" / ("post-000/index.ipynb" if publish else "post-000.ipynb")
    nb = nbformat.read(path, 4)
    nb.cells[3].source = f"That is all for this post (edited {time.time()})."
    nbformat.write(nb, path)
