"""The canonical raw tables of the design: names, columns and their kinds.

Real exports are mapped onto these; the synthetic world writes them directly.
"""

from __future__ import annotations

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
    "sales_activities": {
        "activity_id": "id",
        "lead_id": "id",
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
    "opportunity_contacts": {"opportunity_id": "id", "lead_id": "id", "role": "str"},
}
PRIMARY_KEYS: dict[str, str] = {
    "accounts": "account_id",
    "leads": "lead_id",
    "engagement": "event_id",
    "sales_activities": "activity_id",
    "opportunities": "opportunity_id",
}
# (table, column) -> (parent table, parent key); only leads.account_id may be blank
FOREIGN_KEYS: dict[tuple[str, str], tuple[str, str]] = {
    ("leads", "account_id"): ("accounts", "account_id"),
    ("engagement", "lead_id"): ("leads", "lead_id"),
    ("sales_activities", "lead_id"): ("leads", "lead_id"),
    ("opportunities", "account_id"): ("accounts", "account_id"),
    ("opportunity_contacts", "opportunity_id"): ("opportunities", "opportunity_id"),
    ("opportunity_contacts", "lead_id"): ("leads", "lead_id"),
}
RAW_TABLES: tuple[str, ...] = tuple(TABLES)
