"""Real exports to the canonical tables, through declarative mapping files.

A mapping file (YAML, under `mappings/`) names, per canonical table, the export file(s)
to read and how: column renames, date, number and boolean formats, value maps, lists
split from one cell, constants for what the source lacks, filters, and unions of several
parts. Several mappings compose (Marketo for leads and activities, Salesforce for
accounts and deals): each supplies the tables it names. Pure functions turn frames of
text into typed canonical frames; files are read and cells typed by `sources.intake`.
"""

from __future__ import annotations

import difflib
import fnmatch
import json
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import yaml

from mqlscore.io import read_yaml
from mqlscore.schema import OPTIONAL_TABLES, OTHER_TYPE, PRIMARY_KEYS, RAW_TABLES, TABLES
from sources.intake import (
    MappingError,
    cell_error,
    parse_booleans,
    parse_numbers,
    parse_times,
    read_export_file,
    unlisted_error,
)
from sources.mapping_spec import SpecError, check_spec

OTHER = "_other"  # value-map key: what every unlisted value becomes
NONBLANK = "_nonblank"  # `where` value: keep the rows where the column is filled
REQUIRED_TABLES = ("leads", "opportunities")
log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Source:
    """The mapping files of one source, merged: its name and tables (its `params` block
    is applied by `mqlscore.config.load_section`)."""

    name: str
    tables: dict[str, list[dict[str, Any]]]
    files: tuple[Path, ...]
    same_person: tuple[dict[str, str], ...] = ()  # {file, id, alias}: two ids, one person


def load_source(paths: list[Path]) -> Source:
    """Merge mapping files; a table two of them map comes from the one listed first
    (Marketo before Salesforce: Marketo's leads and touches, Salesforce's deals). Each
    file is checked against the mapping language before any export is read."""
    names, tables, people = [], {}, []
    for path in paths:
        spec = _read_spec(Path(path))
        names.append(spec.get("name") or Path(path).stem)
        blanks, skip = list(spec.get("blank_values") or []), spec.get("skip") or {}
        for table, parts in (spec.get("tables") or {}).items():
            if table not in tables:  # the mapping listed first supplies a table
                parts = parts if isinstance(parts, list) else [parts]
                tables[table] = [
                    _with_blanks(p, blanks) | {"skip": skip | (p.get("skip") or {})} for p in parts
                ]
        if spec.get("same_person"):
            people.append(_with_blanks(spec["same_person"], blanks))
    missing = [t for t in REQUIRED_TABLES if t not in tables]
    if missing:
        raise MappingError(
            f"{', '.join(map(str, paths))}: a source needs at least leads and opportunities"
            f" (no mapping names {', '.join(missing)})"
        )
    return Source("-".join(names), tables, tuple(Path(p) for p in paths), tuple(people))


def read_spec(path: Path) -> dict[str, Any]:
    """One mapping file, checked against the mapping language (MappingError if not)."""
    return _read_spec(path)


def _read_spec(path: Path) -> dict[str, Any]:
    try:
        spec = read_yaml(path) or {}
        check_spec(spec, str(path))
    except SpecError as err:
        raise MappingError(str(err)) from err
    except (OSError, ValueError, yaml.YAMLError) as err:
        raise MappingError(f"{path}: cannot read the mapping: {err}") from err
    return spec


def _with_blanks(part: dict[str, Any], blanks: list[str]) -> dict[str, Any]:
    """A part with its mapping's `blank_values` added to its own."""
    own = list(part.get("blank_values") or [])
    return {**part, "blank_values": own + [b for b in blanks if b not in own]}


def map_values(values: pd.Series, mapping: dict, file: str, column: str) -> pd.Series:
    """Source values to ours by a value map; unlisted values become the `_other` entry,
    or stop the run naming every distinct unlisted value, so one edit maps them all."""
    table = {str(k): v for k, v in mapping.items() if k != OTHER}
    mapped = values.astype("string").map(table).astype(object)
    patterns = [(k, v) for k, v in table.items() if "*" in k]  # first matching wildcard
    if patterns:  # each distinct value matched once, then mapped in one pass
        rest = values.notna() & mapped.isna()
        hits = {
            value: next((v for k, v in patterns if fnmatch.fnmatchcase(str(value), k)), None)
            for value in values[rest].unique()
        }
        mapped[rest] = values[rest].map(hits)
    unmapped = values.notna() & mapped.isna()
    if unmapped.any() and OTHER not in mapping:
        raise unlisted_error(file, column, values[unmapped], "the mapping's value map")
    return mapped.where(~unmapped, mapping.get(OTHER)).where(values.notna(), None)


def _closest(name: str, columns: list[str]) -> str:
    near = difflib.get_close_matches(name, columns, n=3, cutoff=0.5)
    return f"; closest: {', '.join(near)}" if near else f"; it has: {', '.join(columns[:12])}"


def _column(frame: pd.DataFrame, name: str, file: str, purpose: str) -> pd.Series:
    if name not in frame.columns:
        hint = _closest(name, list(frame.columns))
        raise MappingError(f"{file} has no column {name!r} ({purpose}){hint}")
    return frame[name]


def _json_key(frame: pd.DataFrame, spec: dict, file: str, purpose: str) -> pd.Series:
    """One key of a JSON object column (Marketo's `attributes`), blank where absent."""
    cells = _column(frame, spec["json"], file, purpose)

    def read(cell: Any) -> Any:
        if cell is None:
            return None
        try:
            found = json.loads(cell)
        except (TypeError, ValueError):
            return _BAD_JSON
        return found.get(spec["key"]) if isinstance(found, dict) else _BAD_JSON

    values = cells.map(read)
    bad = values.map(lambda v: v is _BAD_JSON)
    if bad.any():
        start = cells[bad].str.slice(0, 24)  # its start only: a cell may hold a person
        raise cell_error(file, spec["json"], start, "is not a JSON object")
    return values.map(lambda v: None if v is None else str(v)).astype(object)


_BAD_JSON = object()


def source_names(spec: Any) -> list[str]:
    """The export columns a column spec reads (a name, alternatives, a join, a JSON key)."""
    if isinstance(spec, list):
        return [n for s in spec for n in source_names(s)]
    if isinstance(spec, dict):
        return source_names(spec.get("join") or spec.get("json") or [])
    return [str(spec)]


def _cells(frame: pd.DataFrame, spec: Any, file: str, purpose: str) -> pd.Series | None:
    """The cells a column spec names: a column; a list of alternatives (the first
    non-blank of those present, None when none is); `{join: [...], sep}`; `{json, key}`."""
    if isinstance(spec, dict) and "json" in spec:
        return _json_key(frame, spec, file, purpose)
    if isinstance(spec, dict):
        texts = [_cells(frame, s, file, purpose).fillna("").astype(str) for s in spec["join"]]
        return texts[0].str.cat(texts[1:], sep=spec.get("sep", "|"))
    if isinstance(spec, list):
        present = [_cells(frame, s, file, purpose) for s in spec if _present(frame, s)]
        return pd.concat(present, axis=1).bfill(axis=1).iloc[:, 0] if present else None
    return _column(frame, spec, file, purpose)


def _present(frame: pd.DataFrame, spec: Any) -> bool:
    """Whether the file has what a column spec reads (for a list: any alternative)."""
    if isinstance(spec, list):
        return any(_present(frame, s) for s in spec)
    return all(name in frame.columns for name in source_names(spec))


def absent_columns(frame: pd.DataFrame, part: dict) -> dict[str, list[str]]:
    """Optional canonical columns whose export columns the file lacks: they stay blank."""
    columns = part.get("columns") or {}
    return {
        name: source_names(columns[name])
        for name in part.get("optional_columns") or ()
        if name in columns and not _present(frame, columns[name])
    }


def _filtered(frame: pd.DataFrame, part: dict, file: str) -> pd.DataFrame:
    """Rows the part keeps (`where`), lists split to rows, first items of lists taken."""
    for column, values in (part.get("skip") or {}).items():  # e.g. deleted records
        if column in frame.columns:
            drop = frame[column].str.lower().isin([str(v).lower() for v in values])
            if drop.any():
                log.info("%s: %d row(s) skipped (%s)", file, int(drop.sum()), column)
            frame = frame[~drop.to_numpy()]
    for column, allowed in (part.get("where") or {}).items():
        cells = _column(frame, column, file, "filter")
        allowed = allowed if isinstance(allowed, list) else [allowed]  # one value, not letters
        keep = cells.notna() if allowed == [NONBLANK] else cells.isin([str(v) for v in allowed])
        frame = frame[keep]
    for column, separator in (part.get("split") or {}).items():
        cells = _column(frame, column, file, "split").str.split(separator)
        frame = frame.assign(**{column: cells}).explode(column)
        frame[column] = frame[column].str.strip().replace("", None)
        frame = frame[frame[column].notna()]
    for column, separator in (part.get("take_first") or {}).items():  # first of a list
        first = _column(frame, column, file, "take_first").str.split(separator).str[0]
        frame = frame.assign(**{column: first.str.strip().replace("", None)})
    return frame.reset_index(drop=True)


def part_cells(frame: pd.DataFrame, part: dict, specs: dict[str, Any], file: str) -> pd.DataFrame:
    """The cells of column specs (`name: spec`) in the rows a part keeps: its blank values
    blank, `skip` and `where` applied. Reads record ids back for a write-back
    (`sources.crm_records`) the way the tables were read."""
    blanks = [str(b) for b in part.get("blank_values") or ()]
    if blanks:
        frame = frame.where(~frame.isin(blanks), None)
    frame = _filtered(frame, part, file)
    out = {}
    for name, spec in specs.items():
        cells = _cells(frame, spec, file, name)
        if cells is None:  # none of the alternatives: name the first as missing
            _column(frame, source_names(spec)[0], file, name)
        out[name] = cells
    return pd.DataFrame(out, index=frame.index)


def map_part(frame: pd.DataFrame, part: dict, table: str, file: str) -> pd.DataFrame:
    """One export file's rows as canonical rows of `table` (typed), by one mapping part."""
    kinds = TABLES[table]
    blanks = [str(b) for b in part.get("blank_values") or ()]
    if blanks:  # Salesforce's 000000000000000AAA in an empty lookup means blank
        frame = frame.where(~frame.isin(blanks), None)
    frame = _filtered(frame, part, file)
    out = pd.DataFrame(index=frame.index)
    columns, constants = part.get("columns") or {}, part.get("constants") or {}
    optional = absent_columns(frame, part)
    for name in kinds:
        if name in columns and name not in optional:
            cells = _cells(frame, columns[name], file, f"{table}.{name}")
            if cells is None:  # none of the alternatives: name the first as missing
                _column(frame, source_names(columns[name])[0], file, f"{table}.{name}")
            out[name] = cells
        else:
            out[name] = constants.get(name)
    if table == "engagement":  # the export's own activity names, counted when mapped to other
        out["activity_source"] = out["activity_type"]
    for name, mapping in (part.get("values") or {}).items():
        out[name] = map_values(out[name], mapping, file, _label(columns.get(name, name)))
    day_only = {n: out[n] for n in (part.get("dates") or {}).get("end_of_day") or ()}
    for name, kind in kinds.items():
        out[name] = _typed(out[name], kind, part, file, _label(columns.get(name, name)))
    for name, text in day_only.items():
        out[name] = end_of_day(out[name], text)
    for name, rule in (part.get("blank_unless") or {}).items():  # an open deal's CloseDate
        out[name] = out[name].where(_kept(frame, rule, file, name))
    for name, source in (part.get("extra") or {}).items():
        out[f"x_{name}"] = _column(frame, source, file, f"extra column {name}")
    return out


def _label(spec: Any) -> str:
    """How messages name a column spec: its export column(s)."""
    names = source_names(spec)
    return names[0] if len(names) == 1 else "|".join(names)


def end_of_day(times: pd.Series, text: pd.Series) -> pd.Series:
    """Date-only cells (no time of day) as the last second of their day: a deal closed on
    2024-01-22 closed some time that day and is known by its end, so a same-day close is
    never before the deal's created time."""
    date_only = text.astype("string").str.fullmatch(r"\s*[\d./-]+\s*", na=False)
    shift = pd.Timedelta(days=1) - pd.Timedelta(seconds=1)
    return times.where(~date_only.to_numpy(), times + shift)


def _typed(values: pd.Series, kind: str, part: dict, file: str, column: str) -> pd.Series:
    values = values.astype(object).where(values.notna(), None)
    if kind == "time":
        return parse_times(values.astype("string"), part.get("dates") or {}, file, column)
    if kind in ("int", "float"):
        numbers = parse_numbers(values.astype("string"), part.get("numbers") or {}, file, column)
        return numbers.round().astype("Int64") if kind == "int" else numbers
    if kind == "bool":
        if values.map(lambda v: isinstance(v, bool)).all():
            return values.astype(bool)
        return parse_booleans(values, part.get("booleans") or {}, file, column)
    text = values.astype("string")
    return text.astype(object).where(text.notna(), None)


def _kept(frame: pd.DataFrame, rule: str | dict, file: str, name: str) -> np.ndarray:
    """`blank_unless` rows: a yes/no column is yes, or a column holds one of `values`."""
    if isinstance(rule, dict):
        cells = _column(frame, rule["column"], file, f"blank_unless {name}")
        return cells.isin([str(v) for v in rule["values"]]).to_numpy()
    return parse_booleans(
        _column(frame, rule, file, f"blank_unless {name}"), {}, file, rule
    ).to_numpy()


@dataclass(frozen=True)
class Mapped:
    """One canonical table as its mapping parts read it (None: no part's file is there)."""

    frame: pd.DataFrame | None
    files: list[str]
    absent_files: list[str]  # optional parts whose file is not in the export
    absent_columns: dict[str, list[str]]  # optional canonical column -> export names


def map_table(source: Source, table: str, folder: Path) -> Mapped:
    """A canonical table from the export files its mapping parts name (their union)."""
    frames, read, absent, columns = [], [], [], {}
    for part in source.tables[table]:
        patterns = part.get("file")
        patterns = patterns if isinstance(patterns, list) else [patterns]
        paths = sorted({p for pattern in patterns for p in folder.glob(str(pattern))})
        if not paths and part.get("optional"):
            absent.append(" or ".join(map(str, patterns)))
            continue
        if not paths:
            raise MappingError(
                f"{folder}: no file matches {patterns} (mapping for {table}); "
                f"found: {', '.join(sorted(p.name for p in folder.iterdir())[:12])}"
            )
        for path in paths:
            frame = read_export_file(path)
            for name, names in absent_columns(frame, part).items():
                columns[name] = names
                log.warning(
                    "%s has no column %s (%s.%s, optional): left blank",
                    path.name,
                    " or ".join(map(repr, names)),
                    table,
                    name,
                )
            frames.append(map_part(frame, part, table, path.name))
            read.append(path.name)
        _one_copy(frames[-len(paths) :], [p.name for p in paths], table)
    if not frames:
        return Mapped(None, read, absent, columns)
    mapped = pd.concat(frames, ignore_index=True)
    key = {"engagement": "event_id", "sales_activities": "activity_id"}.get(table)
    if key and len(mapped) and mapped[key].isna().all():  # no event ids: number the rows
        mapped[key] = [f"{table[0].upper()}{i}" for i in range(1, len(mapped) + 1)]
    return Mapped(mapped, read, absent, columns)


def _one_copy(frames: list[pd.DataFrame], names: list[str], table: str) -> None:
    """Files one glob matches are parts of one export only if no record is in two of them:
    an old export beside tonight's (`*contacts*.csv`) would otherwise win silently."""
    key = PRIMARY_KEYS.get(table)
    if key is None or len(frames) < 2:
        return
    seen: dict[str, str] = {}
    for frame, name in zip(frames, names, strict=True):
        ids = set(frame[key].dropna())
        twice = next((i for i in ids if i in seen), None)
        if twice is not None:
            raise MappingError(
                f"{seen[twice]} and {name} both hold {table} {key} {twice!r}: two copies of "
                "one export? Keep one file (or name it exactly in the mapping's `file`)"
            )
        seen |= dict.fromkeys(ids, name)


def _aliases(rule: dict, folder: Path) -> dict[str, str]:
    """alias id -> person id, from the file a `same_person` rule names (blank values of
    the mapping, like an empty lookup's 000000000000000AAA, are no alias); none when the
    file is not in the export."""
    found = sorted(folder.glob(rule["file"]))
    if not found:  # e.g. Salesforce's Lead.csv when Marketo supplies the leads
        log.warning(
            "%s: no file matches %s: its same_person rule is skipped", folder, rule["file"]
        )
        return {}
    frame = read_export_file(found[0])
    blanks = [str(b) for b in rule.get("blank_values") or ()]
    frame = frame.where(~frame.isin(blanks), None) if blanks else frame
    ids = _cells(frame, rule["id"], rule["file"], "same_person id")
    alias = _cells(frame, rule["alias"], rule["file"], "same_person alias")
    if ids is None or alias is None:
        wanted = source_names(rule["id"] if ids is None else rule["alias"])
        _column(frame, wanted[0], rule["file"], "same_person")
    return {a: i for a, i in zip(alias, ids, strict=True) if a is not None and i is not None}


def one_person(
    tables: dict[str, pd.DataFrame], aliases: dict[str, str]
) -> dict[str, pd.DataFrame]:
    """Every reference to an alias id (a converted lead's contact) points at the person's
    id instead, and the alias's own lead row goes: one person, one lead."""
    out = dict(tables)
    for name in ("engagement", "sales_activities", "opportunity_contacts"):
        if name in out:
            ids = out[name]["lead_id"]
            out[name] = out[name].assign(lead_id=ids.map(aliases).fillna(ids))
    out["leads"] = out["leads"][~out["leads"]["lead_id"].isin(set(aliases))].reset_index(drop=True)
    return out


def empty_table(table: str) -> pd.DataFrame:
    """A canonical table with no rows (a table the source does not have)."""
    dtypes = {"time": "datetime64[us]", "float": "float64", "int": "Int64", "bool": "bool"}
    return pd.DataFrame(
        {c: pd.Series(dtype=dtypes.get(k, object)) for c, k in TABLES[table].items()}
    )


def accounts_from_ids(tables: dict[str, pd.DataFrame]) -> pd.DataFrame:
    """Without an account export: one bare account per account id the leads and deals
    name (no firmographics), so deals still roll up by account."""
    ids = pd.concat([tables["leads"]["account_id"], tables["opportunities"]["account_id"]])
    ids = sorted(ids.dropna().unique())
    frame = empty_table("accounts").reindex(range(len(ids)))
    frame["account_id"] = ids
    frame["is_target_account"] = False
    return frame


def canonical_tables(
    source: Source, folder: Path, optional: bool = True
) -> tuple[dict[str, pd.DataFrame], dict]:
    """Every canonical table (empty for those the source lacks) and what was done. A
    table whose files are all absent (optional parts) or hold only a header is a table
    the source lacks: named in `missing_tables`, its features dropped, its checks skipped.
    An optional table (`schema.OPTIONAL_TABLES`: campaigns) is returned only where the
    export has rows of it; absent, it is simply not there (most exports lack it). Without
    `optional` they are not read (scoring needs none: a bad campaign cost stops no night)."""
    if not folder.is_dir():
        raise MappingError(f"export folder {folder} does not exist")
    names = (*RAW_TABLES, *OPTIONAL_TABLES) if optional else RAW_TABLES
    mapped = {t: map_table(source, t, folder) for t in names if t in source.tables}
    tables = {t: m.frame for t, m in mapped.items() if m.frame is not None and len(m.frame)}
    for table in REQUIRED_TABLES:
        if table not in tables:
            files = ", ".join(mapped[table].files) or "no file"
            raise MappingError(f"{folder}: {table} has no rows ({files}); a source needs them")
    for rule in source.same_person:
        tables = one_person(tables, _aliases(rule, folder))
    if "opportunity_contacts" in tables:  # a contact role and a converted lead: one row
        roles = tables["opportunity_contacts"]
        tables["opportunity_contacts"] = roles.drop_duplicates(
            ["opportunity_id", "lead_id"]
        ).reset_index(drop=True)
    missing = [t for t in RAW_TABLES if t not in tables]
    for table in missing:
        tables[table] = accounts_from_ids(tables) if table == "accounts" else empty_table(table)
    tables, dropped = drop_personless(tables)
    other = _other_counts(tables["engagement"])
    tables["engagement"] = tables["engagement"].drop(columns="activity_source", errors="ignore")
    info = {
        "exported_at": _newest(tables),
        "source": source.name,
        "missing_tables": missing,
        "empty_tables": [t for t, m in mapped.items() if m.frame is not None and not len(m.frame)],
        "absent_files": sorted(f for m in mapped.values() for f in m.absent_files),
        "absent_columns": {t: m.absent_columns for t, m in mapped.items() if m.absent_columns},
        "extra_lead_columns": [c for c in tables["leads"].columns if c.startswith("x_")],
        "known_at_creation": known_at_creation(source),
        "files": {t: m.files for t, m in mapped.items() if m.files},
        "rows": {name: len(frame) for name, frame in tables.items()},
        "other_activity_types": other,
        "dropped_rows": dropped,
    }
    return tables, info


def known_at_creation(source: Source) -> dict[str, list[str]]:
    """Per table, the columns known when a row is created by every part that maps them
    (`known_at_creation`); the schema's current-state columns not listed are never
    features (`schema.AS_OF`)."""
    found = {}
    for table, parts in source.tables.items():
        said = {c for part in parts for c in part.get("known_at_creation") or ()}
        known = sorted(
            c
            for c in said
            if all(
                c in (p.get("known_at_creation") or ())
                for p in parts
                if c in (p.get("columns") or {})
            )
        )
        if known:
            found[table] = known
    return found


def _newest(tables: dict[str, pd.DataFrame]) -> str | None:
    times = [  # events only: a campaign may be planned to start after the export
        frame[c].max()
        for name, frame in tables.items()
        if name not in OPTIONAL_TABLES
        for c, kind in TABLES[name].items()
        if kind == "time" and len(frame) and frame[c].notna().any()
    ]
    return max(times).isoformat() if times else None


def _other_counts(engagement: pd.DataFrame) -> dict[str, int]:
    if "activity_source" not in engagement.columns:
        return {}
    other = engagement.loc[engagement["activity_type"] == OTHER_TYPE, "activity_source"]
    return {str(k): int(v) for k, v in other.value_counts().items()}


def drop_personless(
    tables: dict[str, pd.DataFrame],
) -> tuple[dict[str, pd.DataFrame], dict[str, dict[str, int]]]:
    """Sales touches on neither a lead nor an account (a task logged on something no
    table holds) dropped, and counted per table and reason; touches on an account only
    stay, as account-level sales touches."""
    sales = tables["sales_activities"]
    nobody = sales["lead_id"].isna() & sales["account_id"].isna()
    if not nobody.any():
        return tables, {}
    kept = sales[~nobody].reset_index(drop=True)
    return tables | {"sales_activities": kept}, {
        "sales_activities": {"no lead or account": int(nobody.sum())}
    }
