"""Campaign ROI in the report: the campaigns table a Salesforce export's Campaign.csv
fills, and the campaign table's cost, return and cost per deal beside the credited deals."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from features.engine import build_snapshots
from features.matching import match_leads
from features.snapshots import SnapshotSpec, data_end, snapshot_dates
from mqlscore.evaluation.kinds import KINDS
from mqlscore.reporting import page, review
from sources.demo import write_demo_export
from sources.mapping import canonical_tables, load_source
from sources.world import World
from tests.conftest import ROOT

SALESFORCE = ROOT / "mappings/salesforce.yaml"
LOOKBACK, WINDOW = 90, 90
COST_COLUMNS = ["cost", "return_on_cost", "cost_per_deal_created", "cost_per_won_deal"]


def _evidence(test: pd.DataFrame, outcomes: pd.DataFrame, tables: dict) -> page.Evidence:
    """What the campaign section reads; the rest of the report is not looked at here."""
    return page.Evidence(
        kind=KINDS["lead"],
        summary={},
        test=test,
        outcomes=outcomes,
        curves={},
        grades={},
        label_window_days=WINDOW,
        lookback_days=LOOKBACK,
        buying_group_roles=5,
        engagement=tables["engagement"],
        campaigns=tables.get("campaigns"),
    )


@pytest.fixture(scope="module")
def salesforce_demo(tiny_world: World, spec: SnapshotSpec, tmp_path_factory) -> tuple:
    """The tiny world as Salesforce exports it (Campaign.csv with costs), mapped, and
    its lead rows at the two latest snapshots whose label windows are complete."""
    folder = tmp_path_factory.mktemp("salesforce")
    write_demo_export(tiny_world.tables(), "salesforce", folder)
    tables, info = canonical_tables(load_source([SALESFORCE]), folder)
    tables["lead_accounts"] = match_leads(tables["leads"], tables["accounts"])
    end = data_end(tables)
    built = build_snapshots(
        tables, spec, snapshot_dates(tables["leads"]["created_at"].min(), end, 3), end
    )
    complete = built.leads[built.leads["label_complete"] == 1]
    last = sorted(complete["snapshot_date"].unique())[-2:]
    test = complete[complete["snapshot_date"].isin(last)].reset_index(drop=True)
    test = test.assign(model=test["events_30d"] / (test["events_30d"] + 20))  # any score
    return tables, info, test, built


def _credited(tables: dict, test: pd.DataFrame, outcomes: pd.DataFrame) -> pd.DataFrame:
    """Per campaign, straight from the frames: the distinct deals created and won after a
    test row whose lead it touched in the lookback, and the won deals' amounts."""
    touches = tables["engagement"].merge(test[["lead_id", "snapshot_date"]], on="lead_id")
    lag = touches["snapshot_date"] - touches["occurred_at"]
    touches = touches[(lag > pd.Timedelta(0)) & (lag <= pd.Timedelta(days=LOOKBACK))]
    deals = touches[["campaign_id", "lead_id", "snapshot_date"]].drop_duplicates()
    deals = deals.merge(outcomes, on=["lead_id", "snapshot_date"])
    rows = {}
    for campaign, own in deals.groupby("campaign_id"):
        won = own[own["is_won"].eq(True)].drop_duplicates("opportunity_id")
        rows[campaign] = {
            "opportunities": own["opportunity_id"].nunique(),
            "won": len(won),
            "won_revenue": won["amount"].sum(),
        }
    return pd.DataFrame.from_dict(rows, orient="index")


def test_the_salesforce_demo_export_gives_cost_and_return_per_campaign(
    salesforce_demo: tuple, tiny_world: World
) -> None:
    tables, info, test, built = salesforce_demo
    assert info["missing_tables"] == [] and len(tables["campaigns"]) == len(tiny_world.campaigns)
    assert not [c for c in built.leads.columns if "cost" in c or "campaign" in c]  # no feature
    outcomes = built.lead_outcomes
    table = review.campaign_quality(
        tables["engagement"], test, outcomes, LOOKBACK, tables["campaigns"]
    ).set_index("campaign_id")
    world = tiny_world.campaigns.set_index("campaign_id")  # the world's own costs and types
    assert set(COST_COLUMNS) <= set(table.columns)
    assert table["type"].eq(world.loc[table.index, "type"]).all()
    assert table["cost"].eq(world.loc[table.index, "actual_cost"].round(0)).all()
    credited = _credited(tables, test, outcomes)
    paying = credited[credited["won"] > 0].index
    assert len(paying) >= 3, "the tiny world must credit some won deals to campaigns"
    cost = world["actual_cost"]
    for campaign in paying:
        row, want = table.loc[campaign], credited.loc[campaign]
        assert row["won_revenue"] == pytest.approx(want["won_revenue"])
        assert row["opportunities"] == want["opportunities"] and row["won"] == want["won"]
        roc = (want["won_revenue"] - cost[campaign]) / cost[campaign]
        assert row["return_on_cost"] == pytest.approx(roc, abs=0.005)
        per_deal = cost[campaign] / want["opportunities"]
        assert row["cost_per_deal_created"] == pytest.approx(per_deal, abs=0.5)
        assert row["cost_per_won_deal"] == pytest.approx(cost[campaign] / want["won"], abs=0.5)
    unpaid = table[table["won"] == 0]
    assert unpaid["cost_per_won_deal"].isna().all()  # no won deal: no cost per won deal
    assert (unpaid["return_on_cost"] == -1).all()  # nothing won: the whole cost lost
    section = page.campaign_section(_evidence(test, outcomes, tables))
    html = section.tables[0][1]
    assert "return on cost" in html and "cost per won deal" in html
    assert page.COSTS in section.text and page.NO_COSTS not in section.text
    assert (table["type"] == "Trade Show").any()  # the trade shows are in the table
    by_type = review.type_quality(
        tables["engagement"], test, outcomes, LOOKBACK, tables["campaigns"]
    ).set_index("type")
    shows = table[table["type"] == "Trade Show"]
    assert by_type.loc["Trade Show", "cost"] == pytest.approx(shows["cost"].sum(), abs=1)
    caption, types_html = section.tables[1]
    assert caption.startswith("By campaign type") and "Trade Show" in types_html


def test_without_a_campaign_file_the_table_says_so_once(salesforce_demo: tuple) -> None:
    tables, _, test, built = salesforce_demo
    without = {k: v for k, v in tables.items() if k != "campaigns"}
    section = page.campaign_section(_evidence(test, built.lead_outcomes, without))
    assert section.text.count(page.NO_COSTS) == 1
    assert "return on cost" not in section.tables[0][1]
    table = review.campaign_quality(tables["engagement"], test, built.lead_outcomes, LOOKBACK)
    assert not set(COST_COLUMNS) & set(table.columns)


def test_an_export_without_campaign_file_maps_as_before(tiny_world: World, tmp_path: Path) -> None:
    write_demo_export(tiny_world.raw_tables(), "salesforce", tmp_path)
    assert not (tmp_path / "Campaign.csv").exists()
    tables, info = canonical_tables(load_source([SALESFORCE]), tmp_path)
    assert "campaigns" not in tables and "campaigns" not in info["rows"]
    assert info["missing_tables"] == [] and "Campaign.csv" in info["absent_files"]


def test_campaign_costs_without_amounts_give_no_return() -> None:
    table = pd.DataFrame(
        {"campaign_id": ["C1"], "opportunities": [2], "won": [1], "won_revenue": [0.0]}
    )
    campaigns = pd.DataFrame(
        {"campaign_id": ["C1"], "budgeted_cost": [900.0], "actual_cost": [None]}
    )
    cost = table["campaign_id"].map(review.campaign_cost(campaigns))
    out = review.with_costs(table, cost, amounts=False).iloc[0]
    assert out["cost"] == 900.0  # no actual cost: the budget
    assert pd.isna(out["return_on_cost"]) and out["cost_per_deal_created"] == 450.0


def test_a_bad_campaign_cost_stops_ingest_but_no_nightly_scoring(
    tiny_world: World, tmp_path: Path
) -> None:
    from sources.intake import MappingError
    from sources.load import canonical_export

    folder = tmp_path / "export"
    write_demo_export(tiny_world.tables(), "salesforce", folder)
    campaign = pd.read_csv(folder / "Campaign.csv", dtype=str)
    campaign.loc[0, "ActualCost"] = "about 5k"
    campaign.to_csv(folder / "Campaign.csv", index=False)
    with pytest.raises(MappingError, match="Campaign.csv"):
        canonical_tables(load_source([SALESFORCE]), folder)
    staged = canonical_export([SALESFORCE], folder, tmp_path / "canonical")
    assert (staged / "leads.parquet").exists() and not (staged / "campaigns.parquet").exists()
