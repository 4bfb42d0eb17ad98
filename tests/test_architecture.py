"""The seams between the parts hold: no import cycle, pure env code, the launcher on public
parts of the build only, and one definition of what must agree everywhere."""

from __future__ import annotations

import ast
from pathlib import Path

from publisher.compat.jsonschema import SLOW_MODULE

PACKAGE = Path(__file__).resolve().parent.parent / "publisher"


def _module_name(path: Path) -> str:
    rel = path.relative_to(PACKAGE.parent).with_suffix("")
    parts = rel.parts[:-1] if rel.name == "__init__" else rel.parts
    return ".".join(parts)


def modules() -> dict[str, Path]:
    return {_module_name(p): p for p in PACKAGE.rglob("*.py")}


def import_graph() -> dict[str, set[str]]:
    """{module: modules of the package it imports}, imports inside functions included."""
    graph: dict[str, set[str]] = {}
    for name, path in MODULES.items():
        deps: set[str] = set()
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            targets: list[str] = []
            if isinstance(node, ast.Import):
                targets = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                targets = [node.module] + [f"{node.module}.{a.name}" for a in node.names]
            deps |= {t for t in targets if t in MODULES and t != name}
        graph[name] = deps
    return graph


MODULES = modules()


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in graph[v]:
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return found


def test_no_import_cycles() -> None:
    assert cycles(import_graph()) == []


def test_the_cycle_check_can_fail() -> None:
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": set()}) == [["a", "b", "c"]]


def test_env_code_is_pure() -> None:
    """envs/ reads spec files and renders text: it imports no backend, no Docker."""
    graph = import_graph()
    for name, deps in graph.items():
        if name.startswith("publisher.envs"):
            assert not {d for d in deps if d.startswith(("publisher.backends",
                                                         "publisher.pipeline"))}, name
            source = MODULES[name].read_text()
            assert "import docker" not in source and "shutil.rmtree" not in source, name


def test_the_launcher_reads_the_published_site_only() -> None:
    """No launcher module imports the build pipeline, not even through another module:
    the launcher reads the published site (``_publish/site.json`` and the files it names),
    never the build's caches, so a launcher on another machine works the same."""
    graph = import_graph()
    for name in (n for n in graph if n.startswith("publisher.launcher")):
        reached: set[str] = set()
        todo = [name]
        while todo:
            for dep in graph[todo.pop()] - reached:
                reached.add(dep)
                todo.append(dep)
        assert not {d for d in reached if d.startswith("publisher.pipeline")}, name
    source = (PACKAGE / "launcher" / "posts.py").read_text()
    assert "_build" not in source and "WORK" not in source and "discover" not in source


def test_the_standalone_runner_hides_the_same_slow_module() -> None:
    runner = (PACKAGE / "backends" / "nbrunner.py").read_text()
    assert f'sys.modules).setdefault("{SLOW_MODULE}", None)' in runner
