"""Every stage folder under defs/ is a leaf: it imports shared modules, never another stage."""

import ast
from pathlib import Path

import pytest

import interest_pipeline.defs as defs_package

DEFS = Path(defs_package.__file__).parent
STAGES = sorted(p.name for p in DEFS.iterdir() if p.is_dir() and (p / "__init__.py").exists())


def imported_modules(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(), filename=str(path))
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
    return names


@pytest.mark.parametrize("stage", STAGES)
def test_stage_imports_no_other_stage(stage):
    others = {f"interest_pipeline.defs.{s}" for s in STAGES if s != stage}
    found = {
        (path.name, module)
        for path in (DEFS / stage).glob("*.py")
        for module in imported_modules(path)
        if any(module == other or module.startswith(other + ".") for other in others)
    }
    assert not found, f"defs/{stage} imports other stages: {sorted(found)}"


def test_the_stages_are_found():
    assert {"features", "profiles", "expansion", "evaluation"} <= set(STAGES)
