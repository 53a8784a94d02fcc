"""One flat lead table (one row per lead, a target column) as typed columns, each with
its inferred kind: number, yes/no, category, date, free text, id-like or personal (a
person's name, email, phone or address: never a feature, never in a model or a log)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from mqlscore.io import PLACEHOLDERS
from mqlscore.privacy import PERSONAL_COLUMN, looks_like_phone, shown
from mqlscore.schema import EMAIL_PATTERN
from sources.intake import FALSE_WORDS, TRUE_WORDS, MappingError, read_export_file

# What web forms leave behind for "not answered", beyond the CRM placeholders.
FORM_PLACEHOLDERS = PLACEHOLDERS | {"Select", "select", "SELECT", "none", "unknown", "Unknown"}
TARGET_YES = TRUE_WORDS | {"converted", "won", "closed won", "customer"}
TARGET_NO = (FALSE_WORDS - {""}) | {"not converted", "lost", "closed lost"}
KINDS = ("number", "yes_no", "category", "date", "text", "id", "personal")


def looks_personal(column: str, values: pd.Series, kind: str) -> bool:
    """A column about a person: text named like one (First Name, Email, Phone, Street; a
    yes/no "Do Not Email" or a count is not), or values that are mostly emails or phone
    numbers."""
    if kind in ("category", "text", "id") and PERSONAL_COLUMN.search(column):
        return True
    present = values.dropna().astype(str).str.strip().head(2000)
    if present.empty:
        return False
    emails = present.str.fullmatch(EMAIL_PATTERN).mean()
    return bool(emails > 0.5 or looks_like_phone(present).mean() > 0.5)


def read_flat(path: Path) -> pd.DataFrame:
    """A flat file (CSV in any common dialect, or Parquet) as text, form placeholders
    read as missing."""
    frame = read_export_file(Path(path))
    return frame.where(~frame.isin(FORM_PLACEHOLDERS), None)


def _numbers(values: pd.Series) -> pd.Series:
    """Text as numbers (decimal commas too); what is not a finite number is missing: a
    cell saying `inf` or `1e400` is no measurement (and stopped training, exit 3)."""
    text = values.str.replace(r"[\s$€£%]", "", regex=True)
    comma_decimal = text.str.fullmatch(r"-?\d+,\d+", na=False)
    text = text.where(~comma_decimal, text.str.replace(",", ".", regex=False))
    numbers = pd.to_numeric(text.str.replace(",", "", regex=False), errors="coerce")
    return numbers.where(np.isfinite(numbers.astype("float64")))


def infer_kind(values: pd.Series) -> str:
    """A column's kind from its values: yes/no spellings, numbers (id-like when nearly
    every value is a distinct whole number), dates, free text (long and mostly distinct),
    else a category."""
    present = values.dropna().astype(str).str.strip()
    if present.empty:
        return "text"
    lowered = set(present.str.lower().unique())
    if lowered <= (TRUE_WORDS | FALSE_WORDS) and len(lowered) <= 2:
        return "yes_no"
    numbers = _numbers(present)
    distinct = present.nunique() / len(present)
    if numbers.notna().mean() >= 0.98:
        whole = (numbers.dropna() % 1 == 0).all()
        return "id" if whole and distinct > 0.95 and len(present) > 50 else "number"
    if present.str.match(r"^\d{1,4}[-/.]\d{1,2}[-/.]\d{1,4}").mean() >= 0.98:
        return "date"
    if distinct > 0.5 and present.str.len().mean() > 20:
        return "text"
    if distinct > 0.9 and len(present) > 50:
        return "id"
    return "category"


def target_labels(values: pd.Series, column: str) -> pd.Series:
    """The target's spellings (Yes/No, 1/0, true/false, Converted/Not converted) as 1/0;
    anything else stops the run naming a value and its row."""
    lowered = values.astype("string").str.strip().str.lower()
    labels = pd.Series(pd.NA, index=values.index, dtype="Int64")
    labels[lowered.isin(TARGET_YES)] = 1
    labels[lowered.isin(TARGET_NO)] = 0
    bad = labels.isna() & values.notna()
    if bad.any():
        row = bad.idxmax()
        raise MappingError(
            f"target column {column!r}: value {shown(values[row], column)} in data row "
            f"{row + 1} is not a yes/no outcome ({int(bad.sum())} such row(s))"
        )
    return labels


def typed(values: pd.Series, kind: str) -> pd.Series:
    """A column's values in its kind's type (numbers float, yes/no 1/0, text as text)."""
    if kind == "number":
        return _numbers(values.astype("string")).astype("float64")
    if kind == "yes_no":
        lowered = values.astype("string").str.strip().str.lower()
        return lowered.isin(TRUE_WORDS).astype("float64").where(values.notna())
    if kind == "date":
        return pd.to_datetime(values, errors="coerce", format="mixed")
    return values.astype(object).where(values.notna(), None)


def flat_frame(
    raw: pd.DataFrame, target: str | None, id_column: str | None, kinds: dict | None
) -> tuple[pd.DataFrame, dict[str, str]]:
    """The file typed: columns by kind (inferred unless given), the label if asked."""
    for column in [c for c in (target, id_column) if c]:
        if column not in raw.columns:
            raise MappingError(
                f"the file has no column {column!r} (columns: {list(raw.columns)[:20]})"
            )
    skip = {target, id_column}
    if kinds is None:
        inferred = {c: infer_kind(raw[c]) for c in raw.columns if c not in skip}
        kinds = {c: "personal" if looks_personal(c, raw[c], k) else k for c, k in inferred.items()}
    frame = pd.DataFrame({c: typed(raw[c], k) for c, k in kinds.items() if c in raw.columns})
    if id_column:
        frame.insert(0, "_id", raw[id_column])
    if target:
        frame["label"] = target_labels(raw[target], target)
    return frame, kinds
