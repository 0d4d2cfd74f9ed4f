"""The package's import graph, read from the source with ast: no module imports one that imports it back."""
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


def test_the_graph_sees_function_level_imports():
    modules = _modules()
    assert "tlcourse.results" in _imports("tlcourse.experiments", modules["tlcourse.experiments"], modules)
    assert "tlcourse.methods" in _imports("tlcourse.results", modules["tlcourse.results"], modules)
