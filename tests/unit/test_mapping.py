"""Real exports through mapping files: dialects, parsing, value maps, clear errors."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
import yaml

from sources.mapping import (
    MappingError,
    canonical_tables,
    drop_personless,
    known_at_creation,
    load_source,
    map_part,
    read_export_file,
)
from tests.conftest import ROOT

OLIST = ROOT.parent / "shared" / "data" / "olist-marketing-funnel"
ROWS = [
    ["L1", "Müller GmbH", "01/10/2025", "line one\nline two"],
    ["L2", "Acme", "13/10/2025", "x"],
]


def _csv(path: Path, sep: str, encoding: str, newline: str, bom: bool = False) -> Path:
    header = sep.join(["Id", "Company", "Created", "Note"])
    body = [sep.join([a, b, c, f'"{d}"']) for a, b, c, d in ROWS]
    text = newline.join([header, *body]) + newline
    path.write_bytes((b"\xef\xbb\xbf" if bom else b"") + text.encode(encoding))
    return path


@pytest.mark.parametrize(
    ("sep", "encoding", "newline", "bom"),
    [
        (",", "utf-8", "\n", False),
        (",", "utf-8", "\r\n", True),  # Excel's UTF-8 with BOM and CRLF
        (";", "utf-8", "\n", False),  # European Excel
        (";", "latin-1", "\r\n", False),  # Latin-1 accents
        ("\t", "utf-8", "\n", False),
    ],
)
def test_csv_dialects_read_the_same(
    tmp_path: Path, sep: str, encoding: str, newline: str, bom: bool
) -> None:
    frame = read_export_file(_csv(tmp_path / "leads.csv", sep, encoding, newline, bom))
    assert list(frame.columns) == ["Id", "Company", "Created", "Note"]
    assert frame["Company"].tolist() == ["Müller GmbH", "Acme"]
    assert frame["Note"].iloc[0].replace("\r", "") == "line one\nline two"  # quoted newline


def test_placeholders_read_as_missing_and_bad_files_say_why(tmp_path: Path) -> None:
    path = tmp_path / "x.csv"
    path.write_text("Id,Score\nL1,N/A\nL2,NULL\nL3,--\nL4,7\n")
    assert read_export_file(path)["Score"].tolist() == [None, None, None, "7"]
    (tmp_path / "empty.csv").write_bytes(b"")
    with pytest.raises(MappingError, match="empty.csv: the file is empty"):
        read_export_file(tmp_path / "empty.csv")
    (tmp_path / "noise.csv").write_bytes(bytes(range(256)) * 4)
    with pytest.raises(MappingError, match="not a text file"):
        read_export_file(tmp_path / "noise.csv")


def _leads(**part: object) -> pd.DataFrame:
    frame = pd.DataFrame(
        {
            "Id": ["L1", "L2", "L3"],
            "Created": ["01/10/2025", "13/10/2025 09:30", "2025-10-02T10:00:00.000+0200"],
            "Score": ["1.234,5", "7", None],
            "Source": ["Web", "Trade Show", "Partner"],
            "Target": ["Yes", "no", "X"],
        }
    )
    columns = {"lead_id": "Id", "created_at": "Created", "marketing_score": "Score"}
    return map_part(frame, {"columns": columns, **part}, "leads", "leads.csv")


def test_day_first_dates_offsets_and_decimal_commas() -> None:
    out = _leads(dates={"dayfirst": True}, numbers={"decimal": ","})
    assert out["created_at"].tolist() == [
        pd.Timestamp("2025-10-01"),
        pd.Timestamp("2025-10-13 09:30"),
        pd.Timestamp("2025-10-02 08:00"),  # +02:00 to UTC
    ]
    assert out["marketing_score"].tolist()[:2] == [1234, 7] and pd.isna(out["marketing_score"][2])
    assert set(out.columns) >= {"email", "mql_at"} and out["email"].isna().all()


def test_a_date_that_does_not_parse_names_file_column_value_and_row() -> None:
    with pytest.raises(MappingError) as err:
        _leads(dates={"dayfirst": False})  # month-first: 13/10/2025 is no date
    assert "leads.csv, column 'Created': value '13/10/2025 09:30' in data row 2" in str(err.value)


def test_day_first_is_inferred_when_the_values_show_it_and_refused_when_mixed() -> None:
    assert _leads()["created_at"].iloc[0] == pd.Timestamp("2025-10-01")  # 13/10 shows it
    frame = pd.DataFrame({"Id": ["L1", "L2"], "Created": ["13/10/2025", "10/13/2025"]})
    part = {"columns": {"lead_id": "Id", "created_at": "Created"}}
    with pytest.raises(MappingError, match="mixes day-first .* and month-first"):
        map_part(frame, part, "leads", "f.csv")
    ambiguous = frame.assign(Created=["01/10/2025", "02/10/2025"])
    with pytest.raises(MappingError, match="ambiguous"):
        map_part(ambiguous, part, "leads", "f.csv")


def test_epoch_milliseconds() -> None:
    frame = pd.DataFrame({"Id": ["L1"], "Created": ["1759312800000"]})
    part = {"columns": {"lead_id": "Id", "created_at": "Created"}, "dates": {"unit": "ms"}}
    out = map_part(frame, part, "leads", "f.csv")
    assert out["created_at"].tolist() == [pd.Timestamp("2025-10-01 10:00")]


def test_value_maps_booleans_and_lists() -> None:
    frame = pd.DataFrame(
        {
            "Deal": ["D1", "D2"],
            "Contacts": ["11;12", "13"],
            "Role": ["Decision Maker", "Something new"],
        }
    )
    part = {
        "columns": {"opportunity_id": "Deal", "lead_id": "Contacts", "role": "Role"},
        "split": {"Contacts": ";"},
        "values": {"role": {"Decision Maker": "economic_buyer", "_other": "other"}},
    }
    out = map_part(frame, part, "opportunity_contacts", "deals.csv")
    assert out["lead_id"].tolist() == ["11", "12", "13"]
    assert out["role"].tolist() == ["economic_buyer", "economic_buyer", "other"]
    strict = {**part, "values": {"role": {"Decision Maker": "economic_buyer"}}}
    with pytest.raises(MappingError, match=r"'Something new' \(1 row\(s\), first in data row 3"):
        map_part(frame, strict, "opportunity_contacts", "deals.csv")
    won = pd.DataFrame({"Id": ["O1", "O2", "O3"], "Won": ["Yes", "no", "X"], "Acc": "A"})
    part = {"columns": {"opportunity_id": "Id", "is_won": "Won", "account_id": "Acc"}}
    assert map_part(won, part, "opportunities", "o.csv")["is_won"].tolist() == [True, False, True]


def test_a_missing_column_suggests_the_closest(tmp_path: Path) -> None:
    frame = pd.DataFrame({"Lead Id": ["L1"], "Created Date": ["2025-01-01"]})
    part = {"columns": {"lead_id": "Lead ID", "created_at": "Created Date"}}
    with pytest.raises(MappingError, match="no column 'Lead ID'.*closest: Lead Id"):
        map_part(frame, part, "leads", "leads.csv")


def test_a_source_needs_leads_and_opportunities(tmp_path: Path) -> None:
    path = tmp_path / "m.yaml"
    path.write_text(yaml.safe_dump({"name": "m", "tables": {"leads": {"file": "x.csv"}}}))
    with pytest.raises(MappingError, match="at least leads and opportunities"):
        load_source([path])


def _touch_source(folder: Path) -> Path:
    """A source of one lead, one deal and three tasks: on the lead, its account, nothing."""
    (folder / "Lead.csv").write_text("Id,CreatedDate\nL1,2025-01-01\n")
    (folder / "Opp.csv").write_text("Id,AccountId,CreatedDate\nO1,A1,2025-02-01\n")
    (folder / "Task.csv").write_text(
        "Id,WhoId,AccountId,ActivityDate\nT1,L1,,2025-01-05\nT2,,A1,2025-01-06\nT3,,,2025-01-07\n"
    )
    columns = {"activity_id": "Id", "lead_id": "WhoId", "occurred_at": "ActivityDate"}
    tables = {
        "leads": {"file": "Lead.csv", "columns": {"lead_id": "Id", "created_at": "CreatedDate"}},
        "opportunities": {
            "file": "Opp.csv",
            "columns": {
                "opportunity_id": "Id",
                "account_id": "AccountId",
                "created_at": "CreatedDate",
            },
        },
        "sales_activities": {
            "file": "Task.csv",
            "columns": columns | {"account_id": "AccountId"},
            "constants": {"type": "call"},
        },
    }
    path = folder / "m.yaml"
    path.write_text(yaml.safe_dump({"name": "crm", "tables": tables}))
    return path


def test_touches_on_nobody_are_dropped_and_counted(tmp_path: Path) -> None:
    tables, info = canonical_tables(load_source([_touch_source(tmp_path)]), tmp_path)
    sales = tables["sales_activities"]
    assert sales["activity_id"].tolist() == ["T1", "T2"]  # T2: on the account only, kept
    assert sales["account_id"].tolist() == [None, "A1"]
    assert info["dropped_rows"] == {"sales_activities": {"no lead or account": 1}}
    assert info["rows"]["sales_activities"] == 2


def test_drop_personless_keeps_every_table_when_each_touch_has_someone() -> None:
    sales = pd.DataFrame({"activity_id": ["T1", "T2"], "lead_id": ["L1", None]})
    tables = {"sales_activities": sales.assign(account_id=[None, "A1"])}
    kept, dropped = drop_personless(tables)
    assert dropped == {} and kept["sales_activities"].equals(tables["sales_activities"])


@pytest.mark.skipif(not OLIST.exists(), reason="needs ../shared/data")
def test_olist_ingests_8000_leads_and_842_won_deals() -> None:
    tables, info = canonical_tables(load_source([ROOT / "mappings/olist.yaml"]), OLIST)
    assert len(tables["leads"]) == 8000 and tables["leads"]["lead_id"].is_unique
    won = tables["opportunities"]
    assert len(won) == 842 and won["is_won"].all()
    assert set(won["opportunity_id"]) <= set(tables["leads"]["lead_id"])
    assert info["missing_tables"] == ["accounts", "engagement", "sales_activities"]
    assert info["extra_lead_columns"] == ["x_landing_page"]
    leaky = {"business_segment", "lead_type", "declared_monthly_revenue", "has_company"}
    assert not leaky & {c for frame in tables.values() for c in frame.columns}
    assert tables["leads"]["created_at"].min() == pd.Timestamp("2017-06-14")  # day-first


def test_nightly_scoring_takes_the_params_of_the_mappings_it_is_given(tmp_path: Path) -> None:
    from mqlscore.config import ValidateParams, load_section

    mine = tmp_path / "mine.yaml"
    spec = yaml.safe_load((ROOT / "mappings/salesforce.yaml").read_text())
    spec["params"] = {"validate": {"email_present_min_share": 0.0}}
    mine.write_text(yaml.safe_dump(spec))
    params = ROOT / "params.yaml"  # names no mapping: the synthetic world's thresholds
    assert load_section(params, "validate", ValidateParams).email_present_min_share == 0.9
    given = load_section(params, "validate", ValidateParams, [mine])
    assert given.email_present_min_share == 0.0


@pytest.mark.parametrize(
    ("params", "says"),
    [
        (["validate"], "mine.yaml: params is not a mapping of params.yaml sections"),
        ({"validate": 0.5}, "mine.yaml: params.validate is not a mapping of params.yaml keys"),
        (  # pydantic's report in one line (it was a first line saying only "invalid:")
            {"validate": {"email_present_min_share": "most"}},
            "section 'validate' is invalid: email_present_min_share: Input should be a valid "
            "number, unable to parse string as a number \\(found 'most'\\)$",
        ),
    ],
)
def test_a_mappings_params_block_that_cannot_apply_is_refused_in_one_line(
    tmp_path: Path, params: object, says: str
) -> None:
    from mqlscore.config import ParamsError, ValidateParams, load_section

    mine = tmp_path / "mine.yaml"
    mine.write_text(yaml.safe_dump({"name": "mine", "params": params}))
    with pytest.raises(ParamsError, match=says) as raised:  # was AttributeError, exit 3
        load_section(ROOT / "params.yaml", "validate", ValidateParams, [mine])
    assert "\n" not in str(raised.value)


def test_a_column_is_known_at_creation_only_where_every_part_reading_it_says_so(
    tmp_path: Path,
) -> None:
    lead = {"file": "Lead.csv", "columns": {"lead_id": "Id", "account_id": "Account__c"}}
    contact = {"file": "Contact.csv", "columns": {"lead_id": "Id", "account_id": "AccountId"}}
    deals = {"file": "Opp.csv", "columns": {"opportunity_id": "Id"}}

    def known(*parts: dict) -> dict:
        path = tmp_path / "m.yaml"
        path.write_text(yaml.safe_dump({"tables": {"leads": list(parts), "opportunities": deals}}))
        return known_at_creation(load_source([path]))

    said = {"known_at_creation": ["account_id"]}
    assert known(lead) == {}  # the schema's default: current state
    assert known(lead | said, contact | said) == {"leads": ["account_id"]}
    assert known(lead | said, contact) == {}  # Contact.csv's AccountId: not said
    assert known(lead | said, {"file": "Other.csv", "columns": {"lead_id": "Id"}}) == {
        "leads": ["account_id"]
    }
    with pytest.raises(MappingError, match="known_at_creation: 'acount_id' is not a column"):
        known(lead | {"known_at_creation": ["acount_id"]})
