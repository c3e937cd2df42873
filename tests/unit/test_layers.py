"""server_ref's layers: imports flow one way, and no module imports itself back.

Every import of every server_ref module (type-checking and function-level ones
included) is read with ``ast``. A module may import modules of its own layer and of
the layers below it; sibling layers (mvcc and lease) do not import each other.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

SERVER_REF = Path(__file__).resolve().parents[2] / "server_ref"
PACKAGE = "etcd3py.server_ref"

# bottom to top; equal ranks are siblings
RANKS = {
    "base": 0,  # modules at the package root: errors, wire
    "raft": 0,  # the Raft core: a pure state machine that imports nothing else of server_ref
    "storage": 1,
    "mvcc": 2,
    "lease": 2,
    "auth": 2,
    "apply": 3,
    "server": 4,
    "api": 5,
    "cluster": 5,  # a member in a Raft cluster: raft under the server; the api's sibling
    "embed": 6,
    "entry": 7,  # the package's __init__ (EmbeddedServer) and __main__
}

Graph = dict[str, set[str]]


def module_names() -> dict[str, Path]:
    """server_ref's modules by dotted name inside the package ("" is the package)."""
    names = {}
    for path in SERVER_REF.rglob("*.py"):
        parts = list(path.relative_to(SERVER_REF).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        names[".".join(parts)] = path
    return names


def layer(module: str) -> str:
    if module in ("", "__main__"):
        return "entry"
    top = module.split(".")[0]
    return top if (SERVER_REF / top).is_dir() else "base"


def imports_of(module: str, path: Path, known: set[str]) -> set[str]:
    is_package = path.name == "__init__.py"
    package = module.split(".") if is_package else module.split(".")[:-1]
    package = [p for p in package if p]
    found: set[str] = set()

    def resolve(base: str, names: list[str]) -> None:
        for name in names:
            candidate = f"{base}.{name}" if base else name
            found.add(candidate if candidate in known else base)

    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.startswith(PACKAGE + "."):
                    found.add(alias.name[len(PACKAGE) + 1 :])
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                if node.level - 1 > len(package):
                    raise AssertionError(f"{path}: import beyond server_ref")
                parts = package[: len(package) - (node.level - 1)]
                base = ".".join([*parts, *([node.module] if node.module else [])])
            elif node.module == PACKAGE:
                base = ""
            elif node.module and node.module.startswith(PACKAGE + "."):
                base = node.module[len(PACKAGE) + 1 :]
            else:
                continue
            resolve(base, [alias.name for alias in node.names])
    found.discard(module)
    return found


def import_graph() -> Graph:
    names = module_names()
    return {m: imports_of(m, path, set(names)) for m, path in names.items()}


def layer_violations(graph: Graph) -> list[str]:
    bad = []
    for importer, imported in sorted(graph.items()):
        for target in sorted(imported):
            mine, theirs = layer(importer), layer(target)
            if mine != theirs and RANKS[theirs] >= RANKS[mine]:
                bad.append(f"{importer} ({mine}) imports {target} ({theirs})")
    return bad


def find_cycle(graph: Graph) -> list[str] | None:
    """A cycle of imports, as the list of modules around it, or None."""
    state: dict[str, int] = {}  # 1: on the current path, 2: done
    path: list[str] = []

    def visit(module: str) -> list[str] | None:
        state[module] = 1
        path.append(module)
        for target in sorted(graph.get(module, ())):
            if state.get(target) == 1:
                return [*path[path.index(target) :], target]
            if target not in state and (cycle := visit(target)):
                return cycle
        path.pop()
        state[module] = 2
        return None

    for module in sorted(graph):
        if module not in state and (cycle := visit(module)):
            return cycle
    return None


def test_every_folder_is_a_known_layer() -> None:
    folders = {p.name for p in SERVER_REF.iterdir() if p.is_dir() and any(p.glob("*.py"))}
    assert folders <= set(RANKS), f"classify the new layer(s): {folders - set(RANKS)}"
    assert {"api", "server", "apply", "mvcc", "lease", "embed"} <= folders


def test_the_graph_is_read() -> None:
    graph = import_graph()
    assert "api.checks" in graph["api.kv"]
    assert {"apply.applier", "mvcc.store", "lease.lessor"} <= graph["server.server"]
    assert "embed.embedded" in graph[""]


def test_imports_flow_down_the_layers() -> None:
    assert layer_violations(import_graph()) == []


def test_no_import_cycles() -> None:
    assert find_cycle(import_graph()) is None


@pytest.mark.parametrize(
    ("graph", "expected"),
    [
        ({"mvcc.store": {"api.kv"}}, ["mvcc.store (mvcc) imports api.kv (api)"]),
        ({"mvcc.store": {"lease.lessor"}}, ["mvcc.store (mvcc) imports lease.lessor (lease)"]),
        ({"errors": {"server.server"}}, ["errors (base) imports server.server (server)"]),
        ({"api.kv": {"server.server", "errors", "api.checks"}}, []),
        ({"raft.node": {"errors"}}, ["raft.node (raft) imports errors (base)"]),
        ({"server.server": {"raft.node"}}, []),
        ({"cluster.disk": {"raft.node", "server.server", "storage.wal", "auth.caller"}}, []),
        ({"cluster.disk": {"api.kv"}}, ["cluster.disk (cluster) imports api.kv (api)"]),
        ({"cluster.disk": {"embed.x"}}, ["cluster.disk (cluster) imports embed.x (embed)"]),
    ],
)
def test_the_layer_check_catches_an_upward_import(graph: Graph, expected: list[str]) -> None:
    assert layer_violations(graph) == expected


def test_the_cycle_check_catches_a_cycle() -> None:
    graph = {"api.a": {"api.b"}, "api.b": {"api.c"}, "api.c": {"api.a"}, "api.d": {"api.a"}}
    assert find_cycle(graph) == ["api.a", "api.b", "api.c", "api.a"]
    assert find_cycle({"api.a": {"api.b"}, "api.b": set()}) is None


# ---- etcd3py.testing: the layer above everything ----

ROOT = SERVER_REF.parent
TESTING = ROOT / "etcd3py" / "testing"
# what the testing kit may build on: the public client API (with the client's own
# concurrency primitives and key coding, as the recipes use them), recipes, server_ref
TESTING_MAY_IMPORT = (
    "etcd3py",
    "etcd3py._async._primitives",
    "etcd3py._sync._primitives",
    "etcd3py._keys",
    "etcd3py._public",
    "etcd3py.recipes",
    "etcd3py.server_ref",
)


def _absolute_imports(path: Path) -> set[str]:
    found = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and not node.level and node.module:
            found.add(node.module)
    return found


def test_the_testing_kit_builds_only_on_the_public_layers() -> None:
    assert (TESTING / "plugin.py").exists()
    bad = [
        f"{path.relative_to(ROOT)} imports {name}"
        for path in sorted(TESTING.rglob("*.py"))
        for name in sorted(_absolute_imports(path))
        if name.startswith("etcd3py")
        and not any(name == m or name.startswith(m + ".") for m in TESTING_MAY_IMPORT)
        and not name.startswith("etcd3py.testing")
    ]
    assert bad == []


def test_nothing_below_imports_the_testing_kit() -> None:
    below = [
        *(ROOT / "etcd3py").glob("*.py"),
        *(ROOT / "etcd3py" / "_async").glob("*.py"),
        *(ROOT / "etcd3py" / "_sync").glob("*.py"),
        *(ROOT / "recipes").rglob("*.py"),
        *SERVER_REF.rglob("*.py"),
    ]
    assert len(below) > 50
    bad = [
        str(path.relative_to(ROOT))
        for path in below
        if any(name.startswith("etcd3py.testing") for name in _absolute_imports(path))
    ]
    assert bad == []
