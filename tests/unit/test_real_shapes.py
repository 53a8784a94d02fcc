"""Exports as source systems really write them, by hand in their real column names: each
quirk real orgs showed, through the shipped mappings unedited."""

from __future__ import annotations

import csv
import logging
from pathlib import Path

import pandas as pd
import pytest
import yaml

from sources.intake import MappingError
from sources.mapping import canonical_tables, load_source
from tests.conftest import ROOT

EMPTY = "000000000000000AAA"  # Salesforce's weekly export: an empty lookup
SF = ROOT / "mappings/salesforce.yaml"
T = "2024-03-05T15:00:00.000+0000"  # Salesforce's timestamp spelling


def _write(folder: Path, name: str, rows: list[dict[str, str]], bom: bool = True) -> None:
    """A CSV as Salesforce's Data Export writes it: UTF-8 with BOM, every field quoted."""
    folder.mkdir(parents=True, exist_ok=True)
    with open(folder / name, "w", newline="", encoding="utf-8-sig" if bom else "utf-8") as fh:
        writer = csv.DictWriter(fh, fieldnames=list(rows[0]), quoting=csv.QUOTE_ALL)
        writer.writeheader()
        writer.writerows(r for r in rows if any(r.values()))


def _header_only(folder: Path, name: str, columns: list[str]) -> None:
    _write(folder, name, [dict.fromkeys(columns, "")])


LEAD = {
    "Id": "00Q000000000001AAA",
    "Email": "ana@acme.com",
    "Title": "VP Sales",
    "Company": "Acme",
    "LeadSource": "Web",
    "Status": "Converted",
    "IsConverted": "true",
    "ConvertedAccountId": "001000000000001AAA",
    "ConvertedContactId": "003000000000001AAA",
    "ConvertedOpportunityId": "006000000000001AAA",
    "CreatedDate": "2024-01-10T09:00:00.000+0000",
}


def _org(folder: Path) -> Path:
    """A small org: two leads (one converted), its contact, an account, one deal closed
    the day it was created, campaign members and tasks, no Event.csv, a header-only
    OpportunityContactRole.csv, none of the README's custom fields."""
    open_lead = LEAD | {
        "Id": "00Q000000000002AAA",
        "Email": "bo@initech.com",
        "IsConverted": "false",
        "ConvertedAccountId": EMPTY,
        "ConvertedContactId": EMPTY,
        "ConvertedOpportunityId": EMPTY,
        "Status": "Working",
    }
    _write(folder, "Lead.csv", [LEAD, open_lead])
    contact = {"Id": "003000000000001AAA", "AccountId": "001000000000001AAA"}
    contact |= {"Email": "ana@acme.com", "Title": "VP Sales", "LeadSource": "Web"}
    _write(folder, "Contact.csv", [contact | {"CreatedDate": T}])
    account = {"Id": "001000000000001AAA", "Name": "Acme", "Website": "acme.com"}
    account |= {"Industry": "", "NumberOfEmployees": "", "AnnualRevenue": ""}
    _write(folder, "Account.csv", [account | {"BillingCountry": "US"}])
    deal = {"Id": "006000000000001AAA", "AccountId": "001000000000001AAA", "CreatedDate": T}
    deal |= {"CloseDate": "2024-03-05", "IsClosed": "true", "IsWon": "true", "Amount": "5000"}
    _write(folder, "Opportunity.csv", [deal])
    member = {"Id": "00v000000000001AAA", "CampaignId": "701000000000001AAA"}
    members = [
        member | {"LeadId": "00Q000000000002AAA", "ContactId": EMPTY, "Status": "Sent"},
        member | {"Id": "00v2", "LeadId": EMPTY, "ContactId": "003000000000001AAA"},
    ]
    for row, responded in zip(members, ["", "2024-02-01"], strict=True):
        row |= {"Status": row.get("Status", "Responded"), "FirstRespondedDate": responded}
        row["CreatedDate"] = "2024-01-15T10:00:00.000+0000"
    _write(folder, "CampaignMember.csv", members)
    task = {"Id": "00T1", "WhoId": "00Q000000000002AAA", "WhatId": EMPTY, "Type": ""}
    task |= {"TaskSubtype": "Call", "CreatedDate": "2024-02-02T10:00:00.000+0000"}
    _write(folder, "Task.csv", [task, task | {"Id": "00T2", "Type": "Meeting"}])
    _header_only(
        folder, "OpportunityContactRole.csv", ["Id", "OpportunityId", "ContactId", "Role"]
    )
    return folder


def test_a_real_shaped_salesforce_org_ingests_with_the_shipped_mapping(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.WARNING):
        tables, info = canonical_tables(load_source([SF]), _org(tmp_path))
    leads = tables["leads"].set_index("lead_id")
    # 1. the empty-lookup id is blank: no lead is "on account 000000000000000AAA", and the
    # open lead's blank ConvertedContactId makes no alias (its touches stay its own)
    assert not (tables["leads"] == EMPTY).any().any()
    assert list(leads.index) == ["00Q000000000001AAA", "00Q000000000002AAA"]
    engaged = tables["engagement"].set_index("event_id")["lead_id"]
    assert engaged.to_dict() == {
        "00v000000000001AAA": "00Q000000000002AAA",
        "00v2": "00Q000000000001AAA",  # the contact's touch is the converted lead's
    }
    # the conversion-time account never stands for the lead's account before the deal
    assert leads["account_id"].isna().all()
    # 2. unlisted statuses and subtypes are kept as other, and counted
    assert set(tables["engagement"]["activity_type"]) == {"other"}
    assert info["other_activity_types"] == {"Sent": 1, "Responded": 1}
    # 3. a deal closed the day it was created (CloseDate is a date) closes at the day's end
    deal = tables["opportunities"].iloc[0]
    assert deal["closed_at"] == pd.Timestamp("2024-03-05 23:59:59") >= deal["created_at"]
    # a date-only response date is known by the end of its day; a send without one is
    # dated when the member was added
    times = tables["engagement"].set_index("event_id")["occurred_at"]
    assert times["00v2"] == pd.Timestamp("2024-02-01 23:59:59")
    assert times["00v000000000001AAA"] == pd.Timestamp("2024-01-15 10:00")
    # 4-5. Event.csv absent, the contact roles header-only: named, not fatal
    assert "Event.csv" in info["absent_files"]
    # 6. custom fields the org does not have: blank, named, warned
    assert info["absent_columns"]["leads"] == {
        "account_id": ["Account__c"],
        "marketing_score": ["Lead_Score__c"],
        "mql_at": ["MQL_Date__c"],
    }
    assert "no column 'Target_Account__c'" in caplog.text
    # 7. Type where the org fills it, else TaskSubtype
    types = tables["sales_activities"].set_index("activity_id")["type"]
    assert types.to_dict() == {"00T1": "call", "00T2": "meeting"}
    # 9. with no contact role, the converted lead is on the deal it converted into
    roles = tables["opportunity_contacts"]
    assert roles[["opportunity_id", "lead_id"]].values.tolist() == [
        ["006000000000001AAA", "00Q000000000001AAA"]
    ]


def test_event_alternatives_header_only_objects_and_absent_tables(tmp_path: Path) -> None:
    folder = _org(tmp_path)
    (folder / "Task.csv").unlink()
    (folder / "CampaignMember.csv").unlink()
    _write(
        folder,
        "Event.csv",
        [
            {
                "Id": "00U1",
                "WhoId": "00Q000000000002AAA",
                "ActivityDateTime": "2024-02-03T10:00:00.000+0000",
            }
        ],
    )
    tables, info = canonical_tables(load_source([SF]), folder)
    meeting = tables["sales_activities"].iloc[0]
    assert meeting["type"] == "meeting" and meeting["occurred_at"] == pd.Timestamp(
        "2024-02-03 10:00"
    )
    assert "engagement" in info["missing_tables"] and len(tables["engagement"]) == 0
    _header_only(folder, "Event.csv", ["Id", "WhoId", "ActivityDateTime"])
    tables, info = canonical_tables(load_source([SF]), folder)
    assert info["empty_tables"] == ["sales_activities"]
    assert "sales_activities" in info["missing_tables"]
    assert str(tables["sales_activities"]["activity_id"].dtype) == "object"  # not float64


def test_a_file_the_mapping_needs_and_an_empty_lead_export_stop_the_run(tmp_path: Path) -> None:
    folder = _org(tmp_path)
    (folder / "Opportunity.csv").unlink()
    with pytest.raises(MappingError, match="no file matches.*Opportunity.csv"):
        canonical_tables(load_source([SF]), folder)
    folder = _org(tmp_path / "b")
    _header_only(folder, "Lead.csv", list(LEAD))
    _header_only(
        folder, "Contact.csv", ["Id", "AccountId", "Email", "Title", "LeadSource", "CreatedDate"]
    )
    with pytest.raises(MappingError, match="leads has no rows"):
        canonical_tables(load_source([SF]), folder)


def _mapping(tmp_path: Path, edit: dict) -> Path:
    spec = yaml.safe_load(SF.read_text())
    spec["tables"]["engagement"] |= edit
    path = tmp_path / "mine.yaml"
    path.write_text(yaml.safe_dump(spec))
    return path


@pytest.mark.parametrize(
    ("edit", "says"),
    [
        ({"colums": {}}, "unknown key 'colums' \\(did you mean 'columns'\\?\\)"),
        ({"columns": {"occured_at": "X"}}, "'occured_at' is not a column of engagement"),
        (
            {"values": {"activity_type": {"Visited Pricing Page": "pricing_page_vist"}}},
            "'pricing_page_vist' is not one of ours \\(did you mean 'pricing_page_visit'\\?\\)",
        ),
        # shapes the mapping code would trip over (each was a TypeError, exit 3)
        ({"columns": {"occurred_at": True}}, "columns.occurred_at: expected an export column"),
        ({"columns": {"occurred_at": None}}, "columns.occurred_at: expected an export column"),
        ({"columns": {"lead_id": {"join": [1, "B"]}}}, "columns.lead_id.join\\[0\\]: expected"),
        ({"columns": {"lead_id": {"json": "A"}}}, "columns.lead_id: a json column needs `key`"),
        ({"constants": {"campaign_id": ["a"]}}, "constants.campaign_id: expected one value"),
        ({"extra": 1.5}, "extra: expected a mapping, found 1.5"),
        ({"skip": {"IsDeleted": 1}}, "skip.IsDeleted: expected a list of values"),
        ({"split": {"Tags": None}}, "split.Tags: expected a separator"),
        ({"booleans": {"true": "Ja"}}, "booleans.true: expected a list of values"),
        ({"known_at_creation": 3}, "known_at_creation: expected a list of columns"),
        ({"dates": {"end_of_day": [["x"]]}}, "dates.end_of_day: expected a list of columns"),
        ({"file": None}, "file: expected a file name or glob, found None"),
    ],
)
def test_a_mapping_is_checked_before_any_file_is_read(
    tmp_path: Path, edit: dict, says: str
) -> None:
    with pytest.raises(MappingError, match=f"mine.yaml: tables.engagement.*{says}"):
        load_source([_mapping(tmp_path, edit)])


@pytest.mark.parametrize(
    ("top", "says"),
    [
        ({"name": 7}, "mine.yaml: name: expected a name"),
        ({"params": ["score"]}, "mine.yaml: params: expected a mapping of params.yaml sections"),
        ({"params": {"score": 1}}, "mine.yaml: params.score: expected a mapping of keys"),
        ({"same_person": {"file": "Lead.csv", "id": 5, "alias": "A"}}, "same_person.id"),
    ],
)
def test_a_mappings_top_level_keys_are_checked_too(tmp_path: Path, top: dict, says: str) -> None:
    spec = yaml.safe_load(SF.read_text()) | top
    path = tmp_path / "mine.yaml"
    path.write_text(yaml.safe_dump(spec))
    with pytest.raises(MappingError, match=says):
        load_source([path])


def test_every_shipped_mapping_passes_the_checks() -> None:
    for path in sorted((ROOT / "mappings").glob("*.yaml")):  # Marketo has no deals
        load_source([path, SF] if path.stem == "marketo" else [path])


HUBSPOT = ROOT / "mappings/hubspot.yaml"
CONTACT_HEADER = [
    "Record ID", "First Name", "Email", "Job Title", "Company Name", "Associated Company IDs",
    "Original Traffic Source", "Create Date",
    'Date entered "Marketing Qualified Lead (Lifecycle Stage Pipeline)"',
    "Associated Company IDs",
]  # fmt: skip


def _hubspot(folder: Path, stages: list[str]) -> Path:
    """HubSpot's current exports: new labels, one header naming a column twice, custom
    deal stages, no HubSpot Score, no companies export."""
    folder.mkdir(parents=True, exist_ok=True)
    rows = [
        ["101", "Ana", "ana@acme.com", "CTO", "Acme", "9001", "Organic Search",
         "2024-01-10 09:00", "2024-02-01 10:00", "9001"],
        ["102", "Bo", "bo@initech.com", "", "Initech", "", "Paid Social",
         "2024-01-11 09:00", "", "9002"],
    ]  # fmt: skip
    with open(folder / "hubspot-crm-exports-all-contacts-2024.csv", "w", newline="") as fh:
        csv.writer(fh).writerows([CONTACT_HEADER, *rows])
    deals = pd.DataFrame(
        {
            "Record ID": [f"D{i}" for i in range(len(stages))],
            "Deal Stage": stages,
            "Create Date": "2024-02-10 09:00",
            "Close Date": "2024-03-01 09:00",
            "Amount": "100",
            "Associated Company IDs": "9001",
            "Associated Contact IDs": ["101"] + [""] * (len(stages) - 1),
        }
    )
    deals.to_csv(folder / "hubspot-crm-exports-all-deals-2024.csv", index=False)
    return folder


def test_hubspot_current_labels_and_a_repeated_header(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    folder = _hubspot(tmp_path, ["Closed Won", "Closed Lost"])
    with caplog.at_level(logging.WARNING):
        tables, info = canonical_tables(load_source([HUBSPOT]), folder)
    leads = tables["leads"].set_index("lead_id")
    assert leads["lead_source"].tolist() == ["Organic Search", "Paid Social"]
    assert leads["mql_at"].iloc[0] == pd.Timestamp("2024-02-01 10:00")
    assert leads["account_id"].tolist() == ["9001", "9002"]  # the second copy fills the blank
    assert "'Associated Company IDs' appears 2 times in the header; merged" in caplog.text
    assert info["absent_columns"]["leads"] == {"marketing_score": ["HubSpot Score"]}
    assert tables["opportunity_contacts"]["lead_id"].tolist() == ["101"]  # blank: no row


def test_unmapped_hubspot_deal_stages_are_listed_in_one_message(tmp_path: Path) -> None:
    folder = _hubspot(tmp_path, ["Closed: won", "Awaiting procurement", "Closed: won"])
    with pytest.raises(MappingError) as err:
        canonical_tables(load_source([HUBSPOT]), folder)
    message = str(err.value)
    assert "column 'Deal Stage': 2 value(s) not covered" in message
    assert "'Closed: won' (2 row(s), first in data row 1)" in message
    assert "'Awaiting procurement' (1 row(s), first in data row 2)" in message


def test_marketo_api_names_and_the_status_inside_attributes(tmp_path: Path) -> None:
    """The Bulk Lead Extract (API names) and the Bulk Activity Extract, whose "Change
    Progression Status" rows hold the new status in the attributes JSON."""
    leads = pd.DataFrame(
        {
            "id": ["501", "502"],
            "sfdcLeadId": ["00Q1", ""],
            "email": ["ana@acme.com", "bo@initech.com"],
            "createdAt": ["2024-01-10T09:00:00Z", "2024-01-11T09:00:00Z"],
        }
    )
    leads.to_csv(tmp_path / "marketo_leads.csv", index=False)
    activities = pd.DataFrame(
        {
            "marketoGUID": ["g1", "g2", "g3"],
            "leadId": ["501", "502", "502"],
            "activityDate": "2024-02-01T10:00:00Z",
            "activityTypeId": ["104", "104", "10"],
            "campaignId": "1",
            "primaryAttributeValueId": "77",
            "primaryAttributeValue": ["Webinar Q1", "Webinar Q1", "Newsletter"],
            "attributes": [
                '{"Old Status": "Registered", "New Status": "Attended", "Success": false}',
                '{"New Status": "Registered"}',
                "{}",
            ],
        }
    )
    activities.to_csv(tmp_path / "marketo_activities.csv", index=False)
    deals = {"Id": "0061", "AccountId": "0011", "CreatedDate": T, "CloseDate": "", "Amount": ""}
    _write(tmp_path, "Opportunity.csv", [deals | {"IsClosed": "false", "IsWon": "false"}])
    marketo = ROOT / "mappings/marketo.yaml"
    tables, info = canonical_tables(load_source([marketo, SF]), tmp_path)
    assert tables["leads"]["lead_id"].tolist() == ["00Q1", "502"]  # Salesforce id, else own
    touches = tables["engagement"].set_index("event_id")
    assert touches["lead_id"].to_dict() == {"g1": "00Q1", "g2": "502", "g3": "502"}
    assert touches["activity_type"].to_dict() == {
        "g1": "webinar_attend",
        "g2": "other",  # registered, not attended
        "g3": "email_open",
    }
    assert info["other_activity_types"] == {"104|Webinar Q1|Registered": 1}
    activities.loc[0, "attributes"] = "{not json"
    activities.to_csv(tmp_path / "marketo_activities.csv", index=False)
    with pytest.raises(MappingError, match="column 'attributes': value '{not json' in data row 1"):
        canonical_tables(load_source([marketo, SF]), tmp_path)


def test_ingest_and_nightly_scoring_read_one_dirty_export_to_the_same_leads(
    tmp_path: Path,
) -> None:
    """The one intake: a Salesforce export in a dirty dialect (Latin-1, `;`, CRLF, quoted
    newlines, day-first dates, placeholders, thousands separators, empty-lookup ids)
    gives the same canonical leads to `ingest` and to `score --mapping`."""
    from mqlscore.config import ScoreParams
    from sources import intake
    from sources.load import canonical_export
    from tests.conftest import project_params

    folder = _org(tmp_path / "export")
    lead = LEAD | {"Company": "Müller\nGmbH", "CreatedDate": "13/01/2024 09:00"}
    lead |= {"Lead_Score__c": "1.234", "MQL_Date__c": "N/A", "Account__c": EMPTY}
    other = lead | {"Id": "00Q3", "Email": "cy@globex.com", "CreatedDate": "02/02/2024"}
    other |= {"Account__c": "001000000000001AAA", "ConvertedContactId": EMPTY}
    frame = pd.DataFrame([lead, other])
    text = frame.to_csv(sep=";", index=False, lineterminator="\r\n")
    (folder / "Lead.csv").write_bytes(text.encode("latin-1"))
    spec = yaml.safe_load(SF.read_text())
    spec["tables"]["leads"][0]["dates"] = {"dayfirst": True}
    spec["tables"]["leads"][0]["numbers"] = {"decimal": ","}
    mapping = tmp_path / "org.yaml"
    mapping.write_text(yaml.safe_dump(spec))
    trained, _ = canonical_tables(load_source([mapping]), folder)
    staged = canonical_export([mapping], folder, tmp_path / "canonical")
    rules = intake.RowRules(pd.Timestamp("2025-01-01"), "")
    score = project_params("score", ScoreParams)
    work = tmp_path / "work"
    work.mkdir()
    tables, rejects, rows, _ = intake.read_inputs(staged, rules, {}, score, work)
    scored = pd.read_parquet(tables["leads"])
    assert len(rejects) == 0 and rows == len(trained["leads"]) == 2  # the contact: one person
    columns = ["lead_id", "email", "company", "account_id", "created_at", "marketing_score"]
    want = trained["leads"][columns].sort_values("lead_id").reset_index(drop=True)
    got = scored[columns].sort_values("lead_id").reset_index(drop=True)
    pd.testing.assert_frame_equal(got, want, check_dtype=False)
    assert want["created_at"].tolist()[:2] == [
        pd.Timestamp("2024-01-13 09:00"),
        pd.Timestamp("2024-02-02"),
    ]
    assert want["marketing_score"].tolist()[:2] == [1234, 1234]


def test_deleted_records_and_a_deal_on_no_account(tmp_path: Path) -> None:
    """An "export all" holds the recycle bin (IsDeleted): those rows are skipped. A private
    deal (AccountId empty) is kept: validation warns, it feeds no account."""
    folder = _org(tmp_path)
    deleted = LEAD | {"Id": "00Q9", "Email": "gone@acme.com", "IsDeleted": "true"}
    kept = [
        r | {"IsDeleted": "false"}
        for r in pd.read_csv(folder / "Lead.csv", dtype=str, keep_default_na=False).to_dict(
            "records"
        )
    ]
    _write(folder, "Lead.csv", [*kept, deleted])
    deal = {"Id": "0062", "AccountId": EMPTY, "CreatedDate": T, "CloseDate": "", "Amount": ""}
    first = pd.read_csv(folder / "Opportunity.csv", dtype=str, keep_default_na=False)
    _write(
        folder,
        "Opportunity.csv",
        [*first.to_dict("records"), deal | {"IsClosed": "false", "IsWon": "false"}],
    )
    tables, _ = canonical_tables(load_source([SF]), folder)
    assert "00Q9" not in set(tables["leads"]["lead_id"])
    deals = tables["opportunities"].set_index("opportunity_id")["account_id"]
    assert pd.isna(deals["0062"]) and deals["006000000000001AAA"] == "001000000000001AAA"
