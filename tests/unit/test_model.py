"""The lead model: honest time split and probability output."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from mqlscore.config import ScoreParams, TrainParams
from mqlscore.io import write_parquet
from mqlscore.modeling.split import NotEnoughData, Split, conversion_split, time_split
from mqlscore.modeling.training import train_model
from mqlscore.serving.batch import score_leads
from mqlscore.serving.reasons import explain
from tests.conftest import project_params

WINDOW = 31  # days: monthly snapshots whose label windows close by the next one


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


def _deals(n_snapshots: int, freq: str, window: int, seed: int = 0) -> pd.DataFrame:
    """Snapshot rows of 300 leads, each on one opportunity at a random date: a row is
    positive when the deal falls in its label window [date, date + window)."""
    rng = np.random.default_rng(seed)
    dates = pd.date_range("2024-01-01", periods=n_snapshots, freq=freq)
    leads = pd.DataFrame(
        {
            "lead_id": [f"L{i}" for i in range(300)],
            "opportunity_id": [f"O{i}" for i in range(300)],
            "deal_at": dates[0]
            + pd.to_timedelta(rng.integers(0, (dates[-1] - dates[0]).days, 300), "D"),
        }
    )
    rows = leads.merge(pd.DataFrame({"snapshot_date": dates}), how="cross")
    ahead = rows["deal_at"] - rows["snapshot_date"]
    in_window = (ahead >= pd.Timedelta(0)) & (ahead < pd.Timedelta(days=window))
    return rows.assign(label=in_window.astype(int), label_complete=1)


def _deals_behind_positives(split: Split) -> list[set[str]]:
    return [
        set(part.loc[part["label"] == 1, "opportunity_id"])
        for part in (split.train, split.valid, split.test)
    ]


def _assert_purged(split: Split, window: int) -> None:
    gap = pd.Timedelta(days=window)
    assert split.train["snapshot_date"].max() + gap <= split.valid["snapshot_date"].min()
    assert split.valid["snapshot_date"].max() + gap <= split.test["snapshot_date"].min()
    train, valid, test = _deals_behind_positives(split)
    assert not train & valid and not valid & test and not train & test


def test_split_is_purged_of_label_windows_crossing_a_boundary() -> None:
    frame = _deals(16, "MS", 90)
    split = time_split(frame, test_snapshots=3, valid_snapshots=2, window_days=90)
    _assert_purged(split, 90)
    assert (
        split.test["snapshot_date"].nunique() == 3 and split.valid["snapshot_date"].nunique() == 2
    )
    dates = sorted(frame["snapshot_date"].unique())
    used = set(pd.concat([split.train, split.valid, split.test])["snapshot_date"])
    embargo = [d for d in dates if d not in used]  # the rows near each boundary
    assert [str(d.date()) for d in embargo] == ["2024-08-01", "2024-09-01", "2024-12-01",
                                                "2025-01-01"]  # fmt: skip
    # the same split without the embargo puts a deal behind positives in two periods
    naive = time_split(frame, test_snapshots=3, valid_snapshots=2, window_days=0)
    train, valid, test = _deals_behind_positives(naive)
    assert train & valid and valid & test


def test_split_by_conversions_is_purged_too() -> None:
    frame = _deals(400, "D", 30)
    split = conversion_split(frame, test_share=0.25, valid_share=0.15, window_days=30)
    _assert_purged(split, 30)
    positives = frame["label"].sum()
    assert (
        split.valid["label"].sum() >= 0.15 * positives
        and split.test["label"].sum() >= 0.25 * positives
    )
    dated = conversion_split(frame, 0.25, 0.15, 30, test_from="2024-12-01")
    _assert_purged(dated, 30)
    assert dated.test["snapshot_date"].min() == pd.Timestamp("2024-12-01")


def test_split_refuses_too_few_snapshots() -> None:
    with pytest.raises(NotEnoughData, match="complete snapshots"):
        time_split(_frame(n_snapshots=4), test_snapshots=2, valid_snapshots=2, window_days=0)
    with pytest.raises(NotEnoughData, match="90-day label window"):  # enough without embargo
        time_split(_frame(n_snapshots=9), test_snapshots=2, valid_snapshots=2, window_days=90)


def test_model_returns_probabilities_that_follow_the_signal() -> None:
    frame = _frame()
    params = project_params(
        "train", TrainParams, test_snapshots=2, valid_snapshots=2, min_data_in_leaf=20
    )
    trained = train_model(frame, params, WINDOW)
    model, figures = trained.model, trained.figures
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
    model = train_model(
        frame, params, WINDOW
    ).model  # trained after `employees` was dropped as blank
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
    from mqlscore.modeling.training import importance_table

    frame = _frame()
    params = project_params(
        "train",
        TrainParams,
        test_snapshots=2,
        valid_snapshots=2,
        min_data_in_leaf=20,
        min_conversions=10,
    )
    model = train_model(frame, params, WINDOW).model
    table = importance_table(model, frame)
    assert table["feature"].iloc[0] == "signal"
    assert (table["mean_abs_shap"] >= 0).all() and len(table) == len(model.features)


def test_search_is_off_by_default_and_keeps_the_best_validation_draw() -> None:
    frame = _frame()
    base = project_params("train", TrainParams, min_conversions=5, isotonic_min_positives=10_000)
    figures = train_model(frame, base, WINDOW).figures
    assert "search" not in figures  # off by default
    space = {"num_leaves": (2, 8), "learning_rate": (0.05, 0.2)}
    searched = base.model_copy(update={"search_trials": 3, "search_space": space})
    figures = train_model(frame, searched, WINDOW).figures
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
    from mqlscore.modeling.propensity import follow_up_weighted
    from mqlscore.modeling.split import Split

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


def _kinds_frame(interaction: bool, seed: int = 0) -> pd.DataFrame:
    """Monthly rows of 600 leads on 300 accounts; the label follows log-scaled counts
    (additive) or an exclusive-or of two of them (trees only)."""
    frame = _frame(rows=600, seed=seed)
    rng = np.random.default_rng(seed + 1)
    n = len(frame)
    a, b = rng.poisson(3, n).astype(float), rng.poisson(3, n).astype(float)
    logit = 3 * ((a > 3) ^ (b > 3)) - 3.5 if interaction else 1.5 * np.log1p(a) - 4
    return frame.assign(
        account_id=[f"A{i % 300}" for i in range(n)],
        signal=a,
        noise=b,
        label=(rng.random(n) < 1 / (1 + np.exp(-logit))).astype(int),
    )


@pytest.mark.parametrize(("interaction", "kind"), [(True, "lightgbm"), (False, None)])
def test_the_better_model_on_validation_pr_auc_is_the_model(
    interaction: bool, kind: str | None
) -> None:
    params = project_params("train", TrainParams, min_data_in_leaf=20, min_conversions=10)
    trained = train_model(_kinds_frame(interaction), params, WINDOW)
    figures = trained.figures
    scores = {k: figures[f"valid_pr_auc_{k}"] for k in ("lightgbm", "logistic_regression")}
    assert figures["model_kind"] == trained.model.kind == max(scores, key=scores.get)
    assert trained.comparison.kind == figures["comparison_kind"] != trained.model.kind
    if kind:  # an exclusive-or no linear model can draw
        assert (
            figures["model_kind"] == kind
            and scores["lightgbm"] > scores["logistic_regression"] + 0.1
        )


def test_the_logistic_regression_explains_itself_exactly_and_saves_as_json(
    tmp_path: Path,
) -> None:
    import mlflow

    from mqlscore.modeling.linear import fit_linear
    from mqlscore.modeling.matrix import category_levels
    from mqlscore.modeling.packaged import to_matrix
    from mqlscore.modeling.registered import load_scorer
    from mqlscore.tracking import save_local

    frame = _kinds_frame(False).assign(signal=lambda f: f["signal"].where(f.index % 7 > 0))
    frame.loc[frame.index % 11 == 0, "industry"] = None
    features = ["signal", "noise", "industry"]
    levels = category_levels(frame, features)
    linear = fit_linear(frame, features, levels, 1.0, ("signal",))
    from mqlscore.modeling.scorer import Scorer

    scorer = Scorer(linear, features, levels, typical={"noun": "leads", "features": {}})
    assert scorer.kind == "logistic_regression"
    rows = frame.head(300).assign(industry=lambda f: f["industry"].replace("retail", "unseen"))
    contributions = scorer.contributions(rows)
    logit = linear.spec["intercept"] + contributions.sum(axis=1)
    np.testing.assert_allclose(1 / (1 + np.exp(-logit)), scorer.raw_score(rows), rtol=1e-10)
    mean_row = to_matrix(frame, features, levels)  # at the training mean every column is 0
    assert abs(linear.contributions(mean_row).mean().sum()) < 1e-9
    assert contributions["signal"].corr(np.log1p(rows["signal"])) > 0.99  # log-scaled
    assert linear.coef[[c == ["signal", "value"] for c in linear.spec["columns"]]][0] > 0
    assert len(explain(scorer, rows.head(5))) == 5
    save_local(scorer, scorer.example(frame), tmp_path / "model")
    assert not list((tmp_path / "model").rglob("*.pkl"))
    loaded = mlflow.pyfunc.load_model(str(tmp_path / "model"))
    np.testing.assert_allclose(
        loaded.predict(scorer.example(rows, 300))["probability"], scorer.probability(rows)
    )
    again = load_scorer(str(tmp_path / "model"))
    pd.testing.assert_frame_equal(again.contributions(rows), contributions)


def test_refit_serves_the_chosen_kind_on_every_complete_row_with_its_trees() -> None:
    from mqlscore.modeling.training import refit

    frame = _kinds_frame(True)
    params = project_params("train", TrainParams, min_data_in_leaf=20, min_conversions=10)
    trained = train_model(frame, params, WINDOW)
    served, said = refit(frame, trained)
    complete = frame[frame["label_complete"] == 1]
    assert served.kind == trained.model.kind == "lightgbm"
    evaluated_rows = len(trained.split.train) + len(trained.split.valid)
    assert said["refit_rows"] == len(complete) > evaluated_rows
    assert served.estimator.num_trees() == trained.figures["best_iteration"]
    assert said["served"].startswith(f"lightgbm refit on {len(complete)} rows up to 2024-07-01")
    assert said["evaluated"] == "lightgbm fit on rows before 2024-05-01"
    assert served.calibrator is trained.model.calibrator
    assert not np.allclose(served.raw_score(complete), trained.model.raw_score(complete))


def test_a_cut_split_keeps_every_row_and_counts_only_deals_before_the_next_period() -> None:
    """`train.purge: cut` (Olist's daily rows, 180-day window): no row is dropped, and a
    row's label counts only the deals created before the next period starts."""
    from mqlscore.modeling.split import split_for

    frame = _frame(n_snapshots=10, rows=50)
    frame["label_at"] = frame["snapshot_date"] + pd.to_timedelta(
        np.random.default_rng(1).integers(1, 90, len(frame)), unit="D"
    )
    frame["label_at"] = frame["label_at"].where(frame["label"] == 1)
    params = project_params("train", TrainParams, purge="cut", test_snapshots=3)
    split = split_for(frame, params, window_days=90)
    complete = frame[frame["label_complete"] == 1]
    assert len(split.train) + len(split.valid) + len(split.test) == len(complete)
    valid_start, test_start = split.valid["snapshot_date"].min(), split.test["snapshot_date"].min()
    for rows, boundary in ((split.train, valid_start), (split.valid, test_start)):
        positives = rows[rows["label"] == 1]
        assert (positives["label_at"] < boundary).all()  # no window reaches the next period
        late = rows["label_at"] >= boundary
        assert late.any() and (rows.loc[late, "label"] == 0).all()
    original = complete.loc[split.test.index, "label"]
    assert split.test["label"].equals(original)  # the test period keeps its whole window
