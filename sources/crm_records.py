"""Which CRM record each scored lead is, read back from the export for a write-back.

A mapping's `writeback.records` names, per CRM object, the export file holding its
records, the column that is the scored lead's id there (as the mapping read it) and the
record's own id: in Salesforce a converted lead's record is its Contact (a converted
Lead cannot be updated), an unconverted lead its Lead, a contact never entered as a lead
its Contact; in Marketo a person's record is Marketo's own lead id, though the lead is
scored under its Salesforce id. The first entry naming a lead wins. The mapping's
`blank_values` and `skip` apply, as when the tables were read.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from mqlscore.serving.writeback import DEFAULT_DATETIME, DEFAULT_MAX_LENGTH, RUN_DATE, Field, Shape
from sources.intake import MappingError, read_export_file
from sources.mapping import part_cells, read_spec
from sources.mapping_spec import WRITEBACK_VALUES, check_writeback

# A canonical export (no mapping): one plain file keyed by the export's own lead id.
PLAIN: dict[str, Any] = {
    "objects": {"lead": {"file": "crm_update.csv", "id": "lead_id"}},
    "fields": {
        "mqlscore_score": "score",
        "mqlscore_grade": "grade",
        "mqlscore_reasons": {"value": "reasons", "max_length": 255, "compare": False},
        "mqlscore_qualified": "qualified",
        "mqlscore_scored_at": "scored_at",
    },
}


def shape_from(section: dict[str, Any]) -> Shape:
    """A `writeback` section (checked by `sources.mapping_spec`) as the Shape the write
    is made in: text cut at `max_length` (255 unless said), every field compared unless
    `compare: false`, the run date never."""
    fields = []
    for header, spec in section["fields"].items():
        spec = spec if isinstance(spec, dict) else {"value": spec}
        kind = WRITEBACK_VALUES[spec["value"]]
        limit = int(spec.get("max_length", DEFAULT_MAX_LENGTH)) if kind == "text" else None
        compare = bool(spec.get("compare", True)) and spec["value"] != RUN_DATE
        fields.append(Field(str(header), spec["value"], kind, limit, compare))
    booleans = section.get("booleans") or {}
    return Shape(
        objects={str(o): (t["file"], str(t["id"])) for o, t in section["objects"].items()},
        fields=tuple(fields),
        datetime=section.get("datetime", DEFAULT_DATETIME),
        booleans=(str(booleans.get(True, "true")), str(booleans.get(False, "false"))),
    )


@dataclass(frozen=True)
class Target:
    """Where a night writes back: the shape, and the mapping it came from (None: a
    canonical export, written in the plain shape keyed by lead id)."""

    shape: Shape
    section: dict[str, Any]
    mapping: Path | None = None
    spec: dict[str, Any] | None = None


def writeback_target(mappings: tuple[Path, ...]) -> Target:
    """The `writeback` section of the mapping that supplies the leads (the first that
    maps them, as when the tables are read): its record ids are the ones scored. A
    canonical export writes the plain shape; a mapping without the section is refused."""
    if not mappings:
        check_writeback(PLAIN, "the plain write-back shape")
        return Target(shape_from(PLAIN), PLAIN)
    for path in mappings:
        spec = read_spec(Path(path))
        if "leads" in (spec.get("tables") or {}):
            section = spec.get("writeback")
            if not section:
                raise MappingError(
                    f"{path}: no `writeback` section, so --writeback cannot know the CRM's "
                    "import shape; add one (see mappings/salesforce.yaml) or score without it"
                )
            return Target(shape_from(section), section, Path(path), spec)
    raise MappingError(f"{', '.join(map(str, mappings))}: no mapping names the leads")


def record_ids(target: Target, folder: Path) -> pd.DataFrame | None:
    """lead_id, object, record_id for every lead an entry of `records` names (the first
    entry naming a lead wins; blank ids name nothing); None when the section has no
    `records` (each lead id is its own record)."""
    records = target.section.get("records")
    if not records:
        return None
    spec = target.spec or {}
    found = []
    for entry in records:
        paths = sorted(folder.glob(str(entry["file"])))
        if not paths and entry.get("optional"):
            continue
        if not paths:
            raise MappingError(
                f"{folder}: no file matches {entry['file']!r} "
                f"({target.mapping}: writeback.records, object {entry['object']})"
            )
        part = {
            "blank_values": spec.get("blank_values") or [],
            "skip": spec.get("skip") or {},
            "where": entry.get("where") or {},
        }
        for path in paths:
            cells = part_cells(
                read_export_file(path),
                part,
                {"lead_id": entry["lead_id"], "record_id": entry["id"]},
                path.name,
            )
            cells = cells.dropna().assign(object=str(entry["object"]))
            found.append(cells[["lead_id", "object", "record_id"]])
    if not found:
        return pd.DataFrame({"lead_id": [], "object": [], "record_id": []}, dtype=object)
    every = pd.concat(found, ignore_index=True).astype(str)
    return every.drop_duplicates("lead_id", keep="first").reset_index(drop=True)
