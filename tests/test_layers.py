"""Data flows one way: a module imports only modules upstream of it (DESIGN.md).

spec -> space -> data -> model -> trainer -> objective -> backend -> report/export, with the
helpers each of them needs placed where they first are needed. A new module must be placed in
ORDER, which is the point: where it sits in the flow is a decision, not an accident.
"""

from __future__ import annotations

import ast
from pathlib import Path

from .conftest import ROOT

ORDER = [
    "errors", "_schema", "paired", "space", "spec", "scaling", "data", "folds", "models",
    "rewire", "presets", "reuse", "usermodel", "snippet", "compiled", "batchnorm", "trainer",
    "evaluation", "objective", "guard", "pruning", "reconnect", "storage", "study",
    "backends.optuna_backend", "backends.keras_tuner_backend",
    "confirm", "summary", "export", "model_file",
    "report.verdicts", "report.figures", "report.page", "report.dashboard", "report.terminal",
    "report", "workers", "commands", "cli",
]
HEAVY = {"tensorflow", "keras", "keras_tuner", "optuna", "optuna_dashboard", "pandas", "sklearn",
         "matplotlib"}
LIGHT = {"errors", "_schema", "space", "spec", "objective", "guard", "cli"}  # on the --help path


def modules() -> dict[str, Path]:
    pkg = ROOT / "search"
    found = {}
    for path in pkg.rglob("*.py"):
        rel = path.relative_to(pkg).with_suffix("")
        if rel.name != "__init__":
            found[".".join(rel.parts)] = path
    return found


def imports(name: str, path: Path) -> list[tuple[str, bool]]:
    """(imported project module, at module level?) for every relative import in a file."""
    tree = ast.parse(path.read_text())
    top = set(map(id, tree.body))
    package = name.split(".")[:-1]
    out = []
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.level:
            base = package[: len(package) - (node.level - 1)]
            target = ".".join(base + ([node.module] if node.module else []))
            names = [target] if node.module else [".".join(base + [a.name]) for a in node.names]
            out += [(n, id(node) in top) for n in names]
    return out


def test_every_module_has_a_place_in_the_flow():
    missing = sorted(set(modules()) - set(ORDER))
    assert not missing, f"place these in tests/test_layers.py ORDER: {missing}"


def test_modules_import_only_upstream_modules():
    wrong = []
    for name, path in modules().items():
        for target, _ in imports(name, path):
            if target in ORDER and ORDER.index(target) >= ORDER.index(name):
                wrong.append(f"{name} imports {target}")
    assert not wrong, wrong


def test_light_modules_keep_heavy_libraries_out_of_module_level():
    wrong = []
    for name in LIGHT:
        tree = ast.parse(modules()[name].read_text())
        for node in tree.body:
            roots = ([a.name.split(".")[0] for a in node.names] if isinstance(node, ast.Import)
                     else [node.module.split(".")[0]] if isinstance(node, ast.ImportFrom)
                     and node.module and not node.level else [])
            wrong += [f"{name}: {r}" for r in roots if r in HEAVY]
    assert not wrong, wrong
