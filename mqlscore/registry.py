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
    """The versions that held the alias, reconciled with where it points now (a kill
    between moving the alias and writing the history leaves them apart)."""
    tags = client.get_registered_model(name).tags
    history = [v for v in tags.get(_HISTORY_TAG, "").split(",") if v]
    now = champion_version(name)
    if now is None:
        return history
    if now in history:
        return history[: len(history) - history[::-1].index(now)]
    return [*history, now]


GATE_TAG = "gate"  # on a model version: "passed" or "failed", set by the promote stage


def record_gate(name: str, version: str, passed: bool) -> None:
    """Write a version's quality-gate outcome on it (what makes it promotable)."""
    use_store()
    mlflow.MlflowClient().set_model_version_tag(
        name, str(version), GATE_TAG, "passed" if passed else "failed"
    )


def _check_promotable(client: mlflow.MlflowClient, name: str, version: str) -> None:
    """A version may hold the alias only once its run finished and its gate passed."""
    try:
        found = client.get_model_version(name, version)
    except mlflow.exceptions.MlflowException as err:
        raise Refusal(f"{name} has no version {version} (mqlscore models list)") from err
    run = client.get_run(found.run_id).info.status if found.run_id else "unknown"
    if run != "FINISHED":
        raise Refusal(
            f"{name} version {version} cannot be champion: its training run is {run} "
            "(stopped before it finished?); train again"
        )
    gate = (found.tags or {}).get(GATE_TAG, "not run")
    if gate != "passed":
        raise Refusal(
            f"{name} version {version} cannot be champion: its quality gate {gate} "
            "(reports/promotion.json says why)"
        )


def set_champion(name: str, version: str) -> None:
    """Point `champion` at a promotable version, remembering the one it leaves (the alias
    moves first, then the history: a kill between them is reconciled on the next move)."""
    use_store()
    client = mlflow.MlflowClient()
    version = str(version)
    _check_promotable(client, name, version)
    history = _history(client, name)
    if not history or history[-1] != version:
        history.append(version)
    client.set_registered_model_alias(name, CHAMPION, version)
    client.set_registered_model_tag(name, _HISTORY_TAG, ",".join(history))
    log.info("%s@%s -> version %s", name, CHAMPION, version)


def model_versions() -> list[dict[str, str]]:
    """Every registered model version: name, version, its run's state, its gate, aliases."""
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
                    "gate": (version.tags or {}).get(GATE_TAG, "not run"),
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
    client.set_registered_model_alias(name, CHAMPION, history[-1])
    client.set_registered_model_tag(name, _HISTORY_TAG, ",".join(history))
    log.info("%s@%s rolled back to version %s", name, CHAMPION, history[-1])
    return history[-1]
