"""Stage `promote`, the last of the run: gate, then crown.

The champion alias moves only when every evaluated model passed its quality gate, never
in a `dvc exp run` (DVC sets DVC_EXP_NAME), and only to a version that beat its champion.
"""

from __future__ import annotations

import json
import logging
import os
from pathlib import Path
from typing import Annotated

import typer

from mqlscore.evaluation.gate import crown
from mqlscore.io import write_json

log = logging.getLogger(__name__)


def main(
    evaluation: Annotated[
        list[Path], typer.Option(help="An evaluate stage's metrics JSON (repeat per model).")
    ],
    summary: Annotated[Path, typer.Option(help="What was promoted and why (DVC metrics).")],
) -> None:
    """Move the champion aliases after every gate has passed; exit 1 if one failed."""
    from mqlscore.registry import set_champion

    results = {path.stem: json.loads(path.read_text()) for path in evaluation}
    plan = crown(results, os.environ.get("DVC_EXP_NAME"))
    for name, decision in plan.items():
        if decision["promoted"]:
            set_champion(decision["registered_model"], decision["version"])
        log.info(
            "%s: %s version %s: %s (%s)",
            name,
            decision["registered_model"],
            decision["version"],
            "champion" if decision["promoted"] else "not promoted",
            decision["reason"],
        )
    write_json(plan, summary)
    if any(not result["gate"]["passed"] for result in results.values()):
        raise typer.Exit(1)
