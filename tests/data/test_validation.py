"""Great Expectations gates: the clean world passes; every planted fault is named."""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from pathlib import Path

import pandas as pd
import pytest
import typer
import yaml

from mqlscore.config import ValidateParams
from mqlscore.io import EXPORT_FILE, write_json, write_parquet
from mqlscore.validation.expectations import model_table_suite, run_suites
from mqlscore.validation.leakage import audit_features
from pipeline import validate, validate_features
from sources.world import World
from tests.conftest import project_params, tiny_params_dict

Tables = dict[str, pd.DataFrame]


def _write(tables: Tables, world: World, folder: Path) -> Path:
    for name, frame in tables.items():
        write_parquet(frame, folder / f"{name}.parquet")
    write_json({"exported_at": world.exported_at.isoformat()}, folder / EXPORT_FILE)
    return folder


def _validate(
    tmp_path: Path, tiny_params_file: Path, raw: Path, docs: Path | None = None
) -> tuple[int, dict]:
    summary = tmp_path / "validation.json"
    try:
        validate.main(raw, summary, tmp_path / "baseline.json", docs, tiny_params_file)
        code = 0
    except typer.Exit as stop:
        code = stop.exit_code
    return code, json.loads(summary.read_text())


@pytest.fixture()
def run_with_fault(
    tiny_world: World, tiny_params_file: Path, tmp_path: Path
) -> Callable[[Callable[[Tables], None]], tuple[int, dict]]:
    def run(fault: Callable[[Tables], None]) -> tuple[int, dict]:
        tables = {k: v.copy() for k, v in tiny_world.raw_tables().items()}
        fault(tables)
        raw = _write(tables, tiny_world, tmp_path / "raw")
        return _validate(tmp_path, tiny_params_file, raw)

    return run


def _only_failure(summary: dict) -> dict:
    assert summary["failed"] == 1, [f["message"] for f in summary["failures"]]
    return summary["failures"][0]


def test_clean_world_passes_and_writes_data_docs(
    tiny_world: World, tiny_params_file: Path, tmp_path: Path
) -> None:
    raw = _write(tiny_world.raw_tables(), tiny_world, tmp_path / "raw")
    code, summary = _validate(tmp_path, tiny_params_file, raw, tmp_path / "docs")
    assert code == 0
    assert summary["failed"] == 0 and summary["warnings"] == 0 and summary["checks"] > 60
    index = (tmp_path / "docs" / "index.html").read_text()
    assert "<html" in index.lower() and "leads" in index
    rows = json.loads((tmp_path / "baseline.json").read_text())["sources"]["synthetic"]
    assert rows["engagement"] == len(tiny_world.engagement)
    pages = "\n".join(p.read_text(errors="ignore") for p in (tmp_path / "docs").rglob("*.html"))
    local_parts = {e.split("@")[0] for e in tiny_world.leads["email"].dropna()}
    assert not [p for p in local_parts if len(p) > 5 and p in pages]  # no address leaks


def _duplicate_lead(t: Tables) -> None:
    t["leads"] = pd.concat([t["leads"], t["leads"].iloc[[3]]], ignore_index=True)


def _orphan_events(t: Tables) -> None:
    t["engagement"].loc[t["engagement"].index[:7], "lead_id"] = "L9999999"


def _future_event(t: Tables) -> None:
    t["engagement"].loc[t["engagement"].index[5], "occurred_at"] = pd.Timestamp("2031-01-01")


def _negative_amount(t: Tables) -> None:
    t["opportunities"].loc[t["opportunities"].index[0], "amount"] = -5000.0


def _infinite_amount(t: Tables) -> None:
    t["opportunities"].loc[t["opportunities"].index[2], "amount"] = float("inf")


def _unknown_activity(t: Tables) -> None:
    t["engagement"].loc[t["engagement"].index[1:3], "activity_type"] = "booth_hug"


def _zero_employees(t: Tables) -> None:
    t["accounts"].loc[t["accounts"].index[4], "employees"] = 0


def _open_deal_marked_won(t: Tables) -> None:
    opportunities = t["opportunities"]
    open_deal = opportunities.index[opportunities["closed_at"].isna()][0]
    opportunities.loc[open_deal, "is_won"] = True


def _blank_emails(t: Tables) -> None:
    t["leads"]["email"] = None


def _touch_on_nobody(t: Tables) -> None:
    t["sales_activities"].loc[t["sales_activities"].index[:3], "lead_id"] = None


def _touch_on_unknown_account(t: Tables) -> None:
    t["sales_activities"].loc[t["sales_activities"].index[:2], "account_id"] = "A-nowhere"


def _touches_on_accounts_only(t: Tables) -> None:
    sales, first = t["sales_activities"], t["accounts"]["account_id"].iloc[0]
    sales.loc[sales.index[:4], ["lead_id", "account_id"]] = [None, first]


@pytest.mark.parametrize(
    ("fault", "table", "column", "rows"),
    [
        (_duplicate_lead, "leads", "lead_id", 2),
        (_orphan_events, "engagement", "lead_id", 7),
        (_future_event, "engagement", "occurred_at", 1),
        (_negative_amount, "opportunities", "amount", 1),
        (_unknown_activity, "engagement", "activity_type", 2),
        (_zero_employees, "accounts", "employees", 1),
        (_open_deal_marked_won, "opportunities", "is_won", 1),
        (_touch_on_nobody, "sales_activities", "lead_id", 3),
        (_touch_on_unknown_account, "sales_activities", "account_id", 2),
        (_infinite_amount, "opportunities", "amount", 1),
    ],
)
def test_row_fault_is_named_with_table_column_and_count(
    run_with_fault, fault, table: str, column: str, rows: int, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.ERROR):
        code, summary = run_with_fault(fault)
    assert code == 1
    failure = _only_failure(summary)
    assert (failure["table"], failure["column"], failure["failed_rows"]) == (table, column, rows)
    assert f"{table}.{column}: expected" in caplog.text and f"{rows} row(s) fail" in caplog.text
    assert failure["examples"], "example ids are shown"


def test_other_picklist_values_pass_and_their_count_is_kept(
    tiny_world: World, tiny_params_file: Path, tmp_path: Path
) -> None:
    tables = {k: v.copy() for k, v in tiny_world.raw_tables().items()}
    tables["engagement"].loc[tables["engagement"].index[:40], "activity_type"] = "other"
    tables["sales_activities"].loc[tables["sales_activities"].index[:9], "type"] = "other"
    raw = _write(tables, tiny_world, tmp_path / "raw")
    exported = tiny_world.exported_at.isoformat()
    write_json({"exported_at": exported, "other_activity_types": {"Sent": 40}}, raw / EXPORT_FILE)
    code, summary = _validate(tmp_path, tiny_params_file, raw)
    assert code == 0 and summary["failed"] == 0, [f["message"] for f in summary["failures"]]
    assert summary["other_activity_types"] == {"Sent": 40}


def test_an_unmapped_activity_type_fails_naming_the_value(
    run_with_fault, caplog: pytest.LogCaptureFixture
) -> None:
    def typo(t: Tables) -> None:
        t["engagement"].loc[t["engagement"].index[:3], "activity_type"] = "pricing_page_vist"
        t["engagement"].loc[t["engagement"].index[3], "activity_type"] = "other"

    with caplog.at_level(logging.ERROR):
        code, summary = run_with_fault(typo)
    failure = _only_failure(summary)
    assert code == 1 and (failure["table"], failure["column"]) == ("engagement", "activity_type")
    assert failure["failed_rows"] == 3 and failure["values"] == ["pricing_page_vist"]
    assert "3 row(s) fail" in caplog.text and "found pricing_page_vist" in caplog.text


def test_touches_on_an_account_without_a_person_pass(run_with_fault) -> None:
    code, summary = run_with_fault(_touches_on_accounts_only)
    assert code == 0 and summary["failed"] == 0 and summary["warnings"] == 0


def test_a_touch_on_nobody_says_both_ids_are_blank(run_with_fault) -> None:
    _, summary = run_with_fault(_touch_on_nobody)
    assert "a lead_id or an account_id on every row" in _only_failure(summary)["message"]


def test_rows_dropped_by_the_mapping_are_in_the_summary_and_the_log(
    tiny_world: World, tiny_params_file: Path, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    raw = _write(tiny_world.raw_tables(), tiny_world, tmp_path / "raw")
    dropped = {"sales_activities": {"no lead or account": 4}}
    info = {"exported_at": tiny_world.exported_at.isoformat(), "dropped_rows": dropped}
    write_json(info, raw / EXPORT_FILE)
    with caplog.at_level(logging.WARNING):
        code, summary = _validate(tmp_path, tiny_params_file, raw)
    assert code == 0 and summary["dropped_rows"] == dropped
    assert "4 sales_activities row(s) dropped before validation: no lead or account" in caplog.text


def test_duplicate_ids_are_shown_as_examples(run_with_fault) -> None:
    _, summary = run_with_fault(_duplicate_lead)
    assert _only_failure(summary)["examples"] == ["L0000004", "L0000004"]


def test_all_blank_emails_fail(run_with_fault, tiny_world: World) -> None:
    code, summary = run_with_fault(_blank_emails)
    failure = _only_failure(summary)
    assert code == 1 and (failure["table"], failure["column"]) == ("leads", "email")
    assert failure["failed_rows"] == len(tiny_world.leads)


def test_dropped_column_is_fatal(run_with_fault) -> None:
    code, summary = run_with_fault(lambda t: t["leads"].drop(columns=["title"], inplace=True))
    failure = _only_failure(summary)
    assert summary["warnings"] == 0
    assert code == 1 and failure["table"] == "leads"
    assert "missing column(s) title" in failure["message"]


@pytest.mark.parametrize(("table", "column"), [("engagement", "lead_id"), ("leads", "created_at")])
def test_a_column_the_timing_check_needs_missing_is_a_failure_not_a_crash(
    run_with_fault, table: str, column: str
) -> None:
    code, summary = run_with_fault(lambda t: t[table].drop(columns=[column], inplace=True))
    assert code == 1  # was a KeyError building the touch-vs-lead timing table, exit 3
    assert any(f"missing column(s) {column}" in f["message"] for f in summary["failures"])


def test_renamed_column_is_fatal_and_the_new_name_is_reported(run_with_fault) -> None:
    code, summary = run_with_fault(
        lambda t: t["opportunities"].rename(columns={"amount": "amount_eur"}, inplace=True)
    )
    failure = _only_failure(summary)
    assert code == 1 and "missing column(s) amount" in failure["message"]
    (warning,) = summary["warning_details"]
    assert "extra column(s) amount_eur" in warning["message"]
    assert "missing" not in warning["message"]


def test_half_export_fails_the_volume_band(
    tiny_world: World, tiny_params_file: Path, tmp_path: Path
) -> None:
    full = _write(tiny_world.raw_tables(), tiny_world, tmp_path / "full")
    assert _validate(tmp_path, tiny_params_file, full)[0] == 0  # accepted: sets the baseline
    tables = dict(tiny_world.raw_tables())
    events = tables["engagement"]
    tables["engagement"] = events[events["occurred_at"] < events["occurred_at"].median()]
    code, summary = _validate(
        tmp_path, tiny_params_file, _write(tables, tiny_world, tmp_path / "half")
    )
    failures = {(f["table"], f["says"].split(" ")[0]) for f in summary["failures"]}
    assert code == 1 and ("engagement", "a") in failures
    assert any("last accepted run" in f["message"] for f in summary["failures"])
    assert any("fresh export" in f["message"] for f in summary["failures"])  # newest too old


def test_malformed_emails_below_the_share_are_row_level_rejects(tiny_world: World) -> None:
    from mqlscore.validation.expectations import raw_suites, with_found_keys

    tables = {k: v.copy() for k, v in tiny_world.raw_tables().items()}
    tables["leads"].loc[tables["leads"].index[[2, 9]], "email"] = "not-an-email"
    suites = raw_suites(tables, project_params("validate", ValidateParams), tiny_world.exported_at)
    leads = with_found_keys(tables)["leads"]
    checks, rows = run_suites({"leads": leads}, {"leads": suites["leads"]})
    assert all(c.passed for c in checks)  # 2 bad rows are within the allowed share
    assert rows["leads"]["row"].tolist() == [2, 9]
    assert rows["leads"]["reason"].str.contains("well-formed emails").all()


def test_model_table_catches_future_features_and_empty_columns() -> None:
    t = pd.Timestamp("2025-01-01")
    frame = pd.DataFrame(
        {
            "lead_id": ["a", "b", "c", "d"],
            "snapshot_date": [t] * 4,
            "last_event_at": [t - pd.Timedelta(days=1), t, None, None],
            "last_sales_touch_at": [None] * 4,
            "label": [0, 1, 0, 0],
            "label_complete": [1, 1, 1, 1],
            "web_visit_30d": [1.0, 2.0, 0.0, 1.0],
            "employees": [None, None, None, 10.0],
        }
    )
    suite = model_table_suite(
        project_params("validate", ValidateParams),
        ["web_visit_30d", "employees"],
        audit=("last_event_at", "last_sales_touch_at"),
    )
    checks, _ = run_suites({"snap": frame}, {"snap": suite})
    failed = {(c.column, c.failed_rows) for c in checks if not c.passed}
    assert ("snapshot_date,last_event_at", 1) in failed  # the event on the snapshot date
    assert ("employees", 3) in failed  # 75% missing > 50% allowed
    assert any(c.column == "label" and not c.passed for c in checks)  # 25% > 20% band


def test_account_table_checks_one_row_per_account_and_snapshot() -> None:
    t = pd.Timestamp("2025-01-01")
    frame = pd.DataFrame(
        {
            "account_id": ["A1", "A1", "A2"],
            "snapshot_date": [t, t, t],
            "label": [0, 0, 0],
            "label_complete": [1, 1, 1],
            "employees": [10.0, 10.0, 20.0],
        }
    )
    suite = model_table_suite(
        project_params("validate", ValidateParams), ["employees"], key="account_id"
    )
    checks, _ = run_suites({"accounts": frame}, {"accounts": suite})
    failed = {c.column for c in checks if not c.passed}
    assert failed == {"account_id,snapshot_date", "label"}  # a repeated row; no conversion


def _model_tables(folder: Path) -> tuple[Path, Path]:
    """A lead table that passes and an account table that never converts (rate 0)."""
    t = pd.Timestamp("2025-01-01")
    leads = pd.DataFrame(
        {
            "lead_id": [f"L{i}" for i in range(10)],
            "account_id": ["A1"] * 10,
            "snapshot_date": [t] * 10,
            "label": [1] + [0] * 9,
            "label_complete": [1] * 10,
            "web_visit_30d": [1.0] * 10,
        }
    )
    accounts = pd.DataFrame(
        {
            "account_id": ["A1", "A2", "A3"],
            "snapshot_date": [t] * 3,
            "label": [0, 0, 0],
            "label_complete": [1, 1, 1],
            "employees": [10.0, 20.0, 30.0],
        }
    )
    paths = folder / "lead_snapshots.parquet", folder / "account_snapshots.parquet"
    write_parquet(leads, paths[0])
    write_parquet(accounts, paths[1])
    return paths


@pytest.mark.parametrize(("kinds", "code"), [(["lead"], 0), (["lead", "account"], 1)])
def test_model_tables_are_checked_only_for_the_kinds_trained(
    tmp_path: Path, kinds: list[str], code: int
) -> None:
    params = tiny_params_dict()
    params["train"]["kinds"] = kinds
    params_file = tmp_path / "params.yaml"
    params_file.write_text(yaml.safe_dump(params))
    leads, accounts = _model_tables(tmp_path)
    summary = tmp_path / "feature_validation.json"
    try:
        validate_features.main(leads, accounts, summary, None, params_file)
        exit_code = 0
    except typer.Exit as stop:
        exit_code = stop.exit_code
    result = json.loads(summary.read_text())
    assert exit_code == code and result["kinds"] == kinds
    failed = {(f["table"], f["column"]) for f in result["failures"]}
    assert failed == ({("account_snapshots", "label")} if code else set())


def _won_deal_without_amount(t: Tables) -> None:
    won = t["opportunities"].index[t["opportunities"]["is_won"].fillna(False).astype(bool)]
    t["opportunities"].loc[won[:2], "amount"] = float("nan")


def _touch_before_its_lead(t: Tables) -> None:
    first = t["engagement"].index[0]
    lead = t["engagement"].loc[first, "lead_id"]
    created = t["leads"].loc[t["leads"]["lead_id"] == lead, "created_at"].iloc[0]
    t["engagement"].loc[first, "occurred_at"] = created - pd.Timedelta(days=30)


def _undated(table: str) -> Callable[[Tables], None]:
    def fault(t: Tables) -> None:
        t[table].loc[t[table].index[:2], "created_at"] = pd.NaT

    return fault


def _deal_contacts_twice(t: Tables) -> None:
    t["opportunity_contacts"] = pd.concat([t["opportunity_contacts"]] * 2, ignore_index=True)


def _lead_on_nothing(t: Tables) -> None:
    leads = t["leads"]
    leads.loc[leads.index[leads["account_id"].isna()][:3], "email"] = None


@pytest.mark.parametrize(
    ("fault", "table", "column"),
    [
        (_won_deal_without_amount, "opportunities", "amount"),
        (_touch_before_its_lead, "engagement_timing", "occurred_at,lead_created_at"),
        (_undated("leads"), "leads", "created_at"),
        (_undated("opportunities"), "opportunities", "created_at"),
        (_deal_contacts_twice, "opportunity_contacts", "opportunity_id,lead_id,role"),
        (_lead_on_nothing, "leads", "email"),
    ],
)
def test_what_hurts_the_model_quietly_is_a_warning(
    run_with_fault, fault, table: str, column: str
) -> None:
    code, summary = run_with_fault(fault)
    assert code == 0 and summary["failed"] == 0
    (warning,) = summary["warning_details"]
    assert (warning["table"], warning["column"]) == (table, column)


def test_a_deal_on_no_account_is_a_warning_not_a_failure(run_with_fault) -> None:
    def private_deal(t: Tables) -> None:
        t["opportunities"].loc[t["opportunities"].index[:2], "account_id"] = None

    code, summary = run_with_fault(private_deal)
    assert code == 0 and summary["failed"] == 0
    warned = [w for w in summary["warning_details"] if w["says"].startswith("every deal on")]
    assert warned and warned[0]["failed_rows"] == 2


def _audit_frame(n: int = 3000) -> pd.DataFrame:
    """A model table, 2% converting: `honest` ranks them well, not perfectly; `status`
    is 'converted' on every converted row and as many others; `flag` is 1 on 40 rows,
    all converted."""
    row = pd.Series(range(n))
    label = (row % 50 == 0).astype(int)
    return pd.DataFrame(
        {
            "label": label,
            "label_complete": 1,
            "honest": label * 2.0 + (row % 7) / 2.0,
            "status": (row % 50 <= 1).map({True: "converted", False: "open"}),
            "flag": ((label == 1) & (row < 2000)).astype(float),
        }
    )


def test_the_leak_audit_names_too_good_and_one_sided_features() -> None:
    frame = _audit_frame()
    audit, leaks = audit_features(frame, ["honest", "status", "flag"], 0.95, 5.0)
    by_column = {leak.column: leak for leak in leaks}
    assert set(by_column) == {"status", "flag"}  # honest: AUC below 0.95, no telling value
    assert 0.85 < audit.set_index("column").loc["honest", "auc"] < 0.95
    assert "converts 100.0% of 40 rows" in by_column["flag"].why
    assert "likely cause" in by_column["status"].message("lead_snapshots")
    _, kept = audit_features(frame, ["status"], 0.95, 5.0, keep=("status",))
    assert [leak.kept for leak in kept] == [True]
    _, none = audit_features(frame, ["honest"], 0.80, 5.0)
    assert [leak.column for leak in none] == ["honest"]  # a lower bar catches it


def test_a_lead_account_filled_at_conversion_stops_validate_features(
    tiny_world: World, tmp_path: Path
) -> None:
    """Salesforce's ConvertedAccountId read as the lead's account: `match_rule` names the
    converted leads; the audit stops the run naming it, unless params keep it."""
    from features.matching import match_leads
    from pipeline import featurize

    tables = {k: v.copy() for k, v in tiny_world.raw_tables().items()}
    leads = tables["leads"]
    converted = leads["lead_id"].isin(tables["opportunity_contacts"]["lead_id"])
    tables["leads"] = leads.assign(account_id=leads["account_id"].where(converted))
    raw = _write(tables, tiny_world, tmp_path / "raw")
    matches = tmp_path / "lead_accounts.parquet"
    write_parquet(match_leads(tables["leads"], tables["accounts"]), matches)
    out = [tmp_path / f"{n}.parquet" for n in ("leads", "accounts", "lo", "ao")]
    params = tiny_params_dict()
    params_file = tmp_path / "params.yaml"
    params_file.write_text(yaml.safe_dump(params))
    featurize.main(raw, matches, *out, tmp_path / "features.json", params_file)
    summary = tmp_path / "feature_validation.json"
    with pytest.raises(typer.Exit) as stop:
        validate_features.main(out[0], out[1], summary, None, params_file)
    result = json.loads(summary.read_text())
    leaks = [f for f in result["failures"] if f["check"] == "leakage"]
    assert stop.value.exit_code == 1
    assert [(f["table"], f["column"]) for f in leaks] == [("lead_snapshots", "match_rule")]
    assert "ConvertedAccountId" in leaks[0]["message"]
    params["validate"]["leak_keep"] = ["match_rule"]
    params_file.write_text(yaml.safe_dump(params))
    validate_features.main(out[0], out[1], summary, None, params_file)  # kept: passes
    assert json.loads(summary.read_text())["leakage"]["lead"]["leaks"]


def test_campaigns_are_checked_where_the_source_has_them(
    tiny_world: World, tiny_params_file: Path, tmp_path: Path
) -> None:
    """Unique ids and finite costs of 0 or more are fatal; a touch naming a campaign the
    export left out is a warning; a campaign planned after the export is fine."""
    tables = {k: v.copy() for k, v in tiny_world.tables().items()}
    campaigns = tables["campaigns"]
    left_out = campaigns["campaign_id"].iloc[-1]
    campaigns.loc[1, "actual_cost"] = -5.0
    campaigns.loc[2, "budgeted_cost"] = float("inf")
    campaigns.loc[3, "started_at"] = tiny_world.exported_at + pd.Timedelta(days=400)
    tables["campaigns"] = pd.concat([campaigns.iloc[:-1], campaigns.iloc[[0]]], ignore_index=True)
    code, summary = _validate(tmp_path, tiny_params_file, _write(tables, tiny_world, tmp_path))
    failed = {(f["table"], f["column"], f["failed_rows"]) for f in summary["failures"]}
    assert code == 1 and failed == {
        ("campaigns", "campaign_id", 2),  # the id twice: both rows
        ("campaigns", "actual_cost", 1),
        ("campaigns", "budgeted_cost", 1),
    }
    warned = [w for w in summary["warning_details"] if w["column"] == "campaign_id"]
    touches = int(tiny_world.engagement["campaign_id"].eq(left_out).sum())
    assert [(w["table"], w["failed_rows"]) for w in warned] == [("engagement", touches)]


def test_clean_campaigns_pass(tiny_world: World, tiny_params_file: Path, tmp_path: Path) -> None:
    raw = _write(tiny_world.tables(), tiny_world, tmp_path / "raw")
    code, summary = _validate(tmp_path, tiny_params_file, raw)
    assert code == 0 and summary["failed"] == 0 and summary["warnings"] == 0
    rows = json.loads((tmp_path / "baseline.json").read_text())["sources"]["synthetic"]
    assert rows["campaigns"] == len(tiny_world.campaigns)


def test_no_person_planted_in_any_table_reaches_the_data_docs_or_a_message(
    tiny_world: World, tiny_params_file: Path, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """Emails and phone numbers planted in every table (in columns where they do not
    belong, so checks fail on some and name what they found) and a person's name in a
    column about a person are in no Data Docs page, no summary and no log line. (A name
    alone in a column not about people cannot be told from a value.)"""
    planted = {"email": "zelda.quasimodo@acme.com", "name": "Zelda Quasimodo"}
    phone = "+49 170 5550123"
    tables = {k: v.copy() for k, v in tiny_world.raw_tables().items()}
    tables["accounts"].loc[:2, "name"] = planted["name"]
    tables["accounts"].loc[3:4, "country"] = phone
    tables["leads"].loc[:2, "title"] = planted["email"]
    tables["leads"].loc[3:4, "company"] = phone
    tables["leads"].loc[5:6, "email"] = "zelda quasimodo at acme"  # malformed, still hers
    tables["engagement"].loc[:2, "activity_type"] = planted["email"]  # fails: values named
    tables["engagement"].loc[3:4, "campaign_id"] = phone
    tables["sales_activities"].loc[:2, "type"] = phone
    tables["opportunities"].loc[:1, "opportunity_id"] = [planted["email"], phone]
    tables["opportunity_contacts"].loc[:2, "role"] = planted["email"]
    raw = _write(tables, tiny_world, tmp_path / "raw")
    with caplog.at_level(logging.DEBUG):
        code, summary = _validate(tmp_path, tiny_params_file, raw, tmp_path / "docs")
    assert code == 1  # the picklists name what they found, as shapes
    written = [
        p.read_text(errors="ignore")
        for p in tmp_path.rglob("*")
        if p.is_file() and "raw" not in p.relative_to(tmp_path).parts  # the input itself
    ]
    for text in [*written, json.dumps(summary), caplog.text]:
        for secret in ("zelda", "Zelda", "quasimodo", "Quasimodo", "5550123", "555 0123"):
            assert secret not in text
