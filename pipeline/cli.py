"""The `mqlscore` command: one subcommand per pipeline stage."""

from __future__ import annotations

from typing import Annotated

import typer

from mqlscore.console import configure_logging
from pipeline import (
    evaluate,
    featurize,
    generate,
    ingest,
    join,
    promote,
    report,
    score,
    score_flat,
    track,
    train,
    train_flat,
    validate,
    validate_features,
)

app = typer.Typer(no_args_is_help=True, add_completion=False, pretty_exceptions_enable=False)


@app.callback()
def _setup(
    quiet: Annotated[
        bool, typer.Option("--quiet", "-q", help="Only warnings and errors.")
    ] = False,
) -> None:
    """Lead and account scoring learned from what sales converts."""
    configure_logging(quiet)


app.command("generate")(generate.main)
app.command("ingest")(ingest.main)
app.command("validate")(validate.main)
app.command("validate-features")(validate_features.main)
app.command("join")(join.main)
app.command("features")(featurize.main)
app.command("train")(train.main)
app.command("evaluate")(evaluate.main)
app.command("promote")(promote.main)
app.command("report")(report.main)
app.command("score")(score.main)
app.command("track")(track.main)
app.command("train-flat")(train_flat.main)
app.command("score-flat")(score_flat.main)

models = typer.Typer(no_args_is_help=True, help="List versions, move the champion alias by hand.")
app.add_typer(models, name="models")


@models.command("promote")
def _promote(
    version: Annotated[str, typer.Option(help="Model version to make champion.")],
    name: Annotated[str, typer.Option(help="Registered model.")] = "mqlscore-lead",
) -> None:
    """Point the champion alias at a version whose run finished and whose gate passed."""
    from mqlscore.registry import set_champion

    set_champion(name, version)


@models.command("list")
def _list() -> None:
    """Every registered model version, its run's state, its gate and its aliases."""
    from mqlscore.registry import model_versions

    rows = model_versions()
    if not rows:
        print("no registered model yet: run dvc repro")
    for row in rows:
        print(
            f"{row['name']}  version {row['version']}  run {row['run']}  "
            f"gate {row['gate']}  {row['aliases']}"
        )


@models.command("rollback")
def _rollback(
    name: Annotated[str, typer.Option(help="Registered model.")] = "mqlscore-lead",
) -> None:
    """Give the champion alias back to the version that held it before."""
    from mqlscore.registry import rollback_champion

    rollback_champion(name)


def run() -> None:
    """The `mqlscore` entry point: a refusal (bad input, bad params, too little data, an
    unknown model version, a full disk) ends in one line naming what is wrong, exit 2; a
    bug says so in one line, its traceback in a log file, exit 3."""
    import logging
    import os
    import sys

    from typer._click.exceptions import ClickException  # typer's own copy of click

    try:
        result = app(prog_name="mqlscore", standalone_mode=False)
        sys.exit(result if isinstance(result, int) else 0)
    except typer.Exit as stop:
        sys.exit(stop.exit_code)
    except ClickException as err:  # a bad argument, an unknown command or option
        if type(err).__name__ == "NoArgsIsHelpError":
            print(err.format_message(), file=sys.stderr)
            sys.exit(2)
        print(f"mqlscore: {err.format_message()} (see --help)", file=sys.stderr)
        sys.exit(err.exit_code)
    except KeyboardInterrupt:
        logging.getLogger("mqlscore").error("interrupted: nothing was published")
        sys.exit(130)
    except Exception as err:
        if os.environ.get("MQLSCORE_DEBUG"):  # the whole traceback, for a bug report
            raise
        _end(err)


def _end(err: Exception) -> None:
    """A refusal in one line, exit 2; a bug in one line naming the log file that holds its
    traceback, exit 3."""
    import logging
    import sys
    import tempfile
    import time
    import traceback
    from pathlib import Path

    from mqlscore.refusal import is_refusal, one_line

    log = logging.getLogger("mqlscore")
    if is_refusal(err):
        log.error("%s: %s", type(err).__name__, one_line(err))
        sys.exit(2)
    crash = Path(tempfile.gettempdir()) / f"mqlscore-bug-{time.strftime('%Y%m%d-%H%M%S')}.log"
    crash.write_text("".join(traceback.format_exception(err)))
    log.error(
        "a bug in mqlscore (%s), not your input; the traceback is in %s", type(err).__name__, crash
    )
    sys.exit(3)
