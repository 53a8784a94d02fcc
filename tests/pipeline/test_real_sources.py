"""The pipeline on a real export nobody here made: Olist's public funnel, through its
mapping file, in a temp copy of the project (each stage of dvc.yaml run in process)."""

from __future__ import annotations

import json
import re
from pathlib import Path

import mlflow
import pytest

from tests.conftest import ROOT, tiny_params_dict
from tests.pipeline.test_dvc_repro import staged_project

pytestmark = pytest.mark.smoke
OLIST = ROOT.parent / "shared" / "data" / "olist-marketing-funnel"


@pytest.fixture(scope="module")
def olist(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, str]]:
    if not OLIST.exists():
        pytest.skip("needs ../shared/data")
    params = tiny_params_dict()
    params["source"].update(mappings=["mappings/olist.yaml"], input=str(OLIST))
    params["train"]["kinds"] = ["lead"]  # as mappings/olist.yaml: dvc.yaml follows params.yaml
    return staged_project(tmp_path_factory.mktemp("olist"), params)


def test_olist_trains_a_lead_model_and_says_what_it_cannot_compare(olist) -> None:
    work, env = olist
    result = json.loads((work / "reports/evaluation/lead.json").read_text())
    ranking = result["ranking"]
    trained = json.loads((work / "reports/train_lead.json").read_text())
    other = {"lightgbm", "logistic_regression"} - {trained["model_kind"]}
    assert set(ranking) == {"model", *other, "lead_source_rate"}  # no oracle, the other kind
    assert set(result) >= {"sales_capacity", "gate", "candidate"} and "mql_volume" not in result
    assert ranking["model"]["roc_auc"] > 0.55 and ranking["lead_source_rate"]["roc_auc"] > 0.5
    report = (work / "reports/evaluation/lead.md").read_text()
    assert "Not in this export, so not compared: marketing MQL flag" in report
    assert "oracle" in report.split("Not in this export")[1]
    assert not (work / "data/truth/leads.parquet").exists()  # truth: synthetic world only


def test_features_a_source_cannot_support_are_dropped_and_named(olist) -> None:
    work, _ = olist
    summary = json.loads((work / "reports/features.json").read_text())
    dropped = summary["dropped_features"]
    assert "web_visit_30d" in dropped["engagement"] and "employees" in dropped["accounts"]
    assert summary["lead_rows"] == 8000  # each MQL scored once, when it arrives
    trained = json.loads((work / "reports/train_lead.json").read_text())
    assert trained["test_start"] == "2018-03-01"


def test_the_olist_model_is_its_own_champion_and_no_account_model(olist) -> None:
    work, env = olist
    promotion = json.loads((work / "reports/promotion.json").read_text())
    assert promotion["lead"]["registered_model"] == "mqlscore-olist-lead"
    assert promotion["lead"]["promoted"]
    assert set(promotion) == {"lead"}  # train.kinds: [lead]: no account stage at all
    assert not (work / "models/account").exists()
    mlflow.set_registry_uri(env["MLFLOW_TRACKING_URI"])
    names = {m.name for m in mlflow.MlflowClient().search_registered_models()}
    assert names == {"mqlscore-olist-lead"}  # never the synthetic champion's name


def test_the_report_says_what_olist_cannot_show(olist) -> None:
    from tests.browser import chromium_page

    work, _ = olist
    with chromium_page() as (page, errors, _):
        page.goto((work / "reports/report.html").as_uri())
        missing = page.eval_on_selector_all(".missing", "els => els.map(e => e.textContent)")
        text = page.inner_text("body")
    assert errors == []
    assert any("no mql flag" in m.lower() for m in missing)  # the 2x2 and breakdowns
    assert "no marketing flag to compare with" in text  # the headline says so too
    assert "By lead source" in text  # campaign quality by the source Olist does carry
    assert "amounts not in this export, so no revenue is shown" in text  # not "worth 0"
    assert "the model beside this export's baselines" in text  # no MQL rule to be beside


def test_the_olist_report_shows_only_olists_figures(olist, tmp_path, monkeypatch) -> None:
    """Built in-process beside the synthetic world's latest night and tracking (a shared
    scores/ folder): none of their figures, no 0 for a missing amount, no empty grade."""
    from pipeline.report import main

    work, _ = olist
    night = tmp_path / "scores"
    night.mkdir()
    drift = {"psi": {"employees": 0.31}, "warn_above": 0.25, "drifting": {"employees": 0.31}}
    synthetic = {"name": "mqlscore-lead"}
    manifest = {"model": synthetic, "run_date": "2025-03-01", "scored": 26667, "drift": drift}
    (night / "manifest.json").write_text(json.dumps(manifest))
    tracking = tmp_path / "tracking.json"
    says = "In 3 of 3 scoring months grade A converted above grade B (A 31.1% vs B 4.4%)."
    month = {"month": "2025-01", "leads": 45, "converted": 14, "won": 2, "window_complete": True}
    tracked = {
        "models": [synthetic["name"]],
        "says": says,
        "by_grade": [month | {"grade": "A", "conversion_rate": 0.311}],
        "by_decile": [{"decile": 1, "2025-01": 0.311}],
    }
    tracking.write_text(json.dumps(tracked))
    monkeypatch.chdir(work)
    out = tmp_path / "report.html"
    main(
        evaluation=Path("reports/evaluation/lead.json"),
        test_scores=Path("data/evaluated/lead_test.parquet"),
        outcomes=Path("data/processed/lead_outcomes.parquet"),
        plots=Path("reports/plots/lead"),
        model_dir=Path("models/lead"),
        raw=Path("data/raw"),
        out=out,
        validation=Path("reports/validation.json"),
        join=Path("reports/join.json"),
        scores=night,
        tracking=tracking,
    )
    html = out.read_text()
    text = re.sub(r"<[^>]+>", " ", html)
    assert "26,667" not in text and "31.1%" not in text and "Did past scores" not in text
    assert "employees" not in text  # the synthetic night's drift
    assert "worth 0" not in text and "0.0M" not in html and "worth" not in text
    assert "amounts not in this export" in text
    assert "matched by account id" not in text  # Olist has no accounts table
    assert "MQL rule" not in html.split("</title>")[0]
    grades = html.split("Conversion by grade</div>")[1].split("</table>")[0]
    rows = [re.findall(r"<td>([^<]*)</td>", row) for row in grades.split("<tr>")[1:]]
    assert rows and all(row[-1] != "0" for row in rows), rows  # no grade of 0 rows
    assert "no test row scored in them" in text  # and the line saying why
