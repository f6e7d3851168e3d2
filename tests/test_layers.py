"""The layers of the package, checked over the source (``ast``): a package imports only packages in
layers below its own, so there is no upward import and no cycle between packages, and nothing in
``threatwatch`` imports ``pipelines`` (the deployments declare when flows run; the package never
reaches back to them). README's "Architecture" section draws the same layers."""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SRC = ROOT / "src" / "threatwatch"

# Bottom to top; a package's modules may import any package of a lower layer, never one beside or above.
LAYERS: list[set[str]] = [
    {"threatwatch", "config", "domain"},  # "threatwatch": the package's own __init__ (its version)
    {"db"},
    {"audit", "events"},
    {"accounts", "watchlist"},
    {"persons"},  # authors, the persons they belong to, their signals (collect attributes posts here)
    {"classify", "collect", "alerts"},
    {"registry"},  # which model is live, its history, the one cache of loaded models
    {"ops"},
    {"review", "retrain"},
    {"evidence"},  # packs for a police report: what review allows exported, as a record and printable
    {"wiring"},  # connects the subscribers of events at start-up
    {"flows"},
    {"web"},
    {"cli"},
    {"__main__"},
]
LAYER_OF = {name: i for i, names in enumerate(LAYERS) for name in names}


def _package(module: str) -> str | None:
    """``threatwatch.collect.run`` -> ``collect``; None for anything outside threatwatch."""
    parts = module.split(".")
    if parts[0] != "threatwatch":
        return None
    return parts[1] if len(parts) > 1 else "threatwatch"


def _imports(path: Path) -> Iterator[tuple[int, str]]:
    """(line, module) of every absolute import in ``path``, at any depth (local imports count too)."""
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), filename=str(path))):
        if isinstance(node, ast.Import):
            yield from ((node.lineno, alias.name) for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            yield node.lineno, node.module
            if node.module == "threatwatch":  # from threatwatch import events: a module of the package
                modules = [
                    a.name for a in node.names if (SRC / f"{a.name}.py").exists() or (SRC / a.name).is_dir()
                ]
                yield from ((node.lineno, f"threatwatch.{name}") for name in modules)


def _own_package(path: Path) -> str:
    relative = path.relative_to(SRC)
    return "threatwatch" if relative.parts == ("__init__.py",) else relative.parts[0].removesuffix(".py")


def test_every_package_has_a_layer() -> None:
    found = {_own_package(p) for p in SRC.rglob("*.py")}
    assert found - set(LAYER_OF) == set(), "give new packages a layer in LAYERS"


def test_imports_go_only_downwards_and_never_to_pipelines() -> None:
    wrong: list[str] = []
    for path in sorted(SRC.rglob("*.py")):
        mine = _own_package(path)
        for line, module in _imports(path):
            where = f"{path.relative_to(ROOT)}:{line} imports {module}"
            if module.split(".")[0] == "pipelines":
                wrong.append(where + " (the package never imports the deployments)")
                continue
            theirs = _package(module)
            if theirs is None or theirs == mine or (mine != "threatwatch" and theirs == "threatwatch"):
                continue
            if LAYER_OF[theirs] >= LAYER_OF[mine]:
                wrong.append(f"{where} (layer {LAYER_OF[mine]} -> {LAYER_OF[theirs]})")
    assert wrong == []


def test_the_check_sees_an_upward_import(tmp_path: Path) -> None:
    """The check itself can fail: an events module importing alerts is caught."""
    module = tmp_path / "events.py"
    module.write_text("def publish():\n    from threatwatch.alerts import enqueue_alerts\n")
    [(line, imported)] = list(_imports(module))
    assert (line, _package(imported)) == (2, "alerts")
    assert LAYER_OF["alerts"] > LAYER_OF["events"]


def test_pipelines_only_declare_deployments() -> None:
    """``pipelines/`` holds the deployment declarations alone; the flows live in ``threatwatch.flows``."""
    assert sorted(p.name for p in (ROOT / "pipelines").glob("*.py")) == ["__init__.py", "deployments.py"]
