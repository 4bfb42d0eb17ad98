"""Execute one notebook with nbclient and report the first failing cell.

Standalone on purpose (stdlib + nbformat + nbclient only): the local backend runs it
with the publish interpreter, the docker backend copies this file into the post's image
and runs it there with the runtime's Python. Usage::

    python nbrunner.py IN.ipynb OUT.ipynb RESULT.json --cwd DIR --timeout 120 [--allow-errors]
    python nbrunner.py --serve DIR      # kernel started now; the job comes on stdin

It always writes OUT (partially executed on failure) and RESULT, then exits 0; a
non-zero exit means the runner itself could not run.
"""

from __future__ import annotations

import argparse
import atexit
import json
import shutil
import sys
import tempfile
import time
from typing import Any, cast

# skip a 2 s grammar compile that jsonschema triggers and nbformat never needs (standalone
# script: publisher.compat.jsonschema.SLOW_MODULE, spelled out; a test checks they agree)
# (None in sys.modules: "not installed", what importlib documents for blocking a module)
cast("dict[str, object]", sys.modules).setdefault("rfc3987_syntax", None)

import nbformat  # noqa: E402
from jupyter_core.utils import run_sync  # noqa: E402
from nbclient import NotebookClient  # noqa: E402
from nbclient.exceptions import CellExecutionError, CellTimeoutError, DeadKernelError  # noqa: E402


def _error_of(nb: Any, exc: BaseException, timeout: int) -> dict[str, Any]:
    # the failing cell is the last one that started: execution stops there. Earlier error
    # outputs may be expected ('raises-exception' tags, allow_errors) and later cells may
    # still hold errors stored in the file; neither is the failure.
    started = [
        i for i, c in enumerate(nb.cells)
        if c.cell_type == "code" and c.get("metadata", {}).get("execution", {}).get(
            "iopub.execute_input")
    ]
    cell_index = started[-1] if started else None
    if isinstance(exc, CellTimeoutError):
        return {
            "cell": cell_index,
            "ename": "CellTimeoutError",
            "evalue": f"the cell ran longer than the {timeout} s timeout",
            "traceback": [],
        }
    if isinstance(exc, CellExecutionError):
        return {
            "cell": cell_index,
            "ename": exc.ename,
            "evalue": exc.evalue,
            "traceback": [line for line in str(exc).splitlines() if line.strip()][-8:],
        }
    if isinstance(exc, DeadKernelError):
        return {"cell": cell_index, "ename": "DeadKernelError",
                "evalue": "the kernel died (out of memory?)", "traceback": []}
    return {"cell": cell_index, "ename": type(exc).__name__, "evalue": str(exc), "traceback": []}


def choose_kernel(nb: Any, specs: dict[str, Any]) -> tuple[str | None, dict[str, Any] | None]:
    """The kernel that runs *nb* in this env: (name, None), or (None, the error to report).

    A Python notebook always runs in the env's own ``python3`` kernel, whatever its
    kernelspec is called (``conda-env-x-py``, a project kernel of the author's machine):
    that kernel is the post's environment. Another language needs a kernel of that name,
    else of that language, installed in the env."""
    ks = nb.metadata.get("kernelspec") or {}
    name = str(ks.get("name") or "python3")
    language = str(ks.get("language") or (nb.metadata.get("language_info") or {}).get("name")
                   or "python").lower()
    if language == "python" or name == "python3":
        return "python3", None
    if name in specs:
        return name, None
    same = sorted(n for n, s in specs.items()
                  if str(s.get("spec", {}).get("language", "")).lower() == language)
    if same:
        return same[0], None
    shown = ks.get("display_name") or name
    return None, {
        "cell": None, "ename": "NoSuchKernel",
        "evalue": (f"the notebook's kernel is '{name}' ({shown}, language {language}), "
                   f"which its environment does not provide (its kernels: "
                   f"{', '.join(sorted(specs)) or 'none'})"),
        "traceback": [], "kernel": name, "language": language,
    }


def kernel_specs() -> dict[str, Any]:
    from jupyter_client.kernelspec import KernelSpecManager

    specs: dict[str, Any] = KernelSpecManager().get_all_specs()
    return specs


def run(src: str, dst: str, result: str, cwd: str, timeout: int, allow_errors: bool,
        km: Any = None) -> None:
    """Execute *src* into *dst* and write *result*; *km*: a kernel manager whose
    ``python3`` kernel is started already (shut down here, used or not)."""
    nb = nbformat.read(src, as_version=4)
    kernel, problem = choose_kernel(nb, kernel_specs())
    if km is not None and kernel != "python3":  # another language: its own kernel
        run_sync(km.shutdown_kernel)(now=True)
        km = None
    if problem is not None:
        nbformat.write(nb, dst)
        with open(result, "w", encoding="utf-8") as fh:
            json.dump({"error": problem, "seconds": 0.0}, fh)
        return
    if km is None:
        km = kernel_manager(kernel or "python3")
    client = NotebookClient(
        nb,
        km=km,
        timeout=timeout,
        kernel_name=kernel,
        allow_errors=allow_errors,
        resources={"metadata": {"path": cwd}},
        record_timing=True,
    )
    start = time.monotonic()
    error = None
    try:
        client.execute()
    except BaseException as exc:  # report, never crash: the caller reads RESULT
        error = _error_of(nb, exc, timeout)
    finally:
        if km is not None and km.has_kernel:
            run_sync(km.shutdown_kernel)(now=True)
    nbformat.write(nb, dst)
    with open(result, "w", encoding="utf-8") as fh:
        json.dump({"error": error, "seconds": time.monotonic() - start}, fh)


def kernel_manager(kernel: str) -> Any:
    """The kernel manager nbclient would make (asynchronous), talking to its kernel over
    Unix sockets in a folder of its own: kernels started at once by other runners cannot
    take its ports (TCP ports are picked free, then bound by the kernel: two kernels
    starting together may pick the same one, and the client then waits for a kernel that
    never answers)."""
    km = NotebookClient(nbformat.v4.new_notebook(), kernel_name=kernel).create_kernel_manager()
    folder = tempfile.mkdtemp(prefix="publish-kernel-")
    atexit.register(shutil.rmtree, folder, True)
    km.transport = "ipc"
    km.ip = f"{folder}/k"
    return km


def serve(cwd: str) -> None:
    """Start a ``python3`` kernel in *cwd* now, then run the one job that arrives on
    standard input (a JSON line: src, dst, result, timeout, allow_errors); nothing (end of
    input): stop the kernel and end. The kernel starts while the caller has other work
    (the previous notebook, a render), so a notebook does not wait for its kernel."""
    km = kernel_manager("python3")  # started the way nbclient would start it
    run_sync(km.start_kernel)(cwd=cwd)
    line = sys.stdin.readline()
    if not line.strip():
        run_sync(km.shutdown_kernel)(now=True)
        return
    job = json.loads(line)
    run(job["src"], job["dst"], job["result"], cwd, int(job["timeout"]),
        bool(job["allow_errors"]), km)


def main() -> None:
    if sys.argv[1:2] == ["--serve"]:
        serve(sys.argv[2])
        return
    ap = argparse.ArgumentParser()
    ap.add_argument("src")
    ap.add_argument("dst")
    ap.add_argument("result")
    ap.add_argument("--cwd", default=".")
    ap.add_argument("--timeout", type=int, default=120)
    ap.add_argument("--allow-errors", action="store_true")
    args = ap.parse_args()
    run(args.src, args.dst, args.result, args.cwd, args.timeout, args.allow_errors)


if __name__ == "__main__":
    main()
