"""The shape of the code: the core (edge/) never imports a plugin (plugins/), and no module depends on
itself through others. Read from the source, every import counted (those inside functions too), but
not those under `if TYPE_CHECKING:`, which never run."""

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def modules() -> dict[str, Path]:
    """Dotted module name -> file, for edge/ and plugins/ (a package is its __init__.py)."""
    found = {}
    for path in sorted([*ROOT.glob("edge/**/*.py"), *ROOT.glob("plugins/**/*.py")]):
        parts = path.relative_to(ROOT).with_suffix("").parts
        found[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = path
    return found


def _imported(tree: ast.AST, package: str) -> list[str]:
    """Names of what `tree` imports (`a.b` for `import a.b`, `a.b.c` for `from a.b import c`)."""
    names = []
    for node in ast.iter_child_nodes(tree):
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            names += [name for child in node.orelse for name in _imported(child, package)]
            continue
        if isinstance(node, ast.Import):
            names += [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parents = package.split(".")[:len(package.split(".")) - node.level + 1]
                base = ".".join([*parents, *([base] if base else [])])
            names += [f"{base}.{alias.name}" for alias in node.names]
        names += _imported(node, package)
    return names


def graph() -> dict[str, set[str]]:
    """Module -> the project modules it imports (the longest dotted prefix that is one)."""
    found = modules()
    edges: dict[str, set[str]] = {}
    for name, path in found.items():
        package = name if path.name == "__init__.py" else name.rpartition(".")[0]
        targets = set()
        for target in _imported(ast.parse(path.read_text()), package):
            while target and target not in found:
                target = target.rpartition(".")[0]
            if target and target != name:
                targets.add(target)
        edges[name] = targets
    return edges


def cycles(edges: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected groups of more than one module (Tarjan), each sorted."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    found = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        for target in edges[node]:
            if target not in index:
                visit(target)
                low[node] = min(low[node], low[target])
            elif target in stack:
                low[node] = min(low[node], index[target])
        if low[node] == index[node]:
            group = []
            while not group or group[-1] != node:
                group.append(stack.pop())
            if len(group) > 1:
                found.append(sorted(group))

    for node in edges:
        if node not in index:
            visit(node)
    return found


def test_the_core_imports_no_plugin():
    edges = graph()
    assert "edge.app" in edges and "plugins.operations.resize" in edges  # the walk found the tree
    assert [(name, target) for name, targets in sorted(edges.items()) if name.startswith("edge")
            for target in sorted(targets) if target.split(".")[0] == "plugins"] == []


def test_no_module_imports_itself_through_others():
    assert cycles(graph()) == []


def test_the_walk_sees_a_cycle_and_a_lazy_import():
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
    tree = ast.parse("def f():\n    from plugins.dialects import oss\nif TYPE_CHECKING:\n    import edge.app\n")
    assert _imported(tree, "edge") == ["plugins.dialects.oss"]
