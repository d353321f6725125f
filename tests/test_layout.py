"""The house's rules, read from the code's imports: floors point down only, no circles, tools stand alone."""
import ast
from pathlib import Path

from conftest import ROOT

FLOORS = {"tools": 2, "realtime": 1, "engines": 0}


def modules() -> dict[str, Path]:
    found = {}
    for top in FLOORS:
        for path in (ROOT / top).rglob("*.py"):
            parts = path.relative_to(ROOT).with_suffix("").parts
            found[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = path
    return found


def imports(path: Path, known: dict[str, Path]) -> set[str]:
    """The project's modules `path` imports (a `from package import module` names the module)."""
    out = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names = [f"{node.module}.{a.name}" if f"{node.module}.{a.name}" in known else node.module
                     for a in node.names]
        else:
            continue
        out |= {n for n in names if n in known}
    return out


def test_floors_point_down_and_tools_import_no_other_tool_nor_the_tests():
    known = modules()
    for name, path in known.items():
        for target in imports(path, known):
            here, there = name.split(".")[0], target.split(".")[0]
            assert FLOORS[there] <= FLOORS[here], f"{name} imports {target}: a floor up"
            assert not (here == "tools" and there == "tools"), f"{name} imports another tool, {target}"
        assert "tests" not in {n.split(".")[0] for n in imports(path, known | {"tests": path})}


def test_no_import_circle():
    known = modules()
    graph = {name: imports(path, known) - {name} for name, path in known.items()}
    # a package's __init__ that re-exports its modules is not an edge back from them
    graph = {n: {t for t in ts if not n.startswith(t + ".")} for n, ts in graph.items()}
    done, trail = set(), []

    def visit(n: str) -> None:
        if n in trail:
            raise AssertionError("import circle: " + " -> ".join(trail[trail.index(n):] + [n]))
        if n in done:
            return
        trail.append(n)
        for t in sorted(graph[n]):
            visit(t)
        trail.pop()
        done.add(n)

    for n in sorted(graph):
        visit(n)
