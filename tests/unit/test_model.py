"""The lead model: honest time split and probability output."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from mqlscore.config import ScoreParams, TrainParams
from mqlscore.io import write_parquet
from mqlscore.model import NotEnoughData, time_split
from mqlscore.scoring import score_leads
from mqlscore.training import train_model
from tests.conftest import project_params


def _frame(n_snapshots: int = 8, rows: int = 400, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    dates = pd.date_range("2024-01-01", periods=n_snapshots, freq="MS")
    n = n_snapshots * rows
    signal = rng.normal(size=n)
    return pd.DataFrame(
        {
            "lead_id": [f"L{i % rows}" for i in range(n)],
            "account_id": "A1",
            "snapshot_date": np.repeat(dates, rows),
            "signal": signal,
            "noise": rng.normal(size=n),
            "industry": rng.choice(["software", "retail"], n),
            "marketing_points": rng.integers(0, 200, n).astype(float),
            "is_mql": 0.0,
            "new_mql": 0.0,
            "label": (rng.random(n) < 1 / (1 + np.exp(-(2 * signal - 2)))).astype(int),
            "label_won": 0,
            "label_complete": [1] * (n - rows) + [0] * rows,
        }
    )


def test_split_never_leaks_the_future() -> None:
    split = time_split(_frame(), test_snapshots=2, valid_snapshots=2)
    assert split.train["snapshot_date"].max() < split.valid["snapshot_date"].min()
    assert split.valid["snapshot_date"].max() < split.test["snapshot_date"].min()
    assert split.test["snapshot_date"].nunique() == 2
    assert (split.test["label_complete"] == 1).all()


def test_split_refuses_too_few_snapshots() -> None:
    with pytest.raises(NotEnoughData, match="complete snapshots"):
        time_split(_frame(n_snapshots=4), test_snapshots=2, valid_snapshots=2)


def test_model_returns_probabilities_that_follow_the_signal() -> None:
    frame = _frame()
    params = project_params(
        "train", TrainParams, test_snapshots=2, valid_snapshots=2, min_data_in_leaf=20
    )
    model, figures = train_model(frame, params)
    assert "marketing_points" not in model.features and "label" not in model.features
    p = pd.Series(model.probability(frame.drop(columns=["label"])))
    assert p.between(0, 1).all() and p.nunique() > 10  # probabilities, not 0/1 labels
    assert np.corrcoef(p, frame["signal"])[0, 1] > 0.5
    assert figures["valid_roc_auc"] > 0.7


def test_nightly_rows_with_a_feature_dropped_at_training_score_by_the_models_list(
    tmp_path: Path,
) -> None:
    frame = _frame()
    params = project_params(
        "train", TrainParams, test_snapshots=2, valid_snapshots=2, min_data_in_leaf=20
    )
    model, _ = train_model(frame, params)  # trained after `employees` was dropped as blank
    nightly = frame.drop(columns=["label"]).assign(
        employees=np.nan, match_rule="crm_id", on_open_opportunity=False
    )
    write_parquet(nightly, tmp_path / "features.parquet")
    config = project_params("score", ScoreParams)
    scored, _ = score_leads(
        tmp_path / "features.parquet", model, config, {"A": 0.3}, False, tmp_path / "leads"
    )
    assert "employees" not in model.features and len(scored) == len(nightly)
    expected = model.probability(frame.drop(columns=["label"]))
    np.testing.assert_allclose(scored["probability"].to_numpy(), expected)


def test_importance_ranks_the_real_signal_first() -> None:
    from mqlscore.training import importance_table

    frame = _frame()
    model, _ = train_model(
        frame,
        project_params(
            "train",
            TrainParams,
            test_snapshots=2,
            valid_snapshots=2,
            min_data_in_leaf=20,
            min_conversions=10,
        ),
    )
    table = importance_table(model, frame)
    assert table["feature"].iloc[0] == "signal"
    assert (table["mean_abs_shap"] >= 0).all() and len(table) == len(model.features)


def test_search_is_off_by_default_and_keeps_the_best_validation_draw() -> None:
    frame = _frame()
    base = project_params("train", TrainParams, min_conversions=5, isotonic_min_positives=10_000)
    _, figures = train_model(frame, base)
    assert "search" not in figures  # off by default
    space = {"num_leaves": (2, 8), "learning_rate": (0.05, 0.2)}
    searched = base.model_copy(update={"search_trials": 3, "search_space": space})
    _, figures = train_model(frame, searched)
    trials = figures["search"]
    assert len(trials) == 4  # the current params, then 3 draws
    best = max(trials, key=lambda t: t["pr_auc"])
    assert (figures["best_num_leaves"], figures["best_learning_rate"]) == (
        best["num_leaves"],
        best["learning_rate"],
    )


def test_search_space_rejects_unknown_params() -> None:
    with pytest.raises(ValueError, match="unknown train params: num_trees"):
        project_params("train", TrainParams, search_space={"num_trees": (10, 20)})


def test_follow_up_weights_accept_marketing_columns_as_features() -> None:
    from mqlscore.model import Split, follow_up_weighted

    rng = np.random.default_rng(3)
    frame = pd.DataFrame(
        {
            "x": rng.normal(size=400),
            "marketing_points": rng.integers(0, 200, 400).astype(float),
            "is_mql": rng.integers(0, 2, 400).astype(float),
            "new_mql": rng.integers(0, 2, 400).astype(float),
            "worked": rng.integers(0, 2, 400),
            "label": rng.integers(0, 2, 400),
        }
    )
    features = ["x", "marketing_points", "is_mql", "new_mql"]  # use_marketing_features
    split = follow_up_weighted(Split(frame, frame, frame), features, 0.05)
    assert (split.train["worked"] == 1).all() and (split.train["weight"] >= 1).all()
