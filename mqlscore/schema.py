"""The canonical raw tables of the design: names, columns and their kinds.

Real exports are mapped onto these; the synthetic world writes them directly.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

import pandas as pd

ACTIVITY_TYPES: tuple[str, ...] = (
    "email_open",
    "email_click",
    "web_visit",
    "pricing_page_visit",
    "content_download",
    "form_fill",
    "webinar_attend",
    "event_scan",
    "ad_click",
)
SALES_ACTIVITY_TYPES: tuple[str, ...] = ("call", "email", "meeting")
# Where a mapping's `_other` entry sends picklist values outside ours: a valid touch,
# counted in the totals (events, sales touches), never as one of the known types.
OTHER_TYPE = "other"
ROLES: tuple[str, ...] = ("economic_buyer", "champion", "evaluator", "user", "procurement")
# (table, column) -> the values a picklist column may hold: ours, or `other`
PICKLISTS: dict[tuple[str, str], tuple[str, ...]] = {
    ("engagement", "activity_type"): (*ACTIVITY_TYPES, OTHER_TYPE),
    ("sales_activities", "type"): (*SALES_ACTIVITY_TYPES, OTHER_TYPE),
    ("opportunity_contacts", "role"): (*ROLES, OTHER_TYPE),
}
EMAIL_PATTERN = r"^[^@\s]+@[^@\s]+\.[A-Za-z]{2,}$"  # a well-formed address

# column -> kind: "id", "str", "int", "float", "bool", "time"
TABLES: dict[str, dict[str, str]] = {
    "accounts": {
        "account_id": "id",
        "name": "str",
        "domain": "str",
        "industry": "str",
        "employees": "int",
        "annual_revenue": "float",
        "country": "str",
        "is_target_account": "bool",
    },
    "leads": {
        "lead_id": "id",
        "email": "str",
        "title": "str",
        "company": "str",
        "account_id": "id",
        "lead_source": "str",
        "created_at": "time",
        "marketing_score": "int",
        "mql_at": "time",
    },
    "engagement": {
        "event_id": "id",
        "lead_id": "id",
        "occurred_at": "time",
        "activity_type": "str",
        "campaign_id": "str",
    },
    "sales_activities": {  # a touch on a person (lead_id) or on an account only (account_id)
        "activity_id": "id",
        "lead_id": "id",
        "account_id": "id",
        "occurred_at": "time",
        "type": "str",
    },
    "opportunities": {
        "opportunity_id": "id",
        "account_id": "id",
        "created_at": "time",
        "closed_at": "time",
        "is_won": "bool",
        "amount": "float",
    },
    "opportunity_contacts": {  # created_at: when the role was added (blank: the deal's)
        "opportunity_id": "id",
        "lead_id": "id",
        "role": "str",
        "created_at": "time",
    },
    # a marketing programme (a trade show, a webinar, a send) and what it cost: read by the
    # report only, never by features or scoring (a cost is not about the lead)
    "campaigns": {
        "campaign_id": "id",
        "type": "str",
        "started_at": "time",
        "budgeted_cost": "float",
        "actual_cost": "float",
    },
}
# Tables a source may have beside the model's: absent is normal (most exports), never named
# among the missing tables, never read by features, training or scoring.
OPTIONAL_TABLES: tuple[str, ...] = ("campaigns",)
# When each column's value was known, so no feature reads the CRM's present as the past
# (Featuretools' time index and secondary time index; the optional tables feed no feature,
# so they have none):
# CREATED: fixed when its row is created (known from the row's created_at on);
# CURRENT: today's value, which may have been filled or changed long after (a converted
#   lead's account, a score), never a feature: a source says where one is in fact known
#   at creation (`known_at_creation` in a mapping, `export.json`);
# SLOW: today's value too, but one that changes slowly and never because of a deal
#   (firmographics, sales' target list): kept as features, an approximation we accept;
# any other value: the timestamp column of its row that dates it (an event).
CREATED, CURRENT, SLOW = "created", "current", "slow"
AS_OF: dict[str, dict[str, str]] = {
    "accounts": {
        "account_id": CREATED,
        "name": CREATED,
        "domain": CREATED,
        "industry": SLOW,
        "employees": SLOW,
        "annual_revenue": SLOW,
        "country": SLOW,
        "is_target_account": SLOW,  # set by sales' ABM planning, not by a deal
    },
    "leads": {
        "lead_id": CREATED,
        "email": CREATED,
        "title": CREATED,
        "company": CREATED,
        "account_id": CURRENT,  # Salesforce's ConvertedAccountId: filled at conversion
        "lead_source": CREATED,
        "created_at": CREATED,
        "marketing_score": CURRENT,  # today's score (features use our own rule instead)
        "mql_at": "mql_at",
    },
    "engagement": dict.fromkeys(TABLES["engagement"], "occurred_at"),
    "sales_activities": dict.fromkeys(TABLES["sales_activities"], "occurred_at"),
    "opportunities": {
        "opportunity_id": "created_at",
        "account_id": "created_at",
        "created_at": "created_at",
        "closed_at": "closed_at",
        "is_won": "closed_at",
        "amount": CURRENT,  # revised during the deal: an outcome, never a feature
    },
    # a role counts from its own creation (else the deal's): one added later moves no
    # earlier row off "on an open deal"
    "opportunity_contacts": dict.fromkeys(TABLES["opportunity_contacts"], "created_at"),
}
# Columns a canonical table may lack (read as blank): exports without role dates.
OPTIONAL_COLUMNS: dict[str, tuple[str, ...]] = {"opportunity_contacts": ("created_at",)}
PRIMARY_KEYS: dict[str, str] = {
    "accounts": "account_id",
    "leads": "lead_id",
    "engagement": "event_id",
    "sales_activities": "activity_id",
    "opportunities": "opportunity_id",
    "campaigns": "campaign_id",
}
# (table, column) -> (parent table, parent key); blank only where OPTIONAL_KEYS says
FOREIGN_KEYS: dict[tuple[str, str], tuple[str, str]] = {
    ("leads", "account_id"): ("accounts", "account_id"),
    ("engagement", "lead_id"): ("leads", "lead_id"),
    ("sales_activities", "lead_id"): ("leads", "lead_id"),
    ("sales_activities", "account_id"): ("accounts", "account_id"),
    ("opportunities", "account_id"): ("accounts", "account_id"),
    ("opportunity_contacts", "opportunity_id"): ("opportunities", "opportunity_id"),
    ("opportunity_contacts", "lead_id"): ("leads", "lead_id"),
}
# Foreign keys that may be blank: a lead without a CRM account; a sales touch logged on an
# account or a deal (no person) or on a person alone.
OPTIONAL_KEYS: frozenset[tuple[str, str]] = frozenset(
    {
        ("leads", "account_id"),
        ("sales_activities", "lead_id"),
        ("sales_activities", "account_id"),
        ("opportunities", "account_id"),  # a private deal on no account: warned, kept
    }
)
# Foreign keys into an optional table: checked only where the source has it, and a value
# not found there is a warning (a campaign the export left out), never a stop.
SOFT_FOREIGN_KEYS: dict[tuple[str, str], tuple[str, str]] = {
    ("engagement", "campaign_id"): ("campaigns", "campaign_id"),
}
# table -> keys of which every row needs at least one
ONE_OF_KEYS: dict[str, tuple[str, ...]] = {"sales_activities": ("lead_id", "account_id")}
# The tables every source gives (empty where it lacks one): what features and scoring read.
RAW_TABLES: tuple[str, ...] = tuple(t for t in TABLES if t not in OPTIONAL_TABLES)


def current_state(known_at_creation: dict[str, list[str]]) -> set[tuple[str, str]]:
    """The (table, column) pairs no feature may read: CURRENT columns this source does not
    say are known at creation."""
    return {
        (table, column)
        for table, kinds in AS_OF.items()
        for column, kind in kinds.items()
        if kind == CURRENT and column not in known_at_creation.get(table, ())
    }


# Roles of the snapshot tables' columns (features/snapshots.py builds them).
KEY_COLUMNS: tuple[str, ...] = ("lead_id", "account_id", "snapshot_date")
# Not features: the newest source timestamps a row used, kept so checks can prove point in time.
AUDIT_COLUMNS: tuple[str, ...] = ("last_event_at", "last_sales_touch_at")
# Outcomes in the label window, never features: `worked` = sales touched the lead in it.
# `label_at`: when the first deal behind a positive label was created (so a split can cut
# labels at a period's end)
LABEL_COLUMNS: tuple[str, ...] = ("label", "label_won", "label_at", "worked", "label_complete")
# Marketing's own view, kept beside the model's features for comparison.
MARKETING_COLUMNS: tuple[str, ...] = ("marketing_points", "is_mql", "new_mql")
ACCOUNT_MARKETING_COLUMNS: tuple[str, ...] = ("account_marketing_points", "account_mql_leads")


def feature_columns(frame: pd.DataFrame, use_marketing: bool) -> list[str]:
    """Model inputs: everything but keys and labels; marketing's columns only if allowed."""
    excluded = set(KEY_COLUMNS) | set(LABEL_COLUMNS) | set(AUDIT_COLUMNS)
    if not use_marketing:
        excluded |= set(MARKETING_COLUMNS) | set(ACCOUNT_MARKETING_COLUMNS)
    return [c for c in frame.columns if c not in excluded]


def context_features(features: list[str]) -> list[str]:
    """The features that measure how much context a lead comes with: its touches and its
    sales touches in the longest window."""
    days = sorted(int(f.split("_")[-1][:-1]) for f in features if f.startswith("events_"))
    longest = f"{days[-1]}d" if days else ""
    return [f for f in (f"events_{longest}", f"sales_touches_{longest}") if f in features]


def longest_window(columns: Iterable[str], signal: str) -> str:
    """The column of `signal`'s longest window (`sales_touches_90d` when
    `features.windows_days` ends at 90): window lengths come from params, never code."""
    windows = [c for c in columns if re.fullmatch(rf"{signal}_\d+d", c)]
    if not windows:
        raise KeyError(f"no {signal}_<days>d column")
    return max(windows, key=lambda c: int(c.removeprefix(f"{signal}_")[:-1]))
