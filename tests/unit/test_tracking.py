"""Run names and tags a reviewer can tell apart, in a real MLflow SQLite store."""

from __future__ import annotations

import subprocess
from pathlib import Path

import mlflow
import numpy as np
import pandas as pd
import pytest
import yaml

from mqlscore.evaluation.gate import headline
from mqlscore.evaluation.kinds import KINDS
from mqlscore.modeling.calibration import Calibrator
from mqlscore.modeling.scorer import Scorer
from mqlscore.tracking import NAME_LENGTH, changes_in_words, log_evaluation, log_training_run

PARAMS = {"train": {"learning_rate": 0.05, "num_leaves": 31}, "source": {"mappings": []}}
FRAME = pd.DataFrame({"x": [-1.0, 0.5, 2.0]})


def _scorer() -> Scorer:
    """A tiny real LightGBM model with its calibrator."""
    import lightgbm as lgb

    rng = np.random.default_rng(0)
    x = pd.DataFrame({"x": rng.normal(size=200)})
    y = (rng.random(200) < 1 / (1 + np.exp(-x["x"]))).astype(int)
    booster = lgb.train({"verbose": -1, "objective": "binary"}, lgb.Dataset(x, y), 3)
    return Scorer(booster, ["x"], {}, Calibrator.fit(booster.predict(x), y.to_numpy(), 1))


def _git(root: Path, *args: str) -> str:
    who = ["-c", "user.name=test", "-c", "user.email=test@localhost"]
    done = subprocess.run(["git", *who, *args], cwd=root, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    return done.stdout.strip()


def _run(root: Path, params: dict) -> mlflow.entities.Run:
    """Write `params` to root/params.yaml and log a training run from it."""
    (root / "params.yaml").write_text(yaml.safe_dump(params))
    info = log_training_run(
        experiment="mqlscore-test",
        registered_model="mqlscore-test",
        model=_scorer(),
        example=FRAME,
        params={"train.learning_rate": params["train"]["learning_rate"]},
        metrics={},
        inputs={},
        importance=pd.DataFrame({"feature": ["x"], "mean_abs_shap": [1.0]}),
        kind="lead",
        source="synthetic",
        root=root,
    )
    return mlflow.get_run(info["run_id"])


@pytest.fixture()
def store(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{tmp_path / 'mlflow.db'}")
    monkeypatch.delenv("DVC_EXP_NAME", raising=False)
    monkeypatch.chdir(tmp_path)
    return tmp_path


@pytest.fixture()
def repo(store: Path) -> Path:
    """A git repository whose HEAD holds PARAMS."""
    (store / "params.yaml").write_text(yaml.safe_dump(PARAMS))
    _git(store, "init", "-q")
    _git(store, "add", "params.yaml")
    _git(store, "commit", "-q", "-m", "params")
    return store


def test_runs_with_different_params_have_short_distinct_names(repo: Path) -> None:
    faster = _run(repo, PARAMS | {"train": {"learning_rate": 0.1, "num_leaves": 31}})
    wider = _run(repo, PARAMS | {"train": {"learning_rate": 0.05, "num_leaves": 63}})
    assert faster.info.run_name == "lead · synthetic · learning_rate=0.1"
    assert wider.info.run_name == "lead · synthetic · num_leaves=63"
    commit = _git(repo, "rev-parse", "HEAD")
    for run in (faster, wider):
        assert run.data.tags["git_commit"] == commit
        assert "dvc_experiment" not in run.data.tags  # not inside `dvc exp run`


def test_committed_params_name_the_commit_and_an_experiment_its_name(
    repo: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert (
        _run(repo, PARAMS).info.run_name
        == f"lead · synthetic · {_git(repo, 'rev-parse', '--short', 'HEAD')}"
    )
    monkeypatch.setenv("DVC_EXP_NAME", "lucid-bake")
    run = _run(repo, PARAMS | {"train": {"learning_rate": 0.1, "num_leaves": 31}})
    assert run.info.run_name == "lead · synthetic · lucid-bake"
    assert run.data.tags["dvc_experiment"] == "lucid-bake"


def test_without_git_the_run_is_logged_with_no_commit_tag(
    store: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PATH", str(store / "no-git-here"))  # no git executable at all
    run = _run(store, PARAMS)
    assert run.info.run_name == "lead · synthetic"
    assert "git_commit" not in run.data.tags


def test_many_changes_fit_the_name_and_hide_paths_and_text() -> None:
    changed = {f"train.param_{i}": i for i in range(12)} | {"source.input": "data/jane/x.csv"}
    words = changes_in_words(changed)
    assert len(f"account · salesforce · {words}") < NAME_LENGTH
    assert words.endswith(" +10") and "jane" not in words
    assert changes_in_words({"source.input": "exports/a b.csv"}) == "input=…"


def _summary(gate_passed: bool) -> dict:
    row = {"won_deals": 3.0, "won_revenue": 900.0, "deals_reached": 5.0}
    rankers = {"model": row, "mql_flag": row | {"won_deals": 2.0}}
    return {
        "ranking": {"model": {"roc_auc": 0.9, "pr_auc": 0.2, "pr_auc_interval": [0.1, 0.3]}},
        "sales_capacity": rankers,
        "mql_volume": rankers,
        "calibration": {"ece": 0.01},
        "gate": {"passed": gate_passed},
    }


def test_every_headline_count_names_its_volume_in_dvc_and_mlflow(store: Path) -> None:
    figures = headline(_summary(True), KINDS["lead"])
    assert figures["won_deals_at_capacity"] == 3.0
    assert figures["won_deals_at_mql_volume"] == 3.0
    assert figures["mql_flag_won_deals_at_mql_volume"] == 2.0
    counts = [k for k in figures if "deals" in k or "revenue" in k]
    assert all(k.endswith(("_at_capacity", "_at_mql_volume")) for k in counts)
    run = _run(store, PARAMS)
    log_evaluation(run.info.run_id, figures, "report", {}, {}, root=store)
    logged = mlflow.get_run(run.info.run_id).data.metrics
    assert logged["won_deals_at_mql_volume"] == 3.0 and logged["gate_passed"] == 1.0


def test_an_export_without_marketings_volume_has_no_volume_figures() -> None:
    summary = _summary(False)
    del summary["mql_volume"]
    assert not [k for k in headline(summary, KINDS["lead"]) if k.endswith("_at_mql_volume")]
