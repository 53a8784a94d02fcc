"""Salesforce's own sample data in the real export format (`../shared/data/salesforce-sample`)
through the shipped mapping, unedited: ingest and validate pass, and what the org does
not export is named, not fatal."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import pytest
import yaml

from pipeline import ingest, validate
from tests.conftest import ROOT

SAMPLE = ROOT.parent / "shared" / "data" / "salesforce-sample"
pytestmark = pytest.mark.skipif(not SAMPLE.exists(), reason="needs ../shared/data")


def test_salesforce_sample_ingests_and_validates_with_the_shipped_mapping(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    params = yaml.safe_load((ROOT / "params.yaml").read_text())
    params["source"].update(mappings=[str(ROOT / "mappings/salesforce.yaml")], input=str(SAMPLE))
    path = tmp_path / "params.yaml"
    path.write_text(yaml.safe_dump(params))
    raw, summary = tmp_path / "raw", tmp_path / "validation.json"
    with caplog.at_level(logging.WARNING):
        ingest.main(raw, tmp_path / "truth", path)
        validate.main(raw, summary, tmp_path / "baseline.json", None, path)  # exit 0
    info = json.loads((raw / "export.json").read_text())
    assert info["rows"]["leads"] == 60 + 102 and info["rows"]["opportunities"] == 50
    assert info["absent_files"] == ["Event.csv", "OpportunityContactRole.csv"]
    assert info["missing_tables"] == ["opportunity_contacts"]  # no roles, no converted lead
    assert info["absent_columns"]["leads"] == {
        "account_id": ["Account__c"],
        "marketing_score": ["Lead_Score__c"],
        "mql_at": ["MQL_Date__c"],
    }
    assert info["other_activity_types"] == {"Sent": 68}  # every member status is "Sent"
    result = json.loads(summary.read_text())
    assert result["failed"] == 0 and result["skipped_tables"] == ["opportunity_contacts"]
    backdated = [w for w in result["warning_details"] if "back-dated" in w["says"]]
    assert backdated and backdated[0]["failed_rows"] == 15  # loaded deals, counted
    assert "Target_Account__c" in caplog.text
