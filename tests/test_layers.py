"""The layer contract: imports run one way, from the model up to the command line.

Every module of the three packages belongs to one layer (docs/architecture.rst draws the
picture). A module may import its own layer and the layers below it, never one above, and
no group of modules may import each other in a circle. Imports inside functions count the
same as those at the top: a deferred import still ties the modules together. Imports under
``if TYPE_CHECKING:`` are left out (they only name types and never run). A new module must be
given a layer here before the suite passes.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("factorgraph", "samplers", "objectives")

#: Lowest first. ``factorgraph`` itself is the lazy facade, the top: only the command line uses it.
LAYERS: dict[str, tuple[str, ...]] = {
    "foundation": (
        "factorgraph._errors",
        "factorgraph._validation",
        "factorgraph._joint",
        "factorgraph._openmp",
        "factorgraph._memory",
        "factorgraph._pool",
        "factorgraph._progress",
        "factorgraph._registry",
        "factorgraph._version",
        "factorgraph._config",
    ),
    "model": (
        "factorgraph.variables",
        "factorgraph.features",
        "factorgraph._parts",
        "factorgraph.graph",
        "factorgraph.compiled",
        "factorgraph.coloring",
        "factorgraph._coloring",
        "factorgraph._kernels",
        "factorgraph.io",
        "factorgraph.data",
        "factorgraph.alignment",
        "factorgraph._alignment",
        "factorgraph.scopes",
        "factorgraph.datasets",
        "factorgraph.datasets_data.*",  # the script that rebuilt the bundled data: numpy only
    ),
    "engine": ("factorgraph.enumeration", "factorgraph.contracts"),
    "plugins": ("samplers", "samplers.*", "objectives", "objectives.*"),
    "fitting": (
        "factorgraph.exact",
        "factorgraph._exact_l1",
        "factorgraph.training",
        "factorgraph._monitor",
        "factorgraph._safeguards",
        "factorgraph._fit_check",
        "factorgraph._landing",
        "factorgraph._relaxation",
        "factorgraph._start",
        "factorgraph.optim",
        "factorgraph.checkpoint",
        "factorgraph._checkpoint_codec",
        "factorgraph.assessment",
        "factorgraph._convergence",
        "factorgraph._fit_hooks",
        "factorgraph._fit_result",
        "factorgraph._trainer_setup",
        "factorgraph._trainer_state",
        "factorgraph._equilibrate",
        "factorgraph._burn_in",
        "factorgraph._connected",
        "factorgraph._schedules",
        "factorgraph._averaging",
        "factorgraph._detectors",
        "factorgraph.sampling",
        "factorgraph.testing",
        "factorgraph.potts",
    ),
    "wiring": (
        "factorgraph.spec",
        "factorgraph._spec_read",
        "factorgraph._spec_sections",
        "factorgraph.plot",
        "factorgraph._plot_common",
        "factorgraph._plot_couplings",
        "factorgraph.cli",
        "factorgraph._cli_*",
        "factorgraph.__main__",
        "factorgraph",
    ),
}

_CYTHON_IMPORT = re.compile(r"^\s*(?:from\s+([\w.]+)\s+c?import\s+([\w, ]+)|c?import\s+([\w.]+))", re.M)


def module_files(root: Path = ROOT) -> dict[str, Path]:
    """Every Python and Cython module of the three packages, by dotted name."""
    found = {}
    for package in PACKAGES:
        for path in sorted((root / package).rglob("*")):
            if path.suffix not in (".py", ".pyx", ".pxd") or "tests" in path.parts[len(root.parts) :]:
                continue
            parts = list(path.relative_to(root).with_suffix("").parts)
            if parts[-1] == "__init__":
                parts.pop()
            found[".".join(parts)] = path
    return found


def _resolve(name: str, member: str | None, modules: set[str]) -> str | None:
    """The module an import statement loads: the submodule for ``from pkg import sub``."""
    if member and f"{name}.{member}" in modules:
        return f"{name}.{member}"
    return name if name in modules else None


def _runtime_nodes(tree: ast.AST):
    """Every node that can run: all of them but the bodies of ``if TYPE_CHECKING:``."""
    for node in ast.iter_child_nodes(tree):
        test = node.test if isinstance(node, ast.If) else None
        if test is not None and "TYPE_CHECKING" in ast.unparse(test):
            yield from (n for child in node.orelse for n in [child, *_runtime_nodes(child)])
            continue
        yield node
        yield from _runtime_nodes(node)


def imports_of(name: str, source: str, cython: bool, modules: set[str]) -> set[str]:
    """The in-project modules ``source`` imports anywhere (top level or inside functions)."""
    is_package = name in PACKAGES
    pairs: list[tuple[str, str | None]] = []
    if cython:
        for match in _CYTHON_IMPORT.finditer(source):
            if match.group(1):
                pairs += [(match.group(1), m.strip()) for m in match.group(2).split(",")]
            else:
                pairs.append((match.group(3), None))
    else:
        for node in _runtime_nodes(ast.parse(source)):
            if isinstance(node, ast.Import):
                pairs += [(alias.name, None) for alias in node.names]
            elif isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:
                    anchor = name.split(".")[: len(name.split(".")) - node.level + (1 if is_package else 0)]
                    base = ".".join(anchor + ([node.module] if node.module else []))
                pairs += [(base, alias.name) for alias in node.names]
    found = {_resolve(target, member, modules) for target, member in pairs}
    found.discard(None)
    found.discard(name)
    return found  # type: ignore[return-value]


def layer_of(name: str) -> int:
    for rank, patterns in enumerate(LAYERS.values()):
        for pattern in patterns:
            if name == pattern or (pattern.endswith("*") and name.startswith(pattern[:-1])):
                return rank
    raise KeyError(name)


def import_graph(root: Path = ROOT, extra: dict[str, str] | None = None) -> dict[str, set[str]]:
    """Module -> the in-project modules it imports; ``extra`` appends source text to a module."""
    files = module_files(root)
    names = set(files)
    graph = {}
    for name, path in files.items():
        source = path.read_text() + (extra or {}).get(name, "")
        graph[name] = imports_of(name, source, path.suffix != ".py", names)
    return graph


def upward_imports(graph: dict[str, set[str]]) -> list[str]:
    layer_names = list(LAYERS)
    return sorted(
        f"{name} ({layer_names[layer_of(name)]}) imports {target} ({layer_names[layer_of(target)]})"
        for name, targets in graph.items()
        for target in targets
        if layer_of(target) > layer_of(name)
    )


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected groups of more than one module (Tarjan's algorithm)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    groups: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for target in sorted(graph.get(node, ())):
            if target not in index:
                visit(target)
                low[node] = min(low[node], low[target])
            elif target in on_stack:
                low[node] = min(low[node], index[target])
        if low[node] == index[node]:
            group = []
            while True:
                top = stack.pop()
                on_stack.discard(top)
                group.append(top)
                if top == node:
                    break
            if len(group) > 1:
                groups.append(sorted(group))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return groups


def test_every_module_has_a_layer():
    missing = []
    for name in module_files():
        try:
            layer_of(name)
        except KeyError:
            missing.append(name)
    assert not missing, f"give these modules a layer in tests/test_layers.py: {missing}"


def test_imports_run_down_the_layers():
    assert upward_imports(import_graph()) == []


def test_no_import_cycles():
    assert cycles(import_graph()) == []


@pytest.mark.parametrize(
    ("module", "added"),
    [
        ("factorgraph.graph", "\ndef late():\n    from factorgraph.training import Trainer\n"),
        ("samplers.gibbs", "\nimport factorgraph\n"),
        ("objectives.moments", "\ndef late():\n    from factorgraph import exact\n"),
    ],
)
def test_a_forbidden_import_is_caught(module, added):
    """The checker itself: an upward import, even one deferred into a function, is reported."""
    found = upward_imports(import_graph(extra={module: added}))
    assert len(found) == 1 and found[0].startswith(module)


def test_a_cycle_is_caught():
    graph = import_graph(extra={"factorgraph.variables": "\ndef late():\n    import factorgraph.graph\n"})
    assert any({"factorgraph.variables", "factorgraph.graph"} <= set(group) for group in cycles(graph))


def test_the_architecture_page_lists_every_module():
    page = (ROOT / "docs" / "architecture.rst").read_text()
    missing = [name for name in module_files() if f"``{name}``" not in page]
    assert not missing, f"add these modules to docs/architecture.rst: {missing}"
