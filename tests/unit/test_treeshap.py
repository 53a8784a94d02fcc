"""Tabulated SHAP equals LightGBM's own `pred_contrib` on random shallow models."""

from __future__ import annotations

import lightgbm as lgb
import numpy as np
import pandas as pd
from hypothesis import given, settings
from hypothesis import strategies as st

from mqlscore.modeling import treeshap


def _model(seed: int, depth: int, missing: float, mode: str):
    """A random frame (numbers with NaN and exact zeros, a categorical) and a model on it."""
    rng = np.random.default_rng(seed)
    n = 3000
    frame = pd.DataFrame(
        {
            "a": rng.normal(size=n),
            "b": rng.poisson(1.0, size=n).astype(float),  # many exact zeros
            "c": rng.uniform(-2, 2, size=n),
            "kind": pd.Categorical(rng.choice(list("pqrstu"), size=n)),
        }
    )
    for column in ("a", "b", "c"):
        frame.loc[rng.random(n) < missing, column] = np.nan
    frame.loc[rng.random(n) < missing, "kind"] = np.nan
    logit = frame["a"].fillna(0) + 0.7 * frame["b"].fillna(0) - frame["c"].fillna(1) ** 2
    logit += frame["kind"].isin(["p", "s"]).astype(float) * 1.5
    label = (rng.random(n) < 1 / (1 + np.exp(-logit))).astype(int)
    params = {
        "objective": "binary",
        "max_depth": depth,
        "num_leaves": 2**depth,
        "min_data_in_leaf": 20,
        "min_data_per_group": 5,
        "cat_smooth": 1.0,
        "use_missing": mode != "none",  # none: NaN is read as 0.0
        "zero_as_missing": mode == "zero",  # zero: 0.0 and NaN take the default branch
        "seed": seed,
        "verbose": -1,
    }
    booster = lgb.train(params, lgb.Dataset(frame, label), num_boost_round=25)
    return booster, frame, rng


MODES = ("nan", "zero", "none")


def test_the_models_cover_every_kind_of_split() -> None:
    kinds = set()
    for mode in MODES:
        trees = treeshap.parse(_model(1, 3, 0.1, mode)[0])
        kinds |= {(s.categories is not None, s.missing) for t in trees for s in t.splits}
    assert {(True, "NaN"), (False, "NaN"), (False, "Zero"), (False, "None")} <= kinds


@settings(max_examples=15, deadline=None)
@given(
    seed=st.integers(0, 10_000),
    depth=st.integers(1, 3),
    missing=st.sampled_from([0.0, 0.1, 0.4]),
    mode=st.sampled_from(MODES),
)
def test_tabulated_shap_equals_pred_contrib(
    seed: int, depth: int, missing: float, mode: str
) -> None:
    booster, frame, rng = _model(seed, depth, missing, mode)
    trees = treeshap.parse(booster)
    assert trees is not None
    rows = frame.sample(500, random_state=seed)
    rows.loc[rows.index[:20], "a"] = rng.normal(scale=10, size=20)  # beyond training range
    expected = booster.predict(rows, pred_contrib=True)
    got = treeshap.contributions(booster, trees, rows)
    np.testing.assert_allclose(got, expected, rtol=0, atol=1e-9)
    again = treeshap.contributions(booster, trees, rows.iloc[::-1])  # from the filled table
    np.testing.assert_allclose(again, expected[::-1], rtol=0, atol=1e-9)


def test_deep_trees_are_left_to_lightgbm() -> None:
    rng = np.random.default_rng(0)
    frame = pd.DataFrame(rng.normal(size=(4000, 6)), columns=list("abcdef"))
    label = (frame.sum(axis=1) + rng.normal(size=4000) > 0).astype(int)
    params = {"objective": "binary", "num_leaves": 64, "min_data_in_leaf": 5, "verbose": -1}
    booster = lgb.train(params, lgb.Dataset(frame, label), num_boost_round=3)
    assert treeshap.parse(booster) is None  # more than MAX_SPLITS splits in a tree
