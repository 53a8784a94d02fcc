"""The done-when of as-of fields: a Salesforce org whose leads get an account only when
converted. Read through a mapping that takes ConvertedAccountId as the lead's account,
the run stops at validate_features naming the leaking feature; through the shipped
mapping (which never reads it) the model table passes and a lead model trains. Stages
run in process."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest
import typer
import yaml
from sklearn.metrics import roc_auc_score

from mqlscore.config import FeatureParams, TrainParams, load_section
from mqlscore.modeling.training import train_model
from pipeline import featurize, ingest, join, validate_features
from sources.demo import write_demo_export
from sources.world import World
from tests.conftest import ROOT, tiny_params_dict

SHIPPED = ROOT / "mappings/salesforce.yaml"


def _converted_account_mapping(folder: Path) -> Path:
    """The shipped mapping with the edit an org without Account__c might make: the
    lead's account from ConvertedAccountId, still said to be known at creation."""
    spec = yaml.safe_load(SHIPPED.read_text())
    spec["tables"]["leads"][0]["columns"]["account_id"] = "ConvertedAccountId"
    path = folder / "salesforce_converted_account.yaml"
    path.write_text(yaml.safe_dump(spec, sort_keys=False))
    return path


def _through_validate_features(export: Path, mapping: Path, work: Path) -> tuple[int, dict]:
    """ingest -> join -> features -> validate_features in `work`: exit code and summary."""
    params = tiny_params_dict()
    params["source"].update(mappings=[str(mapping)], input=str(export))
    params_file = work / "params.yaml"
    params_file.write_text(yaml.safe_dump(params))
    raw, matches = work / "raw", work / "lead_accounts.parquet"
    ingest.main(raw, work / "truth", params_file)
    join.main(raw, matches, work / "join.json", params=params_file)
    tables = [work / f"{n}.parquet" for n in ("leads", "accounts", "lo", "ao")]
    featurize.main(raw, matches, *tables, work / "features.json", params_file)
    summary = work / "feature_validation.json"
    try:
        validate_features.main(tables[0], tables[1], summary, None, params_file)
        code = 0
    except typer.Exit as stop:
        code = stop.exit_code
    return code, json.loads(summary.read_text())


@pytest.fixture(scope="module")
def export(tiny_world: World, tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("salesforce-converted")
    write_demo_export(tiny_world.raw_tables(), "salesforce-converted", folder)
    lead = pd.read_csv(folder / "Lead.csv", dtype=str)
    assert "Account__c" not in lead.columns  # no account before conversion
    return folder


def test_converted_accounts_read_as_known_stop_at_validate_features(
    export: Path, tmp_path: Path
) -> None:
    code, summary = _through_validate_features(
        export, _converted_account_mapping(tmp_path), tmp_path
    )
    leaks = [f for f in summary["failures"] if f.get("check") == "leakage"]
    assert code == 1
    assert [(f["table"], f["column"]) for f in leaks] == [("lead_snapshots", "match_rule")]
    assert "ConvertedAccountId" in leaks[0]["message"]


def test_the_shipped_mapping_passes_on_the_same_export(export: Path, tmp_path: Path) -> None:
    code, summary = _through_validate_features(export, SHIPPED, tmp_path)
    assert code == 0 and summary["failed"] == 0
    assert summary["leakage"]["lead"]["leaks"] == []
    rules = json.loads((tmp_path / "join.json").read_text())["match_rate"]
    assert rules["account_id"] == 0.0 and rules["email_domain"] > 0.5  # matched as created
    frame = pd.read_parquet(tmp_path / "leads.parquet")
    frame = frame[frame["label_complete"] == 1]
    params = tmp_path / "params.yaml"
    window = load_section(params, "features", FeatureParams).label_window_days
    model = train_model(frame, load_section(params, "train", TrainParams), window).model
    assert roc_auc_score(frame["label"], model.probability(frame)) > 0.7  # it learns
