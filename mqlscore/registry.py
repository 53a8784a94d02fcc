"""The MLflow model registry: versions, the champion alias, its history and rollback."""

from __future__ import annotations

from pathlib import Path

import mlflow
import numpy as np
import pandas as pd

from mqlscore.modeling.scorer import Scorer
from mqlscore.refusal import Refusal
from mqlscore.tracking import EVALUATION, log, use_store


def model_version(uri: str) -> dict[str, str]:
    """Registered name and version behind a `models:/` URI (or the folder for a path)."""
    if not uri.startswith("models:/"):
        return {"uri": uri, "name": Path(uri).name, "version": "local"}
    use_store()
    name, _, alias = uri.removeprefix("models:/").partition("@")
    if alias:
        version = mlflow.MlflowClient().get_model_version_by_alias(name, alias).version
    else:
        name, _, version = name.partition("/")
    return {"uri": uri, "name": name, "version": str(version)}


def load_scorer(uri: str) -> Scorer:
    """The scorer of a model folder or `models:/` URI, read from its text and JSON files
    (no code from the model folder runs)."""
    folder = Path(uri)
    if uri.startswith("models:/"):
        use_store()
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


CHAMPION = "champion"


_HISTORY_TAG = "champion_history"  # versions that held the alias, oldest first


def champion_version(name: str) -> str | None:
    """The version the `champion` alias points at, or None."""
    use_store()
    try:
        return str(mlflow.MlflowClient().get_model_version_by_alias(name, CHAMPION).version)
    except mlflow.exceptions.MlflowException:
        return None


def _history(client: mlflow.MlflowClient, name: str) -> list[str]:
    tags = client.get_registered_model(name).tags
    return [v for v in tags.get(_HISTORY_TAG, "").split(",") if v]


def set_champion(name: str, version: str) -> None:
    """Point `champion` at a version, remembering the one it leaves."""
    use_store()
    client = mlflow.MlflowClient()
    client.get_model_version(name, version)  # fails clearly for an unknown version
    history = _history(client, name)
    if not history or history[-1] != str(version):
        history.append(str(version))
    client.set_registered_model_tag(name, _HISTORY_TAG, ",".join(history))
    client.set_registered_model_alias(name, CHAMPION, str(version))
    log.info("%s@%s -> version %s", name, CHAMPION, version)


def model_versions() -> list[dict[str, str]]:
    """Every registered model version: name, version, its run's state, aliases."""
    use_store()
    client = mlflow.MlflowClient()
    rows = []
    for model in client.search_registered_models():
        aliases: dict[str, list[str]] = {}
        for alias, version in (model.aliases or {}).items():
            aliases.setdefault(str(version), []).append(alias)
        for version in client.search_model_versions(f"name='{model.name}'"):
            run = client.get_run(version.run_id).info.status if version.run_id else ""
            rows.append(
                {
                    "name": model.name,
                    "version": str(version.version),
                    "run": run,
                    "aliases": ",".join(aliases.get(str(version.version), [])),
                }
            )
    return sorted(rows, key=lambda r: (r["name"], int(r["version"])))


def rollback_champion(name: str) -> str:
    """Give `champion` back to the version that held it before; return that version."""
    use_store()
    client = mlflow.MlflowClient()
    history = _history(client, name)
    if len(history) < 2:
        raise Refusal(f"{name} has no earlier champion to roll back to")
    history.pop()
    client.set_registered_model_tag(name, _HISTORY_TAG, ",".join(history))
    client.set_registered_model_alias(name, CHAMPION, history[-1])
    log.info("%s@%s rolled back to version %s", name, CHAMPION, history[-1])
    return history[-1]


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
