"""Layering: modes do not import each other; the library below modes/ never sees Hydra."""

import ast
from pathlib import Path

import trajmbrl

SRC = Path(trajmbrl.__file__).parent
#: the modes' shared helpers, one module per concern
HELPERS = ("schema", "settings", "console", "artifacts", "prediction")
SHARED = {"trajmbrl.modes", *(f"trajmbrl.modes.{h}" for h in HELPERS)}


def _imports(path: Path) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
            names |= {f"{node.module}.{a.name}" for a in node.names}
    return names


def test_modes_import_only_the_shared_helpers_of_modes():
    for path in sorted((SRC / "modes").glob("*.py")):
        others = {
            n
            for n in _imports(path)
            if n.startswith("trajmbrl.modes")
            and n not in SHARED
            and not n.startswith(tuple(f"{s}." for s in SHARED - {"trajmbrl.modes"}))
        }
        assert not others, f"{path.name} imports {sorted(others)}"


def test_library_below_modes_takes_plain_arguments():
    for path in sorted(SRC.rglob("*.py")):
        rel = path.relative_to(SRC)
        if rel.parts[0] == "modes" or rel.name == "cli.py":
            continue
        hydra = {n for n in _imports(path) if n.split(".")[0] in ("hydra", "omegaconf")}
        assert not hydra, f"{rel} imports {sorted(hydra)}"
        assert "cfg.eval" not in path.read_text(), f"{rel} reads cfg.eval"
