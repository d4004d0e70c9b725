"""The core library and the Airflow plugin have no import circle, counting imports inside functions
too (a function-local import that closes a circle only hides it). Also: no module of the core imports Airflow or dbt at
module level (they are optional extras), and no module imports another module's private (``_name``) helpers."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def modules(package: str) -> dict[str, Path]:
    found = {}
    for path in (ROOT / package).rglob("*.py"):
        name = ".".join(path.relative_to(ROOT).with_suffix("").parts)
        found[name.removesuffix(".__init__")] = path
    return found


def import_graph(package: str) -> dict[str, set[str]]:
    known = modules(package)

    def owner(name: str) -> str | None:  # the module an imported name belongs to
        while name and name not in known:
            name = name.rpartition(".")[0]
        return name or None

    graph: dict[str, set[str]] = {name: set() for name in known}
    for name, path in known.items():
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ImportFrom) and node.module and not node.level:
                targets = [owner(f"{node.module}.{alias.name}") or owner(node.module) for alias in node.names]
            elif isinstance(node, ast.Import):
                targets = [owner(alias.name) for alias in node.names]
            else:
                continue
            graph[name].update(target for target in targets if target and target != name)
    return graph


def circles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        for target in graph[node]:
            if target not in index:
                visit(target)
                low[node] = min(low[node], low[target])
            elif target in stack:
                low[node] = min(low[node], index[target])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return found


def test_the_core_library_has_no_import_circle():
    assert circles(import_graph("lineage")) == []


def test_the_airflow_plugin_has_no_import_circle():
    assert circles(import_graph("airflow_plugin")) == []


def test_a_circle_is_found_when_there_is_one():
    assert circles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]


def test_the_core_imports_no_airflow_or_dbt_at_module_level():
    for name, path in modules("lineage").items():
        for node in ast.parse(path.read_text(encoding="utf-8")).body:
            if isinstance(node, (ast.Import, ast.ImportFrom)):
                imported = [alias.name for alias in node.names] if isinstance(node, ast.Import) else [node.module or ""]
                assert not [module for module in imported if module.split(".")[0] in {"airflow", "dbt"}], f"{name} imports {imported} at module level"


PACKAGES = {"lineage", "airflow_plugin", "testkit"}
FOLDERS = ("lineage", "airflow_plugin", "testkit", "tests", "bench", "scripts", "dags_examples")


def private_imports(source: str, project: set[str]) -> list[str]:
    """``from <project module> import _name`` in ``source`` (``__future__`` and dunders aside).

    A helper another module needs is public in the module that owns its concern."""
    found = []
    for node in ast.walk(ast.parse(source)):
        if not isinstance(node, ast.ImportFrom) or node.module == "__future__":
            continue
        if node.level or (node.module or "").split(".")[0] in project:
            found += [f"line {node.lineno}: {alias.name} from {'.' * node.level}{node.module or ''}" for alias in node.names
                      if alias.name.startswith("_") and not (alias.name.startswith("__") and alias.name.endswith("__"))]
    return found


def test_no_module_imports_a_private_name_of_another():
    found = {}
    for folder in FOLDERS:
        for path in (ROOT / folder).rglob("*.py"):
            # tests/, bench/: their own folder and tests/support are on sys.path
            siblings = {sibling.stem for sibling in [*path.parent.glob("*.py"), *(ROOT / "tests" / "support").glob("*.py")]}
            imports = private_imports(path.read_text(encoding="utf-8"), PACKAGES | siblings)
            if imports:
                found[str(path.relative_to(ROOT))] = imports
    assert found == {}


def test_a_private_import_is_found_when_there_is_one():
    source = "from __future__ import annotations\nfrom lineage.x import _helper, shown, __version__\nfrom os import _exit\nfrom . import _y"
    assert private_imports(source, PACKAGES) == ["line 2: _helper from lineage.x", "line 4: _y from ."]


def test_no_test_module_imports_another():
    """Helpers two test files share live in tests/support (on pytest's pythonpath): a test module
    is found by its folder, so one test importing another works only while they sit side by side."""
    found = {}
    for path in (ROOT / "tests").rglob("test_*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            names = [alias.name for alias in node.names] if isinstance(node, ast.Import) else [node.module or ""] if isinstance(node, ast.ImportFrom) else []
            if any(name.split(".")[0].startswith("test_") for name in names):
                found.setdefault(str(path.relative_to(ROOT)), []).append(node.lineno)
    assert found == {}
