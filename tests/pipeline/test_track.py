"""Outcome tracking: past nights cut from the tiny world, scored, then checked against
the opportunities of the later (full) export."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest

from mqlscore.config import MqlRule
from mqlscore.io import EXPORT_FILE, write_json, write_parquet
from mqlscore.reporting import outcomes
from pipeline import score, track
from sources.exports import as_of, write_nightly_export
from sources.world import World

NIGHTS = ("2025-01-01", "2025-02-01", "2025-03-01", "2025-04-01")  # the last: window open


def test_a_past_export_holds_nothing_after_its_date(tiny_world: World, rule: MqlRule) -> None:
    when = pd.Timestamp(NIGHTS[1])
    tables = as_of(tiny_world.raw_tables(), when, rule)
    assert (tables["engagement"]["occurred_at"] < when).all()
    assert (tables["leads"]["created_at"] < when).all()
    assert (tables["leads"]["mql_at"].dropna() < when).all()
    deals = tables["opportunities"]
    assert (deals["created_at"] < when).all()
    open_now = deals["closed_at"].isna()
    assert open_now.any() and deals.loc[open_now, "is_won"].isna().all()
    full = tiny_world.opportunities.set_index("opportunity_id")
    closed = full.loc[deals.loc[open_now, "opportunity_id"], "closed_at"]
    assert ((closed >= when) | closed.isna()).all()  # closed later, or still open
    assert set(tables["opportunity_contacts"]["opportunity_id"]) <= set(deals["opportunity_id"])


def test_a_conversion_counts_inside_the_label_window_only() -> None:
    run = pd.Timestamp("2025-01-01")
    scores = pd.DataFrame({"lead_id": ["L1", "L2", "L3", "L4"], "run_date": [run] * 4})
    created = [
        run,
        run + pd.Timedelta(days=89),
        run + pd.Timedelta(days=90),
        run - pd.Timedelta(days=1),
    ]
    deals = pd.DataFrame(
        {
            "opportunity_id": ["O1", "O2", "O3", "O4"],
            "created_at": created,
            "is_won": [True, None, True, True],
        }
    )
    contacts = pd.DataFrame(
        {"opportunity_id": ["O1", "O2", "O3", "O4"], "lead_id": ["L1", "L2", "L3", "L4"]}
    )
    seen = outcomes.realised(scores, deals, contacts, 90, run + pd.Timedelta(days=60))
    assert seen["converted"].tolist() == [True, True, False, False]
    assert seen["won"].tolist() == [True, False, False, False]
    assert not seen["complete"].any()  # the window runs past the later export


@pytest.fixture(scope="module")
def history(
    tmp_path_factory, tiny_world: World, rule: MqlRule, models: Path, tiny_params_file: Path
):
    """Four past nights scored with the tiny world's model, and the later full export."""
    root = tmp_path_factory.mktemp("history")
    folders = []
    for night in NIGHTS:
        when = pd.Timestamp(night)
        write_nightly_export(
            as_of(tiny_world.raw_tables(), when, rule), root / "nights" / night, when
        )
        out = root / "scores" / night
        score.main(
            export=root / "nights" / night,
            out=out,
            model=str(models / "lead"),
            account_model="none",
            params=tiny_params_file,
        )
        folders.append(out)
    later = root / "raw"
    for name, frame in tiny_world.raw_tables().items():
        write_parquet(frame, later / f"{name}.parquet")
    write_json({"exported_at": tiny_world.exported_at.isoformat()}, later / EXPORT_FILE)
    track.main(scores=folders, raw=later, out=root / "tracking.json", params=tiny_params_file)
    return json.loads((root / "tracking.json").read_text())


def test_tracking_reports_each_scoring_month_by_grade(history: dict) -> None:
    grades = pd.DataFrame(history["by_grade"])
    assert history["runs"] == len(NIGHTS)
    assert set(grades["month"]) == {night[:7] for night in NIGHTS}
    assert {"handed over", "MQL flag"} <= set(grades["grade"])
    complete = grades.groupby("month")["window_complete"].all()
    assert complete["2025-01"] and not complete["2025-04"]  # 2025-04 + 90 days > export
    assert (grades["converted"] <= grades["leads"]).all()
    assert "grade A" in history["says"] or "No scoring month" in history["says"]


def test_the_top_decile_converts_above_the_bottom(history: dict) -> None:
    deciles = pd.DataFrame(history["by_decile"]).set_index("decile")
    finished = deciles[["2025-01", "2025-02", "2025-03"]]
    assert (finished.loc[1] > finished.loc[10]).all()


def test_the_report_shows_realised_conversion(history: dict) -> None:
    from mqlscore.evaluation.kinds import KINDS
    from mqlscore.reporting import page

    empty = pd.DataFrame()
    evidence = page.Evidence(KINDS["lead"], {}, empty, empty, {}, {}, 90, 90, 5, tracking=history)
    section = page.tracking_section(evidence)
    assert section is not None and len(section.images) == 1
    rates = section.tables[0][1]
    assert all(night[:7] in rates for night in NIGHTS) and "handed over" in rates


def test_a_scoring_folder_whose_files_are_not_its_manifests_is_refused(tmp_path: Path) -> None:
    """The manifest lists each output's MD5: tonight's scores beside last night's
    manifest (a mixed set) are refused, not tracked."""
    import json

    from mqlscore.io import file_md5
    from mqlscore.refusal import Refusal
    from pipeline.track import read_scores

    scores = pd.DataFrame(
        {
            "lead_id": ["L1"],
            "probability": [0.5],
            "grade": ["A"],
            "qualified": [True],
            "marketing_mql": [False],
        }
    )
    scores.to_parquet(tmp_path / "lead_scores.parquet")
    manifest = {"run_date": "2025-01-01", "outputs": {"lead_scores.parquet": "0" * 32}}
    (tmp_path / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(Refusal, match="a mixed set"):
        read_scores(tmp_path)
    manifest["outputs"]["lead_scores.parquet"] = file_md5(tmp_path / "lead_scores.parquet")
    (tmp_path / "manifest.json").write_text(json.dumps(manifest))
    assert read_scores(tmp_path)["lead_id"].tolist() == ["L1"]
