"""MLflow run logging: training and evaluation runs, and local model folders.

The store is `mqlscore/store.py`'s (SQLite `mlruns.db` in the project folder unless
`MLFLOW_TRACKING_URI` says otherwise). DVC's files stay the source of truth; runs
record their hashes, the params and the git commit. Nothing personal is logged: only
feature names, figures and the model."""

from __future__ import annotations

import logging
import os
import re
import shutil
import subprocess
import tempfile
from pathlib import Path
from typing import Any

import mlflow
import pandas as pd
import yaml
from mlflow.models import infer_signature

from mqlscore.io import file_md5
from mqlscore.modeling import packaged
from mqlscore.modeling.scorer import Scorer
from mqlscore.store import EVALUATION, experiment_id, use_store

log = logging.getLogger(__name__)


PIP_REQUIREMENTS = [
    f"lightgbm=={__import__('lightgbm').__version__}",
    f"pandas=={pd.__version__}",
    f"mlflow=={mlflow.__version__}",
    f"numpy=={__import__('numpy').__version__}",
]


NAME_LENGTH = 60  # a run name a runs table shows whole


def run_name(kind: str, source: str, differs: str) -> str:
    """A short name a reviewer can tell apart: kind, source and what differs (the DVC
    experiment's name, the changed params or the commit), cut to `NAME_LENGTH`."""
    name = " · ".join(part for part in (kind, source, differs) if part)
    return name if len(name) <= NAME_LENGTH else name[: NAME_LENGTH - 1] + "…"


def flat_params(params: dict, prefix: str = "") -> dict[str, Any]:
    """Nested params as dotted keys (`train.learning_rate`)."""
    flat = {}
    for key, value in params.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict) and value:
            flat |= flat_params(value, f"{name}.")
        else:
            flat[name] = value
    return flat


def changed_params(committed: dict, current: dict) -> dict[str, Any]:
    """The dotted params whose value differs from the committed file (added ones too)."""
    before, after = flat_params(committed), flat_params(current)
    return {k: v for k, v in after.items() if k not in before or before[k] != v} | {
        k: None for k in before.keys() - after.keys()
    }


def _shown(value: Any) -> str:
    """A param's value in a run name: numbers and short words as they are, anything else
    (lists, paths, free text that might hold a name) as an ellipsis."""
    text = str(value).lower() if isinstance(value, bool) else str(value)
    return text if re.fullmatch(r"[\w.+-]{1,16}", text) else "…"


def changes_in_words(changed: dict[str, Any], budget: int = 36) -> str:
    """`learning_rate=0.05, num_leaves=63 +2`: the changed params by their last key,
    as many as fit in `budget` characters, then how many more."""
    words = [f"{key.rsplit('.', 1)[-1]}={_shown(value)}" for key, value in sorted(changed.items())]
    shown: list[str] = []
    for word in words:
        if shown and len(", ".join([*shown, word])) > budget:
            break
        shown.append(word)
    rest = len(words) - len(shown)
    return ", ".join(shown) + (f" +{rest}" if rest else "")


def _git(args: list[str], cwd: Path) -> str | None:
    """A git command's output, or None without git, outside a repository or on error."""
    try:
        done = subprocess.run(["git", *args], cwd=cwd, capture_output=True, text=True)
    except OSError:
        return None
    return done.stdout.strip() if done.returncode == 0 else None


def what_differs(params_file: Path, digest: str) -> str:
    """What tells this run apart: the DVC experiment's name during `dvc exp run`, else
    the params changed since HEAD's `params.yaml`, else the short commit, else (no git)
    the training data's hash (nothing without data)."""
    if experiment := os.environ.get("DVC_EXP_NAME"):
        return experiment
    cwd = params_file.parent
    committed = _git(["show", f"HEAD:./{params_file.name}"], cwd)
    if committed is not None and params_file.exists():
        changed = changed_params(
            yaml.safe_load(committed) or {}, yaml.safe_load(params_file.read_text()) or {}
        )
        if changed:
            return changes_in_words(changed)
    commit = _git(["rev-parse", "--short", "HEAD"], cwd)
    return commit or (f"data-{digest[:8]}" if digest else "")


def run_tags(root: Path) -> dict[str, str]:
    """The DVC experiment's name (during `dvc exp run`) and the git commit, each only when
    there is one."""
    tags = {"dvc_experiment": os.environ.get("DVC_EXP_NAME"), "git_commit": git_commit(root)}
    return {k: v for k, v in tags.items() if v}


def log_datasets(inputs: dict[str, Path], digests: dict[str, str]) -> None:
    """Each input table as an MLflow dataset (schema and row count), its digest the
    DVC hash, its source the file path."""
    import pyarrow.parquet as pq

    for name, path in inputs.items():
        if Path(path).suffix != ".parquet":  # a flat file: its md5 param says enough
            continue
        table = pq.ParquetFile(path)
        frame = next(table.iter_batches(batch_size=1000)).to_pandas()  # the schema's rows
        target = "label" if "label" in frame.columns else None
        dataset = mlflow.data.from_pandas(
            frame, source=str(path), name=name, digest=digests[name], targets=target
        )
        rows = table.metadata.num_rows
        mlflow.log_input(dataset, context="training", tags={"rows": str(rows)})


def git_commit(root: Path = Path(".")) -> str | None:
    """The full commit at HEAD, or None outside git."""
    return _git(["rev-parse", "HEAD"], root)


def _model_kwargs(scorer: Scorer, example: pd.DataFrame, folder: Path) -> dict[str, Any]:
    """What `save_model` and `log_model` need: the model code file, the scorer's files
    (text and JSON) and every requirement, so the model loads without mqlscore."""
    scorer.save(folder)
    output = pd.DataFrame({"probability": scorer.probability(example)})
    return {
        "python_model": str(Path(packaged.__file__)),
        "artifacts": {"model": str(folder)},
        "signature": infer_signature(example, output),
        "input_example": example,
        "pip_requirements": PIP_REQUIREMENTS,
    }


def save_local(scorer: Scorer, example: pd.DataFrame, path: Path) -> None:
    """Save the pyfunc model to a folder (the DVC output)."""
    with tempfile.TemporaryDirectory() as tmp:
        mlflow.pyfunc.save_model(str(path), **_model_kwargs(scorer, example, Path(tmp) / "model"))


def save_model_folder(
    model: Scorer, example: pd.DataFrame, evaluation: dict, folder: Path
) -> None:
    """The served model and the evaluation models in `folder`, staged beside it and
    moved in only when complete."""
    folder.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=".model.", dir=folder.parent)) / "model"
    save_local(model, example, staging)
    save_evaluation(evaluation, staging)
    shutil.rmtree(folder, ignore_errors=True)
    staging.rename(folder)
    shutil.rmtree(staging.parent)


def save_evaluation(models: dict[str, Scorer], folder: Path) -> None:
    """Write the evaluation models (`model`, the chosen one, and `comparison`, the other
    kind, both fitted without the test period) under `folder/evaluation/` (text, JSON)."""
    for name, scorer in models.items():
        scorer.save(Path(folder) / EVALUATION / name)


def load_evaluation(folder: Path) -> dict[str, Scorer]:
    """The evaluation models saved by `save_evaluation` (no code from the folder runs)."""
    root = Path(folder) / EVALUATION
    return {name: Scorer.load(root / name) for name in ("model", "comparison")}


def log_training_run(
    *,
    experiment: str,
    registered_model: str,
    model: Scorer,
    example: pd.DataFrame,
    params: dict[str, Any],
    metrics: dict[str, float],
    inputs: dict[str, Path],
    importance: pd.DataFrame,
    kind: str,
    source: str,
    root: Path = Path("."),
    texts: dict[str, str] | None = None,
    tags: dict[str, str] | None = None,
    evaluation: dict[str, Scorer] | None = None,
    params_file: Path | None = None,
) -> dict[str, str]:
    """Log one training run, register its model (the one to serve); the `evaluation`
    models, fitted without the test period, go beside it as run artifacts
    (`evaluation/`), so a later run's duel scores like with like. Return run id and
    model version. The run's name says what differs from the committed `params_file`
    (`root/params.yaml` unless given)."""
    use_store(root)
    exp_id = experiment_id(experiment, root)
    digests = {name: file_md5(path) for name, path in inputs.items()}
    digest = next(iter(digests.values()), "")
    title = run_name(kind, source, what_differs(params_file or root / "params.yaml", digest))
    with mlflow.start_run(experiment_id=exp_id, run_name=title) as run:
        mlflow.log_params(params)
        mlflow.log_params({f"data.{name}.md5": digest for name, digest in digests.items()})
        log_datasets(inputs, digests)
        mlflow.set_tags(run_tags(root) | (tags or {}))
        mlflow.log_metrics(metrics)
        mlflow.log_text(importance.to_csv(index=False), "feature_importance.csv")
        for name, text in (texts or {}).items():
            mlflow.log_text(text, name)
        if (root / "dvc.lock").exists():
            mlflow.log_artifact(str(root / "dvc.lock"))
        with tempfile.TemporaryDirectory() as tmp:
            if evaluation:
                save_evaluation(evaluation, Path(tmp))
                mlflow.log_artifacts(str(Path(tmp) / EVALUATION), EVALUATION)
        with tempfile.TemporaryDirectory() as tmp:
            info = mlflow.pyfunc.log_model(
                name="model",
                registered_model_name=registered_model,
                **_model_kwargs(model, example, Path(tmp) / "model"),
            )
    version = str(info.registered_model_version)
    log.info(
        "MLflow run %r registered %s version %s; in `mlflow ui`: "
        "/#/experiments/%s?workflowType=machine_learning",
        title,
        registered_model,
        version,
        exp_id,
    )
    return {"run_id": run.info.run_id, "registered_model": registered_model, "version": version}


def log_evaluation(
    run_id: str,
    metrics: dict[str, float],
    report: str,
    curves: dict[str, pd.DataFrame],
    figures: dict[str, Any],
    root: Path = Path("."),
) -> None:
    """Add evaluation figures, curves (CSV) and the report to the training run; the
    figures (matplotlib, by artifact path) are drawn by the caller, so nothing that logs
    a training run depends on how a chart looks. Flags (`gate_passed`) log as 0 or 1."""
    use_store(root)
    try:
        with mlflow.start_run(run_id=run_id):
            mlflow.log_metrics({k: float(v) for k, v in metrics.items() if v is not None})
            mlflow.log_text(report, "evaluate.md")
            for name, curve in curves.items():
                mlflow.log_text(curve.to_csv(index=False), f"plots/{name}.csv")
            for path, figure in figures.items():
                mlflow.log_figure(figure, path)
    except mlflow.exceptions.MlflowException as err:
        log.warning("could not log evaluation to MLflow run %s: %s", run_id, err)


def attach(run_id: str, path: Path, root: Path = Path(".")) -> None:
    """Attach a file (the HTML report) to a run; a missing run is a warning."""
    use_store(root)
    try:
        with mlflow.start_run(run_id=run_id):
            mlflow.log_artifact(str(path))
    except mlflow.exceptions.MlflowException as err:
        log.warning("could not attach %s to MLflow run %s: %s", path.name, run_id, err)
