"""The champion alias: moves only for a better challenger; rollback restores the last one."""

from __future__ import annotations

from pathlib import Path

import mlflow
import numpy as np
import pandas as pd
import pytest

from mqlscore import tracking
from pipeline.evaluate import challenge, should_promote

NAME = "mqlscore-test"


class Constant(mlflow.pyfunc.PythonModel):
    def __init__(self, value: float):
        self.value = value

    def predict(self, context, model_input: pd.DataFrame, params=None) -> pd.DataFrame:  # noqa: ANN001
        return pd.DataFrame({"probability": self.value + 0 * model_input["x"]})


@pytest.fixture()
def registry(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> list[str]:
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{tmp_path / 'mlflow.db'}")
    monkeypatch.chdir(tmp_path)
    tracking.use_store()
    versions = []
    for value in (0.1, 0.2, 0.3):
        with mlflow.start_run():
            info = mlflow.pyfunc.log_model(
                name="model",
                python_model=Constant(value),
                registered_model_name=NAME,
                pip_requirements=["pandas"],
            )
        versions.append(str(info.registered_model_version))
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
    version, probabilities = tracking.champion_probabilities(NAME, pd.DataFrame({"x": [1, 2]}))
    assert version == v1 and probabilities.tolist() == [0.1, 0.1]
    assert v2 != tracking.champion_version(NAME)
