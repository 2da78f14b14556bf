"""The import rules that keep the package a house with rooms: the core knows nothing of Dagster,
DuckDB or MLflow; each core stage builds only on itself, ``common`` and the stages before it; each
Dagster stage folder uses only its own or earlier core stages and never another Dagster stage; and
loading the code location does not pay for torch, UMAP or HDBSCAN."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

import interest_pipeline

PACKAGE = Path(interest_pipeline.__file__).parent
CORE = PACKAGE / "core"
DEFS = PACKAGE / "defs"
# The stages in the order of the asset graph; a stage may build on the ones before it.
STAGE_ORDER = ("ingest", "text", "features", "clustering", "profiles", "expansion", "evaluation", "recommendation")
CORE_PACKAGES = ("common", *STAGE_ORDER)
DEFS_STAGES = sorted(p.name for p in DEFS.iterdir() if p.is_dir() and (p / "__init__.py").exists())


def imported_modules(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(), filename=str(path))
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
    return names


def imports_of(folder: Path) -> set[tuple[str, str]]:
    return {
        (path.relative_to(PACKAGE).as_posix(), module)
        for path in folder.rglob("*.py")
        for module in imported_modules(path)
    }


def core_package_of(module: str) -> str | None:
    parts = module.split(".")
    return parts[2] if parts[:2] == ["interest_pipeline", "core"] and len(parts) > 2 else None


def test_core_is_split_into_the_stage_packages():
    found = {p.name for p in CORE.iterdir() if p.is_dir() and (p / "__init__.py").exists()}
    assert found == set(CORE_PACKAGES)
    assert not [p.name for p in CORE.glob("*.py") if p.name != "__init__.py"], "core/ holds packages only"
    assert all((CORE / name / "__init__.py").read_text().strip().startswith('"""') for name in CORE_PACKAGES), (
        "every core package says what it does"
    )


def test_core_imports_no_dagster_duckdb_or_mlflow():
    forbidden = ("dagster", "duckdb", "mlflow")
    found = sorted((path, module) for path, module in imports_of(CORE) if module.split(".")[0] in forbidden)
    assert not found, f"the core imports storage or orchestration: {found}"


@pytest.mark.parametrize("package", CORE_PACKAGES)
def test_core_package_builds_only_on_common_and_earlier_stages(package):
    allowed = {"common", package} | set(STAGE_ORDER[: STAGE_ORDER.index(package)] if package in STAGE_ORDER else ())
    found = sorted(
        (path, module)
        for path, module in imports_of(CORE / package)
        if (other := core_package_of(module)) and other not in allowed
    )
    assert not found, f"core/{package} imports later or unrelated stages: {found}"


@pytest.mark.parametrize("stage", DEFS_STAGES)
def test_dagster_stage_uses_only_its_own_or_earlier_core_stages(stage):
    allowed = {"common", *STAGE_ORDER[: STAGE_ORDER.index(stage) + 1]}
    found = sorted(
        (path, module)
        for path, module in imports_of(DEFS / stage)
        if (other := core_package_of(module)) and other not in allowed
    )
    assert not found, f"defs/{stage} imports later core stages: {found}"


@pytest.mark.parametrize("stage", DEFS_STAGES)
def test_dagster_stage_imports_no_other_stage(stage):
    others = {f"interest_pipeline.defs.{s}" for s in DEFS_STAGES if s != stage}
    found = sorted(
        (path, module)
        for path, module in imports_of(DEFS / stage)
        if any(module == o or module.startswith(o + ".") for o in others)
    )
    assert not found, f"defs/{stage} imports other stages: {found}"


def test_the_dagster_stages_mirror_the_core_stages():
    assert set(DEFS_STAGES) == set(STAGE_ORDER)


def test_loading_the_code_location_loads_no_torch_umap_or_hdbscan():
    code = "import sys, interest_pipeline.definitions; print(sorted(m for m in ('torch', 'umap', 'hdbscan', 'sentence_transformers') if m in sys.modules))"
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=PACKAGE.parent, timeout=300
    )
    assert out.stdout.strip() == "[]", out.stdout
