"""Point-in-time lead and account snapshots: features, labels and outcomes, as SQL.

Written once in DuckDB's dialect using only constructs Spark SQL also has (sqlglot
translates the spelling), so the same definitions run embedded or distributed
(`features.engine`). Every feature of a row at snapshot t uses only rows dated strictly
before t; labels use opportunities created in [t, t + label window).

Inputs (registered as tables): the canonical raw tables, `lead_accounts` from the join
stage and `snaps` (one column, snapshot_date). Intermediate tables join on integer keys
(`lead_key`, `snap_key`: the ranks of lead_id and snapshot_date), measured 10% faster at
10M events than joining on the text id and timestamp; outputs keep lead_id and
snapshot_date and their order.
"""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd

from features.persona import function_sql, seniority_sql
from mqlscore.config import FeatureParams, MqlRule
from mqlscore.schema import (
    ACCOUNT_MARKETING_COLUMNS,
    ACTIVITY_TYPES,
)

HIGH_INTENT: tuple[str, ...] = ("pricing_page_visit", "form_fill")
ROWS: tuple[str, ...] = ("all", "arrival")
# Features a source without the table cannot support (they would all read zero): by
# name prefix, exact name or suffix. Dropped and named, never zero-filled.
NEEDS_TABLE: dict[str, tuple[str, ...]] = {
    "engagement": (
        "days_since_last_event",
        "events_",
        *(f"{a}_" for a in ACTIVITY_TYPES),
        "high_intent_",
        "decayed_engagement",
        "engagement_trend",
        "account_engaged_",
        "buying_group_coverage",
        "account_events_",
        "account_high_intent_",
        "account_velocity",
    ),
    "sales_activities": ("sales_touches_", "account_sales_touches_"),
    "accounts": ("employees", "annual_revenue", "is_target_account", "industry", "country"),
}


def unsupported_features(columns: list[str], missing_tables: list[str]) -> dict[str, list[str]]:
    """Per missing table, the feature columns it would have fed."""
    return {
        table: [c for c in columns if c.startswith(NEEDS_TABLE.get(table, ()))]
        for table in missing_tables
        if table in NEEDS_TABLE
    }


def blank_features(blanks: dict[str, int], rows: int, max_share: float) -> dict[str, float]:
    """The features blank on more than `max_share` of `rows`, with their blank share
    (none of an empty table)."""
    if rows == 0:
        return {}
    return {c: round(n / rows, 4) for c, n in blanks.items() if n / rows > max_share}


LABELS: tuple[str, ...] = ("opportunity_created", "closed_won")


@dataclass(frozen=True)
class BuyingRole:
    """One slot of the buying-group template: a person of these seniorities or functions."""

    name: str
    seniorities: tuple[str, ...] = ()
    functions: tuple[str, ...] = ()


@dataclass(frozen=True)
class SnapshotSpec:
    """Everything the snapshot queries need besides the data (built by `spec_from`)."""

    windows_days: tuple[int, ...]
    label_window_days: int
    label: str
    half_life_days: float
    title_points: dict[str, int]
    activity_points: dict[str, int]
    buying_group: tuple[BuyingRole, ...]
    # all: a row per snapshot while the lead lives; arrival: only its first snapshot
    rows: str = "all"
    extra_lead_columns: tuple[str, ...] = ()  # a mapping's pass-through columns (x_...)
    # Scoring keeps leads and accounts already on an open opportunity (flagged, not dropped).
    scoring: bool = False

    def __post_init__(self) -> None:
        if self.label not in LABELS:
            raise ValueError(f"label must be one of {', '.join(LABELS)}, not {self.label!r}")
        if self.rows not in ROWS:
            raise ValueError(f"rows must be one of {', '.join(ROWS)}, not {self.rows!r}")
        if len(self.windows_days) < 2:
            raise ValueError("windows_days needs at least two windows")


def spec_from(
    config: FeatureParams, rule: MqlRule, scoring: bool = False, extra: tuple[str, ...] = ()
) -> SnapshotSpec:
    """The snapshot spec from the `features` and `mql_rule` params (and the lead columns
    a mapping passes through, from `export.json`)."""
    return SnapshotSpec(
        windows_days=tuple(config.windows_days),
        label_window_days=config.label_window_days,
        label=config.label,
        half_life_days=config.half_life_days,
        title_points=rule.title_points,
        activity_points=rule.activity_points,
        buying_group=tuple(BuyingRole(**role.model_dump()) for role in config.buying_group),
        scoring=scoring,
        rows=config.rows,
        extra_lead_columns=tuple(extra),
    )


def snapshot_dates(
    data_start: pd.Timestamp,
    data_end: pd.Timestamp,
    first_month: int,
    cadence_months: int = 1,
    cadence_days: int = 0,
) -> list[pd.Timestamp]:
    """Month starts every `cadence_months`, from `first_month` months into the data; or,
    with `cadence_days`, midnights every that many days from then (from the day after
    the data starts when `first_month` is 0), for leads that convert within weeks."""
    first = data_start.to_period("M").to_timestamp() + pd.DateOffset(months=first_month)
    last = data_end - pd.Timedelta(seconds=1)
    if not cadence_days:
        return list(pd.date_range(first, last, freq=f"{cadence_months}MS"))
    if not first_month:
        first = data_start.floor("D") + pd.Timedelta(days=1)
    return list(pd.date_range(first, last, freq=f"{cadence_days}D"))


def data_start(tables: dict[str, pd.DataFrame]) -> pd.Timestamp:
    """The first marketing touch, or the first lead when the source has no touches."""
    first_touch = tables["engagement"]["occurred_at"].min()
    return pd.Timestamp(
        first_touch if pd.notna(first_touch) else tables["leads"]["created_at"].min()
    )


def data_end(tables: dict[str, pd.DataFrame]) -> pd.Timestamp:
    """The export moment: midnight after the newest timestamp in the activity tables
    (tables a source lacks are empty and skipped)."""
    newest = pd.Series(
        [
            tables["engagement"]["occurred_at"].max(),
            tables["sales_activities"]["occurred_at"].max(),
            tables["opportunities"]["created_at"].max(),
            tables["opportunities"]["closed_at"].max(),
            tables["leads"]["created_at"].max(),
        ]
    ).max()
    return pd.Timestamp(newest).floor("D") + pd.Timedelta(days=1)


def _in(values: tuple[str, ...]) -> str:
    return "(" + ", ".join(f"'{v}'" for v in values) + ")"


def _case(column: str, points: dict[str, int]) -> str:
    whens = " ".join(f"WHEN '{k}' THEN {v}" for k, v in points.items())
    return f"(CASE {column} {whens} ELSE 0 END)"


def _count(condition: str) -> str:
    """Rows meeting a condition; FILTER measured 1.7x faster than sum(CASE ...) in DuckDB."""
    return f"count(*) FILTER (WHERE {condition})"


def _days(start: str, end: str) -> str:
    """Calendar days between two timestamps (as dates, so both engines agree)."""
    return f"date_diff('day', CAST({start} AS DATE), CAST({end} AS DATE))"


def _recent(column: str, days: int) -> str:
    return f"{column} >= s.snapshot_date - INTERVAL {days} DAY"


def _event_columns(windows: tuple[int, ...]) -> list[str]:
    cols = []
    for w in windows:
        cols += [f"events_{w}d", *(f"{a}_{w}d" for a in ACTIVITY_TYPES), f"high_intent_{w}d"]
    return cols


def window_aggregates(spec: SnapshotSpec) -> list[str]:
    """The per-(lead, snapshot) aggregates over events `e` joined to snapshots `s`:
    counts per activity type and window, high-intent counts, decayed engagement."""
    counts = []
    for w in sorted(spec.windows_days):
        recent = _recent("e.occurred_at", w)
        counts.append(f"{_count(recent)} AS events_{w}d")
        counts += [
            f"{_count(f'{recent} AND e.activity_type = {chr(39)}{a}{chr(39)}')} AS {a}_{w}d"
            for a in ACTIVITY_TYPES
        ]
        counts.append(
            f"{_count(f'{recent} AND e.activity_type IN {_in(HIGH_INTENT)}')} AS high_intent_{w}d"
        )
    age = f"CAST({_days('e.occurred_at', 's.snapshot_date')} AS DOUBLE)"
    decay = f"power(CAST(0.5 AS DOUBLE), {age} / {float(spec.half_life_days)})"
    return [*counts, f"sum({decay}) AS decayed_engagement"]


def shared_tables(spec: SnapshotSpec, end: pd.Timestamp) -> list[tuple[str, str]]:
    """Intermediate tables both snapshot tables read, in dependency order (name, SELECT)."""
    windows = tuple(sorted(spec.windows_days))
    longest = windows[-1]
    slots = []
    for role in spec.buying_group:
        conditions = []
        if role.seniorities:
            conditions.append(f"la.seniority IN {_in(role.seniorities)}")
        if role.functions:
            conditions.append(f"la.function IN {_in(role.functions)}")
        slots.append(f"max(CASE WHEN {' OR '.join(conditions)} THEN 1 ELSE 0 END)")
    coverage = " + ".join(slots)
    return [
        (
            "lead_acc",
            f"""
        SELECT CAST(row_number() OVER (ORDER BY l.lead_id) AS INTEGER) AS lead_key,
               l.lead_id, l.created_at, l.mql_at, m.account_id, m.match_rule, l.lead_source,
               {"".join(f"l.{c}, " for c in spec.extra_lead_columns)}
               CAST(m.personal_email AS INTEGER) AS free_mail,
               {seniority_sql("l.title")} AS seniority,
               {function_sql("l.title")} AS function
        FROM leads l JOIN lead_accounts m ON m.lead_id = l.lead_id
    """,
        ),
        (
            "intervals",
            """
        SELECT snapshot_date,
               CAST(row_number() OVER (ORDER BY snapshot_date) AS INTEGER) AS snap_key,
               lag(snapshot_date) OVER (ORDER BY snapshot_date) AS prev_date
        FROM snaps
    """,
        ),
        (
            "grid",
            """
        SELECT la.lead_key, s.snap_key FROM lead_acc la CROSS JOIN intervals s
    """,
        ),
        (
            "events",
            """
        SELECT la.lead_key, e.occurred_at, e.activity_type
        FROM engagement e JOIN lead_acc la ON la.lead_id = e.lead_id
    """,
        ),
        (
            "sales",  # touches on a person (lead features and `worked`); account-only ones not
            """
        SELECT la.lead_key, sa.occurred_at
        FROM sales_activities sa JOIN lead_acc la ON la.lead_id = sa.lead_id
    """,
        ),
        (
            # Each sales touch once per account it is on: its lead's account, and the
            # account it names directly when that is another (a touch on no person).
            "account_touches",
            """
        SELECT la.account_id, sa.occurred_at
        FROM sales_activities sa JOIN lead_acc la ON la.lead_id = sa.lead_id
        WHERE la.account_id IS NOT NULL
        UNION ALL
        SELECT CAST(sa.account_id AS VARCHAR) AS account_id, sa.occurred_at
        FROM sales_activities sa LEFT JOIN lead_acc la ON la.lead_id = sa.lead_id
        WHERE sa.account_id IS NOT NULL
          AND (la.account_id IS NULL OR la.account_id <> CAST(sa.account_id AS VARCHAR))
    """,
        ),
        (
            "ev_bucket",
            f"""
        SELECT e.lead_key, i.snap_key, max(e.occurred_at) AS last_at,
               sum({_case("e.activity_type", spec.activity_points)}) AS points
        FROM events e
        JOIN intervals i ON e.occurred_at < i.snapshot_date
                        AND (i.prev_date IS NULL OR e.occurred_at >= i.prev_date)
        GROUP BY e.lead_key, i.snap_key
    """,
        ),
        (
            "ev_history",
            """
        SELECT g.lead_key, g.snap_key,
               max(b.last_at) OVER w AS last_event_at,
               sum(coalesce(b.points, 0)) OVER w AS event_points
        FROM grid g
        LEFT JOIN ev_bucket b ON b.lead_key = g.lead_key AND b.snap_key = g.snap_key
        WINDOW w AS (PARTITION BY g.lead_key ORDER BY g.snap_key
                     ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW)
    """,
        ),
        (
            "ev_win",
            f"""
        SELECT e.lead_key, s.snap_key,
               {(", " + chr(10) + "               ").join(window_aggregates(spec))}
        FROM events e
        JOIN intervals s ON e.occurred_at < s.snapshot_date
                        AND {_recent("e.occurred_at", longest)}
        GROUP BY e.lead_key, s.snap_key
    """,
        ),
        (
            "sales_win",
            f"""
        SELECT sa.lead_key, s.snap_key, count(*) AS sales_touches_{longest}d,
               max(sa.occurred_at) AS last_sales_touch_at
        FROM sales sa
        JOIN intervals s ON sa.occurred_at < s.snapshot_date
                        AND {_recent("sa.occurred_at", longest)}
        GROUP BY sa.lead_key, s.snap_key
    """,
        ),
        (
            "lead_worked",
            f"""
        SELECT DISTINCT sa.lead_key, s.snap_key
        FROM sales sa
        JOIN intervals s ON sa.occurred_at >= s.snapshot_date
                    AND sa.occurred_at < s.snapshot_date + INTERVAL {spec.label_window_days} DAY
    """,
        ),
        (
            "acc_win",
            f"""
        SELECT la.account_id, w.snap_key,
               {_count(f"w.events_{windows[1]}d > 0")} AS account_engaged_contacts_{windows[1]}d,
               count(*) AS account_engaged_contacts_{longest}d,
               count(DISTINCT la.function) AS account_engaged_functions_{longest}d,
               count(DISTINCT la.seniority) AS account_engaged_seniorities_{longest}d,
               {_count("la.seniority IN ('c_level', 'vp', 'director')")}
                   AS account_engaged_senior_{longest}d,
               CAST({coverage} AS DOUBLE) / {float(len(spec.buying_group))}
                   AS buying_group_coverage,
               sum(w.events_{windows[1]}d) AS account_events_{windows[1]}d,
               sum(w.events_{longest}d) AS account_events_{longest}d,
               sum(w.high_intent_{windows[1]}d) AS account_high_intent_{windows[1]}d,
               sum(w.high_intent_{longest}d) AS account_high_intent_{longest}d
        FROM ev_win w JOIN lead_acc la ON la.lead_key = w.lead_key
        WHERE la.account_id IS NOT NULL
        GROUP BY la.account_id, w.snap_key
    """,
        ),
        (
            "acc_sales",
            f"""
        SELECT t.account_id, s.snap_key, count(*) AS account_sales_touches_{longest}d
        FROM account_touches t
        JOIN intervals s ON t.occurred_at < s.snapshot_date
                        AND {_recent("t.occurred_at", longest)}
        GROUP BY t.account_id, s.snap_key
    """,
        ),
        (
            "acc_history",
            f"""
        SELECT o.account_id, s.snap_key,
               count(*) AS account_prior_opportunities,
               {_count("o.closed_at < s.snapshot_date AND o.is_won")} AS account_prior_won,
               {_count("o.closed_at < s.snapshot_date AND NOT o.is_won")} AS account_prior_lost,
               {_count("o.closed_at IS NULL OR o.closed_at >= s.snapshot_date")}
                   AS account_open_opportunities,
               min({_days("o.created_at", "s.snapshot_date")})
                   AS days_since_last_opportunity,
               max(o.created_at) AS last_opportunity_at
        FROM opportunities o JOIN intervals s ON o.created_at < s.snapshot_date
        GROUP BY o.account_id, s.snap_key
    """,
        ),
        (
            # The newest opportunity's state at the snapshot: 1 open, 2 lost, 3 won
            # (opportunities created the same moment: the best state counts).
            "acc_last",
            """
        SELECT h.account_id, h.snap_key,
               max(CASE WHEN o.closed_at IS NULL OR o.closed_at >= s.snapshot_date THEN 1
                        WHEN o.is_won THEN 3 ELSE 2 END) AS last_state
        FROM acc_history h
        JOIN intervals s ON s.snap_key = h.snap_key
        JOIN opportunities o ON o.account_id = h.account_id
                            AND o.created_at = h.last_opportunity_at
        GROUP BY h.account_id, h.snap_key
    """,
        ),
        (
            # On an open deal at the snapshot: by roles added before it (a role's own
            # date, else its deal's), so a role added later moves no earlier row.
            "lead_open_deal",
            """
        SELECT la.lead_key, s.snap_key, count(*) AS open_deals
        FROM opportunity_contacts oc
        JOIN lead_acc la ON la.lead_id = oc.lead_id
        JOIN opportunities o ON o.opportunity_id = oc.opportunity_id
        JOIN intervals s ON o.created_at < s.snapshot_date
                        AND coalesce(oc.created_at, o.created_at) < s.snapshot_date
                        AND (o.closed_at IS NULL OR o.closed_at >= s.snapshot_date)
        GROUP BY la.lead_key, s.snap_key
    """,
        ),
        (
            "window_deals",
            f"""
        SELECT o.opportunity_id, o.account_id, o.is_won, o.amount, s.snapshot_date, s.snap_key,
               o.created_at AS deal_at
        FROM opportunities o
        JOIN intervals s ON o.created_at >= s.snapshot_date
                    AND o.created_at < s.snapshot_date + INTERVAL {spec.label_window_days} DAY
        {"WHERE o.is_won" if spec.label == "closed_won" else ""}
    """,
        ),
        (
            "lead_outcomes",
            """
        SELECT la.lead_key, oc.lead_id, d.snap_key, d.snapshot_date, d.opportunity_id,
               d.is_won, d.amount, d.deal_at
        FROM window_deals d
        JOIN opportunity_contacts oc ON oc.opportunity_id = d.opportunity_id
        JOIN lead_acc la ON la.lead_id = oc.lead_id
    """,
        ),
        (
            "lead_labels",
            """
        SELECT lead_key, snap_key, 1 AS label,
               max(CASE WHEN is_won THEN 1 ELSE 0 END) AS label_won, min(deal_at) AS label_at
        FROM lead_outcomes GROUP BY lead_key, snap_key
    """,
        ),
        (
            "account_labels",
            """
        SELECT account_id, snap_key, 1 AS label,
               max(CASE WHEN is_won THEN 1 ELSE 0 END) AS label_won, min(deal_at) AS label_at
        FROM window_deals GROUP BY account_id, snap_key
    """,
        ),
        (
            "lead_rows",
            f"""
        SELECT la.*, s.snapshot_date, s.snap_key,
               CASE WHEN od.lead_key IS NULL THEN 0 ELSE 1 END AS on_open_opportunity
        FROM lead_acc la
        JOIN intervals s ON la.created_at < s.snapshot_date{_arrival("la.created_at", spec)}
        LEFT JOIN lead_open_deal od ON od.lead_key = la.lead_key AND od.snap_key = s.snap_key
        {"" if spec.scoring else "WHERE od.lead_key IS NULL"}
    """,
        ),
        ("label_end", f"SELECT TIMESTAMP '{end:%Y-%m-%d %H:%M:%S}' AS data_end"),
        (
            "account_first",  # an account enters the grid at its first record
            """
        SELECT account_id, min(t) AS first_seen FROM (
            SELECT account_id, created_at AS t FROM lead_acc WHERE account_id IS NOT NULL
            UNION ALL
            SELECT account_id, created_at AS t FROM opportunities
        ) GROUP BY account_id
    """,
        ),
        (
            "account_rows",
            f"""
        SELECT a.account_id, s.snapshot_date, s.snap_key
        FROM accounts a JOIN account_first f ON f.account_id = a.account_id
        JOIN intervals s ON f.first_seen < s.snapshot_date{_arrival("f.first_seen", spec)}
    """,
        ),
        (
            "account_marketing",
            f"""
        SELECT la.account_id, s.snap_key,
               sum({_case("la.seniority", spec.title_points)} + h.event_points)
                   AS account_marketing_points,
               {_count("la.mql_at < s.snapshot_date")} AS account_mql_leads
        FROM ev_history h
        JOIN lead_acc la ON la.lead_key = h.lead_key
        JOIN intervals s ON s.snap_key = h.snap_key
        WHERE la.account_id IS NOT NULL AND la.created_at < s.snapshot_date
        GROUP BY la.account_id, s.snap_key
    """,
        ),
    ]


def _account_columns(spec: SnapshotSpec) -> list[tuple[str, str]]:
    """(source alias, column) of every account-level feature shared by both tables."""
    windows = tuple(sorted(spec.windows_days))
    mid, longest = windows[1], windows[-1]
    from_win = [
        f"account_engaged_contacts_{mid}d",
        f"account_engaged_contacts_{longest}d",
        f"account_engaged_functions_{longest}d",
        f"account_engaged_seniorities_{longest}d",
        f"account_engaged_senior_{longest}d",
        "buying_group_coverage",
        f"account_events_{mid}d",
        f"account_events_{longest}d",
        f"account_high_intent_{mid}d",
        f"account_high_intent_{longest}d",
    ]
    from_history = ["account_prior_opportunities", "account_prior_won", "account_prior_lost"]
    return (
        [("aw", c) for c in from_win]
        + [("asl", f"account_sales_touches_{longest}d")]
        + [("ah", c) for c in from_history]
    )


def _account_select(spec: SnapshotSpec) -> str:
    windows = tuple(sorted(spec.windows_days))
    mid, longest = windows[1], windows[-1]
    cols = [f"CAST(coalesce({a}.{c}, 0) AS DOUBLE) AS {c}" for a, c in _account_columns(spec)]
    cols.append(
        f"CAST(coalesce(aw.account_events_{mid}d, 0) - (coalesce(aw.account_events_{longest}d, 0)"
        f" - coalesce(aw.account_events_{mid}d, 0)) * CAST({mid / (longest - mid)} AS DOUBLE)"
        " AS DOUBLE) AS account_velocity"
    )
    cols.append(
        "CAST(coalesce(ah.days_since_last_opportunity, 9999) AS DOUBLE)"
        " AS days_since_last_opportunity"
    )
    cols.append(
        "CASE al.last_state WHEN 1 THEN 'open' WHEN 2 THEN 'lost' WHEN 3 THEN 'won'"
        " ELSE 'none' END AS last_opportunity_outcome"
    )
    return ",\n           ".join(cols)


def _account_joins(key: str) -> str:
    return f"""
    LEFT JOIN accounts a ON a.account_id = {key}.account_id
    LEFT JOIN acc_win aw ON aw.account_id = {key}.account_id AND aw.snap_key = {key}.snap_key
    LEFT JOIN acc_sales asl ON asl.account_id = {key}.account_id
                           AND asl.snap_key = {key}.snap_key
    LEFT JOIN acc_history ah ON ah.account_id = {key}.account_id
                            AND ah.snap_key = {key}.snap_key
    LEFT JOIN acc_last al ON al.account_id = {key}.account_id AND al.snap_key = {key}.snap_key"""


def _firmographics() -> str:
    return """CAST(a.employees AS DOUBLE) AS employees,
           CAST(a.annual_revenue AS DOUBLE) AS annual_revenue,
           CAST(CAST(a.is_target_account AS INTEGER) AS DOUBLE) AS is_target_account,
           a.industry, a.country"""


def _merged(alias: str, columns: list[str]) -> str:
    return ", ".join(f"CAST(coalesce({alias}.{c}, 0) AS DOUBLE) AS {c}" for c in columns)


def _arrival(column: str, spec: SnapshotSpec) -> str:
    """With `rows: arrival`, a join condition keeping only the first snapshot after
    `column` (each lead or account scored once, when it arrives)."""
    if spec.rows == "all":
        return ""
    return f" AND (s.prev_date IS NULL OR {column} >= s.prev_date)"


def _open_flag(expression: str, spec: SnapshotSpec) -> str:
    """When scoring: an `on_open_opportunity` column (rows already with sales are kept)."""
    return (
        f"\n           CAST({expression} AS INTEGER) AS on_open_opportunity,"
        if spec.scoring
        else ""
    )


def lead_snapshot_sql(spec: SnapshotSpec) -> str:
    """The lead snapshot table: keys, features, marketing's view, audit columns, labels."""
    windows = tuple(sorted(spec.windows_days))
    mid, longest = windows[1], windows[-1]
    return f"""
    SELECT b.lead_id, b.account_id, b.snapshot_date,{_open_flag("b.on_open_opportunity", spec)}
           b.seniority, b.function, b.match_rule, b.lead_source,
           {"".join(f"b.{c}, " for c in spec.extra_lead_columns)}
           CAST(b.free_mail AS DOUBLE) AS free_mail,
           CAST(CASE WHEN b.account_id IS NULL THEN 1 ELSE 0 END AS DOUBLE) AS no_account,
           CAST({_days("b.created_at", "b.snapshot_date")} AS DOUBLE) AS lead_age_days,
           h.last_event_at, sw.last_sales_touch_at,
           CAST(coalesce({_days("h.last_event_at", "b.snapshot_date")}, 9999) AS DOUBLE)
               AS days_since_last_event,
           {_merged("w", _event_columns(windows))},
           -- rounded: a parallel float sum differs in its last bits from run to run
           CAST(round(coalesce(w.decayed_engagement, 0), 9) AS DOUBLE) AS decayed_engagement,
           CAST(coalesce(w.events_{mid}d, 0) - (coalesce(w.events_{longest}d, 0)
               - coalesce(w.events_{mid}d, 0)) * CAST({mid / (longest - mid)} AS DOUBLE) AS DOUBLE)
               AS engagement_trend,
           CAST(coalesce(sw.sales_touches_{longest}d, 0) AS DOUBLE) AS sales_touches_{longest}d,
           {_firmographics()},
           {_account_select(spec)},
           CAST({_case("b.seniority", spec.title_points)} + coalesce(h.event_points, 0)
               AS DOUBLE) AS marketing_points,
           CAST(CASE WHEN b.mql_at < b.snapshot_date THEN 1 ELSE 0 END AS DOUBLE) AS is_mql,
           CAST(CASE WHEN b.mql_at < b.snapshot_date
                      AND b.mql_at >= b.snapshot_date - INTERVAL {mid} DAY
                THEN 1 ELSE 0 END AS DOUBLE) AS new_mql,
           CAST(coalesce(lb.label, 0) AS INTEGER) AS label,
           CAST(coalesce(lb.label_won, 0) AS INTEGER) AS label_won,
           CAST(lb.label_at AS TIMESTAMP) AS label_at,
           CAST(CASE WHEN lw.lead_key IS NULL THEN 0 ELSE 1 END AS INTEGER) AS worked,
           CAST(CASE WHEN b.snapshot_date + INTERVAL {spec.label_window_days} DAY <= e.data_end
                THEN 1 ELSE 0 END AS INTEGER) AS label_complete
    FROM lead_rows b
    CROSS JOIN label_end e
    LEFT JOIN ev_history h ON h.lead_key = b.lead_key AND h.snap_key = b.snap_key
    LEFT JOIN ev_win w ON w.lead_key = b.lead_key AND w.snap_key = b.snap_key
    LEFT JOIN sales_win sw ON sw.lead_key = b.lead_key AND sw.snap_key = b.snap_key
    LEFT JOIN lead_labels lb ON lb.lead_key = b.lead_key AND lb.snap_key = b.snap_key
    LEFT JOIN lead_worked lw ON lw.lead_key = b.lead_key AND lw.snap_key = b.snap_key
    {_account_joins("b")}
    ORDER BY b.snap_key, b.lead_key
    """


def account_snapshot_sql(spec: SnapshotSpec) -> str:
    """The account snapshot table: one row per account without an open deal."""
    return f"""
    SELECT r.account_id, r.snapshot_date,{
        _open_flag("CASE WHEN ah.account_open_opportunities > 0 THEN 1 ELSE 0 END", spec)
    }
           {_firmographics()},
           {_account_select(spec)},
           {_merged("am", list(ACCOUNT_MARKETING_COLUMNS))},
           CAST(coalesce(lb.label, 0) AS INTEGER) AS label,
           CAST(coalesce(lb.label_won, 0) AS INTEGER) AS label_won,
           CAST(lb.label_at AS TIMESTAMP) AS label_at,
           CAST(CASE WHEN r.snapshot_date + INTERVAL {spec.label_window_days} DAY <= e.data_end
                THEN 1 ELSE 0 END AS INTEGER) AS label_complete
    FROM account_rows r
    CROSS JOIN label_end e
    {_account_joins("r")}
    LEFT JOIN account_marketing am ON am.account_id = r.account_id AND am.snap_key = r.snap_key
    LEFT JOIN account_labels lb ON lb.account_id = r.account_id AND lb.snap_key = r.snap_key
    {"" if spec.scoring else "WHERE coalesce(ah.account_open_opportunities, 0) = 0"}
    ORDER BY r.snap_key, r.account_id
    """


def account_outcomes_sql() -> str:
    """The opportunities behind each positive account row."""
    return """
    SELECT d.account_id, d.snapshot_date, d.opportunity_id, d.is_won, d.amount
    FROM window_deals d
    JOIN accounts a ON a.account_id = d.account_id
    ORDER BY d.snapshot_date, d.account_id, d.opportunity_id
    """


def lead_outcomes_sql() -> str:
    """The opportunities behind each positive lead row."""
    return """
    SELECT o.lead_id, o.snapshot_date, o.opportunity_id, o.is_won, o.amount
    FROM lead_outcomes o
    JOIN lead_rows b ON b.lead_key = o.lead_key AND b.snap_key = o.snap_key
    ORDER BY o.snapshot_date, o.lead_id, o.opportunity_id
    """


def summarize(
    lead_rows: pd.DataFrame,
    account_rows: pd.DataFrame,
    leads: pd.DataFrame,
    snapshots: list,
    rows: str = "all",
) -> dict:
    """Row counts, label rates and what was left out (and why)."""
    frame = lead_rows
    complete = frame[frame["label_complete"] == 1]
    accounts = account_rows[account_rows["label_complete"] == 1]
    created = leads["created_at"]
    alive_rows = sum(int((created < t).sum()) for t in snapshots) if rows == "all" else 0
    return {
        "snapshots": len(snapshots),
        "complete_snapshots": int(complete["snapshot_date"].nunique()),
        "lead_rows": len(frame),
        "lead_label_rate": round(float(complete["label"].mean()), 5) if len(complete) else 0.0,
        "account_rows": len(account_rows),
        "account_label_rate": round(float(accounts["label"].mean()), 5) if len(accounts) else 0.0,
        # Leads already on an open opportunity get no row at that snapshot: counted here.
        "rows_excluded_open_deal": alive_rows - len(frame) if rows == "all" else None,
        "leads_without_any_row": int((~leads["lead_id"].isin(frame["lead_id"])).sum()),
    }
