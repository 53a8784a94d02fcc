"""The house's floors and dvc.yaml's truth, checked from the source code itself.

Floors: pipeline/ (CLI, stages) -> sources/ -> features/ -> mqlscore/ (the core); nothing
imports upward and no stage imports another stage. Every DVC stage depends on every
project file its module imports, directly or not, so an edit re-runs what it affects.
No two modules share a file name, and modelling code imports no presentation code.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest
import yaml

from tests.conftest import ROOT

FLOORS = {"mqlscore": 0, "features": 1, "sources": 2, "pipeline": 3}
# Modelling code (what trains and judges a model) ...
MODELLING = ("mqlscore/modeling", "mqlscore/evaluation", "mqlscore/registry.py")
# ... imports none of what people read: an edit to a sentence, a chart or the page must
# not retrain a model.
PRESENTATION = ("mqlscore/reporting", "mqlscore/serving/reasons.py")


def module_file(name: str) -> Path | None:
    """The project file of a dotted module name, or None outside the project."""
    if name.split(".")[0] not in FLOORS:
        return None
    base = ROOT / Path(*name.split("."))
    for candidate in (base.with_suffix(".py"), base / "__init__.py"):
        if candidate.exists():
            return candidate
    return None


def imports_of(path: Path) -> set[Path]:
    """Project files a file imports, at the top or inside functions."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            names = [node.module] + [f"{node.module}.{alias.name}" for alias in node.names]
        else:
            continue
        found |= {f for f in map(module_file, names) if f is not None and f != path}
    return found


def closure(path: Path) -> set[Path]:
    """Every project file `path` needs, itself included."""
    seen, todo = set(), [path]
    while todo:
        current = todo.pop()
        if current not in seen:
            seen.add(current)
            todo.extend(imports_of(current))
    return seen


def project_files(*folders: str) -> list[Path]:
    return sorted(p for folder in folders for p in (ROOT / folder).rglob("*.py"))


def floor(path: Path) -> str:
    return path.relative_to(ROOT).parts[0]


@pytest.mark.parametrize("path", project_files(*FLOORS), ids=lambda p: str(p.relative_to(ROOT)))
def test_nothing_imports_a_floor_above(path: Path) -> None:
    here = FLOORS[floor(path)]
    upward = [str(p.relative_to(ROOT)) for p in imports_of(path) if FLOORS[floor(p)] > here]
    assert not upward, f"{path.relative_to(ROOT)} imports a floor above it: {upward}"


def test_no_stage_imports_another_stage_and_bench_imports_no_stage() -> None:
    stages = {p for p in project_files("pipeline") if p.name not in ("cli.py", "__main__.py")}
    for path in stages | set(project_files("bench")):
        crossing = [str(p.relative_to(ROOT)) for p in imports_of(path) & stages]
        assert not crossing, f"{path.relative_to(ROOT)} imports stage module(s) {crossing}"


def stage_modules() -> dict[str, Path]:
    """DVC stage name -> the pipeline module its `mqlscore <command>` runs (from cli.py)."""
    cli = (ROOT / "pipeline/cli.py").read_text()
    commands = dict(
        (line.split('"')[1], line.split(")(")[1].split(".")[0])
        for line in cli.splitlines()
        if line.startswith("app.command(")
    )
    stages = yaml.safe_load((ROOT / "dvc.yaml").read_text())["stages"]
    out = {}
    for name, stage in stages.items():
        cmd = (stage.get("do") or stage)["cmd"].split()
        out[name] = ROOT / "pipeline" / f"{commands[cmd[1]]}.py"
    return out


@pytest.mark.parametrize("stage", sorted(stage_modules()))
def test_every_stage_depends_on_the_code_it_imports(stage: str) -> None:
    definition = yaml.safe_load((ROOT / "dvc.yaml").read_text())["stages"][stage]
    deps = [ROOT / d for d in (definition.get("do") or definition).get("deps", [])]
    needed = closure(stage_modules()[stage])
    uncovered = sorted(
        str(p.relative_to(ROOT))
        for p in needed
        if p.name != "__init__.py" and not any(p == d or d in p.parents for d in deps)
    )
    assert not uncovered, f"stage {stage} imports files missing from its deps: {uncovered}"


def test_no_two_modules_share_a_file_name() -> None:
    by_name: dict[str, list[str]] = {}
    for path in project_files(*FLOORS, "bench"):
        if path.name != "__init__.py":
            by_name.setdefault(path.name, []).append(str(path.relative_to(ROOT)))
    shared = {name: paths for name, paths in by_name.items() if len(paths) > 1}
    assert not shared, f"modules sharing a file name: {shared}"


def files_of(*paths: str) -> set[Path]:
    return {f for p in paths for f in ([ROOT / p] if p.endswith(".py") else project_files(p))}


@pytest.mark.parametrize("path", sorted(files_of(*MODELLING)), ids=lambda p: p.name)
def test_modelling_imports_no_presentation_code(path: Path) -> None:
    needed = closure(path)
    found = sorted(str(p.relative_to(ROOT)) for p in needed & files_of(*PRESENTATION))
    found += [str(p.relative_to(ROOT)) for p in needed if "jinja2" in p.read_text()]
    assert not found, f"{path.relative_to(ROOT)} needs presentation code: {found}"


def test_a_chart_or_a_reason_sentence_retrains_nothing() -> None:
    """Editing how a chart looks or how a reason reads re-runs no train stage: train
    imports no presentation code, and dvc.yaml lists none of it in its deps."""
    presentation = files_of(*PRESENTATION)
    train = next(m for s, m in stage_modules().items() if s.startswith("train"))
    assert not closure(train) & presentation
    deps = yaml.safe_load((ROOT / "dvc.yaml").read_text())["stages"]["train"]["do"]["deps"]
    assert not {ROOT / d for d in deps} & (presentation | {ROOT / p for p in PRESENTATION})
