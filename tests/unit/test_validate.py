"""The validate stage's checks: clean data passes, each planted fault is named."""

from __future__ import annotations

import pandas as pd
import pytest

from mqlscore.config import ValidateParams
from mqlscore.world import World
from pipeline.validate import check_raw_tables, summarize

NOW = pd.Timestamp("2030-01-01")


def _failures(tables: dict[str, pd.DataFrame]) -> list:
    return [c for c in check_raw_tables(tables, NOW, ValidateParams()) if not c.passed]


def test_clean_world_passes(tiny_world: World) -> None:
    summary = summarize(check_raw_tables(tiny_world.raw_tables(), NOW, ValidateParams()))
    assert summary["failed"] == 0 and summary["checks"] > 20


def test_duplicate_lead_id_is_named(tiny_world: World) -> None:
    tables = dict(tiny_world.raw_tables())
    leads = tables["leads"]
    tables["leads"] = pd.concat([leads, leads.iloc[[3]]], ignore_index=True)
    (failure,) = [f for f in _failures(tables) if f.expectation == "unique ids"]
    assert (failure.table, failure.column, failure.failed_rows) == ("leads", "lead_id", 2)
    assert failure.examples == [leads["lead_id"].iloc[3]] * 2


def test_orphan_event_is_named(tiny_world: World) -> None:
    tables = dict(tiny_world.raw_tables())
    ev = tables["engagement"].copy()
    ev["lead_id"] = ev["lead_id"].astype(str)
    ev.loc[ev.index[:7], "lead_id"] = "L9999999"
    tables["engagement"] = ev
    (failure,) = _failures(tables)
    assert (failure.table, failure.column, failure.failed_rows) == ("engagement", "lead_id", 7)
    assert "leads.lead_id" in failure.message() and "7 row(s)" in failure.message()


def test_future_timestamp_and_unknown_activity_are_named(tiny_world: World) -> None:
    tables = dict(tiny_world.raw_tables())
    ev = tables["engagement"].copy()
    ev["activity_type"] = ev["activity_type"].astype(str)
    ev.loc[ev.index[0], "occurred_at"] = pd.Timestamp("2031-01-01")
    ev.loc[ev.index[1:3], "activity_type"] = "booth_hug"
    tables["engagement"] = ev
    found = {(f.column, f.failed_rows) for f in _failures(tables)}
    assert found == {("occurred_at", 1), ("activity_type", 2)}


@pytest.mark.parametrize("column", ["email", "occurred_at"])
def test_missing_column_is_fatal(tiny_world: World, column: str) -> None:
    tables = {
        k: v.drop(columns=[column], errors="ignore") for k, v in tiny_world.raw_tables().items()
    }
    failures = _failures(tables)
    assert failures and all(f.expectation == "all required columns present" for f in failures)
    assert any(column in f.column for f in failures)
