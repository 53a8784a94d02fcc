"""Invariants of the synthetic world."""

from __future__ import annotations

import pandas as pd

from mqlscore.config import MqlRule, WorldParams, load_section
from mqlscore.schema import FOREIGN_KEYS, PRIMARY_KEYS, TABLES
from sources.world import World, generate_world, month_starts, title_points
from tests.conftest import ROOT


def test_tables_have_the_canonical_columns(tiny_world: World) -> None:
    assert set(tiny_world.tables()) == set(TABLES)
    for name, frame in tiny_world.tables().items():
        assert list(frame.columns) == list(TABLES[name]), name


def test_ids_are_unique_and_present(tiny_world: World) -> None:
    tables = tiny_world.tables()
    for table, key in PRIMARY_KEYS.items():
        ids = tables[table][key]
        assert ids.notna().all(), table
        assert ids.is_unique, table


def test_every_foreign_key_resolves(tiny_world: World) -> None:
    tables = tiny_world.raw_tables()
    for (table, column), (parent, parent_key) in FOREIGN_KEYS.items():
        values = tables[table][column].dropna().astype(str)
        assert values.isin(tables[parent][parent_key].astype(str)).all(), (table, column)
    assert tables["leads"]["account_id"].isna().any(), "some leads must need matching"


def test_every_touch_names_a_campaign_with_a_type_and_a_cost(tiny_world: World) -> None:
    campaigns = tiny_world.campaigns.set_index("campaign_id")
    assert set(campaigns.index) == set(tiny_world.engagement["campaign_id"])
    assert campaigns["actual_cost"].gt(0).all() and campaigns["budgeted_cost"].gt(0).all()
    typical = campaigns.groupby("type")["actual_cost"].median()
    assert typical["Trade Show"] > typical.drop("Trade Show").max()  # trade shows are dear
    assert typical["Webinar"] < typical["Advertisement"]  # webinars cheap
    shows = campaigns[campaigns["type"] == "Trade Show"].index
    assert shows.str.startswith("CMP-event_scan-").all()
    month = campaigns["started_at"].dt.to_period("M").dt.start_time
    assert campaigns["started_at"].eq(month).all()


def test_campaign_costs_follow_the_seed(tiny_world: World, world_params: WorldParams) -> None:
    """Costs come from a generator of their own, seeded by the world's seed."""
    from sources.world import campaign_table

    n = len(tiny_world.accounts)
    again = campaign_table(tiny_world.engagement, n, world_params.seed)
    pd.testing.assert_frame_equal(again, tiny_world.campaigns)
    other = campaign_table(tiny_world.engagement, n, world_params.seed + 1)
    assert not other["actual_cost"].equals(tiny_world.campaigns["actual_cost"])


def test_events_lie_inside_the_world_and_after_lead_creation(
    tiny_world: World, world_params: WorldParams
) -> None:
    bounds = month_starts(world_params)
    created = tiny_world.leads.set_index("lead_id")["created_at"]
    for frame in (tiny_world.engagement, tiny_world.sales_activities):
        when = frame["occurred_at"]
        assert when.min() >= bounds[0] and when.max() < bounds[-1]
        assert (when.to_numpy() >= created.loc[frame["lead_id"].astype(str)].to_numpy()).all()
    opps = tiny_world.opportunities
    closed = opps["closed_at"].notna()
    assert (opps.loc[closed, "closed_at"] >= opps.loc[closed, "created_at"]).all()
    assert opps.loc[~closed, "is_won"].isna().all() and opps.loc[closed, "is_won"].notna().all()


def test_default_world_has_at_least_a_million_events() -> None:
    params = load_section(ROOT / "params.yaml", "world", WorldParams)
    world = generate_world(params, load_section(ROOT / "params.yaml", "mql_rule", MqlRule))
    assert len(world.engagement) >= 1_000_000


def test_mql_rule_fires_at_the_first_crossing_of_the_threshold(
    tiny_world: World, rule: MqlRule
) -> None:
    leads = tiny_world.leads.set_index("lead_id")
    ev = tiny_world.engagement.assign(lead_id=tiny_world.engagement["lead_id"].astype(str))
    titles = title_points(leads["title"], rule)
    checked_mql = 0
    for lead_id, group in list(ev.groupby("lead_id"))[:400]:
        group = group.sort_values("occurred_at", kind="stable")
        points = group["activity_type"].astype(str).map(rule.activity_points).cumsum()
        score = titles.loc[lead_id] + points
        crossed = group.loc[score.to_numpy() >= rule.threshold, "occurred_at"]
        expected = crossed.iloc[0] if len(crossed) else pd.NaT
        actual = leads.loc[lead_id, "mql_at"]
        assert (pd.isna(expected) and pd.isna(actual)) or expected == actual, lead_id
        assert leads.loc[lead_id, "marketing_score"] == score.iloc[-1]
        checked_mql += pd.notna(actual)
    assert checked_mql > 10, "the sample must contain MQLs"


def test_noise_leads_are_rewarded_by_the_rule_but_never_convert(tiny_world: World) -> None:
    leads = tiny_world.leads
    noise = leads["company"].isin(["University", "Self-employed", ""])
    on_deals = leads["lead_id"].isin(tiny_world.opportunity_contacts["lead_id"])
    assert leads.loc[noise, "mql_at"].notna().mean() > 0.05
    assert not (noise & on_deals).any()


def test_same_seed_same_world_other_seed_other_world(world_params: WorldParams) -> None:
    rule = load_section(ROOT / "params.yaml", "mql_rule", MqlRule)
    small = world_params.model_copy(update={"accounts": 40})
    a, b = generate_world(small, rule), generate_world(small, rule)
    pd.testing.assert_frame_equal(a.engagement, b.engagement)
    c = generate_world(small.model_copy(update={"seed": small.seed + 1}), rule)
    assert len(c.engagement) != len(a.engagement) or not a.engagement.equals(c.engagement)


def test_truth_is_a_probability_and_zero_without_an_account(tiny_world: World) -> None:
    truth = tiny_world.truth_leads
    assert truth["p_opportunity"].between(0, 1).all()
    noise_ids = tiny_world.leads.loc[
        tiny_world.leads["company"].isin(["University", "Self-employed", ""]), "lead_id"
    ]
    assert (truth.loc[truth["lead_id"].isin(noise_ids), "p_opportunity"] == 0).all()
