"""Lead snapshot features and labels, computed in DuckDB from the canonical raw tables.

Every feature of a (lead, snapshot_date) row uses only rows dated strictly before the
snapshot date; labels use only opportunities created in [snapshot, snapshot + window).
"""

from __future__ import annotations

from dataclasses import dataclass

import duckdb
import pandas as pd

from features.persona import FUNCTIONS, SENIORITIES, function_sql, seniority_sql
from mqlscore.schema import ACTIVITY_TYPES

HIGH_INTENT: tuple[str, ...] = ("pricing_page_visit", "form_fill")
FREE_MAIL_DOMAINS: tuple[str, ...] = (
    "gmail.com",
    "googlemail.com",
    "yahoo.com",
    "outlook.com",
    "hotmail.com",
    "live.com",
    "aol.com",
    "gmx.de",
    "gmx.net",
    "web.de",
    "icloud.com",
    "proton.me",
    "protonmail.com",
)
KEY_COLUMNS: tuple[str, ...] = ("lead_id", "account_id", "snapshot_date")
# Not features: the newest source timestamps a row used, kept so checks can prove point in time.
AUDIT_COLUMNS: tuple[str, ...] = ("last_event_at", "last_sales_touch_at")
LABEL_COLUMNS: tuple[str, ...] = ("label", "label_won", "label_complete")
# Marketing's own view, kept beside the model's features for comparison.
MARKETING_COLUMNS: tuple[str, ...] = ("marketing_points", "is_mql", "new_mql")
TEXT_FEATURES: tuple[str, ...] = ("industry", "country")
CATEGORICAL_FEATURES: dict[str, tuple[str, ...]] = {
    "seniority": SENIORITIES,
    "function": FUNCTIONS,
}


@dataclass(frozen=True)
class LeadFeatureSpec:
    """What the lead features need to know: windows, label window and marketing's rule."""

    windows_days: tuple[int, ...]
    label_window_days: int
    title_points: dict[str, int]
    activity_points: dict[str, int]


def snapshot_dates(data_start: pd.Timestamp, data_end: pd.Timestamp, first_month: int) -> list:
    """Month starts from `first_month` months after the data starts, before the data ends."""
    first = data_start.to_period("M").to_timestamp() + pd.DateOffset(months=first_month)
    return list(pd.date_range(first, data_end - pd.Timedelta(seconds=1), freq="MS"))


def data_end(tables: dict[str, pd.DataFrame]) -> pd.Timestamp:
    """The export moment: midnight after the newest timestamp in the activity tables."""
    newest = max(
        tables["engagement"]["occurred_at"].max(),
        tables["sales_activities"]["occurred_at"].max(),
        tables["opportunities"]["created_at"].max(),
    )
    return pd.Timestamp(newest).floor("D") + pd.Timedelta(days=1)


def _sql_list(values: tuple[str, ...] | list[str]) -> str:
    return ", ".join(f"'{v}'" for v in values)


def _points_case(column: str, points: dict[str, int]) -> str:
    whens = " ".join(f"WHEN '{k}' THEN {v}" for k, v in points.items())
    return f"(CASE {column} {whens} ELSE 0 END)"


def _window_counts(windows: tuple[int, ...]) -> str:
    cols = []
    for w in windows:
        recent = f"e.occurred_at >= s.snapshot_date - INTERVAL {w} DAY"
        cols.append(f"count(*) FILTER (WHERE {recent}) AS events_{w}d")
        cols.extend(
            f"count(*) FILTER (WHERE {recent} AND e.activity_type = '{a}') AS {a}_{w}d"
            for a in ACTIVITY_TYPES
        )
        cols.append(
            f"count(*) FILTER (WHERE {recent} AND e.activity_type IN ({_sql_list(HIGH_INTENT)}))"
            f" AS high_intent_{w}d"
        )
    return ",\n        ".join(cols)


def lead_snapshot_sql(spec: LeadFeatureSpec) -> tuple[str, str]:
    """SQL for the lead feature table and for the label outcomes table."""
    windows = tuple(sorted(spec.windows_days))
    longest, short = windows[-1], windows[0]
    seniority = seniority_sql("l.title")
    function = function_sql("l.title")
    common = f"""
    WITH lead_acc AS (
        SELECT l.lead_id, l.created_at, l.mql_at,
               coalesce(l.account_id, d.account_id) AS account_id,
               {seniority} AS seniority,
               {function} AS function,
               lower(split_part(l.email, '@', 2)) IN ({_sql_list(FREE_MAIL_DOMAINS)}) AS free_mail
        FROM leads l
        LEFT JOIN (
            SELECT lower(domain) AS domain, min(account_id) AS account_id
            FROM accounts GROUP BY 1 HAVING count(*) = 1
        ) d ON l.account_id IS NULL
           AND d.domain = lower(split_part(l.email, '@', 2))
           AND d.domain NOT IN ({_sql_list(FREE_MAIL_DOMAINS)})
    ),
    open_deal AS (
        SELECT DISTINCT oc.lead_id, s.snapshot_date
        FROM opportunity_contacts oc
        JOIN opportunities o USING (opportunity_id)
        JOIN snaps s ON o.created_at < s.snapshot_date
                    AND (o.closed_at IS NULL OR o.closed_at >= s.snapshot_date)
    ),
    base AS (
        SELECT la.*, s.snapshot_date
        FROM lead_acc la
        JOIN snaps s ON la.created_at < s.snapshot_date
        ANTI JOIN open_deal od ON od.lead_id = la.lead_id AND od.snapshot_date = s.snapshot_date
    )"""
    features = f"""{common},
    ev_win AS (
        SELECT e.lead_id, s.snapshot_date,
        {_window_counts(windows)}
        FROM engagement e
        JOIN snaps s ON e.occurred_at < s.snapshot_date
                    AND e.occurred_at >= s.snapshot_date - INTERVAL {longest} DAY
        GROUP BY ALL
    ),
    ev_cum AS (
        SELECT lead_id, occurred_at,
               sum({_points_case("activity_type", spec.activity_points)}) OVER (
                   PARTITION BY lead_id ORDER BY occurred_at, event_id
                   ROWS UNBOUNDED PRECEDING) AS event_points
        FROM engagement
    ),
    last_ev AS (
        SELECT b.lead_id, b.snapshot_date, c.occurred_at AS last_event_at, c.event_points
        FROM base b ASOF LEFT JOIN ev_cum c
          ON b.lead_id = c.lead_id AND b.snapshot_date > c.occurred_at
    ),
    sales_win AS (
        SELECT sa.lead_id, s.snapshot_date, count(*) AS sales_touches_{longest}d,
               max(sa.occurred_at) AS last_sales_touch_at
        FROM sales_activities sa
        JOIN snaps s ON sa.occurred_at < s.snapshot_date
                    AND sa.occurred_at >= s.snapshot_date - INTERVAL {longest} DAY
        GROUP BY ALL
    ),
    acc_win AS (
        SELECT la.account_id, w.snapshot_date,
               count(DISTINCT w.lead_id) FILTER (WHERE w.events_{short}d > 0)
                   AS account_engaged_contacts_{short}d,
               count(DISTINCT w.lead_id) AS account_engaged_contacts_{longest}d,
               count(DISTINCT la.function) FILTER (WHERE w.high_intent_{longest}d > 0
                   OR w.web_visit_{longest}d > 0) AS account_engaged_functions_{longest}d,
               count(DISTINCT w.lead_id)
                   FILTER (WHERE la.seniority IN ('c_level', 'vp', 'director'))
                   AS account_engaged_senior_{longest}d,
               sum(w.events_{short}d) AS account_events_{short}d,
               sum(w.high_intent_{short}d) AS account_high_intent_{short}d,
               sum(w.high_intent_{longest}d) AS account_high_intent_{longest}d
        FROM ev_win w JOIN lead_acc la USING (lead_id)
        WHERE la.account_id IS NOT NULL
        GROUP BY ALL
    ),
    acc_sales AS (
        SELECT la.account_id, w.snapshot_date,
               sum(w.sales_touches_{longest}d) AS account_sales_touches_{longest}d
        FROM sales_win w JOIN lead_acc la USING (lead_id)
        WHERE la.account_id IS NOT NULL
        GROUP BY ALL
    ),
    acc_history AS (
        SELECT o.account_id, s.snapshot_date,
               count(*) AS account_prior_opportunities,
               count(*) FILTER (WHERE o.closed_at < s.snapshot_date AND o.is_won)
                   AS account_prior_won
        FROM opportunities o JOIN snaps s ON o.created_at < s.snapshot_date
        GROUP BY ALL
    )
    SELECT b.lead_id, b.account_id, b.snapshot_date,
           b.seniority, b.function, b.free_mail::INTEGER AS free_mail,
           b.account_id IS NULL AS no_account,
           date_diff('day', b.created_at, b.snapshot_date) AS lead_age_days,
           le.last_event_at, sw.last_sales_touch_at,
           coalesce(date_diff('day', le.last_event_at, b.snapshot_date), 9999)
               AS days_since_last_event,
           {", ".join(f"coalesce(w.{c}, 0) AS {c}" for c in _ev_columns(windows))},
           coalesce(sw.sales_touches_{longest}d, 0) AS sales_touches_{longest}d,
           a.employees, a.annual_revenue, a.is_target_account::INTEGER AS is_target_account,
           a.industry, a.country,
           {", ".join(f"coalesce(aw.{c}, 0) AS {c}" for c in _account_columns(windows))},
           coalesce(asl.account_sales_touches_{longest}d, 0)
               AS account_sales_touches_{longest}d,
           coalesce(ah.account_prior_opportunities, 0) AS account_prior_opportunities,
           coalesce(ah.account_prior_won, 0) AS account_prior_won,
           {_points_case("b.seniority", spec.title_points)} + coalesce(le.event_points, 0)
               AS marketing_points,
           coalesce(b.mql_at < b.snapshot_date, false)::INTEGER AS is_mql,
           coalesce(b.mql_at < b.snapshot_date
               AND b.mql_at >= b.snapshot_date - INTERVAL {short} DAY, false)::INTEGER AS new_mql
    FROM base b
    LEFT JOIN ev_win w USING (lead_id, snapshot_date)
    LEFT JOIN last_ev le USING (lead_id, snapshot_date)
    LEFT JOIN sales_win sw USING (lead_id, snapshot_date)
    LEFT JOIN accounts a ON a.account_id = b.account_id
    LEFT JOIN acc_win aw ON aw.account_id = b.account_id AND aw.snapshot_date = b.snapshot_date
    LEFT JOIN acc_sales asl ON asl.account_id = b.account_id
                           AND asl.snapshot_date = b.snapshot_date
    LEFT JOIN acc_history ah ON ah.account_id = b.account_id AND ah.snapshot_date = b.snapshot_date
    ORDER BY b.snapshot_date, b.lead_id
    """
    outcomes = f"""{common}
    SELECT b.lead_id, b.snapshot_date, o.opportunity_id, o.is_won, o.amount
    FROM base b
    JOIN opportunity_contacts oc ON oc.lead_id = b.lead_id
    JOIN opportunities o ON o.opportunity_id = oc.opportunity_id
    WHERE o.created_at >= b.snapshot_date
      AND o.created_at < b.snapshot_date + INTERVAL {spec.label_window_days} DAY
    ORDER BY b.snapshot_date, b.lead_id, o.opportunity_id
    """
    return features, outcomes


def _ev_columns(windows: tuple[int, ...]) -> list[str]:
    cols = []
    for w in windows:
        cols += [f"events_{w}d", *(f"{a}_{w}d" for a in ACTIVITY_TYPES), f"high_intent_{w}d"]
    return cols


def _account_columns(windows: tuple[int, ...]) -> list[str]:
    short, longest = windows[0], windows[-1]
    return [
        f"account_engaged_contacts_{short}d",
        f"account_engaged_contacts_{longest}d",
        f"account_engaged_functions_{longest}d",
        f"account_engaged_senior_{longest}d",
        f"account_events_{short}d",
        f"account_high_intent_{short}d",
        f"account_high_intent_{longest}d",
    ]


def build_lead_snapshots(
    tables: dict[str, pd.DataFrame], spec: LeadFeatureSpec, snapshots: list
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Lead feature rows (with labels) and label outcomes, one row per (lead, snapshot)."""
    con = duckdb.connect()
    try:
        for name, frame in tables.items():
            con.register(name, frame)
        con.register("snaps", pd.DataFrame({"snapshot_date": pd.to_datetime(snapshots)}))
        features_sql, outcomes_sql = lead_snapshot_sql(spec)
        frame = con.sql(features_sql).df()
        outcomes = con.sql(outcomes_sql).df()
    finally:
        con.close()
    numeric = [
        c
        for c in frame.columns
        if c not in (*KEY_COLUMNS, *AUDIT_COLUMNS, *CATEGORICAL_FEATURES, *TEXT_FEATURES)
    ]
    # The model's input contract: numbers as float, timestamps in microseconds.
    frame[numeric] = frame[numeric].astype("float64")
    times = ["snapshot_date", *AUDIT_COLUMNS]
    frame[times] = frame[times].astype("datetime64[us]")
    end = data_end(tables)
    window = pd.Timedelta(days=spec.label_window_days)
    positives = outcomes.groupby(["lead_id", "snapshot_date"])["is_won"].agg(
        label="size", label_won=lambda s: s.fillna(False).any()
    )
    frame = frame.join(positives, on=["lead_id", "snapshot_date"])
    frame["label"] = frame["label"].notna().astype("int8")
    frame["label_won"] = frame["label_won"].fillna(False).astype("int8")
    frame["label_complete"] = (frame["snapshot_date"] + window <= end).astype("int8")
    return frame, outcomes
