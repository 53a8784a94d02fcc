"""Point in time, as a property: rows dated on or after t never change t's features, nor
do edits of current-state columns (`schema.AS_OF`)."""

from __future__ import annotations

import pandas as pd
import pytest
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

from features.engine import build_snapshots
from features.matching import match_leads
from features.snapshots import SnapshotSpec, data_end, snapshot_dates
from mqlscore.schema import (
    ACTIVITY_TYPES,
    FOREIGN_KEYS,
    LABEL_COLUMNS,
    SALES_ACTIVITY_TYPES,
    TABLES,
    current_state,
)
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
    roles=st.lists(  # (which deal open at t, who, when): a role added to it later
        st.tuples(st.integers(0, 10**6), st.integers(0, 10**6), later), max_size=10
    ),
)
def test_later_rows_leave_features_unchanged(setup, events, touches, deals, roles) -> None:
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
                    (o, leads.iloc[p % len(leads)], "champion", at(s))
                    for o, (_, s, _, people) in zip(opp_ids, deals, strict=True)
                    for p in people
                ],
                columns=["opportunity_id", "lead_id", "role", "created_at"],
            ),
            _later_roles(tables, t, roles),
        ],
        ignore_index=True,
    ).drop_duplicates(["opportunity_id", "lead_id"])
    after = build_snapshots(new, spec, [t], end)
    pd.testing.assert_frame_equal(
        before.leads.drop(columns=list(LABEL_COLUMNS)),
        after.leads.drop(columns=list(LABEL_COLUMNS)),
    )
    pd.testing.assert_frame_equal(
        before.accounts.drop(columns=[c for c in LABEL_COLUMNS if c in before.accounts]),
        after.accounts.drop(columns=[c for c in LABEL_COLUMNS if c in after.accounts]),
    )


def _later_roles(tables: dict, t: pd.Timestamp, roles: list) -> pd.DataFrame:
    """Roles added on or after t to deals open at t, on people with no role on them."""
    deals = tables["opportunities"]
    open_at_t = deals[(deals["created_at"] < t) & ~(deals["closed_at"] < t)]["opportunity_id"]
    leads = tables["leads"]["lead_id"]
    rows = pd.DataFrame(
        {
            "opportunity_id": [open_at_t.iloc[d % len(open_at_t)] for d, _, _ in roles],
            "lead_id": [leads.iloc[p % len(leads)] for _, p, _ in roles],
            "role": "evaluator",
            "created_at": [t + pd.Timedelta(seconds=s) for _, _, s in roles],
        }
    )
    had = tables["opportunity_contacts"].set_index(["opportunity_id", "lead_id"]).index
    return rows[~rows.set_index(["opportunity_id", "lead_id"]).index.isin(had)]


@pytest.fixture(scope="module")
def current_setup(setup) -> tuple:
    """The same world with the leads' CRM account as current state (a source whose leads
    get it at conversion): matched without it."""
    tables, spec, t, end, _ = setup
    tables = dict(tables)
    tables["lead_accounts"] = match_leads(tables["leads"], tables["accounts"], crm_ids=False)
    return tables, spec, t, end, build_snapshots(tables, spec, [t], end)


def _edited(tables: dict, table: str, column: str, rows: list[int], seed: int) -> pd.DataFrame:
    """`table` with `column` overwritten on some rows by values of its kind (ids that
    resolve, where the column is a foreign key)."""
    frame = tables[table].copy()
    at = frame.index[[r % len(frame) for r in rows]]
    kind, parent = TABLES[table][column], FOREIGN_KEYS.get((table, column))
    if parent:
        pool = tables[parent[0]][parent[1]]
        values = [pool.iloc[(seed + i) % len(pool)] if i % 3 else None for i in range(len(at))]
    elif kind in ("int", "float"):
        values = [float(seed % 997 + i) for i in range(len(at))]
    else:
        values = [f"edited-{seed}-{i}" for i in range(len(at))]
    frame[column] = frame[column].astype(object)
    frame.loc[at, column] = values
    return frame.astype({column: tables[table][column].dtype}) if kind != "id" else frame


CURRENT = sorted(current_state({}))


@settings(
    max_examples=8,
    deadline=None,
    phases=[Phase.explicit, Phase.reuse, Phase.generate],
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(
    edits=st.lists(
        st.tuples(
            st.sampled_from(CURRENT), st.lists(st.integers(0, 10**6), min_size=1, max_size=50)
        ),
        min_size=1,
        max_size=4,
    ),
    seed=st.integers(0, 10**6),
)
def test_current_state_edits_leave_features_unchanged(current_setup, edits, seed) -> None:
    tables, spec, t, end, before = current_setup
    assert ("leads", "account_id") in CURRENT
    new = dict(tables)
    for (table, column), rows in edits:
        new[table] = _edited(new, table, column, rows, seed)
    new["lead_accounts"] = match_leads(new["leads"], new["accounts"], crm_ids=False)
    after = build_snapshots(new, spec, [t], end)
    pd.testing.assert_frame_equal(before.leads, after.leads)
    pd.testing.assert_frame_equal(before.accounts, after.accounts)
