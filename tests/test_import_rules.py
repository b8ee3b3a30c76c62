"""The layering, read from the source: pages → services → runtime → core; the proxy → runtime/core; the
generator imports nothing of the app; no import cycles. Every import counts, also those inside a
function (imported late is still depended on)."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

# layer → the layers it may import (itself included where listed)
ALLOWED = {
    "pages": {"pages", "services", "runtime", "core", "generator"},
    "entry": {"entry", "services", "runtime", "proxy", "core", "generator"},  # the CLI, the monitor, the API
    "services": {"services", "runtime", "core", "generator"},
    "proxy": {"proxy", "runtime", "core", "generator"},
    "runtime": {"runtime", "core", "generator"},
    "core": {"core", "generator"},
    "generator": {"generator"},
}


def layer_of(module: str) -> str:
    prefixes = (
        ("pages", "pages"),
        ("streamlit_app", "pages"),
        ("app.ui", "pages"),
        ("app.dashboard_routes", "pages"),
        ("dashboard", "pages"),
        ("app.cli", "entry"),
        ("app.api", "entry"),
        ("app.monitor", "entry"),
        ("app.services", "services"),
        ("app.proxy", "proxy"),
        ("app.runtime", "runtime"),
        ("generator", "generator"),
    )
    for prefix, layer in prefixes:
        if module == prefix or module.startswith(prefix + "."):
            return layer
    return "core"


def our_modules() -> dict[str, Path]:
    paths = [*ROOT.glob("app/**/*.py"), *ROOT.glob("generator/**/*.py"), *ROOT.glob("pages/*.py")]
    modules = {}
    for path in [*paths, ROOT / "streamlit_app.py", ROOT / "dashboard.py"]:
        name = ".".join(path.relative_to(ROOT).with_suffix("").parts).removesuffix(".__init__")
        modules[name] = path
    return modules


def imports_of(name: str, path: Path, modules: dict[str, Path]) -> set[str]:
    """The modules of ours that `name` imports (a `from package import module` names the module)."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parts = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*parts, base] if base else parts)
            for alias in node.names:
                found.add(f"{base}.{alias.name}" if f"{base}.{alias.name}" in modules else base)
    return {m for m in found if m in modules and m != name}


def import_graph() -> dict[str, set[str]]:
    modules = our_modules()
    return {name: imports_of(name, path, modules) for name, path in modules.items()}


def violations(graph: dict[str, set[str]]) -> list[str]:
    return sorted(
        f"{source} ({layer_of(source)}) imports {target} ({layer_of(target)})"
        for source, targets in graph.items()
        for target in targets
        if layer_of(target) not in ALLOWED[layer_of(source)]
    )


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components of more than one module (Tarjan's algorithm)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        for target in sorted(graph.get(node, ())):
            if target not in index:
                visit(target)
                low[node] = min(low[node], low[target])
            elif target in stack:
                low[node] = min(low[node], index[target])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return found


def test_every_import_follows_the_layers() -> None:
    assert violations(import_graph()) == []


def test_there_is_no_import_cycle() -> None:
    assert cycles(import_graph()) == []


def test_the_proxy_loads_no_use_case() -> None:
    """What the proxy's workers import, transitively: only the proxy, the runtime, the core, the generator."""
    graph = import_graph()
    seen, todo = set(), [m for m in graph if layer_of(m) == "proxy"]
    while todo:
        module = todo.pop()
        if module not in seen:
            seen.add(module)
            todo.extend(graph[module])
    assert {layer_of(m) for m in seen} <= {"proxy", "runtime", "core", "generator"}
    assert "app.services.access" not in seen and "app.services.audit" not in seen


def test_the_checks_catch_a_wrong_arrow_and_a_cycle() -> None:
    graph = {
        "app.services.golive": {"app.proxy.supervisor"},
        "app.proxy.supervisor": {"app.runtime.alerts"},
        "app.runtime.alerts": {"app.models"},
        "app.models": set(),
        "app.services.config": {"app.services.routes"},
        "app.services.routes": {"app.services.config"},
    }
    assert violations(graph) == ["app.services.golive (services) imports app.proxy.supervisor (proxy)"]
    assert cycles(graph) == [["app.services.config", "app.services.routes"]]


def test_the_graph_sees_imports_inside_functions_and_relative_ones(tmp_path: Path) -> None:
    source = tmp_path / "mod.py"
    source.write_text("def f():\n    from app.proxy import supervisor\n")
    modules = {"app.services.mod": source, "app.proxy.supervisor": source}
    assert imports_of("app.services.mod", source, modules) == {"app.proxy.supervisor"}
    source.write_text("from . import supervisor\n")
    modules = {"app.proxy.hooks": source, "app.proxy.supervisor": source}
    assert imports_of("app.proxy.hooks", source, modules) == {"app.proxy.supervisor"}
