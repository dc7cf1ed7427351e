"""The layers of docs/architecture.md hold: every import in lab_utils, those inside functions too, runs downward."""

from __future__ import annotations

import ast
import functools
import re
from dataclasses import dataclass
from pathlib import Path

from .helpers import ROOT

PACKAGE = ROOT / "lab_utils"
DOC = ROOT / "docs" / "architecture.md"
TABLE = re.compile(r"<!-- layers:.*?-->\n(.*?)<!-- end of layers -->", re.S)


def layers() -> dict[str, int]:
    """Top-level part of lab_utils (`settings`, `data`, `lab`...) -> its layer, read from docs/architecture.md."""
    found = TABLE.search(DOC.read_text(encoding="utf-8"))
    assert found, "docs/architecture.md lost its table of layers"
    order = {}
    for row in found.group(1).splitlines():
        cells = [cell.strip() for cell in row.strip().strip("|").split("|")]
        if cells[0].isdigit():
            order.update((name, int(cells[0])) for name in re.findall(r"`(\w+)`", cells[1]))
    return order


@dataclass(frozen=True)
class Import:
    importer: str  # dotted module name
    line: int
    imported: str  # dotted module name inside lab_utils


def module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


@functools.cache
def _exports() -> dict[str, str]:
    """lab_utils/__init__.py's `_EXPORTS`: public name -> the module that defines it."""
    for node in ast.parse((PACKAGE / "__init__.py").read_text(encoding="utf-8")).body:
        if isinstance(node, ast.Assign) and any(getattr(t, "id", None) == "_EXPORTS" for t in node.targets):
            return ast.literal_eval(node.value)
    return {}


def _resolve(name: str) -> str:
    """`lab_utils.X.Y`, where `from lab_utils.X import Y` names a module; else the module `lab_utils.X`, or for a
    name the package re-exports (`from lab_utils import Lab`), the module that defines it."""
    path = ROOT.joinpath(*name.split("."))
    if path.with_suffix(".py").is_file() or path.is_dir():
        return name
    module, _, attribute = name.rpartition(".")
    return _exports().get(attribute, module) if module == "lab_utils" else module


def imports_of(source: str, importer: str, *, is_package: bool = False) -> list[Import]:
    """Every import of a lab_utils module in the module `importer`, at module level or inside a function, relative
    ones resolved."""
    package = importer if is_package else importer.rsplit(".", 1)[0]
    found = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                base = ".".join(
                    [*package.split(".")[: len(package.split(".")) - node.level + 1], *filter(None, [base])]
                )
            names = [_resolve(f"{base}.{alias.name}") for alias in node.names]
        else:
            continue
        found += [Import(importer, node.lineno, n) for n in names if n == "lab_utils" or n.startswith("lab_utils.")]
    return found


def _part(module: str) -> str:
    """The top-level part of a dotted lab_utils module name: `lab_utils.training.fit` -> `training`."""
    return module.split(".")[1] if module.count(".") else ""


def problem(importer: str, imported: str, order: dict[str, int]) -> str | None:
    """Why `importer` may not import `imported` (dotted names), or None when the layers allow it."""
    src, dst = _part(importer), _part(imported)
    if importer == "lab_utils":  # the package's lazy re-exports stand outside the layers
        return "lab_utils/__init__.py must not import lab_utils/run" if dst == "run" else None
    if src not in order or (dst and dst not in order):
        return f"give {src if src not in order else dst!r} a layer in docs/architecture.md"
    if dst and order[dst] > order[src]:
        return f"layer {order[src]} ({src}) imports layer {order[dst]} ({dst})"
    if src == "run" and dst == "lab":
        return "lab_utils/run must not import lab.py (the workers use lab_utils.training.session)"
    return None


def violations() -> list[str]:
    order, found = layers(), []
    for path in sorted(PACKAGE.rglob("*.py")):
        source = path.read_text(encoding="utf-8")
        for imp in imports_of(source, module_name(path), is_package=path.name == "__init__.py"):
            if why := problem(imp.importer, imp.imported, order):
                found.append(f"{path.relative_to(ROOT)}:{imp.line} imports {imp.imported}: {why}")
    return found


def test_every_module_has_a_layer_and_imports_run_only_downward() -> None:
    found = violations()
    assert not found, f"{len(found)} import(s) against docs/architecture.md:\n  " + "\n  ".join(found)


def test_the_checker_sees_function_level_and_relative_imports() -> None:
    """The checker itself: an import hidden in a function, a relative one and a name from a module are all found."""
    source = "from . import sources\nimport os\n\ndef f():\n    from lab_utils.report.tables import write_table\n"
    found = {(imp.line, imp.imported) for imp in imports_of(source, "lab_utils.data.probe")}
    assert found == {(1, "lab_utils.data.sources"), (5, "lab_utils.report.tables")}


def test_the_table_names_the_layers_of_the_issue() -> None:
    order = layers()
    assert order["errors"] == order["settings"] == order["paths"] == order["atomic"] == order["quiet"] == 0
    assert order["data"] < order["models"] < order["training"] < order["report"] < order["lab"] < order["run"]
    assert order["lab"] == order["exercises"]


def test_the_checker_refuses_what_the_rules_refuse() -> None:
    order = layers()
    assert (
        problem("lab_utils.data.datasets", "lab_utils.models.builders", order)
        == "layer 1 (data) imports layer 2 (models)"
    )
    assert "must not import lab.py" in problem("lab_utils.run.cluster", "lab_utils.lab", order)
    assert "must not import lab_utils/run" in problem("lab_utils", "lab_utils.run.quiet", order)
    assert "a layer in docs/architecture.md" in problem("lab_utils.newpart", "lab_utils.errors", order)
    assert problem("lab_utils.run.cluster", "lab_utils.training.session", order) is None
    assert problem("lab_utils.lab", "lab_utils.exercises.common", order) is None  # one layer
    assert problem("lab_utils.data.datasets", "lab_utils", order) is None  # the package root itself
