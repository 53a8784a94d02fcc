"""Lead -> account matching on tricky cases."""

from __future__ import annotations

import pandas as pd
import pytest

from features.matching import match_leads, match_rates, normalize_company, registered_domain

ACCOUNTS = pd.DataFrame(
    {
        "account_id": ["A1", "A2", "A3", "A4", "A5", "A6"],
        "name": [
            "Acme Inc",
            "Société Générale S.A.",
            "Müller Logistik GmbH",
            "Twin One Ltd",
            "Twin Two Ltd",
            "Gmail Fan Club",
        ],
        "domain": [
            "acme.com",
            "socgen.fr",
            "mueller.de",
            "twins.co.uk",
            "twins.co.uk",
            "gmail.com",
        ],
    }
)


def _match(email: str | None, company: str = "", account_id: str | None = None) -> tuple:
    leads = pd.DataFrame(
        {"lead_id": ["L1"], "email": [email], "company": [company], "account_id": [account_id]}
    )
    row = match_leads(leads, ACCOUNTS).iloc[0]
    return row["account_id"], row["match_rule"]


@pytest.mark.parametrize(
    ("email", "company", "account_id", "expected"),
    [
        ("x@elsewhere.com", "", "A3", ("A3", "account_id")),  # CRM id wins
        ("jo@acme.com", "", None, ("A1", "email_domain")),
        ("jo@eu.sales.acme.com", "", None, ("A1", "email_domain")),  # subdomain folds
        ("jo@ACME.COM", "", None, ("A1", "email_domain")),
        ("jo@gmail.com", "", None, (None, "unmatched")),  # free-mail never matches
        ("jo@gmail.com", "Gmail Fan Club", None, ("A6", "company_name")),  # but the name may
        ("jo@mailinator.com", "", None, (None, "unmatched")),  # disposable
        ("jo@gmail.com", "ACME, Inc.", None, ("A1", "company_name")),  # case, punctuation
        ("jo@gmail.com", "acme incorporated", None, ("A1", "company_name")),
        ("jo@gmail.com", "Societe Generale", None, ("A2", "company_name")),  # accents
        ("jo@gmail.com", "MÜLLER LOGISTIK", None, ("A3", "company_name")),
        ("jo@twins.co.uk", "", None, (None, "unmatched")),  # two accounts, one domain
        ("jo@twins.co.uk", "Twin Two Limited", None, ("A5", "company_name")),
        (None, "", None, (None, "unmatched")),
        ("not-an-email", "", None, (None, "unmatched")),
    ],
)
def test_tricky_cases(email, company, account_id, expected) -> None:
    assert _match(email, company, account_id) == expected


def test_helpers() -> None:
    assert registered_domain("mail.acme.co.uk") == "acme.co.uk"
    assert normalize_company("Nexune Solutions S.A.") == "nexune solutions"


def test_rates_cover_every_lead() -> None:
    leads = pd.DataFrame(
        {
            "lead_id": ["L1", "L2", "L3", "L4"],
            "email": ["a@acme.com", "b@gmail.com", None, "c@x.io"],
            "company": ["", "", "", ""],
            "account_id": [None, None, "A2", None],
        }
    )
    rates = match_rates(match_leads(leads, ACCOUNTS))
    assert rates == {
        "account_id": 0.25,
        "email_domain": 0.25,
        "company_name": 0.0,
        "unmatched": 0.5,
    }


def test_a_falling_match_rate_is_flagged_against_the_last_run() -> None:
    from features.matching import rate_drops

    before = {"account_id": 0.6, "email_domain": 0.139, "company_name": 0.011, "unmatched": 0.25}
    now = {"account_id": 0.6, "email_domain": 0.065, "company_name": 0.010, "unmatched": 0.325}
    assert rate_drops(now, before, 0.3) == {"email_domain": {"before": 0.139, "now": 0.065}}
    assert rate_drops(now, None, 0.3) == {}  # the first run has nothing to compare with


def test_a_current_state_crm_account_is_never_matched_on() -> None:
    """A CRM account filled at conversion: the lead matches as it did when created."""
    leads = pd.DataFrame(
        {
            "lead_id": ["L1", "L2"],
            "email": ["x@elsewhere.com", "jo@acme.com"],
            "company": ["", ""],
            "account_id": ["A3", "A3"],
        }
    )
    found = match_leads(leads, ACCOUNTS, crm_ids=False)
    assert found["account_id"].tolist() == [None, "A1"]
    assert found["match_rule"].tolist() == ["unmatched", "email_domain"]


def test_the_match_rate_baseline_is_kept_per_source(
    tiny_world,
    tiny_params_file,
    tmp_path,
    caplog,
) -> None:
    """A source whose leads match far less by CRM id is no drop of the synthetic world's."""
    import json
    import logging

    from mqlscore.io import EXPORT_FILE, write_json, write_parquet
    from pipeline import join

    def run(source: str, blank_ids: bool) -> dict:
        raw = tmp_path / source
        tables = tiny_world.raw_tables()
        leads = tables["leads"].assign(account_id=None) if blank_ids else tables["leads"]
        write_parquet(leads, raw / "leads.parquet")
        write_parquet(tables["accounts"], raw / "accounts.parquet")
        write_json(
            {"source": source, "known_at_creation": {"leads": ["account_id"]}}, raw / EXPORT_FILE
        )
        summary = tmp_path / f"{source}.json"
        join.main(raw, tmp_path / "m.parquet", summary, tmp_path / "base.json", tiny_params_file)
        return json.loads(summary.read_text())

    run("synthetic", blank_ids=False)
    with caplog.at_level(logging.WARNING):
        assert run("hubspot", blank_ids=True)["rate_drops"] == {}  # its first run
        assert "down from" not in caplog.text
        assert "account_id" in run("synthetic", blank_ids=True)["rate_drops"]  # a real drop
    saved = json.loads((tmp_path / "base.json").read_text())["sources"]
    assert set(saved) == {"synthetic", "hubspot"}


def test_accounts_without_any_id_match_no_lead_and_warn_nothing() -> None:
    import warnings

    accounts = ACCOUNTS.assign(account_id=None)  # a cut or blanked accounts table
    leads = pd.DataFrame(
        {
            "lead_id": ["L1", "L2"],
            "email": ["jo@acme.com", "an@gmail.com"],
            "company": ["", "Acme Inc"],
            "account_id": ["A1", None],
        }
    )
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # pandas' downcasting FutureWarning reached stderr
        matched = match_leads(leads, accounts)
    assert matched["account_id"].isna().all() and set(matched["match_rule"]) == {"unmatched"}
    both = match_leads(leads, ACCOUNTS)  # and with ids, each rule in its order as before
    assert both["account_id"].tolist() == ["A1", "A1"]
    assert both["match_rule"].tolist() == ["account_id", "company_name"]
