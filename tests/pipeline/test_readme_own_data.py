"""The README's "Your own data" and "Review" commands, run as written on a fresh clone:
the Salesforce demo export through its mapping to a scored night and a write-back, then
the report and the experiments table. Its own file, so a second worker runs it beside
the quickstart (test_dvc_repro.py's project)."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from tests.pipeline.test_readme import OWN_DATA, assert_scored, run_sections

pytestmark = pytest.mark.smoke


def test_the_own_data_and_review_commands_run_as_written(tmp_path: Path) -> None:
    work, said, _ = run_sections(OWN_DATA, tmp_path)
    assert "mqlscore-salesforce-lead" in "".join(said)  # `mqlscore models list`
    assert_scored(work / "scores-salesforce")
    written = pd.read_csv(work / "scores-salesforce/crm_update_lead.csv")
    assert "Id" in written.columns and "mqlscore_Score__c" in written.columns and len(written)
    assert (work / "reports/report.html").stat().st_size > 0  # `dvc repro -f -s report`
    shown = said[-1]  # `dvc exp show`: the experiment and the columns kept
    assert "pr_auc" in shown and "won_deals_at_capacity" in shown
