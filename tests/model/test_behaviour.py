"""What the lead model promises sales, checked on a model trained on the tiny world:
more intent never lowers a score, an email's letter case changes nothing, and a lead
scored tonight gets exactly the score its training snapshot row would get."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from features.engine import build_snapshots
from features.matching import match_leads
from features.snapshots import SnapshotSpec, data_end, snapshot_dates
from mqlscore.config import FeatureParams, TrainParams, load_section
from mqlscore.modeling.scorer import Scorer
from mqlscore.modeling.training import train_model
from mqlscore.serving.reasons import explain
from sources.world import World


def _with_matches(tables: dict[str, pd.DataFrame]) -> dict[str, pd.DataFrame]:
    return {**tables, "lead_accounts": match_leads(tables["leads"], tables["accounts"])}


@pytest.fixture(scope="module")
def trained(tiny_world: World, spec: SnapshotSpec, tiny_params_file: Path) -> tuple:
    tables = _with_matches(tiny_world.raw_tables())
    end = data_end(tables)
    snaps = snapshot_dates(tables["engagement"]["occurred_at"].min(), end, 3)
    leads = build_snapshots(tables, spec, snaps, end).leads
    config = load_section(tiny_params_file, "train", TrainParams)
    window = load_section(tiny_params_file, "features", FeatureParams).label_window_days
    model = train_model(leads, config, window).model
    return model, leads, snaps, end


def test_more_high_intent_touches_never_lower_a_score(trained: tuple) -> None:
    model, leads, _, _ = trained
    rows = leads.sample(2000, random_state=0)
    intent = [c for c in model.features if c.startswith(("high_intent_", "account_high_intent_"))]
    assert intent
    before = model.probability(rows)
    for extra in (1, 3, 10):
        after = model.probability(rows.assign(**{c: rows[c] + extra for c in intent}))
        assert (after >= before - 1e-12).all()
    assert (after > before + 1e-6).any()  # and intent does move some scores


def test_an_emails_letter_case_does_not_change_the_score(
    trained: tuple, tiny_world: World, spec: SnapshotSpec
) -> None:
    model, _, snaps, end = trained
    t = snaps[-4]
    tables = tiny_world.raw_tables()
    shouted = {
        **tables,
        "leads": tables["leads"].assign(email=tables["leads"]["email"].str.upper()),
    }
    plain = build_snapshots(_with_matches(tables), spec, [t], end).leads
    loud = build_snapshots(_with_matches(shouted), spec, [t], end).leads
    assert len(plain) == len(loud) > 100
    np.testing.assert_array_equal(model.probability(plain), model.probability(loud))


def test_a_lead_scored_tonight_gets_its_training_rows_score(
    trained: tuple, tiny_world: World, spec: SnapshotSpec
) -> None:
    model, leads, snaps, _ = trained
    t = snaps[-4]
    tables = tiny_world.raw_tables()
    export = {  # what an export taken at t holds
        "leads": tables["leads"][tables["leads"]["created_at"] < t],
        "engagement": tables["engagement"][tables["engagement"]["occurred_at"] < t],
        "sales_activities": tables["sales_activities"][
            tables["sales_activities"]["occurred_at"] < t
        ],
        "opportunities": tables["opportunities"][tables["opportunities"]["created_at"] < t],
        "accounts": tables["accounts"],
    }
    export["opportunity_contacts"] = tables["opportunity_contacts"][
        tables["opportunity_contacts"]["opportunity_id"].isin(
            export["opportunities"]["opportunity_id"]
        )
    ]
    opportunities = export["opportunities"].copy()  # deals closed after t were open at t
    still_open = opportunities["closed_at"] >= t
    opportunities.loc[still_open, ["closed_at", "is_won"]] = [pd.NaT, False]
    export["opportunities"] = opportunities
    tonight = build_snapshots(_with_matches(export), replace(spec, scoring=True), [t], t).leads
    training = leads[leads["snapshot_date"] == t]
    both = training.merge(tonight[["lead_id"]], on="lead_id")
    assert len(both) > 100
    scored = tonight.set_index("lead_id").loc[both["lead_id"]].reset_index()
    np.testing.assert_allclose(model.probability(scored), model.probability(both), rtol=0, atol=0)


def test_the_saved_model_scores_like_the_trained_one(trained: tuple, tmp_path: Path) -> None:
    model, leads, _, _ = trained
    model.save(tmp_path)
    loaded = Scorer.load(tmp_path)
    rows = leads.tail(500)
    np.testing.assert_array_equal(loaded.probability(rows), model.probability(rows))
    pd.testing.assert_frame_equal(explain(loaded, rows), explain(model, rows))
