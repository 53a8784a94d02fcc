"""What a mapping file may say, checked before any export file is read.

A typo in a mapping (an unknown key, a canonical column that does not exist, a value
map whose target is not one of our activity types) stops the run here, in training and
at night alike, naming the mapping file and the place in it.
"""

from __future__ import annotations

import difflib
import re
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from mqlscore.refusal import Refusal
from mqlscore.schema import PICKLISTS, TABLES

TOP_KEYS = frozenset(
    {
        "name",
        "description",
        "tables",
        "params",
        "same_person",
        "blank_values",
        "skip",
        "writeback",  # `mqlscore score --writeback`: the CRM's own import file(s)
    }
)
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
        "skip",  # drop rows whose column (where the file has it) holds one of these values
        "blank_unless",
        "extra",
        "known_at_creation",  # columns the schema calls current state, here filled at creation
    }
)
DATE_KEYS = frozenset({"dayfirst", "format", "unit", "tz", "end_of_day"})
SAME_PERSON_KEYS = frozenset({"file", "id", "alias"})
WRITEBACK_KEYS = frozenset({"objects", "records", "fields", "datetime", "booleans"})
OBJECT_KEYS = frozenset({"file", "id"})  # the import file, its record id column
RECORD_KEYS = frozenset({"object", "file", "lead_id", "id", "where", "optional"})
FIELD_KEYS = frozenset({"value", "max_length", "compare"})
# What a write-back field may hold (`mqlscore.serving.writeback`): a lead_scores column,
# the reasons joined, or the run date; and its kind (text may be cut to a length).
REASONS = [f"reason_{d}_{k}" for d in ("up", "down") for k in (1, 2, 3)]
WRITEBACK_VALUES: dict[str, str] = {
    "score": "int",
    "probability": "float",
    "grade": "text",
    "rank": "int",
    "top_percent": "int",
    "qualified": "bool",  # handed over tonight
    "handed_over": "bool",  # tonight or within score.rehand_after_days: sales has it
    "handed_over_at": "time",
    "on_open_opportunity": "bool",
    "reasons": "text",  # reason_up_1..3 joined by "; "
    "reasons_down": "text",  # reason_down_1..3 joined by "; "
    **dict.fromkeys(REASONS, "text"),
    "scored_at": "time",  # the run date: written with every row, never compared
}
IMPORT_FILE = re.compile(r"crm_update[A-Za-z0-9_.-]*\.csv")


class SpecError(Refusal, ValueError):
    """A mapping file that says something the mapping language does not know."""


def _near(name: object, known: list[str] | tuple[str, ...] | frozenset[str]) -> str:
    close = difflib.get_close_matches(str(name), sorted(map(str, known)), n=1, cutoff=0.6)
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
    _kind(spec.get("name"), str, f"{path}: name", "a name (text)")
    _check_params(spec.get("params"), f"{path}: params")
    if spec.get("same_person"):
        _check_same_person(spec["same_person"], f"{path}: same_person")
    if spec.get("writeback") is not None:
        check_writeback(spec["writeback"], f"{path}: writeback")
    _kind(spec.get("tables"), dict, f"{path}: tables", "a mapping of table names")
    _scalars(spec.get("blank_values"), f"{path}: blank_values")
    _check_skip(spec.get("skip"), f"{path}: skip")
    for table, parts in (spec.get("tables") or {}).items():
        if table not in TABLES:
            raise SpecError(f"{path}: unknown table {table!r}{_near(table, tuple(TABLES))}")
        for i, part in enumerate(parts if isinstance(parts, list) else [parts]):
            where = f"{path}: tables.{table}" + (f"[{i}]" if isinstance(parts, list) else "")
            _check_part(part, table, where)


def _kind(value: Any, kind: type | tuple[type, ...], where: str, says: str) -> None:
    if value is not None and not isinstance(value, kind):
        raise SpecError(f"{where}: expected {says}, found {value!r}"[:300])


def _check_same_person(rule: Any, where: str) -> None:
    _kind(rule, dict, where, "a mapping with file, id and alias")
    _unknown(rule, SAME_PERSON_KEYS, where)
    missing = [k for k in ("file", "id", "alias") if k not in rule]
    if missing:
        raise SpecError(f"{where} needs `{missing[0]}` (file, id and alias)")
    _check_files(rule["file"], where)
    _kind(rule["file"], str, f"{where}.file", "one file name")
    for key in ("id", "alias"):
        _check_column_spec(rule[key], f"{where}.{key}")


def _check_files(files: Any, where: str) -> None:
    """File globs are relative to the export folder, and stay inside it."""
    for name in files if isinstance(files, list) else [files]:
        if not isinstance(name, str) or not name.strip():  # a blank `file:` was a TypeError
            raise SpecError(f"{where}.file: expected a file name or glob, found {name!r}")
        if Path(name).is_absolute() or ".." in Path(name).parts:
            raise SpecError(f"{where}.file: {name!r} must be relative to the export folder")


def _check_part(part: Any, table: str, where: str) -> None:
    if not isinstance(part, dict) or "file" not in part:
        raise SpecError(f"{where}: a table part needs `file` (and `columns`)")
    _unknown(part, PART_KEYS, where)
    _check_files(part["file"], where)
    _kind(part.get("optional"), bool, f"{where}.optional", "true or false")
    for key in ("columns", "constants", "values", "dates", "numbers", "booleans", "where", "skip"):
        _kind(part.get(key), dict, f"{where}.{key}", "a mapping")
    for key in ("optional_columns", "known_at_creation"):
        _kind(part.get(key), list, f"{where}.{key}", "a list of columns")
        for column in part.get(key) or ():
            _kind(column, str, f"{where}.{key}", "a list of columns")
    _scalars(part.get("blank_values"), f"{where}.blank_values")
    for column, mapping in (part.get("values") or {}).items():
        _kind(mapping, dict, f"{where}.values.{column}", "a map of export value: ours")
        for value, ours in (mapping or {}).items():
            _kind(ours, SCALAR, f"{where}.values.{column}.{value}", "one value")
    _check_shapes(part, where)
    _check_formats(part, where)
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


SCALAR = (str, int, float, bool)  # what YAML reads a plain value as (None is blank)


def _scalars(values: Any, where: str) -> None:
    """A list of plain values (cells to match)."""
    _kind(values, list, where, "a list of values")
    for value in values or ():
        _kind(value, SCALAR, where, "a list of values")


def _check_skip(skip: Any, where: str) -> None:
    _kind(skip, dict, where, "a mapping of column: values")
    for column, values in (skip or {}).items():
        _scalars(values, f"{where}.{column}")


def _check_params(params: Any, where: str) -> None:
    """A source's overrides: a mapping of params.yaml sections, each a mapping of keys
    (their values are checked where the section is read)."""
    _kind(params, dict, where, "a mapping of params.yaml sections")
    for section, values in (params or {}).items():
        _kind(values, dict, f"{where}.{section}", "a mapping of keys")


def _check_column_spec(spec: Any, where: str) -> None:
    """An export column, a list of alternatives, `{join: [...], sep}` or `{json, key}`."""
    if isinstance(spec, str) and spec:
        return
    if isinstance(spec, list) and spec:
        for i, alternative in enumerate(spec):
            _check_column_spec(alternative, f"{where}[{i}]")
        return
    if isinstance(spec, dict) and "json" in spec:
        _unknown(spec, ("json", "key"), where)
        _kind(spec["json"], str, f"{where}.json", "the JSON column's name")
        _kind(spec.get("key"), str, f"{where}.key", "the JSON key to read")
        if not spec.get("key"):
            raise SpecError(f"{where}: a json column needs `key`")
        return
    if isinstance(spec, dict) and "join" in spec:
        _unknown(spec, ("join", "sep"), where)
        _kind(spec["join"], list, f"{where}.join", "a list of columns")
        for i, part in enumerate(spec["join"] or ()):
            _check_column_spec(part, f"{where}.join[{i}]")
        _kind(spec.get("sep"), str, f"{where}.sep", "a separator (text)")
        if not spec["join"]:
            raise SpecError(f"{where}.join: names no column")
        return
    raise SpecError(
        f"{where}: expected an export column, a list of alternatives, "
        f"{{join: [...]}} or {{json: column, key: name}}, found {spec!r}"[:300]
    )


def _check_shapes(part: dict[str, Any], where: str) -> None:
    """Each key's values of the shape the mapping code reads (a list where it iterates,
    text where it names a column), so a wrong one is named here, not a TypeError later."""
    for column, spec in (part.get("columns") or {}).items():
        _check_column_spec(spec, f"{where}.columns.{column}")
    for column, value in (part.get("constants") or {}).items():
        _kind(value, SCALAR, f"{where}.constants.{column}", "one value")
    for column, allowed in (part.get("where") or {}).items():
        if isinstance(allowed, list):
            _scalars(allowed, f"{where}.where.{column}")
        else:
            _kind(allowed, SCALAR, f"{where}.where.{column}", "a value or a list of values")
    _check_skip(part.get("skip"), f"{where}.skip")
    for key in ("split", "take_first", "extra"):
        _kind(part.get(key), dict, f"{where}.{key}", "a mapping")
        for column, value in (part.get(key) or {}).items():
            says = "an export column" if key == "extra" else "a separator (text)"
            _kind(value, str, f"{where}.{key}.{column}", says)
            if not value:
                raise SpecError(f"{where}.{key}.{column}: expected {says}, found {value!r}")
    _kind(part.get("blank_unless"), dict, f"{where}.blank_unless", "a mapping")
    for column, rule in (part.get("blank_unless") or {}).items():
        place = f"{where}.blank_unless.{column}"
        if isinstance(rule, dict):
            _unknown(rule, ("column", "values"), place)
            _kind(rule.get("column"), str, f"{place}.column", "an export column")
            _scalars(rule.get("values"), f"{place}.values")
            if not rule.get("column"):
                raise SpecError(f"{place}: needs `column` (and `values`)")
        else:
            _kind(rule, str, place, "a yes/no export column, or {column, values}")
    booleans = part.get("booleans") or {}
    _unknown(booleans, ("true", "false", True, False), f"{where}.booleans")
    for key, words in booleans.items():
        _scalars(words, f"{where}.booleans.{str(key).lower()}")
    dates = part.get("dates") or {}
    _kind(dates.get("format"), str, f"{where}.dates.format", "a strftime format")
    _kind(dates.get("end_of_day"), list, f"{where}.dates.end_of_day", "a list of columns")
    for column in dates.get("end_of_day") or ():
        _kind(column, str, f"{where}.dates.end_of_day", "a list of columns")


def _check_formats(part: dict[str, Any], where: str) -> None:
    """Date and number options that would otherwise fail deep inside pandas."""
    dates, numbers = part.get("dates") or {}, part.get("numbers") or {}
    _kind(dates.get("dayfirst"), bool, f"{where}.dates.dayfirst", "true or false")
    if dates.get("tz") is not None:
        try:
            ZoneInfo(str(dates["tz"]))
        except (ZoneInfoNotFoundError, ValueError) as err:
            raise SpecError(f"{where}.dates.tz: {dates['tz']!r} is no time zone") from err
    if dates.get("unit") not in (None, "s", "ms", "us", "ns"):
        raise SpecError(f"{where}.dates.unit: {dates['unit']!r} is not one of s, ms, us, ns")
    _unknown(numbers, frozenset({"decimal"}), f"{where}.numbers")
    if numbers.get("decimal") not in (None, ".", ","):
        raise SpecError(f"{where}.numbers.decimal: {numbers['decimal']!r} is not '.' or ','")


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


def check_writeback(section: Any, where: str) -> None:
    """A `writeback` section: `objects` (name: {file: crm_update*.csv, id: the header the
    import matches on}), `records` (where each scored lead's record id is read: a list,
    the first entry naming a lead wins; none: the lead id is the record id, one object),
    `fields` (import header: one of our values, or {value, max_length, compare}),
    `datetime` (a strftime format) and `booleans` ({true: ..., false: ...})."""
    _kind(section, dict, where, "a mapping with objects and fields")
    _unknown(section, WRITEBACK_KEYS, where)
    for key in ("objects", "fields"):
        if not section.get(key):
            raise SpecError(f"{where} needs `{key}`")
        _kind(section[key], dict, f"{where}.{key}", "a mapping")
    files, ids = [], set()
    for name, target in section["objects"].items():
        place = f"{where}.objects.{name}"
        _kind(target, dict, place, "a mapping with file and id")
        if target is None:
            raise SpecError(f"{place} needs `file` and `id` (the import file and its id column)")
        _unknown(target, OBJECT_KEYS, place)
        for key in ("file", "id"):
            if not isinstance(target.get(key), str) or not target[key].strip():
                raise SpecError(f"{place} needs `{key}` (the import file and its id column)")
        if not IMPORT_FILE.fullmatch(target["file"]):
            raise SpecError(f"{place}.file: {target['file']!r} must be named crm_update*.csv")
        if target["file"] in files:
            raise SpecError(f"{place}.file: {target['file']!r} is another object's file too")
        files.append(target["file"])
        ids.add(target["id"])
    _check_records(section.get("records"), section["objects"], where)
    for header, spec in section["fields"].items():
        _check_field(header, spec, ids, f"{where}.fields.{header}")
    if section.get("datetime") is not None:
        fmt = section["datetime"]
        if not isinstance(fmt, str) or "%Y" not in fmt:
            raise SpecError(f"{where}.datetime: {fmt!r} is not a strftime format with %Y")
    booleans = section.get("booleans")
    _kind(booleans, dict, f"{where}.booleans", "a mapping {true: ..., false: ...}")
    if booleans is not None and set(booleans) != {True, False}:
        raise SpecError(f"{where}.booleans: give exactly `true: ...` and `false: ...`")


def _check_records(records: Any, objects: dict[str, Any], where: str) -> None:
    if records is None:
        if len(objects) != 1:
            raise SpecError(
                f"{where} needs `records` (which export file holds each object's record ids)"
                " when it has more than one object"
            )
        return
    _kind(records, list, f"{where}.records", "a list of {object, file, lead_id, id}")
    for i, entry in enumerate(records):
        place = f"{where}.records[{i}]"
        if not isinstance(entry, dict):  # a blank entry was a TypeError
            raise SpecError(f"{place}: expected a mapping with object, file, lead_id and id")
        _unknown(entry, RECORD_KEYS, place)
        missing = [k for k in ("object", "file", "lead_id", "id") if k not in entry]
        if missing:
            raise SpecError(f"{place} needs `{missing[0]}` (object, file, lead_id and id)")
        if not isinstance(entry["object"], str) or entry["object"] not in objects:
            known = tuple(map(str, objects))
            raise SpecError(
                f"{place}.object: {entry['object']!r} is not one of the objects"
                f"{_near(entry['object'], known)} (one of {', '.join(known)})"
            )
        _check_files(entry["file"], place)
        _kind(entry.get("optional"), bool, f"{place}.optional", "true or false")
        _kind(entry.get("where"), dict, f"{place}.where", "a mapping")
        for key in ("lead_id", "id"):
            names = entry[key] if isinstance(entry[key], list) else [entry[key]]
            if not names or not all(isinstance(n, str) and n for n in names):
                raise SpecError(f"{place}.{key}: expected an export column or a list of them")


def _check_field(header: Any, spec: Any, ids: set[str], place: str) -> None:
    if not isinstance(header, str) or not header.strip():
        raise SpecError(f"{place}: a field is named by the CRM's API name, not {header!r}")
    if header in ids:
        raise SpecError(f"{place}: {header!r} is the record id column")
    spec = spec if isinstance(spec, dict) else {"value": spec}
    _unknown(spec, FIELD_KEYS, place)
    value = spec.get("value")
    if not isinstance(value, str) or value not in WRITEBACK_VALUES:  # a list: was TypeError
        known = tuple(WRITEBACK_VALUES)
        raise SpecError(
            f"{place}: {value!r} is not one of our values{_near(value, known)}"
            f" (one of {', '.join(known)})"
        )
    limit = spec.get("max_length")
    if limit is not None:
        if WRITEBACK_VALUES[value] != "text":
            raise SpecError(f"{place}.max_length: {value} is not text, so not cut")
        if not isinstance(limit, int) or isinstance(limit, bool) or limit < 2:
            raise SpecError(f"{place}.max_length: expected a whole number of 2 or more")
    _kind(spec.get("compare"), bool, f"{place}.compare", "true or false")
