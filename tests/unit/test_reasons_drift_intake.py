"""Reasons in words, PSI drift and nightly row checks on hand-made rows."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from mqlscore.schema import OTHER_TYPE as OTHER
from mqlscore.schema import TABLES
from mqlscore.serving.drift import bin_counts, profile, psi
from mqlscore.serving.reasons import check_templates, describe, top_reasons
from sources.intake import (
    KNOWN_VALUES,
    ExportError,
    RowRules,
    check_known_values,
    lead_row_problems,
    stage_table,
    typed_leads,
)


def test_describe_speaks_plain_words() -> None:
    assert (
        describe("account_engaged_contacts_30d", 3.0)
        == "3 people from this account engaged in 30 days"
    )
    assert (
        describe("pricing_page_visit_30d", 0.0) == "no pricing-page visits by this lead in 30 days"
    )
    assert describe("is_target_account", 1.0) == "on sales' target-account list"
    assert describe("days_since_last_opportunity", 9999.0).endswith("never")
    assert describe("seniority", "c_level") == "title: C-level"
    assert describe("function", "it") == "works in IT"
    assert describe("web_visit_30d", 1.0) == "1 website visit by this lead in 30 days"
    assert describe("account_engaged_contacts_90d", 1.0).startswith("1 person from")
    assert (
        describe("employees", 1206.2) == "1,206 employees at this account"
    )  # a count stays whole
    assert describe("employees", float("nan")) == "employees unknown"


def test_every_model_feature_has_a_template(spec) -> None:
    from features.snapshots import lead_snapshot_sql

    sql = lead_snapshot_sql(spec)
    names = set(pd.Series(sql.split()).str.extract(r"^(\w+),?$")[0].dropna())
    features = [n for n in names if n.endswith("d") and n[-2].isdigit()]
    assert features and check_templates(features) == []


def test_top_reasons_pick_the_largest_pushes_each_way() -> None:
    shap = pd.DataFrame(
        {"employees": [0.9, -0.1], "is_target_account": [0.5, -0.8], "free_mail": [-0.4, 0.0]}
    )
    values = pd.DataFrame(
        {"employees": [500.0, 20.0], "is_target_account": [1.0, 0.0], "free_mail": [1.0, 0.0]}
    )
    reasons = top_reasons(shap, values)
    assert reasons.loc[0, "reason_up_1"] == "500 employees at this account"
    assert reasons.loc[0, "reason_up_2"] == "on sales' target-account list"
    assert reasons.loc[0, "reason_up_3"] == ""  # only two features pushed up
    assert reasons.loc[0, "reason_down_1"] == "a free-mail address"
    assert reasons.loc[1, "reason_down_1"] == "not on sales' target-account list"
    assert reasons.loc[1, "reason_up_1"] == ""


def test_a_reason_against_says_what_converters_show_and_is_never_a_converting_value() -> None:
    feature = "account_engaged_contacts_90d"
    shap = pd.DataFrame({feature: [-0.6, -0.6], "employees": [-0.1, -0.1]})
    values = pd.DataFrame({feature: [2.0, 8.0], "employees": [40.0, 40.0]})
    typical = {"noun": "leads", "features": {feature: [5.0, 1.0], "employees": [300.0, 200.0]}}
    reasons = top_reasons(shap, values, typical=typical)
    assert reasons.loc[0, "reason_down_1"] == (
        "2 people from this account engaged in 90 days (converting leads: about 5)"
    )
    # 8 engaged people is more than converters show: not a reason against, whatever SHAP says
    assert reasons.loc[1, "reason_down_1"].startswith("40 employees")
    assert "people from this account" not in " ".join(reasons.loc[1])
    assert top_reasons(shap, values).loc[1, "reason_down_1"].startswith("8 people")


def test_psi_is_zero_on_the_same_data_and_grows_with_a_shift() -> None:
    rng = np.random.default_rng(0)
    train = pd.DataFrame({"x": rng.normal(size=5000), "kind": rng.choice(["a", "b"], 5000)})
    reference = profile(train, ["x", "kind"])
    assert max(psi(reference, bin_counts(reference, train)).values()) < 1e-9
    shifted = pd.DataFrame({"x": rng.normal(1.0, size=5000), "kind": ["c"] * 5000})
    drift = psi(reference, bin_counts(reference, shifted))
    assert drift["x"] > 0.25 and drift["kind"] > 1.0  # an unseen level is a big shift
    half = bin_counts(reference, shifted.head(2500))
    rest = bin_counts(reference, shifted.tail(2500))
    summed = {k: half[k] + rest[k] for k in half}
    assert psi(reference, summed) == drift  # chunk counts add up


def _chunk(**changes: list[str]) -> pd.DataFrame:
    rows = {
        "source_row": [1, 2],
        "lead_id": ["L1", "L2"],
        "email": ["a@acme.com", "b@acme.com"],
        "title": ["CTO", "VP Sales"],
        "company": ["Acme", "Acme"],
        "account_id": ["A1", ""],
        "lead_source": ["web", "web"],
        "created_at": ["2025-01-01 10:00:00", "2025-02-01"],
        "marketing_score": ["10", ""],
        "mql_at": ["", "2025-03-01"],
    }
    return pd.DataFrame(rows | changes)


RULES = RowRules(pd.Timestamp("2025-06-01"), r"L\d+", frozenset({"A1"}))


def test_good_rows_pass_and_are_typed() -> None:
    chunk = _chunk()
    assert lead_row_problems(chunk, RULES, {}).tolist() == ["", ""]
    typed = typed_leads(chunk)
    assert typed["created_at"].dt.month.tolist() == [1, 2]
    assert typed["account_id"].tolist() == ["A1", None] and typed["mql_at"].isna().tolist() == [
        True,
        False,
    ]


def test_any_crm_id_passes_without_a_pattern() -> None:
    rules = RowRules(pd.Timestamp("2025-06-01"), "", frozenset({"A1"}))
    ids = ["00Q5e000001AbCdEAF", "151"]  # a Salesforce id, a HubSpot record id
    assert lead_row_problems(_chunk().assign(lead_id=ids), rules, {}).tolist() == ["", ""]
    assert "blank" in lead_row_problems(_chunk().assign(lead_id=["", "7"]), rules, {})[0]


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        ({"lead_id": ["L1", "lead-2"]}, "lead_id: 'lead-2' does not match"),
        ({"lead_id": ["L1", ""]}, "lead_id: '' is blank"),
        ({"email": ["a@acme.com", "not-an-email"]}, "email: '(hidden)' is not an email address"),
        ({"created_at": ["2025-01-01", "yesterday"]}, "created_at: 'yesterday' is not a date"),
        ({"created_at": ["2025-01-01", "2025-06-01"]}, "is on or after the run date 2025-06-01"),
        ({"marketing_score": ["1", "1e"]}, "marketing_score: '1e' is not a number"),
        ({"marketing_score": ["1", "inf"]}, "marketing_score: 'inf' is not a number"),
        ({"account_id": ["A1", "A404"]}, "account_id: 'A404' is not in the accounts table"),
    ],
)
def test_each_bad_value_is_named_on_its_row(change: dict, reason: str) -> None:
    problems = lead_row_problems(_chunk(**change), RULES, {})
    assert problems.iloc[0] == "" and reason in problems.iloc[1]


def test_no_email_and_no_account_is_a_reject_only_where_emails_are_required() -> None:
    chunk = _chunk(email=["a@acme.com", ""])  # row 2 has no account either
    says = "email: '' is blank (and so is account_id)"
    assert lead_row_problems(chunk, RULES, {}).tolist() == ["", says]
    optional = replace(RULES, email_required=False)
    assert lead_row_problems(chunk, optional, {}).tolist() == ["", ""]


def test_duplicates_across_chunks_keep_the_first_copy() -> None:
    seen: dict[str, int] = {}
    lead_row_problems(_chunk(), RULES, seen)
    later = _chunk(source_row=[3, 4], lead_id=["L9", "L1"])
    assert lead_row_problems(later, RULES, seen).tolist() == ["", "lead_id: 'L1' repeats row 1"]


def test_a_bad_cell_in_another_table_names_file_column_value_and_row(tmp_path: Path) -> None:
    path = tmp_path / "engagement.csv"
    path.write_text(
        "Event,lead_id,occurred_at,activity_type,campaign_id\n"
        "1,L1,2026-01-02 10:00:00,email_open,C1\n"
        "2,L1,yesterday,web_visit,C1\n"
        "3,L2,2026-01-03 09:00:00,form_fill,C2\n"
    )
    with pytest.raises(ExportError) as error:
        stage_table(path, "engagement", {"Event": "event_id"}, tmp_path / "out.parquet")
    message = str(error.value)
    assert str(path) in message and "occurred_at" in message
    assert "row 2" in message and "'yesterday'" in message


_ACCOUNTS = "account_id,name,domain,industry,employees,annual_revenue,country,is_target_account\n"


def test_an_infinite_amount_is_not_a_number(tmp_path: Path) -> None:
    path = tmp_path / "accounts.csv"
    path.write_text(
        _ACCOUNTS + "A1,Acme,acme.com,it,10,5000,DE,true\nA2,Beta,b.com,it,10,inf,DE,\n"
    )
    with pytest.raises(ExportError, match=r"annual_revenue, row 2: 'inf' is not a finite number"):
        stage_table(path, "accounts", {}, tmp_path / "out.parquet")


def test_an_account_listed_twice_is_refused_naming_its_rows(tmp_path: Path) -> None:
    path = tmp_path / "accounts.csv"
    rows = [f"A{i},Co{i},c{i}.com,it,10,5000,DE,true" for i in range(1, 5)] + ["A2,Co2,,,,,,"]
    path.write_text(_ACCOUNTS + "\n".join(rows) + "\n")
    with pytest.raises(ExportError) as error:
        stage_table(path, "accounts", {}, tmp_path / "out.parquet")
    assert "column account_id, rows 2, 5: 'A2' is listed 2 times" in str(error.value)
    assert not (tmp_path / "out.parquet").exists()


def test_a_good_table_is_renamed_and_typed(tmp_path: Path) -> None:
    path = tmp_path / "engagement.csv"
    path.write_text(
        "Event,lead_id,occurred_at,activity_type,campaign_id\n"
        "007,L1,2026-01-02 10:00:00,email_open,C1\n"
        "8,L2,2026-01-02T10:00:00+02:00,web_visit,\n"
    )
    frame = pd.read_parquet(
        stage_table(path, "engagement", {"Event": "event_id"}, tmp_path / "out.parquet")
    )
    assert list(frame.columns) == list(TABLES["engagement"])
    assert frame["occurred_at"].tolist() == [
        pd.Timestamp("2026-01-02 10:00:00"),
        pd.Timestamp("2026-01-02 08:00:00"),  # +02:00 read as UTC
    ]
    assert frame["event_id"].tolist() == ["007", "8"]  # ids stay text, zeros kept


def test_a_missing_column_in_another_table_is_named(tmp_path: Path) -> None:
    path = tmp_path / "engagement.csv"
    path.write_text("event_id,lead_id,activity_type,campaign_id\n1,L1,email_open,C1\n")
    with pytest.raises(ExportError, match=r"missing column\(s\) occurred_at for engagement"):
        stage_table(path, "engagement", {}, tmp_path / "out.parquet")
    assert not (tmp_path / "out.parquet").exists()


@pytest.mark.parametrize(("header", "cell"), [("", ""), (",account_id", ",A7")])
def test_sales_activities_without_account_id_read_it_as_blank(
    tmp_path: Path, header: str, cell: str
) -> None:
    path = tmp_path / "sales_activities.csv"
    path.write_text(
        f"activity_id,lead_id,occurred_at,type{header}\nS1,L1,2026-01-02 10:00:00,call{cell}\n"
    )
    frame = pd.read_parquet(stage_table(path, "sales_activities", {}, tmp_path / "out.parquet"))
    assert list(frame.columns) == list(TABLES["sales_activities"])
    assert frame["account_id"].tolist() == [cell.lstrip(",") or None]
    assert frame["lead_id"].tolist() == ["L1"]


def test_nightly_value_checks_are_validations_own(tmp_path: Path) -> None:
    from mqlscore.validation.expectations import KNOWN_VALUES as VALIDATED

    assert set(KNOWN_VALUES) == set(VALIDATED)
    for key, (allowed, _) in VALIDATED.items():
        assert KNOWN_VALUES[key] - {OTHER} == set(allowed) - {OTHER}
        assert OTHER in KNOWN_VALUES[key]  # a mapping's `_other` is a value, not a typo


def test_unknown_values_are_named_with_their_rows_in_one_line(tmp_path: Path) -> None:
    types = ["email_open", "pricing_page_vist", "other", None, "pricing_page_vist", "Webinar"]
    events = pd.DataFrame({"event_id": list("abcdef"), "activity_type": types})
    sales = pd.DataFrame({"activity_id": ["1", "2"], "type": ["call", "meeting"]})
    staged = {"engagement": tmp_path / "e.parquet", "sales_activities": tmp_path / "s.parquet"}
    events.to_parquet(staged["engagement"])
    sales.to_parquet(staged["sales_activities"])
    with pytest.raises(ExportError) as error:
        check_known_values(staged)
    message = str(error.value)
    assert message.startswith(
        "engagement.activity_type: values not known: 'Webinar' (1 row), "
        "'pricing_page_vist' (2 rows) (known: ad_click, "
    )
    assert "sales_activities" not in message and "\n" not in message
    known = ["email_open", "web_visit", "other", None, "form_fill", "ad_click"]
    events.assign(activity_type=known).to_parquet(staged["engagement"])
    sales.assign(type=["call", "Demo"]).to_parquet(staged["sales_activities"])
    with pytest.raises(ExportError, match=r"^sales_activities.type: values not known: 'Demo'"):
        check_known_values(staged)
    sales.to_parquet(staged["sales_activities"])
    check_known_values(staged)  # known values, `other` and blanks pass


def test_a_model_with_fewer_features_than_reasons_leaves_the_rest_blank() -> None:
    contributions = pd.DataFrame({"events_30d": [0.5, -0.2], "employees": [-0.1, 0.3]})
    values = pd.DataFrame({"events_30d": [4.0, 0.0], "employees": [50.0, 900.0]})
    out = top_reasons(contributions, values, top=3)
    assert list(out.columns) == [f"reason_{d}_{k}" for d in ("up", "down") for k in (1, 2, 3)]
    assert (out["reason_up_3"] == "").all() and (out["reason_down_3"] == "").all()


def test_a_reason_for_is_never_an_absence() -> None:
    """A zero that reads "no people from this account engaged", or a blank, may push a
    score up in the model, but a rep is never told it as a reason for."""
    contributions = pd.DataFrame(
        {
            "account_engaged_contacts_90d": [2.0, 2.0],
            "employees": [1.5, 1.5],
            "events_30d": [0.4, 0.4],
        }
    )
    values = pd.DataFrame(
        {
            "account_engaged_contacts_90d": [0.0, 4.0],
            "employees": [None, 300.0],
            "events_30d": [5.0, 5.0],
        }
    )
    up = top_reasons(contributions, values, top=3)
    assert up.loc[0, "reason_up_1"] == describe("events_30d", 5.0)  # the absences skipped
    assert up.loc[0, "reason_up_2"] == "" and up.loc[0, "reason_up_3"] == ""
    assert up.loc[1, "reason_up_1"] == describe("account_engaged_contacts_90d", 4.0)


def test_a_value_that_says_nothing_is_no_reason_either_way() -> None:
    contributions = pd.DataFrame({"function": [1.2, -1.2, 0.8], "events_30d": [0.3, 0.3, 0.3]})
    values = pd.DataFrame({"function": ["other", "Unknown", "it"], "events_30d": [5.0] * 3})
    reasons = top_reasons(contributions, values, top=2)
    assert reasons["reason_up_1"].tolist()[:2] == [describe("events_30d", 5.0)] * 2
    assert reasons.loc[2, "reason_up_1"] == describe("function", "it")  # "works in IT"
    against = reasons.filter(like="reason_down").stack()
    assert not against.str.contains("works in").any()  # "Unknown" is nothing to look at


def test_windows_of_one_signal_are_one_reason() -> None:
    """The 30- and 90-day counts of one signal never take two slots: the window that
    pushes most is the reason, the others said in the same sentence."""
    contributions = pd.DataFrame(
        {"pricing_page_visit_30d": [0.9], "pricing_page_visit_90d": [0.5], "employees": [0.3]}
    )
    values = pd.DataFrame(
        {"pricing_page_visit_30d": [7.0], "pricing_page_visit_90d": [20.0], "employees": [300.0]}
    )
    up = top_reasons(contributions, values, top=3).iloc[0]
    assert up["reason_up_1"] == "7 pricing-page visits by this lead in 30 days, 20 in 90 days"
    assert up["reason_up_2"] == "300 employees at this account" and up["reason_up_3"] == ""


def test_top_percent_says_where_a_lead_stands_tonight() -> None:
    from mqlscore.serving.handovers import top_percent

    assert top_percent(np.array([1, 266, 267, 13334, 26667]), 26667).tolist() == [1, 1, 2, 51, 100]


@pytest.mark.parametrize(
    ("windows", "roles", "trend", "group"),
    [
        ((7, 30, 90), ("executive", "champion"), "last 30 days vs the 60 before", "(executive, "),
        ((14, 45, 120), ("sponsor", "user"), "last 45 days vs the 75 before", "(sponsor, user)"),
    ],
)
def test_window_lengths_and_roles_in_the_words_follow_params(
    windows: tuple[int, ...], roles: tuple[str, ...], trend: str, group: str
) -> None:
    """Nothing a sentence says about windows or roles is written in code: the trend names
    the model's recent window and the rest of its longest, the coverage its roles."""
    from mqlscore.modeling.scorer import typical_values

    counts = {f"events_{w}d": [3.0] for w in windows}
    values = pd.DataFrame({**counts, "engagement_trend": [2.0], "buying_group_coverage": [0.5]})
    frame = values.assign(label=[1])
    typical = typical_values(frame, list(values.columns), "leads", roles)
    shap = pd.DataFrame({c: [0.1] for c in counts} | {"engagement_trend": [0.9]})
    shap["buying_group_coverage"] = [0.8]
    up = top_reasons(shap, values, top=3, typical=typical).iloc[0]
    assert up["reason_up_1"] == f"this lead's engagement rising ({trend})"
    assert (
        up["reason_up_2"].startswith("50% of this account's buying group ")
        and group in up["reason_up_2"]
    )
    assert "90" not in " ".join(up) or windows[-1] == 90


def test_the_date_order_is_read_from_columns_a_column_map_renames(tmp_path: Path) -> None:
    from sources.intake import date_order_of

    leads = tmp_path / "leads.csv"
    pd.DataFrame(
        {"lead_id": ["L1", "L2"], "Created": ["13/02/2025", "01/03/2025"], "MQL": ["", ""]}
    ).to_csv(leads, index=False)
    both = {"Created": "created_at", "MQL": "mql_at"}  # both renamed: it raised ValueError
    assert date_order_of(leads, both) is True  # 13/02 shows the day first
    assert date_order_of(leads, {"Created": "created_at"}) is True  # was read month first
    assert date_order_of(leads, {}) is False  # no created_at of ours: nothing to tell


def test_a_lead_file_that_turns_to_other_bytes_past_its_start_names_the_line(
    tmp_path: Path,
) -> None:
    from sources.intake import lead_chunks

    leads = tmp_path / "leads.csv"
    good = "".join(f"L{i},a{i}@acme.com,,Acme,,web,2025-01-01,,\n" for i in range(3000))
    header = ",".join(TABLES["leads"]) + "\n"
    leads.write_bytes((header + good).encode() + b"L9,\xe6\x90x@acme.com,,,,,2025-01-01,,\n")
    with pytest.raises(ExportError, match=r"line 3,002 holds bytes b'\\xe6\\x90x.*utf-8"):
        list(lead_chunks(leads, {}, 1000))  # was UnicodeDecodeError, exit 3
    broken = tmp_path / "leads.parquet"
    broken.write_bytes(b"PAR1 not really")
    with pytest.raises(ExportError, match="leads.parquet: not a readable file"):
        list(lead_chunks(broken, {}, 1000))  # was ArrowInvalid, exit 3


@pytest.mark.parametrize(
    ("text", "says"),
    [
        ("leads: {Title: title", "not readable YAML: .* at line 1, column 21"),  # was ParserError
        ("- leads\n", "a column map is {table: {export column: our column}}, not \\['leads'\\]"),
        ("leads: 3\n", "leads: expected {export column: our column}, found 3"),  # was TypeError
        ("leads: {Title: 7}\n", "leads.Title: 7 is not a column of leads"),  # was AttributeError
        ("leads: {Title: null}\n", "leads.Title: None is not a column of leads"),
        (
            "leads: {Job: titel}\n",
            "'titel' is not a column of leads \\(did you mean 'title'\\?\\)",
        ),
        ("leads: {A: email, B: email}\n", "'A' and 'B' both map to 'email': keep one"),
        ("leads: {Title: {a: b}}\n", "is not a column of leads"),  # was TypeError (unhashable)
        ("leeds: {Title: title}\n", "unknown table\\(s\\) leeds"),
    ],
)
def test_a_column_map_that_cannot_say_which_column_is_which_is_refused(
    tmp_path: Path, text: str, says: str
) -> None:
    from sources.intake import ColumnMapError, load_column_map

    path = tmp_path / "map.yaml"
    path.write_text(text)
    with pytest.raises(ColumnMapError, match=says) as raised:
        load_column_map(path)
    assert "\n" not in str(raised.value)


def test_a_good_column_map_reads_as_export_to_canonical(tmp_path: Path) -> None:
    from sources.intake import load_column_map

    path = tmp_path / "map.yaml"
    path.write_text("leads: {Lead ID: lead_id, Region: x_region}\nengagement:\n")
    assert load_column_map(path) == {
        "leads": {"Lead ID": "lead_id", "Region": "x_region"},
        "engagement": {},
    }


def test_another_table_that_is_not_its_kind_of_file_is_refused_naming_it(
    tmp_path: Path,
) -> None:
    good = tmp_path / "opportunity_contacts.parquet"
    pd.DataFrame({"opportunity_id": ["O1"], "lead_id": ["L1"], "role": ["champion"]}).to_parquet(
        good
    )
    cut = tmp_path / "cut.parquet"
    cut.write_bytes(good.read_bytes()[:-30])  # was duckdb.InvalidInputException, exit 3
    with pytest.raises(ExportError, match="cut.parquet: not a readable Parquet file"):
        stage_table(cut, "opportunity_contacts", {}, tmp_path / "out.parquet")


def test_a_lead_without_an_account_hears_nothing_about_this_account() -> None:
    """An account-less lead's account features are fill values (0, 9999 days, 'none'), not
    its company's facts: never its reasons, either way. A lead with an account hears them."""
    from mqlscore.serving.reasons import matched

    pushes = {"account_events_90d": 0.9, "days_since_last_opportunity": -0.8}
    pushes |= {"last_opportunity_outcome": 0.7, "events_30d": 0.2, "free_mail": -0.1}
    contributions = pd.DataFrame({f: [v, v] for f, v in pushes.items()})
    values = pd.DataFrame(
        {
            "account_events_90d": [4.0, 4.0],
            "days_since_last_opportunity": [9999.0, 9999.0],
            "last_opportunity_outcome": ["won", "won"],
            "events_30d": [2.0, 2.0],
            "free_mail": [1.0, 1.0],
        }
    )
    has = matched(pd.DataFrame({"account_id": ["A1", None]}))
    out = top_reasons(contributions, values, top=3, has_account=has)
    assert has.tolist() == [True, False]
    assert out.loc[0, "reason_up_1"] == "4 marketing touches from this account in 90 days"
    assert out.loc[0, "reason_down_1"] == "last opportunity with this account: never"
    lone = out.loc[1]
    assert lone["reason_up_1"] == "2 marketing touches by this lead in 30 days"
    assert lone["reason_down_1"] == "a free-mail address"
    assert "account" not in " ".join(lone)
    assert matched(pd.DataFrame({"x": [1]})) is None  # a flat file's rows: no account column
    assert matched(pd.DataFrame({"account_id": [" ", ""]})).tolist() == [False, False]


def test_being_matched_to_no_account_is_said_once_and_never_as_a_reason_for() -> None:
    contributions = pd.DataFrame({"no_account": [-0.5, 0.6], "match_rule": [-0.4, 0.5]})
    values = pd.DataFrame({"no_account": [1.0, 1.0], "match_rule": ["unmatched", "unmatched"]})
    out = top_reasons(contributions, values, top=3)
    assert out.loc[0, "reason_down_1"] == "not matched to any account"
    assert out.loc[0, "reason_down_2"] == ""  # match_rule says the same: not twice
    assert (out.loc[1, [f"reason_up_{k}" for k in (1, 2, 3)]] == "").all()  # an absence
    assert describe("match_rule", "email_domain") == "matched to the account by email domain"
    assert describe("last_opportunity_outcome", "none").startswith("no earlier opportunity")


def test_an_account_models_trend_names_its_own_two_windows() -> None:
    """The account model has only the trend's windows (30 and 90 days): its trend reads
    'last 30 days vs the 60 before', never 'last 90 days vs the 0 before'."""
    values = pd.DataFrame(
        {"account_events_30d": [5.0], "account_events_90d": [9.0], "account_velocity": [3.0]}
    )
    contributions = pd.DataFrame({c: [0.1] for c in values} | {"account_velocity": [0.9]})
    up = top_reasons(contributions, values, top=1).iloc[0]
    assert up["reason_up_1"] == "this account's engagement rising (last 30 days vs the 60 before)"


def test_every_account_snapshot_feature_is_one_a_lead_needs_an_account_for(spec) -> None:
    """OF_ACCOUNT names exactly the features the account joins and firmographics give: the
    account snapshot's columns, and none of the lead's own."""
    import re

    from features.snapshots import account_snapshot_sql, lead_snapshot_sql
    from mqlscore.serving.reasons import OF_ACCOUNT

    def named(sql: str) -> set[str]:
        return set(re.findall(r"(?:\bAS |\ba\.)([a-z]\w*)", sql))

    keys = {"account_id", "snapshot_date", "on_open_opportunity"}
    keys |= {"label", "label_won", "label_at", "label_complete"}
    accounts = named(account_snapshot_sql(spec)) - keys
    own = named(lead_snapshot_sql(spec)) - accounts - keys
    assert len(accounts) > 15 and all(OF_ACCOUNT.match(f) for f in accounts), accounts
    assert len(own) > 20 and not any(OF_ACCOUNT.match(f) for f in own), own
