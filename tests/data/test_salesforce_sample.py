"""Salesforce's own sample data in the real export format (`../shared/data/salesforce-sample`)
through the shipped mapping, unedited: ingest and validate pass, and what the org does
not export is named, not fatal."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import pandas as pd
import pytest
import yaml

from mqlscore.evaluation.kinds import KINDS
from mqlscore.reporting import page
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
    checked = json.loads((tmp_path / "baseline.json").read_text())["sources"]["salesforce"]
    assert checked["campaigns"] == 8  # Campaign.csv mapped and validated
    _campaign_costs_are_blank(raw)


def _campaign_costs_are_blank(raw: Path) -> None:
    """The sample's Campaign.csv has types and dates but no costs: the report's campaign
    table keeps the types and says once that the export has no costs."""
    campaigns = pd.read_parquet(raw / "campaigns.parquet")
    assert campaigns["campaign_id"].is_unique and campaigns["started_at"].notna().all()
    assert {"Email", "event", "social media"} <= set(campaigns["type"])
    assert campaigns[["budgeted_cost", "actual_cost"]].isna().all().all()
    engagement, leads = (pd.read_parquet(raw / f"{t}.parquet") for t in ("engagement", "leads"))
    assert engagement["campaign_id"].isin(campaigns["campaign_id"]).all()
    after = engagement["occurred_at"].max() + pd.Timedelta(days=1)  # a snapshot after them
    test = leads[["lead_id"]].assign(snapshot_date=after, model=0.1, label=0)
    outcomes = pd.DataFrame(columns=["lead_id", "snapshot_date", "opportunity_id", "is_won"])
    evidence = page.Evidence(
        kind=KINDS["lead"],
        summary={},
        test=test,
        outcomes=outcomes.assign(amount=pd.Series(dtype=float)),
        curves={},
        grades={},
        label_window_days=90,
        lookback_days=90,
        buying_group_roles=5,
        engagement=engagement,
        campaigns=campaigns,
    )
    section = page.campaign_section(evidence)
    assert section.text.count(page.NO_COSTS) == 1
    caption, html = section.tables[0]
    assert "social media" in html and "return on cost" not in html
