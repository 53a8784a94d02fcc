"""`mqlscore train-flat`: one flat lead table in, an honest model out.

Infers each column's kind, audits every column for leakage before training, trains and
calibrates with the main pipeline's code (without the flagged columns, and with them, to
show what the leak was worth), and writes `metrics.json`, `leakage.json`, `report.md`,
`importance.csv` and the model to `--out`, and the run to MLflow.
"""

from __future__ import annotations

import json
import logging
import shutil
from pathlib import Path
from typing import Annotated

import typer

from mqlscore import flat_mode
from mqlscore import markdown as md
from mqlscore.config import FlatParams, TrainParams, load_section
from mqlscore.flat_mode import FEATURE_KINDS
from mqlscore.io import publish, staging_folder, write_json, write_text
from mqlscore.model import check_enough_conversions
from sources.flat_file import flat_frame, read_flat

log = logging.getLogger(__name__)


def main(
    input: Annotated[Path, typer.Option(help="The flat lead file (CSV or Parquet).")],
    target: Annotated[str, typer.Option(help="The outcome column (Yes/No, 1/0, ...).")],
    out: Annotated[Path, typer.Option(help="Folder for the model, metrics and report.")],
    id: Annotated[str | None, typer.Option(help="The lead id column.")] = None,
    date: Annotated[str | None, typer.Option(help="A date column: split by time.")] = None,
    exclude: Annotated[list[str] | None, typer.Option(help="Columns never used.")] = None,
    keep: Annotated[list[str] | None, typer.Option(help="Flagged columns to use anyway.")] = None,
    params: Annotated[Path, typer.Option(help="params.yaml to read.")] = Path("params.yaml"),
) -> None:
    """Train on one flat lead table, leaky columns audited and left out."""
    from mqlscore import tracking
    from mqlscore.training import importance_table

    config = load_section(params, "flat", FlatParams)
    train_cfg = load_section(params, "train", TrainParams)
    frame, kinds = flat_frame(read_flat(input), target, id, None)
    frame = frame[frame["label"].notna()].astype({"label": int})
    kinds = {c: k for c, k in kinds.items() if c not in set(exclude or ())}
    split = flat_mode.stratified_split(frame, config, date)
    check_enough_conversions(split, train_cfg.min_conversions)
    usable = {c: k for c, k in kinds.items() if k in FEATURE_KINDS}
    audit = flat_mode.leakage_audit(split.train, usable, config)
    audit["kept_anyway"] = audit["column"].isin(keep or ())
    flagged = audit.loc[audit["flagged"] & ~audit["kept_anyway"], "column"].tolist()
    features = [c for c in usable if c not in flagged]
    model = flat_mode.fit_flat(split, features, train_cfg)
    model.meta = {"flat": {"kinds": kinds, "id": id, "features": features}}
    leaky = flat_mode.fit_flat(split, list(usable), train_cfg) if flagged else None
    table = flat_mode.evaluate_flat(split, model, features, leaky)
    parts = ("train", "valid", "test")
    metrics = table["model"] | {k: v for k, v in table.items() if k != "model"}
    metrics["rows"] = {n: len(getattr(split, n)) for n in parts}
    metrics["conversions"] = {n: int(getattr(split, n)["label"].sum()) for n in parts}
    dropped = {c: k for c, k in kinds.items() if k not in FEATURE_KINDS}
    leakage = {
        "columns": audit.to_dict(orient="records"),
        "flagged": flagged,
        "not_features": dropped,
    }
    importance = importance_table(
        model, split.train.sample(min(len(split.train), 20_000), random_state=0)
    )
    report = md.flat_report(input.name, table, metrics, audit, dropped)
    with staging_folder(out, "train-flat") as work:
        tracking.save_local(model, model.example(split.train), work / "model")
        write_json(metrics, work / "metrics.json")
        write_json(leakage, work / "leakage.json")
        write_text(importance.to_csv(index=False), work / "importance.csv")
        write_text(report, work / "report.md")
        shutil.rmtree(out / "model", ignore_errors=True)
        publish(
            [
                work / n
                for n in ("model", "importance.csv", "leakage.json", "report.md", "metrics.json")
            ],
            out,
        )
    tracking.log_training_run(
        experiment=config.model_name,
        registered_model=config.model_name,
        model=model,
        example=model.example(split.train),
        params={
            "flat.target": target,
            "flat.features": len(features),
            "flat.flagged": len(flagged),
        },
        metrics={f"test_{k}": v for k, v in table["model"].items()},
        inputs={"flat_input": input},
        importance=importance,
        kind="flat",
        source=input.stem,
        texts={"leakage.json": json.dumps(leakage, indent=1), "report.md": report},
    )
    log.info(
        "train-flat: test ROC-AUC %.4f; left out %s",
        metrics["roc_auc"],
        flagged or "none",
    )
