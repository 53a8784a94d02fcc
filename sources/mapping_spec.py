"""What a mapping file may say, checked before any export file is read.

A typo in a mapping (an unknown key, a canonical column that does not exist, a value
map whose target is not one of our activity types) stops the run here, in training and
at night alike, naming the mapping file and the place in it.
"""

from __future__ import annotations

import difflib
from typing import Any

from mqlscore.schema import PICKLISTS, TABLES

TOP_KEYS = frozenset({"name", "description", "tables", "params", "same_person", "blank_values"})
PART_KEYS = frozenset(
    {
        "file",  # a glob, or a list of globs
        "optional",  # true: the file may be absent (the table, or this union part, is skipped)
        "columns",  # canonical column: export column | [alternatives] | {join} | {json, key}
        "optional_columns",  # canonical columns whose export columns may be absent: blank
        "blank_values",  # cells that mean blank (Salesforce's 000000000000000AAA)
        "dates",
        "numbers",
        "booleans",
        "values",
        "split",
        "take_first",
        "constants",
        "where",  # keep rows by value; `_nonblank` keeps rows where the column is filled
        "blank_unless",
        "extra",
        "known_at_creation",  # columns the schema calls current state, here filled at creation
    }
)
DATE_KEYS = frozenset({"dayfirst", "format", "unit", "tz", "end_of_day"})
SAME_PERSON_KEYS = frozenset({"file", "id", "alias"})


class SpecError(ValueError):
    """A mapping file that says something the mapping language does not know."""


def _near(name: object, known: list[str] | tuple[str, ...] | frozenset[str]) -> str:
    close = difflib.get_close_matches(str(name), sorted(known), n=1, cutoff=0.6)
    return f" (did you mean {close[0]!r}?)" if close else ""


def _unknown(found: object, known: frozenset[str] | tuple[str, ...], where: str) -> None:
    for key in found or ():
        if key not in known:
            raise SpecError(f"{where}: unknown key {key!r}{_near(key, known)}")


def check_spec(spec: dict[str, Any], path: str) -> None:
    """Raise SpecError naming the first thing in `spec` the mapping language does not know."""
    if not isinstance(spec, dict):
        raise SpecError(f"{path}: a mapping file is a YAML mapping of keys, not {spec!r}")
    _unknown(spec, TOP_KEYS, path)
    if spec.get("same_person"):
        _unknown(spec["same_person"], SAME_PERSON_KEYS, f"{path}: same_person")
    for table, parts in (spec.get("tables") or {}).items():
        if table not in TABLES:
            raise SpecError(f"{path}: unknown table {table!r}{_near(table, tuple(TABLES))}")
        for i, part in enumerate(parts if isinstance(parts, list) else [parts]):
            where = f"{path}: tables.{table}" + (f"[{i}]" if isinstance(parts, list) else "")
            _check_part(part, table, where)


def _check_part(part: Any, table: str, where: str) -> None:
    if not isinstance(part, dict) or "file" not in part:
        raise SpecError(f"{where}: a table part needs `file` (and `columns`)")
    _unknown(part, PART_KEYS, where)
    canonical = tuple(TABLES[table])
    for key in ("columns", "constants", "values", "blank_unless"):
        for column in part.get(key) or {}:
            if column not in canonical:
                hint = _near(column, canonical)
                raise SpecError(
                    f"{where}.{key}: {column!r} is not a column of {table}{hint}"
                    f" (one of {', '.join(canonical)})"
                )
    for key in ("optional_columns", "known_at_creation"):
        for column in part.get(key) or ():
            if column not in canonical:
                raise SpecError(f"{where}.{key}: {column!r} is not a column of {table}")
    dates = part.get("dates") or {}
    _unknown(dates, DATE_KEYS, f"{where}.dates")
    for column in dates.get("end_of_day") or ():
        if TABLES[table].get(column) != "time":
            raise SpecError(f"{where}.dates.end_of_day: {column!r} is not a time of {table}")
    _check_values(part, table, where)


def _check_values(part: dict[str, Any], table: str, where: str) -> None:
    """Value-map targets and constants must be values our checks and features know."""
    produced = [
        (column, target, f"{where}.values.{column}")
        for column, mapping in (part.get("values") or {}).items()
        for target in (mapping or {}).values()
    ]
    produced += [
        (c, v, f"{where}.constants.{c}") for c, v in (part.get("constants") or {}).items()
    ]
    for column, target, place in produced:
        allowed = PICKLISTS.get((table, column))
        if allowed and target is not None and target not in allowed:
            raise SpecError(
                f"{place}: {target!r} is not one of ours{_near(target, allowed)}"
                f" (one of {', '.join(allowed)})"
            )
