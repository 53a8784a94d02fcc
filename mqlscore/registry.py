"""The MLflow model registry: versions, the champion alias, its history and rollback."""

from __future__ import annotations

import logging
from pathlib import Path

import mlflow

from mqlscore.refusal import Refusal
from mqlscore.store import use_store

log = logging.getLogger(__name__)


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
