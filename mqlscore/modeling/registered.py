"""A registered model as a scorer: read from its text and JSON files (no code from the
model folder runs), and the champion's probabilities for the duel."""

from __future__ import annotations

import logging
from pathlib import Path

import mlflow
import numpy as np
import pandas as pd

from mqlscore.modeling.scorer import Scorer
from mqlscore.refusal import Refusal
from mqlscore.registry import champion_version
from mqlscore.store import EVALUATION, has_store, use_store

log = logging.getLogger(__name__)


def _open_store(uri: str, root: Path) -> None:
    """Use the store of `root` for a `models:/` URI, or refuse when there is none yet."""
    if not has_store(root):
        raise Refusal(
            f"no model {uri.removeprefix('models:/')} in the MLflow store yet: "
            f"{root.resolve()} has no mlruns.db (run dvc repro there, name a model "
            "folder, or set MLFLOW_TRACKING_URI)"
        )
    use_store(root)


def pinned(uri: str, root: Path = Path(".")) -> str:
    """`models:/name@alias` as `models:/name/<version>`, resolved once: a promote during
    a run moves the alias, not what this run scores and records (others unchanged)."""
    name, at, alias = uri.removeprefix("models:/").partition("@")
    if not uri.startswith("models:/") or not at:
        return uri
    _open_store(uri, root)
    try:
        version = mlflow.MlflowClient().get_model_version_by_alias(name, alias).version
    except mlflow.exceptions.MlflowException as err:
        raise Refusal(
            f"no model {name}@{alias} in the MLflow store yet: run dvc repro "
            "(or mqlscore models list to see what there is)"
        ) from err
    return f"models:/{name}/{version}"


def load_scorer(uri: str, root: Path = Path(".")) -> Scorer:
    """The scorer of a model folder or `models:/` URI (from the MLflow store of the
    project folder `root`), read from its text and JSON files (no code from the model
    folder runs)."""
    folder = Path(uri)
    if uri.startswith("models:/"):
        _open_store(uri, root)
        try:
            folder = Path(mlflow.artifacts.download_artifacts(artifact_uri=uri))
        except mlflow.exceptions.MlflowException as err:
            if err.error_code != "RESOURCE_DOES_NOT_EXIST":
                raise
            raise Refusal(
                f"no model {uri.removeprefix('models:/')} in the MLflow store yet: run dvc "
                "repro (or mqlscore models list to see what there is)"
            ) from err
    elif not (folder / "artifacts" / "model").is_dir():
        raise Refusal(f"{uri}: not a model folder (no artifacts/model in it)")
    return Scorer.load(folder / "artifacts" / "model")


def duel_scorer(name: str, version: str) -> Scorer:
    """What a version brings to a duel: its evaluation model (fitted without its test
    period) when its run logged one, else the registered model (versions before the
    refit, which were fitted without the test period themselves)."""
    client = mlflow.MlflowClient()
    run_id = client.get_model_version(name, version).run_id
    if not client.list_artifacts(run_id, EVALUATION):
        return load_scorer(f"models:/{name}/{version}")
    path = f"{EVALUATION}/model"
    return Scorer.load(
        Path(mlflow.artifacts.download_artifacts(run_id=run_id, artifact_path=path))
    )


def champion_probabilities(name: str, frame: pd.DataFrame) -> tuple[str | None, np.ndarray | None]:
    """The champion's version and its probabilities for `frame` (None if it cannot score
    it), from its evaluation model: a served refit has seen the test rows."""
    version = champion_version(name)
    if version is None:
        return None, None
    try:
        scorer = duel_scorer(name, version)
    except Exception as err:  # an old model format cannot defend its title
        log.warning(
            "champion v%s of %s cannot be loaded (%s); the challenger takes over",
            version,
            name,
            err,
        )
        return version, None
    missing = [c for c in scorer.features if c not in frame.columns]
    if missing:
        log.warning("champion v%s cannot score these features (lacks %s)", version, missing[:3])
        return version, None
    return version, scorer.probability(frame)
