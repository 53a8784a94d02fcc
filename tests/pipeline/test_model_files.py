"""Model files are checked before LightGBM sees them: a cut, changed or missing file is a
refusal naming it (exit 2, one line), never a process killed by LightGBM's parser."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from mqlscore.modeling.boosting import LIGHTGBM
from mqlscore.modeling.packaged import BOOSTER_FILE, INTEGRITY, SPEC_FILE
from mqlscore.modeling.registered import load_scorer
from mqlscore.refusal import BrokenModel
from tests.conftest import ROOT


def _cut(path: Path) -> None:
    data = path.read_bytes()
    path.write_bytes(data[: len(data) * 3 // 5])


def _flip(path: Path) -> None:
    data = bytearray(path.read_bytes())
    for at in range(len(data) // 2, len(data) // 2 + 64, 8):  # same size, other bytes
        data[at] ^= 0x5A
    path.write_bytes(bytes(data))


def _edit_spec(path: Path) -> None:
    """Valid JSON, every key there, one feature's level list changed."""
    spec = json.loads(path.read_text())
    column = next(iter(spec["levels"]))
    spec["levels"][column] = spec["levels"][column][::-1]
    path.write_text(json.dumps(spec, indent=1, sort_keys=True))


def _drop_key(path: Path) -> None:
    spec = json.loads(path.read_text())
    del spec["features"], spec[INTEGRITY]  # a record that cannot vouch for anything
    path.write_text(json.dumps(spec))


DAMAGES: dict[str, tuple[str, Callable[[Path], None], str]] = {
    "cut booster": (BOOSTER_FILE, _cut, "bytes where model.json records"),
    "flipped booster bytes": (BOOSTER_FILE, _flip, "SHA-256 is not the one model.json records"),
    "missing booster": (BOOSTER_FILE, Path.unlink, "missing from the model folder"),
    "edited model.json": (SPEC_FILE, _edit_spec, "changed since it was saved"),
    "cut model.json": (SPEC_FILE, _cut, "not valid JSON"),
    "incomplete model.json": (SPEC_FILE, _drop_key, "incomplete, no features"),
    "missing model.json": (SPEC_FILE, Path.unlink, "missing from the model folder"),
}


def _damaged(models: Path, tmp_path: Path, file: str, damage: Callable[[Path], None]) -> Path:
    folder = tmp_path / "lead"
    shutil.copytree(models / LIGHTGBM / "lead", folder)
    damage(folder / "artifacts" / "model" / file)
    return folder


def _score_cli(model: Path, tmp_path: Path) -> subprocess.CompletedProcess:
    """`mqlscore score` with this lead model (it stops at the model, before any file)."""
    export = tmp_path / "export"
    export.mkdir(exist_ok=True)
    args = ["score", f"--export={export}", f"--out={tmp_path / 'out'}", "--run-date=2025-01-01"]
    args += [f"--model={model}", "--account-model=none"]
    env = {k: v for k, v in os.environ.items() if k != "MQLSCORE_DEBUG"}
    return subprocess.run(
        [sys.executable, "-m", "pipeline", *args],
        capture_output=True,
        text=True,
        cwd=ROOT,
        env=env,
        timeout=300,
    )


def _assert_one_line_refusal(done: subprocess.CompletedProcess, file: str, says: str) -> None:
    assert done.returncode == 2, (done.returncode, done.stderr)  # not -11 (SIGSEGV), not -6
    errors = [line for line in done.stderr.splitlines() if " ERROR " in line]
    assert len(errors) == 1 and "Traceback" not in done.stderr, done.stderr
    assert file in errors[0] and says in errors[0], errors[0]


def test_a_saved_folder_records_each_model_files_size_and_sha256(models: Path) -> None:
    import hashlib

    folder = models / LIGHTGBM / "lead" / "artifacts" / "model"
    record = json.loads((folder / SPEC_FILE).read_text())[INTEGRITY]
    data = (folder / BOOSTER_FILE).read_bytes()
    assert record["files"] == {
        BOOSTER_FILE: {"bytes": len(data), "sha256": hashlib.sha256(data).hexdigest()}
    }
    assert len(record[SPEC_FILE]) == 64


@pytest.mark.parametrize("case", list(DAMAGES))
def test_a_damaged_model_file_is_refused_naming_it(
    case: str, models: Path, tmp_path: Path
) -> None:
    file, damage, says = DAMAGES[case]
    folder = _damaged(models, tmp_path, file, damage)
    with pytest.raises(BrokenModel) as refused:
        load_scorer(str(folder))
    message = str(refused.value)
    assert len(message.splitlines()) == 1 and says in message
    assert str(folder / "artifacts" / "model" / file) in message


@pytest.mark.parametrize("case", ["cut booster", "flipped booster bytes", "edited model.json"])
def test_the_command_ends_a_damaged_model_in_one_line_and_exit_2(
    case: str, models: Path, tmp_path: Path
) -> None:
    file, damage, says = DAMAGES[case]
    done = _score_cli(_damaged(models, tmp_path, file, damage), tmp_path)
    _assert_one_line_refusal(done, file, says)


def _legacy(models: Path, tmp_path: Path) -> Path:
    """The lead model folder as saved before model files were recorded."""
    folder = tmp_path / "legacy"
    shutil.copytree(models / LIGHTGBM / "lead", folder)
    spec_path = folder / "artifacts" / "model" / SPEC_FILE
    spec = json.loads(spec_path.read_text())
    del spec[INTEGRITY]
    spec_path.write_text(json.dumps(spec, indent=1, sort_keys=True))
    return folder


def test_a_folder_saved_before_files_were_recorded_still_scores_the_same(
    models: Path, tmp_path: Path
) -> None:
    scorer = load_scorer(str(models / LIGHTGBM / "lead"))
    legacy = load_scorer(str(_legacy(models, tmp_path)))
    rng = np.random.default_rng(0)
    rows = pd.DataFrame(
        {
            f: rng.integers(0, 5, 200).astype(float)
            for f in scorer.features
            if f not in scorer.levels
        }
        | {f: rng.choice(levels + [None], 200) for f, levels in scorer.levels.items()}
    )
    np.testing.assert_array_equal(legacy.probability(rows), scorer.probability(rows))


def test_a_cut_booster_without_a_record_is_a_refusal_not_a_dead_process(
    models: Path, tmp_path: Path
) -> None:
    """No hash vouches for an old folder's booster, so a child process parses it first:
    LightGBM's abort or segfault there is a refusal here."""
    folder = _legacy(models, tmp_path)
    _cut(folder / "artifacts" / "model" / BOOSTER_FILE)
    done = _score_cli(folder, tmp_path)
    _assert_one_line_refusal(done, BOOSTER_FILE, "LightGBM cannot read it")
