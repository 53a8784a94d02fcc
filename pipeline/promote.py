"""Stage `promote`, the last of the run: the duel, the gate, then the crown.

Each evaluated model meets its registered champion on its own test rows (the champion is
read from the MLflow registry here, the one stage that reads and moves it, so evaluate's
outputs depend only on its deps). The champion alias moves only when every evaluated model
passed its quality gate, never in a `dvc exp run` (DVC sets DVC_EXP_NAME), and only to a
version ahead of its champion beyond the noise.
"""

from __future__ import annotations

import json
import logging
import os
from pathlib import Path
from typing import Annotated

import pandas as pd
import typer

from mqlscore.config import EvaluateParams, TrainParams, load_section
from mqlscore.evaluation.duel import duel
from mqlscore.evaluation.gate import crown
from mqlscore.io import write_json

log = logging.getLogger(__name__)


def main(
    evaluations: Annotated[
        Path, typer.Option(help="Folder of the evaluate stages' JSON, one <kind>.json each.")
    ],
    test_scores: Annotated[
        Path, typer.Option(help="Folder of the evaluated test rows, one <kind>_test.parquet each.")
    ],
    summary: Annotated[Path, typer.Option(help="What was promoted and why (DVC metrics).")],
    params: Annotated[Path, typer.Option(help="params.yaml to read.")] = Path("params.yaml"),
) -> None:
    """Duel each model of `train.kinds` with its champion, then move the champion aliases
    if every gate passed; exit 1 if one failed."""
    from mqlscore.registry import record_gate, set_champion

    config = load_section(params, "evaluate", EvaluateParams)
    kinds = load_section(params, "train", TrainParams).kinds
    results = {kind: json.loads((evaluations / f"{kind}.json").read_text()) for kind in kinds}
    duels = {}
    for kind, result in results.items():
        test = pd.read_parquet(test_scores / f"{kind}_test.parquet")
        duels[kind] = duel(kind, result["candidate"], test, config)
    plan = crown(results, duels, os.environ.get("DVC_EXP_NAME"))
    for kind, decision in plan.items():
        record_gate(
            decision["registered_model"], decision["version"], results[kind]["gate"]["passed"]
        )
        if decision["promoted"]:
            set_champion(decision["registered_model"], decision["version"])
        log.info(
            "%s: %s version %s: %s (%s)",
            kind,
            decision["registered_model"],
            decision["version"],
            "champion" if decision["promoted"] else "not promoted",
            decision["reason"],
        )
    write_json(plan, summary)
    if any(not result["gate"]["passed"] for result in results.values()):
        raise typer.Exit(1)
