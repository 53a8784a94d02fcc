"""Persona parsed from free-text job titles: seniority and function.

One keyword table, rendered both as a pandas function (used by the synthetic world's
MQL rule) and as a SQL CASE expression (used by the feature queries), so the two
can never disagree.
"""

from __future__ import annotations

import pandas as pd

# First match wins, so order matters: "VP of Sales Operations" is a VP, not a manager.
SENIORITY_PATTERNS: tuple[tuple[str, str], ...] = (
    ("student", r"\b(?:student|intern|candidate|phd|graduate)\b"),
    ("c_level", r"\b(?:chief|ceo|cfo|cio|cto|coo|cmo|founder|owner|president)\b"),
    ("vp", r"\b(?:vp|vice president|svp|evp)\b"),
    ("director", r"\b(?:director|head)\b"),
    ("manager", r"\b(?:manager|lead)\b"),
)

FUNCTION_PATTERNS: tuple[tuple[str, str], ...] = (
    ("it", r"\b(?:it|information|technology|cio|cto|systems|engineer|architect|data)\b"),
    ("finance", r"\b(?:finance|financial|cfo|accountant|controller)\b"),
    ("procurement", r"\b(?:procurement|purchasing|sourcing|vendor)\b"),
    ("sales", r"\b(?:sales|revenue|account executive)\b"),
    ("operations", r"\b(?:operations|coo|operating)\b"),
    ("marketing", r"\b(?:marketing|cmo|brand)\b"),
    ("hr", r"\b(?:hr|human resources|recruiter|people)\b"),
)


def _classify(titles: pd.Series, patterns: tuple[tuple[str, str], ...], default: str) -> pd.Series:
    lowered = titles.fillna("").str.lower()
    result = pd.Series(default, index=titles.index, dtype="object")
    unmatched = pd.Series(True, index=titles.index)
    for name, pattern in patterns:
        hit = unmatched & lowered.str.contains(pattern, regex=True)
        result[hit] = name
        unmatched &= ~hit
    return result


def seniority_of(titles: pd.Series) -> pd.Series:
    """Seniority level of each title (SENIORITY_PATTERNS, else individual)."""
    return _classify(titles, SENIORITY_PATTERNS, "individual")


def function_of(titles: pd.Series) -> pd.Series:
    """Business function of each title (FUNCTION_PATTERNS, else other)."""
    return _classify(titles, FUNCTION_PATTERNS, "other")


def _case_sql(column: str, patterns: tuple[tuple[str, str], ...], default: str) -> str:
    whens = " ".join(
        f"WHEN regexp_matches(lower(coalesce({column}, '')), '{pattern}') THEN '{name}'"
        for name, pattern in patterns
    )
    return f"(CASE {whens} ELSE '{default}' END)"


def seniority_sql(column: str) -> str:
    """SQL expression giving the seniority of the title in `column`."""
    return _case_sql(column, SENIORITY_PATTERNS, "individual")


def function_sql(column: str) -> str:
    """SQL expression giving the business function of the title in `column`."""
    return _case_sql(column, FUNCTION_PATTERNS, "other")
