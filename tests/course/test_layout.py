"""The package's import graph, read from the source with ast: layers import only from the layers
below them, a lesson never imports another lesson, and no chain of imports comes back to where it started."""
import ast
from pathlib import Path

from tlcourse.engine.config import ROOT

PACKAGE = ROOT / "tlcourse"
LAYERS = ("engine", "methods", "experiments", "lessons", "report", "checks", "tools")  # each imports only from those before it


def _modules(package: Path = PACKAGE) -> dict[str, Path]:
    names = {}
    for path in package.rglob("*.py"):
        parts = path.relative_to(package.parent).with_suffix("").parts
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


def _graph(package: Path = PACKAGE) -> dict[str, set[str]]:
    modules = _modules(package)
    return {name: _imports(name, path, modules) for name, path in modules.items()}


def _cycle(graph) -> list[str]:
    """One chain of imports that comes back to its start, of any length ([] when there is none)."""
    done, path = set(), []

    def visit(node):
        if node in path:
            return path[path.index(node):] + [node]
        if node in done:
            return []
        path.append(node)
        for target in sorted(graph.get(node, ())):
            if found := visit(target):
                return found
        path.pop()
        done.add(node)
        return []

    return next((c for node in sorted(graph) if (c := visit(node))), [])


def _layer(module: str) -> int | None:
    parts = module.split(".")
    return LAYERS.index(parts[1]) if len(parts) > 2 and parts[1] in LAYERS else None


def _lesson_to_lesson(graph) -> list[tuple[str, str]]:
    lesson = LAYERS.index("lessons")
    return sorted((a, b) for a, targets in graph.items() for b in targets if _layer(a) == lesson == _layer(b))


def test_no_chain_of_imports_comes_back_to_its_start():
    assert _cycle(_graph()) == []


def test_each_layer_imports_only_from_the_layers_below():
    upward = sorted((name, target) for name, targets in _graph().items() if _layer(name) is not None
                    for target in targets if _layer(target) is not None and _layer(target) > _layer(name))
    assert not upward, "imports from a higher layer: " + ", ".join(f"{a} -> {b}" for a, b in upward)


def test_no_lesson_imports_another():
    assert _lesson_to_lesson(_graph()) == [], "what two lessons share moves down to experiments/, methods/ or engine/"


def test_every_module_lives_in_a_layer():
    modules = _modules()
    assert [m for m in modules if m != "tlcourse" and _layer(m) is None and m.count(".") > 1] == []
    assert sorted(m for m in modules if m.count(".") == 1) == sorted(f"tlcourse.{layer}" for layer in LAYERS)


def _plant(root: Path, files: dict) -> Path:
    for name, text in files.items():
        path = root / "tlcourse" / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return root / "tlcourse"


def test_the_graph_sees_upward_and_function_level_imports(tmp_path):
    graph = _graph(_plant(tmp_path, {"engine/low.py": "def f():\n    from ..lessons.high import g\n",
                                     "lessons/high.py": "g = 1\n"}))
    assert graph["tlcourse.engine.low"] == {"tlcourse.lessons.high"}
    assert _layer("tlcourse.lessons.high") > _layer("tlcourse.engine.low")


def test_a_planted_lesson_to_lesson_import_and_three_module_cycle_are_found(tmp_path):
    graph = _graph(_plant(tmp_path, {"lessons/one.py": "from .two import x\n", "lessons/two.py": "x = 1\n",
                                     "methods/a.py": "from .b import f\n", "methods/b.py": "from .c import f\n",
                                     "methods/c.py": "def f():\n    from .a import g\n"}))
    assert _lesson_to_lesson(graph) == [("tlcourse.lessons.one", "tlcourse.lessons.two")]
    assert _cycle(graph) == ["tlcourse.methods.a", "tlcourse.methods.b", "tlcourse.methods.c", "tlcourse.methods.a"]


def test_the_tests_mirror_the_layers():
    """tests/<layer>/ holds the tests of that layer's modules; tests/course/ those of the course as a whole."""
    tests = ROOT / "tests"
    assert sorted(p.name for p in tests.iterdir() if p.is_dir() and not p.name.startswith(("_", "."))) == \
        sorted([*LAYERS, "course"])
    assert sorted(p.name for p in tests.glob("test_*.py")) == []
