"""Layering: modes do not import each other; the library below modes/ never sees Hydra."""

import ast
import re
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


#: The package order, lowest first: a top-level subpackage or module of trajmbrl may import
#: those of lower layers only, so packages import each other in no cycle (``__init__`` =
#: ``trajmbrl/__init__.py``). Reports sit below plotting (statistics, comparisons, verdicts;
#: plotting only draws).
LAYERS: tuple[tuple[str, ...], ...] = (
    ("errors",),
    ("utils", "configs"),
    ("envs", "models"),
    ("controllers", "training", "artifacts"),
    ("data", "_gym"),
    ("evaluation", "__init__", "api_checks"),
    ("reports", "control"),
    ("plotting", "api"),
    ("tuning", "bench"),  # equal-budget tuning and trajmbrl.benchmark(): on top of the API
    ("modes",),
    ("cli",),
    ("__main__",),
)
LAYER = {unit: i for i, units in enumerate(LAYERS) for unit in units}


def _unit(path: Path) -> str:
    """The top-level subpackage or module of trajmbrl that ``path`` belongs to."""
    rel = path.relative_to(SRC)
    return rel.parts[0] if len(rel.parts) > 1 else rel.stem


def _package_graph() -> dict[str, dict[str, set[str]]]:
    """unit -> imported unit -> the files importing it (every import, function-local too)."""
    units = {_unit(p) for p in SRC.rglob("*.py")}
    graph: dict[str, dict[str, set[str]]] = {}
    for path in sorted(SRC.rglob("*.py")):
        here, rel = _unit(path), path.relative_to(SRC)
        for name in _imports(path):
            parts = name.split(".")
            if parts[0] == "trajmbrl" and len(parts) > 1 and parts[1] in units - {here}:
                graph.setdefault(here, {}).setdefault(parts[1], set()).add(str(rel))
    return graph


def _cycle(graph: dict[str, dict[str, set[str]]]) -> list[str] | None:
    """One import cycle of ``graph`` as ``[a, b, ..., a]``, or None (depth-first search)."""
    done: set[str] = set()

    def visit(path: list[str]) -> list[str] | None:
        for dep in sorted(graph.get(path[-1], {})):
            if dep in path:
                return path[path.index(dep) :] + [dep]
            if dep not in done and (found := visit([*path, dep])):
                return found
        done.add(path[-1])
        return None

    for unit in sorted(graph):
        if unit not in done and (found := visit([unit])):
            return found
    return None


def test_every_package_is_in_the_declared_order():
    units = {_unit(p) for p in SRC.rglob("*.py")}
    assert not units - set(LAYER), f"add {sorted(units - set(LAYER))} to LAYERS"


def test_packages_import_only_lower_layers():
    upward = [
        f"{a} (layer {LAYER[a]}) imports {b} (layer {LAYER[b]}) in {sorted(files)}"
        for a, deps in _package_graph().items()
        for b, files in deps.items()
        if LAYER[b] >= LAYER[a]
    ]
    assert not upward, "\n".join(upward)


def test_no_import_cycles_between_packages():
    graph = _package_graph()
    found = _cycle(graph)
    assert found is None, f"import cycle {' -> '.join(found)}: " + str(
        {f"{a} -> {b}": sorted(graph[a][b]) for a, b in zip(found, found[1:])}
    )
    toy = {"a": {"b": {"a.py"}}, "b": {"c": {"b.py"}}, "c": {"a": {"c.py"}}, "d": {"a": set()}}
    assert _cycle(toy) == ["a", "b", "c", "a"]  # the search itself finds a cycle
    assert _cycle({"a": {"b": set()}, "b": {}}) is None


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


#: a CLI key in a message: ``train.patience``, ``eval.horizon=``, ``model.`` + a name (not a
#: file name such as ``model.pt``)
CLI_KEY = re.compile(
    r"(?<![\w.{])(train|eval|model|models|control|grid|plot|logs|paths)"
    r"\.(?!(pt|csv|json|npz|lock)\b)(\w|$)"
)


def test_library_errors_name_library_arguments_not_cli_keys():
    """Below modes/ and cli.py a message names the argument (``{TrainConfig.patience}``); the
    modes map it to the key once (modes/schema.py)."""
    found = []
    for path in sorted(SRC.rglob("*.py")):
        rel = path.relative_to(SRC)
        if rel.parts[0] == "modes" or rel.name == "cli.py":
            continue
        tree = ast.parse(path.read_text())
        hints = [n for n in tree.body if isinstance(n, ast.Assign)]  # e.g. _HINT = "..."
        for node in [*ast.walk(tree), *hints]:
            func = node.func if isinstance(node, ast.Call) else None
            name = getattr(func, "id", getattr(func, "attr", ""))
            if isinstance(node, ast.Raise | ast.Assign) or name.endswith(("Error", "warn")):
                for part in ast.walk(node):
                    if isinstance(part, ast.Constant) and isinstance(part.value, str):
                        found += [f"{rel}:{part.lineno}: {part.value!r}"] * bool(
                            CLI_KEY.search(part.value)
                        )
    assert not found, "library messages naming CLI keys:\n" + "\n".join(sorted(set(found)))
