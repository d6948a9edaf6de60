"""kerattn's modules import each other one way only: no cycle among module-level imports.

Imports inside functions (kerattn's lazy imports of heavy or optional packages, and the zoo's
`from_preset` reaching the loader) run after every module has loaded and cannot cycle at import
time; module-level ones can, and a cycle among them breaks as soon as someone imports a module
of it first. The package root may import what it exports, but no module imports the root back.
"""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "kerattn"


def module_names() -> dict[str, Path]:
    names = {}
    for path in PACKAGE.rglob("*.py"):
        parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
        names[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = path
    return names


def module_level_imports(name: str, path: Path, modules: dict[str, Path]) -> set[str]:
    """The kerattn modules `name` imports at module level (a `from a import b` of a submodule
    counts as importing `a.b`)."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found = set()
    statements = list(ast.parse(path.read_text(encoding="utf-8")).body)
    while statements:  # module level, including inside if/try blocks, never inside functions
        node = statements.pop()
        if isinstance(node, (ast.If, ast.Try)):
            statements += node.body + node.orelse + getattr(node, "finalbody", [])
            statements += [s for handler in getattr(node, "handlers", []) for s in handler.body]
        elif isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom):
            module = node.module or ""
            if node.level:
                base = package.split(".")[: len(package.split(".")) - node.level + 1]
                module = ".".join(base + ([module] if module else []))
            for alias in node.names:
                found.add(
                    f"{module}.{alias.name}" if f"{module}.{alias.name}" in modules else module
                )
    return {module for module in found if module in modules and module != name}


def import_graph() -> dict[str, set[str]]:
    modules = module_names()
    return {name: module_level_imports(name, path, modules) for name, path in modules.items()}


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    state: dict[str, str] = {}
    path: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = "open"
        path.append(node)
        for target in sorted(graph[node]):
            if state.get(target) == "open":
                return path[path.index(target) :] + [target]
            if target not in state and (cycle := visit(target)):
                return cycle
        state[node] = "done"
        path.pop()
        return None

    for node in sorted(graph):
        if node not in state and (cycle := visit(node)):
            return cycle
    return None


def test_the_graph_is_read():
    graph = import_graph()
    assert (
        "kerattn.zoo.translator" in graph["kerattn.zoo.model_loading"]
        or "kerattn.zoo.presets" in graph["kerattn.zoo.model_loading"]
    )
    assert "kerattn.layers" in graph["kerattn"]
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]


def test_no_import_cycle():
    assert find_cycle(import_graph()) is None


def test_no_module_imports_the_package_root():
    graph = import_graph()
    assert sorted(name for name, targets in graph.items() if "kerattn" in targets) == []


# ---- the package arrows of docs/ARCHITECTURE.md ------------------------------------------------

ARCHITECTURE = PACKAGE.parent / "docs" / "ARCHITECTURE.md"


def documented_arrows() -> dict[str, set[str]]:
    """{package: the packages it may import} from the table in docs/ARCHITECTURE.md."""
    arrows = {}
    for line in ARCHITECTURE.read_text(encoding="utf-8").splitlines():
        cells = [cell.strip() for cell in line.strip().strip("|").split("|")]
        if len(cells) == 3 and cells[0].startswith("`") and cells[0] != "`package`":
            arrows[cells[0].strip("`")] = {
                name.strip().strip("`") for name in cells[2].split(",") if name.strip()
            }
    return arrows


def package_of(module: str) -> str:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else "(root)"


def package_imports() -> dict[str, set[str]]:
    """{package: the other packages its modules import}, imports inside functions included."""
    modules = module_names()
    found: dict[str, set[str]] = {}
    for name, path in modules.items():
        source = package_of(name)
        found.setdefault(source, set())
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                targets = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
                targets = (
                    [f"kerattn.{alias.name}" for alias in node.names]
                    if node.module == "kerattn"
                    else [node.module]
                )
            else:
                continue
            found[source] |= {
                package_of(target) for target in targets if target.startswith("kerattn.")
            } - {source}
    return found


def test_the_architecture_table_is_read():
    arrows = documented_arrows()
    assert arrows["models"] == {"layers"} and arrows["layers"] == set()
    assert "zoo" in arrows["training"]


def test_every_package_is_in_the_architecture_table():
    assert sorted(set(package_imports()) - set(documented_arrows())) == []


def test_packages_import_only_along_the_documented_arrows():
    arrows = documented_arrows()
    extra = {
        package: sorted(targets - arrows.get(package, set()))
        for package, targets in package_imports().items()
        if targets - arrows.get(package, set())
    }
    assert extra == {}, (
        "imports not in docs/ARCHITECTURE.md's table (add the arrow there, "
        "with its reason, or import along an existing one)"
    )
