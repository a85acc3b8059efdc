"""The layers import downward only, as each subpackage's docstring says (function-level imports
count too): no circle, and the driver never imports trial code."""

from __future__ import annotations

import ast
from pathlib import Path

import hpray

PACKAGE = Path(hpray.__file__).parent
# What each part may import of hpray (besides itself); top-level modules are parts of their own.
ALLOWED = {
    "cli": {"config", "driver", "deploy", "results", "errors"},
    "__main__": {"cli"},
    # The Hydra sweeper's work (hydra_plugins/hpray_sweeper): a verb of its own, as cli's.
    "sweeper": {"config", "driver", "trial", "space", "store", "errors"},
    "lightning": {"trial", "internals"},  # the Lightning callback, on the trial API
    "deploy": {"config", "store", "errors"},
    "driver": {"config", "search", "results", "store", "errors", "internals"},
    "results": {"trial", "config", "space", "search", "store", "data", "errors", "internals"},
    "trial": {"config", "space", "store", "data", "models", "errors", "internals"},
    "config": {"space", "search", "store", "data", "models", "errors", "internals"},
    "search": {"space", "errors", "internals"},
    "space": {"errors"},
    "store": {"errors", "internals"},
    "data": {"errors"},
    "models": set(),
    "errors": set(),
    "internals": set(),
    "__init__": {"trial"},  # the trial API, loaded on first use
}


def part(path: Path) -> str:
    relative = path.relative_to(PACKAGE)
    return relative.parts[0] if len(relative.parts) > 1 else relative.stem


def imported_parts(path: Path) -> set[str]:
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        names = []
        if isinstance(node, ast.ImportFrom) and node.module:
            names = [node.module] + [f"{node.module}.{a.name}" for a in node.names]
        elif isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        for name in names:
            pieces = name.split(".")
            ours = pieces[0] == "hpray" and len(pieces) > 1 and pieces[1] != "conf"
            if ours and ((PACKAGE / pieces[1]).is_dir() or (PACKAGE / f"{pieces[1]}.py").is_file()):
                found.add(pieces[1])
    return found


def test_every_part_imports_only_the_layers_below_it() -> None:
    upward = {
        f"{path.relative_to(PACKAGE)} imports {other}"
        for path in PACKAGE.rglob("*.py")
        for other in imported_parts(path) - {part(path)}
        if other not in ALLOWED[part(path)]
    }
    assert upward == set()


def test_the_allowed_imports_have_no_circle() -> None:
    def reaches(start: str, seen: frozenset[str]) -> None:
        for other in ALLOWED[start]:
            assert other not in seen, f"a circle through {sorted(seen)} and {other}"
            reaches(other, seen | {other})

    for name in ALLOWED:
        reaches(name, frozenset({name}))
