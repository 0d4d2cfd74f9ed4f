"""The package's import graph, read from the source with ast: layers import only from the layers
below them, and no module imports one that imports it back."""
import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parent.parent / "tlcourse"


def _modules() -> dict[str, Path]:
    names = {}
    for path in PACKAGE.rglob("*.py"):
        parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
        names[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = path
    return names


def _imports(name: str, path: Path, modules) -> set[str]:
    """The package's modules that `name` imports, at the top or inside a function."""
    package = name if path.name == "__init__.py" else name.rsplit(".", 1)[0]
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom):
            base = package.split(".")[:len(package.split(".")) - node.level + 1] if node.level else []
            target = ".".join(base + ([node.module] if node.module else []))
            found |= {t for t in [target, *(f"{target}.{a.name}" for a in node.names)] if t in modules}
        elif isinstance(node, ast.Import):
            found |= {a.name for a in node.names if a.name in modules}
    return found - {name}


def test_no_module_imports_one_that_imports_it_back():
    modules = _modules()
    graph = {name: _imports(name, path, modules) for name, path in modules.items()}
    cycles = sorted({tuple(sorted((a, b))) for a in graph for b in graph[a] if a in graph.get(b, ())})
    assert not cycles, f"import cycles: {cycles}"


LAYERS = ("engine", "methods", "lessons", "report", "checks", "tools")  # each imports only from those before it


def _layer(module: str) -> int | None:
    parts = module.split(".")
    return LAYERS.index(parts[1]) if len(parts) > 2 and parts[1] in LAYERS else None


def test_each_layer_imports_only_from_the_layers_below():
    modules = _modules()
    upward = sorted((name, target) for name, path in modules.items() if _layer(name) is not None
                    for target in _imports(name, path, modules)
                    if _layer(target) is not None and _layer(target) > _layer(name))
    assert not upward, "imports from a higher layer: " + ", ".join(f"{a} -> {b}" for a, b in upward)


def test_every_module_lives_in_a_layer():
    modules = _modules()
    assert [m for m in modules if m != "tlcourse" and _layer(m) is None and m.count(".") > 1] == []
    assert sorted(m for m in modules if m.count(".") == 1) == sorted(f"tlcourse.{layer}" for layer in LAYERS)


def test_the_graph_sees_upward_and_function_level_imports(tmp_path):
    (tmp_path / "tlcourse" / "engine").mkdir(parents=True)
    low = tmp_path / "tlcourse" / "engine" / "low.py"
    low.write_text("def f():\n    from ..lessons.high import g\n")
    modules = {"tlcourse.engine.low": low, "tlcourse.lessons.high": low}
    found = _imports("tlcourse.engine.low", low, modules)
    assert found == {"tlcourse.lessons.high"} and _layer("tlcourse.lessons.high") > _layer("tlcourse.engine.low")
