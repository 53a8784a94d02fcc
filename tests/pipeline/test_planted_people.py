"""People planted in a real-shaped export reach no report, model, MLflow run or log line.

A Salesforce-shaped demo export of the tiny world gains what real exports carry about
people: first and last names, phones, a street, free-text subjects and descriptions
naming a person, an email where a title should be. The whole pipeline then runs on it
through the shipped mapping (each dvc.yaml stage in process), and every file it writes
outside the data folders (reports, Data Docs, models, the MLflow store and its artifacts)
and every log line is searched for them. The data folders hold the export's own rows and
stay on the machine (git-ignored)."""

from __future__ import annotations

import contextlib
import io
import re
from pathlib import Path

import pandas as pd
import pytest

from sources.demo import write_demo_export
from sources.world import World
from tests.conftest import tiny_params_dict
from tests.pipeline.test_dvc_repro import staged_project

pytestmark = pytest.mark.smoke
NAME, EMAIL, PHONE = "Zelda Quasimodo", "zelda.quasimodo@planted-example.org", "+49 170 5550123"
SECRETS = ("Zelda", "Quasimodo", "zelda", "quasimodo", "5550123", "170 555")
PLANTED = {  # file -> column -> value (columns a real export has and our demo leaves out)
    "Lead.csv": {"FirstName": "Zelda", "LastName": "Quasimodo", "Phone": PHONE,
                 "MobilePhone": PHONE, "Street": "12 Quasimodo Lane", "Title": EMAIL},
    "Contact.csv": {"FirstName": "Zelda", "LastName": "Quasimodo", "Phone": PHONE},
    "Account.csv": {"Phone": PHONE},
    "Opportunity.csv": {"Name": f"{NAME} renewal", "Description": f"ask {EMAIL}"},
    "Task.csv": {"Subject": f"Call {NAME} on {PHONE}", "Description": f"wrote to {EMAIL}"},
    "Campaign.csv": {"Description": f"owner {NAME}, {EMAIL}"},
}  # fmt: skip


def _planted_export(world: World, folder: Path) -> Path:
    write_demo_export(world.tables(), "salesforce", folder)
    for file, columns in PLANTED.items():
        frame = pd.read_csv(folder / file, dtype=str, keep_default_na=False)
        for column, value in columns.items():
            frame[column] = [value if i % 3 == 0 else "" for i in range(len(frame))]
        frame.to_csv(folder / file, index=False)
    return folder


@pytest.fixture(scope="module")
def planted(tmp_path_factory: pytest.TempPathFactory, tiny_world: World):
    export = _planted_export(tiny_world, tmp_path_factory.mktemp("export"))
    params = tiny_params_dict()
    params["source"].update(mappings=["mappings/salesforce.yaml"], input=str(export))
    said = io.StringIO()  # every log line and print of the stages (the CLI's console)
    with contextlib.redirect_stdout(said), contextlib.redirect_stderr(said):
        work, _ = staged_project(tmp_path_factory.mktemp("project"), params)
    return work, said.getvalue()


def test_no_planted_person_is_in_any_report_model_run_or_log_line(planted) -> None:
    work, said = planted
    titles = pd.read_parquet(work / "data/raw/leads.parquet")["title"]
    assert titles.eq(EMAIL).any()  # the plant went in: the pipeline read it
    written = [
        p
        for p in work.rglob("*")
        if p.is_file() and p.parts[len(work.parts)] not in ("data", ".dvc")
    ]
    assert any(p.name == "report.html" for p in written)
    assert any(p.name == "mlflow.db" for p in written) and "validate data/raw" in said
    found = {}
    for path in written:
        text = path.read_bytes().decode("utf-8", errors="ignore")
        hits = [s for s in SECRETS if s in text]
        if hits or re.search(r"[\w.+-]+@planted-example\.org", text):
            found[str(path.relative_to(work))] = hits or ["an address"]
    assert not found
    assert not [s for s in SECRETS if s in said] and "planted-example.org" not in said
