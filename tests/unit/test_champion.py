"""The champion alias: moves only for a better challenger; rollback restores the last one."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from mqlscore import tracking
from mqlscore.evaluation import challenge, should_promote
from mqlscore.model import Calibrator, Scorer

NAME = "mqlscore-test"


def _scorer(seed: int) -> Scorer:
    """A tiny real model (LightGBM text + JSON calibrator), different per seed."""
    import lightgbm as lgb

    rng = np.random.default_rng(seed)
    x = pd.DataFrame({"x": rng.normal(size=400)})
    y = (rng.random(400) < 1 / (1 + np.exp(-x["x"]))).astype(int)
    booster = lgb.train({"verbose": -1, "objective": "binary"}, lgb.Dataset(x, y), 5)
    return Scorer(booster, ["x"], {}, Calibrator.fit(booster.predict(x), y.to_numpy(), 1))


FRAME = pd.DataFrame({"x": [-1.0, 0.5, 2.0]})


@pytest.fixture()
def registry(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> list[str]:
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{tmp_path / 'mlflow.db'}")
    monkeypatch.chdir(tmp_path)
    versions = []
    for seed in (1, 2, 3):
        scorer = _scorer(seed)
        info = tracking.log_training_run(
            experiment=NAME,
            registered_model=NAME,
            model=scorer,
            example=FRAME,
            params={},
            metrics={},
            inputs={},
            importance=pd.DataFrame({"feature": ["x"], "mean_abs_shap": [1.0]}),
            kind="lead",
            source="test",
            root=tmp_path,
        )
        versions.append(info["version"])
    return versions


def test_worse_challenger_does_not_take_the_alias() -> None:
    assert should_promote(0.30, None, 0.01)  # no champion yet
    assert should_promote(0.31, 0.30, 0.01)
    assert not should_promote(0.305, 0.30, 0.01)  # better, but not by the margin
    assert not should_promote(0.25, 0.30, 0.0)
    assert not should_promote(0.30, 0.30, 0.0)  # a tie keeps the champion


def test_challenge_scores_both_on_the_same_rows() -> None:
    rows = pd.DataFrame({"label": [0, 0, 1, 1]})
    duel = challenge(
        rows, np.array([0.1, 0.2, 0.8, 0.9]), np.array([0.9, 0.8, 0.2, 0.1]), "roc_auc"
    )
    assert duel == {"challenger": 1.0, "champion": 0.0}


def test_promote_then_rollback_restores_the_previous_version(registry: list[str]) -> None:
    v1, v2, v3 = registry
    assert tracking.champion_version(NAME) is None
    tracking.set_champion(NAME, v1)
    tracking.set_champion(NAME, v3)
    assert tracking.champion_version(NAME) == v3
    assert tracking.rollback_champion(NAME) == v1
    assert tracking.champion_version(NAME) == v1
    with pytest.raises(ValueError, match="no earlier champion"):
        tracking.rollback_champion(NAME)
    version, probabilities = tracking.champion_probabilities(NAME, FRAME)
    assert version == v1
    np.testing.assert_allclose(probabilities, _scorer(1).probability(FRAME))
    assert v2 != tracking.champion_version(NAME)


def test_the_embedded_store_follows_a_moved_project_folder(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    first = tmp_path / "first"
    first.mkdir()
    monkeypatch.chdir(first)
    info = tracking.log_training_run(
        experiment=NAME,
        registered_model=NAME,
        model=_scorer(1),
        example=FRAME,
        params={},
        metrics={},
        inputs={},
        importance=pd.DataFrame({"feature": ["x"], "mean_abs_shap": [1.0]}),
        kind="lead",
        source="test",
    )
    tracking.set_champion(NAME, info["version"])
    moved = tmp_path / "moved"
    first.rename(moved)
    monkeypatch.chdir(moved)
    scorer = tracking.load_scorer(f"models:/{NAME}@champion")
    np.testing.assert_allclose(scorer.probability(FRAME), _scorer(1).probability(FRAME))


def test_the_duel_scores_the_champions_evaluation_model_not_its_refit(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{tmp_path / 'mlflow.db'}")
    monkeypatch.chdir(tmp_path)
    served, evaluated = _scorer(1), _scorer(2)  # the refit has seen the test rows
    info = tracking.log_training_run(
        experiment=NAME,
        registered_model=NAME,
        model=served,
        example=FRAME,
        params={},
        metrics={},
        inputs={},
        importance=pd.DataFrame({"feature": ["x"], "mean_abs_shap": [1.0]}),
        kind="lead",
        source="test",
        root=tmp_path,
        tags={"served": "refit"},
        evaluation={"model": evaluated, "comparison": _scorer(3)},
    )
    tracking.set_champion(NAME, info["version"])
    _, probabilities = tracking.champion_probabilities(NAME, FRAME)
    np.testing.assert_allclose(probabilities, evaluated.probability(FRAME))
    registered = tracking.load_scorer(f"models:/{NAME}@champion")
    np.testing.assert_allclose(registered.probability(FRAME), served.probability(FRAME))
