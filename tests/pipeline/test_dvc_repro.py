"""Smoke run: the real DVC stages on a tiny world in a temp folder with its own MLflow store."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import mlflow
import pandas as pd
import pytest
import yaml

from tests.conftest import ROOT, tiny_params_dict

pytestmark = pytest.mark.smoke


def _run(args: list[str], cwd: Path, env: dict[str, str]) -> str:
    done = subprocess.run(args, cwd=cwd, env=env, capture_output=True, text=True)
    assert done.returncode == 0, f"{' '.join(args)} failed:\n{done.stdout}\n{done.stderr}"
    return done.stdout + done.stderr


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, str]]:
    work = tmp_path_factory.mktemp("project")
    for folder in ("mqlscore", "pipeline", "features"):
        shutil.copytree(ROOT / folder, work / folder, ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(ROOT / "dvc.yaml", work / "dvc.yaml")
    (work / "params.yaml").write_text(yaml.safe_dump(tiny_params_dict()))
    env = {
        **os.environ,
        "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}",
        "MLFLOW_TRACKING_URI": f"sqlite:///{work / 'mlflow.db'}",
        "CI": "true",
    }
    dvc = [sys.executable, "-m", "dvc"]
    _run([*dvc, "init", "--no-scm", "-q"], work, env)
    _run([*dvc, "config", "core.analytics", "false"], work, env)
    _run([*dvc, "repro"], work, env)
    return work, env


def test_repro_writes_the_side_by_side_metrics(project: tuple[Path, dict[str, str]]) -> None:
    work, _ = project
    table = json.loads((work / "reports/evaluate.json").read_text())
    calibration = table.pop("calibration")
    champion = table.pop("champion")
    assert champion["promoted"] and champion["champion_version"] is None  # first model wins
    assert set(table) == {"model", "logistic_regression", "mql_flag", "mql_points", "oracle"}
    assert 0 <= calibration["ece"] < 0.05 and set(calibration["grades"]) == {"A", "B", "C", "D"}
    volume = table["mql_flag"]["leads_selected"]
    assert volume > 0 and all(row["leads_selected"] == volume for row in table.values())
    assert table["model"]["roc_auc"] > table["mql_flag"]["roc_auc"]
    assert table["oracle"]["roc_auc"] > 0.8
    assert json.loads((work / "reports/validation.json").read_text())["failed"] == 0
    assert "| mqlscore model |" in (work / "reports/evaluate.md").read_text()


def test_registered_model_serves_probabilities(project: tuple[Path, dict[str, str]]) -> None:
    work, env = project
    run = json.loads((work / "models/lead_run.json").read_text())
    assert run["registered_model"] == "mqlscore-lead" and run["version"] == "1"
    mlflow.set_tracking_uri(env["MLFLOW_TRACKING_URI"])
    mlflow.set_registry_uri(env["MLFLOW_TRACKING_URI"])
    model = mlflow.pyfunc.load_model("models:/mqlscore-lead@champion")
    rows = pd.read_parquet(work / "data/processed/lead_snapshots.parquet").tail(200)
    inputs = model.metadata.get_input_schema().input_names()
    assert not {"lead_id", "account_id", "email"} & set(inputs)
    p = model.predict(rows[inputs])["probability"]
    assert p.between(0, 1).all() and p.nunique() > 5
    logged = mlflow.get_run(run["run_id"]).data
    assert "data.lead_snapshots.md5" in logged.params
    assert "test_model_roc_auc" in logged.metrics
    artifacts = {a.path for a in mlflow.MlflowClient().list_artifacts(run["run_id"])}
    assert {"feature_importance.csv", "feature_importance.png", "evaluate.md"} <= artifacts


def test_second_repro_is_a_no_op(project: tuple[Path, dict[str, str]]) -> None:
    work, env = project
    out = _run([sys.executable, "-m", "dvc", "repro"], work, env)
    assert "Running stage" not in out
    assert "up to date" in _run([sys.executable, "-m", "dvc", "status"], work, env)
