"""The champion alias: moves only for a better challenger; rollback restores the last one."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from mqlscore.evaluation.gate import challenge, should_promote
from mqlscore.evaluation.intervals import bootstrap_for
from mqlscore.modeling.calibration import Calibrator
from mqlscore.modeling.registered import champion_probabilities, load_scorer
from mqlscore.modeling.scorer import Scorer
from mqlscore.refusal import Refusal
from mqlscore.registry import (
    champion_version,
    model_versions,
    record_gate,
    rollback_champion,
    set_champion,
)
from mqlscore.tracking import log_training_run

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
        info = log_training_run(
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
        record_gate(NAME, info["version"], passed=True)
        versions.append(info["version"])
    return versions


def test_worse_challenger_does_not_take_the_alias() -> None:
    def duel(low: float, high: float) -> dict:
        return {"champion": 0.30, "difference_interval": [low, high]}

    assert should_promote({"champion": None}, 0.01)  # no champion yet
    assert should_promote(duel(0.015, 0.03), 0.01)  # ahead beyond the noise and the margin
    assert not should_promote(duel(0.005, 0.03), 0.01)  # ahead, but not by the margin
    assert not should_promote(duel(-0.01, 0.03), 0.0)  # better on average: inside the noise
    assert not should_promote(duel(0.0, 0.0), 0.0)  # a tie keeps the champion


def _duel_rows(n: int = 400, seed: int = 5) -> tuple[pd.DataFrame, np.ndarray]:
    rng = np.random.default_rng(seed)
    label = (rng.random(n) < 0.15).astype(int)
    rows = pd.DataFrame(
        {"lead_id": [f"L{i}" for i in range(n)], "account_id": (np.arange(n) % 80).astype(str)}
    )
    return rows.assign(label=label), label + rng.normal(0, 0.8, n)


def test_challenge_scores_both_on_the_same_rows() -> None:
    rows, score = _duel_rows()
    boot = bootstrap_for(rows, "lead_id", 100, seed=7, level=0.9)
    same = challenge(rows, score, score.copy(), "pr_auc", boot)
    assert same["difference"] == 0 and same["difference_interval"] == [0, 0]
    assert same["inside_noise"] and not should_promote(same, 0.0)
    noisy = challenge(
        rows, score, score + np.random.default_rng(1).normal(0, 0.05, 400), "pr_auc", boot
    )
    assert noisy["inside_noise"] and not should_promote(noisy, 0.0)  # a hair apart: noise
    sharp = rows["label"].to_numpy() + np.random.default_rng(2).normal(0, 0.2, 400)
    better = challenge(rows, sharp, score, "roc_auc", boot)
    assert better["difference"] > 0 and better["difference_interval"][0] > 0
    assert not better["inside_noise"] and should_promote(better, 0.01)
    assert challenge(rows, score, None, "pr_auc", boot) == {
        "challenger": same["challenger"],
        "champion": None,
    }


def test_promote_then_rollback_restores_the_previous_version(registry: list[str]) -> None:
    v1, v2, v3 = registry
    assert champion_version(NAME) is None
    set_champion(NAME, v1)
    set_champion(NAME, v3)
    assert champion_version(NAME) == v3
    assert rollback_champion(NAME) == v1
    assert champion_version(NAME) == v1
    with pytest.raises(Refusal, match="no earlier champion"):
        rollback_champion(NAME)
    version, probabilities = champion_probabilities(NAME, FRAME)
    assert version == v1
    np.testing.assert_allclose(probabilities, _scorer(1).probability(FRAME))
    assert v2 != champion_version(NAME)


def test_the_embedded_store_follows_a_moved_project_folder(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    first = tmp_path / "first"
    first.mkdir()
    monkeypatch.chdir(first)
    info = log_training_run(
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
    record_gate(NAME, info["version"], passed=True)
    set_champion(NAME, info["version"])
    moved = tmp_path / "moved"
    first.rename(moved)
    monkeypatch.chdir(moved)
    scorer = load_scorer(f"models:/{NAME}@champion")
    np.testing.assert_allclose(scorer.probability(FRAME), _scorer(1).probability(FRAME))


def test_the_duel_scores_the_champions_evaluation_model_not_its_refit(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{tmp_path / 'mlflow.db'}")
    monkeypatch.chdir(tmp_path)
    served, evaluated = _scorer(1), _scorer(2)  # the refit has seen the test rows
    info = log_training_run(
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
    record_gate(NAME, info["version"], passed=True)
    set_champion(NAME, info["version"])
    _, probabilities = champion_probabilities(NAME, FRAME)
    np.testing.assert_allclose(probabilities, evaluated.probability(FRAME))
    registered = load_scorer(f"models:/{NAME}@champion")
    np.testing.assert_allclose(registered.probability(FRAME), served.probability(FRAME))


def test_models_list_shows_every_version_its_run_and_the_champion(registry: list[str]) -> None:
    set_champion(NAME, registry[1])
    rows = model_versions()
    assert [r["version"] for r in rows] == registry
    assert [r["aliases"] for r in rows] == ["", "champion", ""]
    assert {r["run"] for r in rows} == {"FINISHED"}
    assert {r["gate"] for r in rows} == {"passed"}


def test_only_a_finished_run_whose_gate_passed_can_be_champion(registry: list[str]) -> None:
    import mlflow

    client = mlflow.MlflowClient()
    v1, v2, _ = registry
    record_gate(NAME, v2, passed=False)
    with pytest.raises(Refusal, match=f"version {v2} cannot be champion: its quality gate failed"):
        set_champion(NAME, v2)
    killed = client.create_run(client.get_experiment_by_name(NAME).experiment_id)  # RUNNING
    source = client.get_model_version(NAME, v1).source
    orphan = str(client.create_model_version(NAME, source, run_id=killed.info.run_id).version)
    with pytest.raises(Refusal, match="its training run is RUNNING"):
        set_champion(NAME, orphan)
    fresh = client.create_model_version(
        NAME, source, run_id=client.get_model_version(NAME, v1).run_id
    )
    with pytest.raises(Refusal, match="its quality gate not run"):
        set_champion(NAME, fresh.version)
    assert champion_version(NAME) is None
    gates = {r["version"]: r["gate"] for r in model_versions()}
    assert (gates[v2], gates[orphan], gates[str(fresh.version)]) == (
        "failed",
        "not run",
        "not run",
    )


@pytest.mark.parametrize("killed_after", ["alias", "history"])
def test_a_move_killed_halfway_still_rolls_back_to_the_one_before(
    registry: list[str], killed_after: str
) -> None:
    import mlflow

    client = mlflow.MlflowClient()
    v1, v2, v3 = registry
    set_champion(NAME, v1)
    set_champion(NAME, v2)
    if killed_after == "alias":  # the alias moved to v3, the history was never written
        client.set_registered_model_alias(NAME, "champion", v3)
    else:  # the history says v3, the alias never moved (the order before this fix)
        client.set_registered_model_tag(NAME, "champion_history", ",".join([v1, v2, v3]))
    before = champion_version(NAME)
    assert rollback_champion(NAME) != before
    assert champion_version(NAME) == (v2 if killed_after == "alias" else v1)


def test_scoring_before_any_training_says_to_train_first(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{tmp_path / 'mlflow.db'}")
    monkeypatch.chdir(tmp_path)
    with pytest.raises(Refusal, match="no model mqlscore-lead@champion in the MLflow store yet"):
        load_scorer("models:/mqlscore-lead@champion")
    with pytest.raises(Refusal, match="not a model folder"):
        load_scorer(str(tmp_path))


def test_a_night_pins_the_champion_once_so_a_promote_meanwhile_changes_nothing(
    registry: list[str],
) -> None:
    from mqlscore.modeling.registered import pinned
    from mqlscore.registry import model_version

    v1, v2, _ = registry
    set_champion(NAME, v1)
    uri = pinned(f"models:/{NAME}@champion")
    set_champion(NAME, v2)  # promoted while the night runs
    assert uri == f"models:/{NAME}/{v1}" and model_version(uri)["version"] == v1
    np.testing.assert_allclose(load_scorer(uri).probability(FRAME), _scorer(1).probability(FRAME))
    assert pinned("models/lead") == "models/lead"  # a folder is what it is
    with pytest.raises(Refusal, match="no model mqlscore-test@nobody"):
        pinned(f"models:/{NAME}@nobody")
