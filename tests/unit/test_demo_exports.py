"""The strongest test of a mapping: the synthetic world written the way a source system
exports it, then ingested through the shipped mapping, gives back the world's own
canonical tables."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from mqlscore.schema import PRIMARY_KEYS, TABLES
from sources.demo import write_demo_export
from sources.mapping import canonical_tables, load_source
from sources.world import World
from tests.conftest import ROOT

MISSING = {"salesforce": [], "hubspot": ["engagement", "sales_activities"], "marketo": []}
# HubSpot's CRM exports hold no campaign table (Marketo's demo: Salesforce's Campaign.csv)
NO_CAMPAIGNS = {"hubspot"}
MAPPINGS = {"marketo": ["marketo", "salesforce"]}  # Marketo has no deals: with Salesforce
# HubSpot's deal-contact association carries no role and no date
LOST = {"hubspot": {"opportunity_contacts": ["role", "created_at"]}}
DATE_ONLY_CLOSE = {"salesforce", "marketo"}  # CloseDate is a date: read as its day's end


def _as_exported(frame: pd.DataFrame, table: str, system: str) -> pd.DataFrame:
    """The world's table as the export can tell it: a date-only close is its day's end."""
    if table != "opportunities" or system not in DATE_ONLY_CLOSE:
        return frame
    day_end = frame["closed_at"].dt.normalize() + pd.Timedelta(hours=23, minutes=59, seconds=59)
    return frame.assign(closed_at=day_end)


def _normal(frame: pd.DataFrame, table: str) -> pd.DataFrame:
    """Canonical columns, ids as text, blanks (a CSV cannot tell "" from none) as None,
    rows in key order."""
    out = frame[list(TABLES[table])].copy()
    for column, kind in TABLES[table].items():
        if kind in ("id", "str"):
            out[column] = out[column].map(lambda v: None if pd.isna(v) or v == "" else str(v))
        elif kind in ("int", "float"):
            out[column] = out[column].astype("float64")
        elif kind == "bool":
            out[column] = out[column].fillna(False).astype(bool)
        elif kind == "time":
            out[column] = out[column].astype("datetime64[us]")
    keys = [PRIMARY_KEYS[table]] if table in PRIMARY_KEYS else list(TABLES[table])[:2]
    return out.sort_values(keys).reset_index(drop=True)


@pytest.mark.parametrize("system", ["salesforce", "hubspot", "marketo"])
def test_the_world_exported_and_ingested_is_the_world(
    tiny_world: World, tmp_path: Path, system: str
) -> None:
    write_demo_export(tiny_world.tables(), system, tmp_path)
    mappings = [ROOT / f"mappings/{m}.yaml" for m in MAPPINGS.get(system, [system])]
    tables, info = canonical_tables(load_source(mappings), tmp_path)
    assert info["other_activity_types"] == {}
    assert info["missing_tables"] == MISSING[system]
    assert ("campaigns" in tables) == (system not in NO_CAMPAIGNS)
    for name, expected in tiny_world.tables().items():
        if name in MISSING[system] or name not in tables:
            continue
        lost = LOST.get(system, {}).get(name, [])
        got = _normal(tables[name], name)
        want = _normal(_as_exported(expected, name, system), name)
        assert got[lost].isna().all().all()
        pd.testing.assert_frame_equal(
            got.drop(columns=lost), want.drop(columns=lost), check_dtype=False, obj=name
        )


def test_converted_leads_and_their_contacts_are_one_person(
    tiny_world: World, tmp_path: Path
) -> None:
    write_demo_export(tiny_world.raw_tables(), "salesforce", tmp_path)
    contacts = pd.read_csv(tmp_path / "Contact.csv", dtype=str)
    roles = pd.read_csv(tmp_path / "OpportunityContactRole.csv", dtype=str)
    assert len(contacts) > 0 and roles["ContactId"].str.startswith("003").all()
    tables, _ = canonical_tables(load_source([ROOT / "mappings/salesforce.yaml"]), tmp_path)
    assert not tables["leads"]["lead_id"].str.startswith("003").any()  # no second person
    assert set(tables["opportunity_contacts"]["lead_id"]) <= set(tables["leads"]["lead_id"])
