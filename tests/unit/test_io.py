"""Atomic writes: the target is whole or untouched, and a dead writer's leftovers go."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from mqlscore.io import atomic_path, remove_orphans, write_text


def _dead_pid() -> int:
    job = subprocess.Popen([sys.executable, "-c", "pass"])
    job.wait()
    return job.pid


def test_a_failed_write_leaves_the_previous_file_and_no_temporary(tmp_path: Path) -> None:
    target = tmp_path / "scores.csv"
    write_text("old\n", target)
    with pytest.raises(RuntimeError), atomic_path(target) as tmp:
        tmp.write_text("half")
        raise RuntimeError("crash")
    assert target.read_text() == "old\n"
    assert [p.name for p in tmp_path.iterdir()] == ["scores.csv"]


def test_orphans_of_dead_writers_are_removed_and_live_ones_kept(tmp_path: Path) -> None:
    target = tmp_path / "scores.csv"
    dead = tmp_path / f".scores.csv.{_dead_pid()}.abc123.tmp"
    live = tmp_path / f".scores.csv.{os.getpid()}.def456.tmp"
    other = tmp_path / f".other.csv.{_dead_pid()}.ghi789.tmp"
    for path in (dead, live, other):
        path.write_text("partial")
    assert remove_orphans(target) == [dead]
    assert not dead.exists() and live.exists() and other.exists()


def test_the_next_write_sweeps_a_killed_writers_temporary(tmp_path: Path) -> None:
    target = tmp_path / "scores.csv"
    dead = tmp_path / f".scores.csv.{_dead_pid()}.abc123.tmp"
    dead.write_text("partial")
    write_text("new\n", target)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["scores.csv"]


def test_a_table_that_is_not_parquet_is_refused_naming_it(tmp_path: Path) -> None:
    import pandas as pd

    from mqlscore.io import read_tables
    from mqlscore.refusal import UnreadableInput

    pd.DataFrame({"lead_id": ["L1", "L2"]}).to_parquet(tmp_path / "leads.parquet")
    raw = (tmp_path / "leads.parquet").read_bytes()
    (tmp_path / "leads.parquet").write_bytes(raw[: len(raw) // 2])  # cut: was ArrowInvalid
    with pytest.raises(UnreadableInput, match="leads.parquet: not a readable Parquet table"):
        read_tables(tmp_path, ("leads",))


@pytest.mark.parametrize("stamp", ["yesterday", "now", 20250601, "junk"])
def test_an_export_time_that_is_no_iso_time_is_refused(tmp_path: Path, stamp: object) -> None:
    import json

    from mqlscore.io import read_export_time
    from mqlscore.refusal import MissingInput

    (tmp_path / "export.json").write_text(json.dumps({"exported_at": stamp}))
    with pytest.raises(MissingInput, match="no readable exported_at"):  # 'yesterday' was read
        read_export_time(tmp_path)


KILLER = """
import sys
from pathlib import Path
from mqlscore.io import publish
stage, out = Path(sys.argv[1]), Path(sys.argv[2])
publish([stage / n for n in ("model", "scores.csv", "manifest.json")], out, ("old.csv",))
"""
POINTS = ["publish:start", "publish:journal", "publish:dropped", "publish:end"]
POINTS += [f"publish:moved:{k}" for k in (1, 2, 3)]


def _sets(tmp_path: Path) -> tuple[Path, Path]:
    out, stage = tmp_path / "out", tmp_path / "out" / ".score.123.x"
    (out / "model").mkdir(parents=True)
    stage.joinpath("model").mkdir(parents=True)
    for folder, run in ((out, "old"), (stage, "new")):
        (folder / "model" / "booster.txt").write_text(run)
        (folder / "scores.csv").write_text(run)
        (folder / "manifest.json").write_text(run)
    (out / "old.csv").write_text("old")  # the new set has none: dropped
    return stage, out


def _held(out: Path) -> dict[str, str]:
    names = ("model/booster.txt", "scores.csv", "manifest.json", "old.csv")
    return {n: (out / n).read_text() for n in names if (out / n).exists()}


OLD = {"model/booster.txt": "old", "scores.csv": "old", "manifest.json": "old", "old.csv": "old"}
NEW = {"model/booster.txt": "new", "scores.csv": "new", "manifest.json": "new"}


@pytest.mark.parametrize("point", POINTS)
def test_a_publish_killed_anywhere_leaves_the_old_set_or_lands_the_new_one(
    tmp_path: Path, point: str
) -> None:
    import signal

    from mqlscore.io import JOURNAL, finish_publish

    stage, out = _sets(tmp_path)
    env = {**os.environ, "MQLSCORE_FAULT": point}
    done = subprocess.run([sys.executable, "-c", KILLER, str(stage), str(out)], env=env)
    assert done.returncode == -signal.SIGKILL
    held = _held(out)
    assert held in (OLD, NEW) or (out / JOURNAL).exists(), held  # a mix says so
    finish_publish(out)  # what the next run into `out` does first
    assert _held(out) == (OLD if point == "publish:start" else NEW)  # was a mix past moved:1
    assert not (out / JOURNAL).exists()


def test_a_publish_being_carried_out_by_a_live_run_is_left_to_it(tmp_path: Path) -> None:
    import json

    from mqlscore.io import JOURNAL, finish_publish

    stage, out = _sets(tmp_path)
    plan = {"pid": os.getppid(), "drop": [], "moves": [[str(stage / "scores.csv"), "scores.csv"]]}
    (out / JOURNAL).write_text(json.dumps(plan))
    assert finish_publish(out) is False and _held(out) == OLD


@pytest.mark.parametrize("text", [b'{"exported_at": "2025-', b"[1, 2]", b"\xff\xfe"])
def test_an_export_json_that_is_no_json_object_is_refused(tmp_path: Path, text: bytes) -> None:
    from mqlscore.io import read_export_info
    from mqlscore.refusal import UnreadableInput

    (tmp_path / "export.json").write_bytes(text)
    with pytest.raises(UnreadableInput, match="export.json: "):  # was JSONDecodeError, exit 3
        read_export_info(tmp_path)
