"""The dependency rule of docs/architecture.md, checked on the source: layers import downward (or sideways), only
public names cross a package, and the only import cycles are registrations inside one package."""
from __future__ import annotations

import ast
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[1] / "src" / "distillery"
LAYERS = {
    "ground": {"errors", "features", "progress", "fileio", "runtime", "config"},
    "low": {"data", "models", "losses", "compute", "scaling"},
    "middle": {"teacher", "training", "lm", "tasks", "rundir", "students", "export"},
    "top": {"pipeline", "api", "report", "synthetic", "cli", "demo", "recipes"},
}
ORDER = ["ground", "low", "middle", "top"]
RANK = {pkg: ORDER.index(layer) for layer, pkgs in LAYERS.items() for pkg in pkgs}


def _module_name(path: Path) -> str:
    parts = path.relative_to(SRC.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _is_module(name: str) -> bool:
    rel = Path(*name.split(".")[1:]) if "." in name else Path()
    return (SRC / rel).with_suffix(".py").is_file() or (SRC / rel / "__init__.py").is_file()


def _imports(path: Path) -> list[tuple[str, list[str]]]:
    """(target module, imported names) for every import of ``path`` that targets distillery, at any depth (function
    level included: a lazy import is a dependency too)."""
    me = _module_name(path)
    package = me if path.name == "__init__.py" else me.rsplit(".", 1)[0]
    out = []
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[: len(base) - (node.level - 1)]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            if not target.startswith("distillery"):
                continue
            names = [a.name for a in node.names]
            subs = [f"{target}.{n}" for n in names if _is_module(f"{target}.{n}")]
            out += [(s, []) for s in subs]
            rest = [n for n in names if not _is_module(f"{target}.{n}")]
            if rest or not subs:
                out.append((target, rest))
        elif isinstance(node, ast.Import):
            out += [(a.name, []) for a in node.names if a.name.startswith("distillery")]
    return out


def _top(module: str) -> str:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else "distillery"  # the package itself: its __init__ re-exports the API


GRAPH = {_module_name(p): _imports(p) for p in sorted(SRC.rglob("*.py"))}


def test_every_package_has_a_layer():
    assert {_top(m) for m in GRAPH} - {"distillery"} <= set(RANK)


@pytest.mark.parametrize("module", sorted(GRAPH))
def test_imports_go_downward_and_take_only_public_names(module):
    src = _top(module)
    if src == "distillery":
        return
    for target, names in GRAPH[module]:
        dst = _top(target)
        if dst in ("distillery", src):
            continue
        assert RANK[dst] <= RANK[src], f"{module} (layer {ORDER[RANK[src]]}) imports {target} ({ORDER[RANK[dst]]})"
        private = [n for n in names if n.startswith("_")]
        assert not private, f"{module} imports private names {private} of {target}"


def test_low_packages_never_import_the_engine_reports_or_the_face():
    for module, imports in GRAPH.items():
        if _top(module) in ("data", "models", "losses", "scaling"):
            bad = [t for t, _ in imports if _top(t) in ("training", "report", "api", "cli")]
            assert not bad, f"{module} imports {bad}"


def _strongly_connected(graph: dict[str, set[str]]) -> list[set[str]]:
    index, low, stack, on, out = {}, {}, [], set(), []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on.add(v)
        for w in graph.get(v, ()):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = set()
            while True:
                w = stack.pop()
                on.discard(w)
                comp.add(w)
                if w == v:
                    break
            out.append(comp)

    for v in graph:
        if v not in index:
            visit(v)
    return out


def test_the_only_cycles_are_registrations_inside_one_package():
    graph = {m: {t for t, _ in imps if t in GRAPH and t != m} for m, imps in GRAPH.items()}
    cycles = [c for c in _strongly_connected(graph) if len(c) > 1]
    for c in cycles:
        packages = {m.rsplit(".", 1)[0] if not (SRC / Path(*m.split(".")[1:]) / "__init__.py").is_file() else m
                    for m in c}
        assert len({_top(m) for m in c}) == 1 and len(packages) == 1, f"import cycle across packages: {sorted(c)}"
