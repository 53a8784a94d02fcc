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
