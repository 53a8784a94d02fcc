"""Lead -> account matching: CRM account id, else email domain, else company name.

Free-mail and disposable domains never match; subdomains fold to the registered domain
(eu.acme.co.uk -> acme.co.uk); company names match after dropping case, accents,
punctuation and legal suffixes (Inc, GmbH, Ltd, S.A., ...). A domain or name shared by
several accounts is ambiguous and matches none of them.
"""

from __future__ import annotations

import re
import unicodedata
from functools import lru_cache

import numpy as np
import pandas as pd
import tldextract
from cleanco import basename

FREE_MAIL_DOMAINS: frozenset[str] = frozenset(
    {
        "gmail.com",
        "googlemail.com",
        "yahoo.com",
        "yahoo.co.uk",
        "outlook.com",
        "hotmail.com",
        "live.com",
        "msn.com",
        "aol.com",
        "gmx.de",
        "gmx.net",
        "web.de",
        "icloud.com",
        "me.com",
        "proton.me",
        "protonmail.com",
        "mail.com",
        "yandex.ru",
        "qq.com",
        "163.com",
    }
)
DISPOSABLE_DOMAINS: frozenset[str] = frozenset(
    {
        "mailinator.com",
        "guerrillamail.com",
        "10minutemail.com",
        "tempmail.com",
        "yopmail.com",
        "trashmail.com",
        "sharklasers.com",
        "throwawaymail.com",
    }
)
MATCH_RULES: tuple[str, ...] = ("account_id", "email_domain", "company_name", "unmatched")
# Offline: the public-suffix snapshot bundled with tldextract, never a download.
_EXTRACT = tldextract.TLDExtract(suffix_list_urls=(), cache_dir=None)


@lru_cache(maxsize=200_000)
def registered_domain(domain: str) -> str:
    """The domain a company registered: subdomains folded, public suffix kept."""
    domain = domain.strip().lower().rstrip(".")
    parts = _EXTRACT(domain)
    return parts.top_domain_under_public_suffix or domain


def email_domain(email: str | None) -> str:
    """Registered domain of an email address, or '' if there is none."""
    if not isinstance(email, str) or email.count("@") != 1:
        return ""
    return registered_domain(email.split("@", 1)[1])


def is_personal_domain(domain: str) -> bool:
    """Free-mail or disposable: says nothing about the employer."""
    return domain in FREE_MAIL_DOMAINS or domain in DISPOSABLE_DOMAINS


@lru_cache(maxsize=200_000)
def normalize_company(name: str | None) -> str:
    """Comparable company name: no accents, case, punctuation or legal suffix."""
    if not isinstance(name, str):
        return ""
    ascii_name = unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode()
    core = basename(ascii_name.strip())
    return re.sub(r"[^a-z0-9]+", " ", core.lower()).strip()


def _unique_index(keys: pd.Series, ids: pd.Series) -> pd.Series:
    """key -> id for keys held by exactly one id; blank keys dropped."""
    frame = pd.DataFrame({"key": keys.to_numpy(), "id": ids.to_numpy()})
    frame = frame[frame["key"] != ""].drop_duplicates()
    counts = frame.groupby("key")["id"].transform("size")
    return frame[counts == 1].set_index("key")["id"]


def match_leads(leads: pd.DataFrame, accounts: pd.DataFrame, crm_ids: bool = True) -> pd.DataFrame:
    """One row per lead: its account (blank if unmatched), the rule that matched, and
    whether its email is personal (free-mail or disposable). `crm_ids` false: the leads'
    CRM account is current state (filled at conversion, say), so only what is known when
    a lead is created matches: its email domain and company name."""
    account_domains = accounts["domain"].fillna("").map(registered_domain)
    account_domains = account_domains.where(~account_domains.map(is_personal_domain), "")
    by_domain = _unique_index(account_domains, accounts["account_id"])
    by_name = _unique_index(accounts["name"].map(normalize_company), accounts["account_id"])

    known = leads["account_id"].where(leads["account_id"].isin(accounts["account_id"]) & crm_ids)
    domains = leads["email"].map(email_domain)
    domains = domains.where(~domains.map(is_personal_domain), "")
    via_domain = domains.map(by_domain)
    via_name = leads["company"].map(normalize_company).map(by_name)

    # the first rule that names an account; by position, as objects (fillna on object
    # columns that hold no id at all downcast them, with a FutureWarning on stderr)
    first = [s.to_numpy(dtype=object) for s in (known, via_domain, via_name)]
    found = [s.notna().to_numpy() for s in (known, via_domain, via_name)]
    picked = np.where(found[0], first[0], np.where(found[1], first[1], first[2]))
    account_id = pd.Series(picked, index=leads.index, dtype=object)
    rule = pd.Series("unmatched", index=leads.index, dtype="object")
    rule[via_name.notna()] = "company_name"
    rule[via_domain.notna()] = "email_domain"
    rule[known.notna()] = "account_id"
    personal = leads["email"].map(email_domain).map(is_personal_domain)
    return pd.DataFrame(
        {
            "lead_id": leads["lead_id"].to_numpy(),
            "account_id": account_id.astype("object").where(account_id.notna(), None).to_numpy(),
            "match_rule": rule.to_numpy(),
            "personal_email": personal.to_numpy(dtype=bool),
        }
    )


def match_rates(matches: pd.DataFrame) -> dict[str, float]:
    """Share of leads matched by each rule (DVC metrics)."""
    shares = matches["match_rule"].value_counts(normalize=True)
    return {rule: round(float(shares.get(rule, 0.0)), 4) for rule in MATCH_RULES}


def rate_drops(
    rates: dict[str, float], before: dict[str, float] | None, max_drop: float
) -> dict[str, dict[str, float]]:
    """Matching rules (other than `unmatched`) whose rate fell by more than `max_drop` of
    its last accepted value: a shared or free-mail domain, a renamed company column."""
    if not before:
        return {}
    return {
        rule: {"before": before[rule], "now": rate}
        for rule, rate in rates.items()
        if rule != "unmatched" and before.get(rule, 0) > 0 and rate < before[rule] * (1 - max_drop)
    }
