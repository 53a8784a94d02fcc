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


def sections_and_fields() -> dict[str, tuple[str, set[str]]]:
    """params.yaml section -> (its typed class, its keys), from mqlscore/config.py."""
    from mqlscore import config

    out = {}
    for path in project_files(*FLOORS):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Call) and getattr(node.func, "id", "") == "load_section":
                section, model = node.args[1], node.args[2]
                if isinstance(section, ast.Constant) and isinstance(model, ast.Name):
                    out[section.value] = (model.id, set(getattr(config, model.id).model_fields))
    return out


def loaded_sections(tree: ast.AST) -> dict[str, str | None]:
    """The params.yaml sections a file reads with `load_section(file, "<section>", ...)`,
    each with the name it is bound to (None when not bound to a plain name)."""
    out: dict[str, str | None] = {}
    for n in ast.walk(tree):
        if (
            isinstance(n, ast.Call)
            and getattr(n.func, "id", "") == "load_section"
            and isinstance(n.args[1], ast.Constant)
        ):
            out.setdefault(n.args[1].value, None)
    for n in ast.walk(tree):
        call = n.value if isinstance(n, ast.Assign) else None
        if (
            isinstance(call, ast.Call)
            and getattr(call.func, "id", "") == "load_section"
            and isinstance(n.targets[0], ast.Name)
            and isinstance(call.args[1], ast.Constant)
        ):
            out[call.args[1].value] = n.targets[0].id
    return out


def dumped_names(tree: ast.AST) -> set[str]:
    """Names whose `.model_dump()` a file calls (every key of that section is read)."""
    return {
        n.func.value.id
        for n in ast.walk(tree)
        if isinstance(n, ast.Call)
        and isinstance(n.func, ast.Attribute)
        and n.func.attr == "model_dump"
        and isinstance(n.func.value, ast.Name)
    }


def params_read(stage: str) -> set[str]:
    """The params a stage's code can read: `section.key` for each key of a section its
    import closure loads whose name the closure uses (an attribute or a string), or the
    whole `section` when the file that loads it dumps it. An over-estimate, never an
    under-estimate."""
    trees = [ast.parse(p.read_text()) for p in closure(stage_modules()[stage])]
    nodes = [n for tree in trees for n in ast.walk(tree)]
    names = {n.attr for n in nodes if isinstance(n, ast.Attribute)}
    names |= {n.value for n in nodes if isinstance(n, ast.Constant) and isinstance(n.value, str)}
    fields = sections_and_fields()
    read = set()
    for tree in trees:
        dumped = dumped_names(tree)
        for section, bound in loaded_sections(tree).items():
            keys = fields[section][1]
            read |= {section} if bound in dumped else {f"{section}.{k}" for k in keys & names}
    return read


@pytest.mark.parametrize("stage", sorted(stage_modules()))
def test_every_stage_lists_the_params_it_reads(stage: str) -> None:
    definition = yaml.safe_load((ROOT / "dvc.yaml").read_text())["stages"][stage]
    listed = set((definition.get("do") or definition).get("params", []))
    unlisted = sorted(
        k for k in params_read(stage) if k not in listed and k.split(".")[0] not in listed
    )
    assert not unlisted, f"stage {stage} reads params not in its dvc.yaml params: {unlisted}"
