"""Lead features: point in time, label window edges, persona parsing, truth isolation."""

from __future__ import annotations

import json
import re
from dataclasses import replace
from pathlib import Path

import pandas as pd
import pytest
import yaml

from features.engine import build_snapshots
from features.matching import match_leads
from features.persona import function_of, seniority_of
from features.snapshots import SnapshotSpec, blank_features, data_end, snapshot_dates
from mqlscore.io import EXPORT_FILE, write_json, write_parquet
from mqlscore.schema import ACTIVITY_TYPES, TABLES
from pipeline import featurize, validate_features
from sources.world import World
from tests.conftest import ROOT

DAY = pd.Timedelta(days=1)


def with_matches(tables: dict[str, pd.DataFrame]) -> dict[str, pd.DataFrame]:
    return {**tables, "lead_accounts": match_leads(tables["leads"], tables["accounts"])}


def build_leads(
    tables: dict[str, pd.DataFrame], spec: SnapshotSpec, snaps: list, end: pd.Timestamp
) -> pd.DataFrame:
    return build_snapshots(with_matches(tables), spec, snaps, end).leads


@pytest.fixture(scope="module")
def built(tiny_world: World, spec: SnapshotSpec) -> tuple[pd.DataFrame, list]:
    tables = tiny_world.raw_tables()
    snaps = snapshot_dates(tables["engagement"]["occurred_at"].min(), data_end(tables), 3)
    return build_leads(tables, spec, snaps, data_end(tables)), snaps


def _features_only(frame: pd.DataFrame) -> pd.DataFrame:
    drop = ["label", "label_won", "worked", "label_complete"]
    return frame.drop(columns=drop).sort_values(["lead_id"]).reset_index(drop=True)


def test_adding_rows_on_or_after_the_snapshot_changes_no_feature(
    tiny_world: World, spec: SnapshotSpec, built: tuple[pd.DataFrame, list]
) -> None:
    frame, snaps = built
    t = snaps[len(snaps) // 2]
    tables = {k: v.copy() for k, v in tiny_world.raw_tables().items()}
    # Replay earlier activity as if it happened again at or after t.
    ev = tables["engagement"]
    later = ev[ev["occurred_at"] < t].sample(2000, random_state=1)
    later = later.assign(
        occurred_at=t + pd.to_timedelta((later.index % 40) * 3600, unit="s"),
        event_id=later["event_id"] + 10_000_000,
    )
    tables["engagement"] = pd.concat([ev, later], ignore_index=True)
    sa = tables["sales_activities"]
    more_sales = sa.head(300).assign(
        occurred_at=t, activity_id=sa["activity_id"].head(300) + 10**7
    )
    tables["sales_activities"] = pd.concat([sa, more_sales], ignore_index=True)
    opps = tables["opportunities"]
    new_opp = opps.head(5).assign(
        opportunity_id=[f"OX{i}" for i in range(5)], created_at=t, closed_at=pd.NaT, is_won=pd.NA
    )
    tables["opportunities"] = pd.concat([opps, new_opp], ignore_index=True)
    after = build_leads(tables, spec, [t], data_end(tiny_world.raw_tables()))
    before = frame[frame["snapshot_date"] == t]
    pd.testing.assert_frame_equal(_features_only(before), _features_only(after))


def _one_deal_world(created: pd.Timestamp) -> dict[str, pd.DataFrame]:
    t0 = pd.Timestamp("2024-01-01")
    return {
        "accounts": pd.DataFrame(
            {
                "account_id": ["A1"],
                "name": ["Acme Inc"],
                "domain": ["acme.com"],
                "industry": ["software"],
                "employees": [50],
                "annual_revenue": [1e6],
                "country": ["US"],
                "is_target_account": [True],
            }
        ),
        "leads": pd.DataFrame(
            {
                "lead_id": ["L1"],
                "email": ["a@acme.com"],
                "title": ["CTO"],
                "company": ["Acme"],
                "account_id": ["A1"],
                "lead_source": ["web"],
                "created_at": [t0],
                "marketing_score": [0],
                "mql_at": [pd.NaT],
            }
        ),
        "engagement": pd.DataFrame(
            {
                "event_id": [1],
                "lead_id": ["L1"],
                "occurred_at": [t0 + pd.Timedelta(days=3)],
                "activity_type": ["web_visit"],
                "campaign_id": ["C1"],
            }
        ),
        "sales_activities": pd.DataFrame(
            {
                "activity_id": [1],
                "lead_id": ["L1"],
                "account_id": [None],
                "occurred_at": [t0],
                "type": ["call"],
            }
        ),
        "opportunities": pd.DataFrame(
            {
                "opportunity_id": ["O1"],
                "account_id": ["A1"],
                "created_at": [created],
                "closed_at": [created + pd.Timedelta(days=10)],
                "is_won": [True],
                "amount": [1000.0],
            }
        ),
        "opportunity_contacts": pd.DataFrame(
            {"opportunity_id": ["O1"], "lead_id": ["L1"], "role": ["champion"]}
        ),
    }


@pytest.mark.parametrize(
    ("offset", "expected"),
    [
        (pd.Timedelta(0), 1),  # created at the snapshot moment: inside
        (pd.Timedelta(days=90) - pd.Timedelta(seconds=1), 1),  # last second of day 90
        (pd.Timedelta(days=90), 0),  # day 91 starts: outside
    ],
)
def test_label_window_edges(spec: SnapshotSpec, offset: pd.Timedelta, expected: int) -> None:
    t = pd.Timestamp("2024-03-01")
    frame = build_leads(_one_deal_world(t + offset), spec, [t], pd.Timestamp("2025-01-01"))
    assert frame["label"].tolist() == [expected]
    assert frame["label_won"].tolist() == [expected]


def test_snapshot_features_count_only_the_past(spec: SnapshotSpec) -> None:
    t = pd.Timestamp("2024-03-01")
    world = _one_deal_world(t + pd.Timedelta(days=5))
    frame = build_leads(world, spec, [t], pd.Timestamp("2025-01-01"))
    row = frame.iloc[0]
    assert row["web_visit_90d"] == 1 and row["web_visit_30d"] == 0
    assert row["days_since_last_event"] == (t - pd.Timestamp("2024-01-04")).days
    assert row["seniority"] == "c_level" and row["free_mail"] == 0


def test_other_touches_count_in_the_totals_but_as_no_known_type(spec: SnapshotSpec) -> None:
    t = pd.Timestamp("2024-03-01")
    world = _one_deal_world(t + pd.Timedelta(days=5))  # a web visit on 2024-01-04, a call
    world["engagement"] = pd.concat(
        [world["engagement"], world["engagement"].assign(event_id=2, activity_type="other")]
    )
    world["sales_activities"] = pd.concat(
        [world["sales_activities"], world["sales_activities"].assign(activity_id=2, type="other")]
    )
    row = build_leads(world, spec, [t], pd.Timestamp("2025-01-01")).iloc[0]
    known = sum(row[f"{a}_90d"] for a in ACTIVITY_TYPES)
    assert (row["events_90d"], known, row["web_visit_90d"]) == (2, 1, 1)
    assert row["sales_touches_90d"] == 2
    assert not [c for c in row.index if c.startswith("other")]


def test_last_opportunity_outcome_is_its_state_at_each_snapshot(spec: SnapshotSpec) -> None:
    world = _one_deal_world(pd.Timestamp("2024-01-10"))  # O1: won on 2024-01-20
    second = world["opportunities"].assign(
        opportunity_id="O2",
        created_at=pd.Timestamp("2024-02-05"),
        closed_at=pd.Timestamp("2024-03-15"),
        is_won=False,
    )
    world["opportunities"] = pd.concat([world["opportunities"], second], ignore_index=True)
    world["leads"]["created_at"] = pd.Timestamp("2023-12-01")  # the account's first record
    spec = replace(spec, scoring=True)
    snaps = [pd.Timestamp(f"2024-0{m}-01") for m in (1, 2, 3, 4)]
    accounts = build_snapshots(with_matches(world), spec, snaps, pd.Timestamp("2025-01-01"))
    outcome = accounts.accounts.set_index("snapshot_date")["last_opportunity_outcome"]
    assert outcome.tolist() == ["none", "won", "open", "lost"]


@pytest.mark.parametrize(
    ("title", "seniority", "function"),
    [
        ("Chief Financial Officer", "c_level", "finance"),
        ("VP of Sales Operations", "vp", "sales"),
        ("Director of IT", "director", "it"),
        ("Procurement Manager", "manager", "procurement"),
        ("MBA Candidate", "student", "other"),
        ("Business Analyst", "individual", "other"),
        (None, "individual", "other"),
    ],
)
def test_persona_from_title(title: str | None, seniority: str, function: str) -> None:
    titles = pd.Series([title])
    assert seniority_of(titles).iloc[0] == seniority
    assert function_of(titles).iloc[0] == function


def test_truth_table_is_read_by_evaluation_only() -> None:
    stages = yaml.safe_load((ROOT / "dvc.yaml").read_text())["stages"]
    readers = {
        name
        for name, st in stages.items()
        if any(str(d).startswith("data/truth") for d in st.get("do", st).get("deps", []))
    }
    assert readers == {"evaluate"}
    learning_code = [
        *Path(ROOT / "features").glob("*.py"),
        ROOT / "pipeline/featurize.py",
        ROOT / "pipeline/train.py",
        ROOT / "pipeline/score.py",
        ROOT / "sources/nightly_run.py",
        *Path(ROOT / "mqlscore/modeling").glob("*.py"),
    ]
    for path in learning_code:
        assert not re.search(r"truth", path.read_text(), re.IGNORECASE), path


def test_truth_ranks_real_conversions(tiny_world: World, built: tuple[pd.DataFrame, list]) -> None:
    frame, _ = built
    rows = frame[frame["label_complete"] == 1].merge(
        tiny_world.truth_leads, on=["lead_id", "snapshot_date"]
    )
    top = rows["p_opportunity"] >= rows["p_opportunity"].quantile(0.9)
    assert rows.loc[top, "label"].mean() > 4 * rows["label"].mean()


@pytest.mark.parametrize(("won", "expected"), [(True, 1), (False, 0)])
def test_closed_won_label_counts_only_won_deals(
    spec: SnapshotSpec, won: bool, expected: int
) -> None:
    t = pd.Timestamp("2024-03-01")
    world = _one_deal_world(t + pd.Timedelta(days=5))
    world["opportunities"]["is_won"] = won
    frame = build_leads(world, replace(spec, label="closed_won"), [t], pd.Timestamp("2025-01-01"))
    assert frame["label"].tolist() == [expected]


def test_non_default_windows_name_and_count_their_columns(spec: SnapshotSpec) -> None:
    t = pd.Timestamp("2024-03-01")
    world = _one_deal_world(t + pd.Timedelta(days=5))  # one web visit on 2024-01-04
    frame = build_leads(world, replace(spec, windows_days=(14, 60, 120)), [t], t)
    assert {"web_visit_14d", "web_visit_60d", "web_visit_120d"} <= set(frame.columns)
    assert "web_visit_30d" not in frame.columns
    row = frame.iloc[0]
    assert (row["web_visit_14d"], row["web_visit_60d"], row["web_visit_120d"]) == (0, 1, 1)


def test_snapshots_every_second_month() -> None:
    dates = snapshot_dates(pd.Timestamp("2024-01-15"), pd.Timestamp("2024-12-31"), 2, 2)
    assert [d.month for d in dates] == [3, 5, 7, 9, 11]


def test_an_account_enters_the_grid_at_its_first_record(spec: SnapshotSpec) -> None:
    world = _one_deal_world(pd.Timestamp("2024-06-10"))  # lead created 2024-01-01 00:00
    snaps = [pd.Timestamp(f"2024-0{m}-01") for m in (1, 2, 3)]
    built = build_snapshots(with_matches(world), spec, snaps, pd.Timestamp("2025-01-01"))
    assert built.accounts["snapshot_date"].tolist() == snaps[1:]  # not before its lead


def test_arrival_rows_score_each_lead_once_at_its_first_snapshot(spec: SnapshotSpec) -> None:
    world = _one_deal_world(pd.Timestamp("2024-06-10"))
    snaps = list(pd.date_range("2024-01-01", "2024-01-10", freq="D"))
    built = build_snapshots(
        with_matches(world), replace(spec, rows="arrival"), snaps, pd.Timestamp("2025-01-01")
    )
    assert built.leads["snapshot_date"].tolist() == [pd.Timestamp("2024-01-02")]
    assert built.accounts["snapshot_date"].tolist() == [pd.Timestamp("2024-01-02")]


def test_blank_features_are_those_blank_on_more_than_the_share() -> None:
    blanks = {"employees": 100, "annual_revenue": 99, "industry": 98, "country": 0}
    assert blank_features(blanks, 100, 0.98) == {"employees": 1.0, "annual_revenue": 0.99}
    assert blank_features(blanks, 0, 0.98) == {}  # an empty table: nothing to judge


FEATURE_FILES = ("l.parquet", "a.parquet", "lo.parquet", "ao.parquet", "f.json")


def _featurize(
    tables: dict[str, pd.DataFrame], world: World, folder: Path, params: Path
) -> list[Path]:
    """The features stage on `tables`, written as raw Parquet files under `folder`; its
    products (leads, accounts, the two outcome tables, the summary)."""
    raw = folder / "raw"
    for name, frame in tables.items():
        write_parquet(frame, raw / f"{name}.parquet")
    write_json({"exported_at": world.exported_at.isoformat()}, raw / EXPORT_FILE)
    matches = folder / "lead_accounts.parquet"
    write_parquet(match_leads(tables["leads"], tables["accounts"]), matches)
    products = [folder / name for name in FEATURE_FILES]
    featurize.main(raw, matches, *products, params)
    return products


def test_a_folder_with_a_quote_in_its_name_is_read_and_written_by_duckdb(
    tiny_world: World, tiny_params_file: Path, tmp_path: Path
) -> None:
    """File paths reach DuckDB's SQL as quoted literals: `o'brien/` neither ends the string
    nor names another file."""
    tables = tiny_world.raw_tables()
    plain = _featurize(tables, tiny_world, tmp_path / "plain", tiny_params_file)
    quoted = _featurize(tables, tiny_world, tmp_path / "o'brien's data", tiny_params_file)
    for a, b in zip(plain, quoted, strict=True):
        assert a.read_bytes() == b.read_bytes(), b.name


def test_a_firmographic_never_filled_is_dropped_from_the_model_tables_and_named(
    tiny_world: World, tiny_params_file: Path, tmp_path: Path
) -> None:
    tables = {k: v.copy() for k, v in tiny_world.raw_tables().items()}
    tables["accounts"]["employees"] = pd.array([pd.NA] * len(tables["accounts"]), dtype="Int64")
    leads, accounts, *_, summary = _featurize(tables, tiny_world, tmp_path, tiny_params_file)
    blank = json.loads(summary.read_text())["blank_features"]
    assert blank == {"leads": {"employees": 1.0}, "accounts": {"employees": 1.0}}
    for table in (leads, accounts):
        columns = pd.read_parquet(table).columns
        assert "employees" not in columns and "annual_revenue" in columns
    validate_features.main(leads, accounts, tmp_path / "v.json", None, tiny_params_file)  # passes


def _with_touches(
    world: dict[str, pd.DataFrame], touches: list[tuple[str | None, str | None, pd.Timestamp]]
) -> dict[str, pd.DataFrame]:
    """The world plus sales calls, each (lead_id, account_id, when)."""
    rows = pd.DataFrame(
        [(100 + i, lead, acc, when, "call") for i, (lead, acc, when) in enumerate(touches)],
        columns=list(TABLES["sales_activities"]),
    )
    sales = pd.concat([world["sales_activities"], rows], ignore_index=True)
    return {**world, "sales_activities": sales}


@pytest.mark.parametrize(
    ("lead", "lead_touches", "account_touches"),
    [
        (None, 1, 2),  # on the account only: the account's touches, not the lead's
        ("L1", 2, 2),  # on the lead and its account: once for each
    ],
)
def test_a_touch_before_the_snapshot_counts_for_its_account(
    spec: SnapshotSpec, lead: str | None, lead_touches: int, account_touches: int
) -> None:
    t = pd.Timestamp("2024-03-01")
    longest = max(spec.windows_days)
    world = _with_touches(_one_deal_world(t + pd.Timedelta(days=5)), [(lead, "A1", t - DAY)])
    built = build_snapshots(with_matches(world), spec, [t], pd.Timestamp("2025-01-01"))
    assert built.leads[f"sales_touches_{longest}d"].tolist() == [lead_touches]
    for frame in (built.leads, built.accounts):
        assert frame[f"account_sales_touches_{longest}d"].tolist() == [account_touches]


def test_account_only_touches_on_or_after_the_snapshot_change_nothing(
    spec: SnapshotSpec,
) -> None:
    t = pd.Timestamp("2024-03-01")
    world = _one_deal_world(t + pd.Timedelta(days=5))
    later = _with_touches(world, [(None, "A1", t), (None, "A1", t + 10 * DAY)])
    before = build_snapshots(with_matches(world), spec, [t], pd.Timestamp("2025-01-01"))
    after = build_snapshots(with_matches(later), spec, [t], pd.Timestamp("2025-01-01"))
    pd.testing.assert_frame_equal(before.leads, after.leads)  # `worked` too: no lead touched
    pd.testing.assert_frame_equal(before.accounts, after.accounts)
    assert before.leads["worked"].tolist() == [0]
