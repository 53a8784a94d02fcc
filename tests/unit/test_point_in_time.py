"""Point in time, as a property: rows dated on or after t never change t's features."""

from __future__ import annotations

import pandas as pd
import pytest
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

from features.engine import build_snapshots
from features.matching import match_leads
from features.snapshots import SnapshotSpec, data_end, snapshot_dates
from mqlscore.schema import ACTIVITY_TYPES, LABEL_COLUMNS, SALES_ACTIVITY_TYPES
from sources.world import World


@pytest.fixture(scope="module")
def setup(tiny_world: World, spec: SnapshotSpec) -> tuple:
    tables = tiny_world.raw_tables()
    tables["lead_accounts"] = match_leads(tables["leads"], tables["accounts"])
    end = data_end(tables)
    snaps = snapshot_dates(tables["engagement"]["occurred_at"].min(), end, 3)
    t = snaps[len(snaps) // 2]
    before = build_snapshots(tables, spec, [t], end)
    return tables, spec, t, end, before


later = st.integers(min_value=0, max_value=200 * 86400)  # seconds on or after t


@settings(
    max_examples=12,
    deadline=None,
    phases=[Phase.explicit, Phase.reuse, Phase.generate],  # no shrinking: fail fast
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(
    events=st.lists(
        st.tuples(st.integers(0, 10**6), later, st.sampled_from(ACTIVITY_TYPES)),
        min_size=1,
        max_size=40,
    ),
    touches=st.lists(  # (who, when, type, on the account only: no person)
        st.tuples(
            st.integers(0, 10**6), later, st.sampled_from(SALES_ACTIVITY_TYPES), st.booleans()
        ),
        max_size=20,
    ),
    deals=st.lists(
        st.tuples(
            st.integers(0, 10**6),
            later,
            st.booleans(),
            st.lists(st.integers(0, 10**6), min_size=1, max_size=4),
        ),
        max_size=5,
    ),
)
def test_later_rows_leave_features_unchanged(setup, events, touches, deals) -> None:
    tables, spec, t, end, before = setup
    leads, accounts = tables["leads"]["lead_id"], tables["accounts"]["account_id"]
    at = lambda s: t + pd.Timedelta(seconds=s)  # noqa: E731
    new = dict(tables)
    new["engagement"] = pd.concat(
        [
            tables["engagement"],
            pd.DataFrame(
                {
                    "event_id": [10**9 + i for i in range(len(events))],
                    "lead_id": [leads.iloc[i % len(leads)] for i, _, _ in events],
                    "occurred_at": [at(s) for _, s, _ in events],
                    "activity_type": [a for _, _, a in events],
                    "campaign_id": "CMP-later",
                }
            ),
        ],
        ignore_index=True,
    )
    new["sales_activities"] = pd.concat(
        [
            tables["sales_activities"],
            pd.DataFrame(
                {
                    "activity_id": [10**9 + i for i in range(len(touches))],
                    "lead_id": [None if a else leads.iloc[i % len(leads)] for i, *_, a in touches],
                    "account_id": [accounts.iloc[i % len(accounts)] for i, *_ in touches],
                    "occurred_at": [at(s) for _, s, _, _ in touches],
                    "type": [k for _, _, k, _ in touches],
                }
            ),
        ],
        ignore_index=True,
    )
    opp_ids = [f"OLATER{i}" for i in range(len(deals))]
    new["opportunities"] = pd.concat(
        [
            tables["opportunities"],
            pd.DataFrame(
                {
                    "opportunity_id": opp_ids,
                    "account_id": [accounts.iloc[a % len(accounts)] for a, _, _, _ in deals],
                    "created_at": [at(s) for _, s, _, _ in deals],
                    "closed_at": [at(s + 86400) if won else pd.NaT for _, s, won, _ in deals],
                    "is_won": pd.array(
                        [won if won else None for _, _, won, _ in deals], dtype="boolean"
                    ),
                    "amount": 1000.0,
                }
            ),
        ],
        ignore_index=True,
    )
    new["opportunity_contacts"] = pd.concat(
        [
            tables["opportunity_contacts"],
            pd.DataFrame(
                [
                    (o, leads.iloc[p % len(leads)], "champion")
                    for o, (_, _, _, people) in zip(opp_ids, deals, strict=True)
                    for p in people
                ],
                columns=["opportunity_id", "lead_id", "role"],
            ),
        ],
        ignore_index=True,
    ).drop_duplicates(["opportunity_id", "lead_id"])
    after = build_snapshots(new, spec, [t], end)
    pd.testing.assert_frame_equal(
        before.leads.drop(columns=list(LABEL_COLUMNS)),
        after.leads.drop(columns=list(LABEL_COLUMNS)),
    )
    pd.testing.assert_frame_equal(
        before.accounts.drop(columns=["label", "label_won", "label_complete"]),
        after.accounts.drop(columns=["label", "label_won", "label_complete"]),
    )
