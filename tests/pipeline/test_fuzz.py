"""Broken nightly exports end in exit 0 with every row scored or rejected, or in exit 2
with one line: never a traceback, another exit code or a lost row. (`bench/fuzz.py`
runs the same mutations 500 times; this is a seeded sample of them.)"""

from __future__ import annotations

import random
from pathlib import Path

import pytest

from bench.fuzz import mutate, score_once, verdict
from sources.exports import write_nightly_export
from sources.world import World

pytestmark = pytest.mark.smoke


@pytest.fixture(scope="module")
def nightly(tmp_path_factory: pytest.TempPathFactory, tiny_world: World) -> Path:
    folder = tmp_path_factory.mktemp("fuzz") / "export"
    write_nightly_export(tiny_world.raw_tables(), folder, tiny_world.exported_at)
    return folder


@pytest.mark.parametrize("seed", range(12))
def test_a_broken_export_is_scored_or_refused_in_one_line(
    seed: int, nightly: Path, models: Path, tiny_params_file: Path, tmp_path: Path
) -> None:
    case = tmp_path / "case"
    name = mutate(nightly, case, random.Random(seed))
    code, stderr = score_once(case, case / "out", models, tiny_params_file)
    outcome = verdict(code, case / "out")
    assert outcome in ("scored", "refused"), f"{name}: {outcome}\n{stderr}"
    if outcome == "refused":
        assert "Traceback" not in stderr and len(stderr.strip().splitlines()) == 1, stderr
