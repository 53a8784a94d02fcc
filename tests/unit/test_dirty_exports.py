"""Export files as real tools write them, read by the one intake: line ends, code pages,
zone names, decimal marks, two copies of one export, mapping files that are no mapping."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest
import yaml

from mqlscore.config import ParamsError, load_section
from mqlscore.io import read_export_time
from sources.intake import MappingError, lead_extras, parse_numbers, parse_times, read_export_file
from sources.mapping import canonical_tables, load_source, map_part
from tests.conftest import ROOT


def test_classic_mac_line_ends_read_like_any_other(tmp_path: Path) -> None:
    """Excel's "CSV (Macintosh)" ends lines with CR alone."""
    path = tmp_path / "leads.csv"
    path.write_bytes(b'lead_id,email,x_note\rL1,a@acme.com,"two\rlines"\rL2,b@acme.com,x\r')
    frame = read_export_file(path)
    assert frame["lead_id"].tolist() == ["L1", "L2"] and frame["x_note"][0] == "two\nlines"
    assert lead_extras(path) == ["x_note"]


def test_windows_1252_is_not_read_as_latin_1(tmp_path: Path) -> None:
    path = tmp_path / "leads.csv"
    path.write_bytes("Id;Name\nL1;O’Neil – 5 €\n".encode("cp1252"))
    assert read_export_file(path)["Name"].tolist() == ["O’Neil – 5 €"]


def test_zone_names_are_offsets_and_unknown_ones_are_no_date() -> None:
    times = pd.Series(["2024-01-05 10:00 PST", "2024-07-05 10:00 EDT", "2024-01-05 10:00 AM"])
    parsed = parse_times(times, {}, "t.csv", "Created")
    assert parsed.tolist() == [
        pd.Timestamp("2024-01-05 18:00"),
        pd.Timestamp("2024-07-05 14:00"),
        pd.Timestamp("2024-01-05 10:00"),
    ]
    with pytest.raises(MappingError, match="'2024-01-05 10:00 XYZ' in data row 1 is not a date"):
        parse_times(pd.Series(["2024-01-05 10:00 XYZ"]), {}, "t.csv", "Created")


@pytest.mark.parametrize(
    ("cells", "numbers"),
    [
        (["34.100,00", "7,5", None], [34100.0, 7.5, None]),  # a European export
        (["1,234.50", "34,100"], [1234.5, 34100.0]),  # one value shows the point
        (["1,000,000", "12"], [1e6, 12.0]),  # commas grouping thousands
        (["34.1", "5"], [34.1, 5.0]),
    ],
)
def test_the_decimal_mark_is_read_from_the_values(cells: list, numbers: list) -> None:
    got = parse_numbers(pd.Series(cells, dtype=object), {}, "o.csv", "Amount")
    assert [None if pd.isna(v) else v for v in got] == numbers


def test_an_ambiguous_or_mixed_decimal_mark_stops_the_run() -> None:
    with pytest.raises(MappingError, match="'34,100' in data row 1 is ambiguous"):
        parse_numbers(pd.Series(["34,100", "2,500"]), {}, "o.csv", "Amount")
    with pytest.raises(MappingError, match="'7,5' and '1.5' use different decimal marks"):
        parse_numbers(pd.Series(["7,5", "1.5"]), {}, "o.csv", "Amount")
    assert parse_numbers(pd.Series(["34,100"]), {"decimal": ","}, "o.csv", "A")[0] == 34.1
    for spelled in ("inf", "-Infinity", "NaN"):  # spelled-out floats are no amounts
        with pytest.raises(MappingError, match=f"{spelled!r} in data row 2 is not a finite"):
            parse_numbers(pd.Series(["12", spelled]), {}, "o.csv", "Amount")


def test_a_where_with_one_value_keeps_that_value() -> None:
    frame = pd.DataFrame({"Id": ["O1", "O2"], "StageName": ["Closed Won", "Prospecting"]})
    part = {"columns": {"opportunity_id": "Id"}, "where": {"StageName": "Closed Won"}}
    assert map_part(frame, part, "opportunities", "o.csv")["opportunity_id"].tolist() == ["O1"]


def test_two_copies_of_one_export_are_refused_naming_both(tmp_path: Path) -> None:
    from tests.unit.test_real_shapes import _hubspot

    folder = _hubspot(tmp_path, ["Closed Won"])
    today = folder / "hubspot-crm-exports-all-contacts-2024.csv"
    (folder / "hubspot-crm-exports-all-contacts-2023.csv").write_bytes(today.read_bytes())
    with pytest.raises(MappingError, match="contacts-2023.csv and .*contacts-2024.csv both hold"):
        canonical_tables(load_source([ROOT / "mappings/hubspot.yaml"]), folder)


def test_a_yaml_bomb_is_refused_before_it_is_built(tmp_path: Path) -> None:
    lines = ['a: &a ["x", "x", "x", "x", "x", "x", "x", "x", "x", "x"]']
    for level in "bcdefghi":
        previous = chr(ord(level) - 1)
        lines.append(f"{level}: &{level} [" + ", ".join([f"*{previous}"] * 10) + "]")
    bomb = tmp_path / "bomb.yaml"
    bomb.write_text("\n".join(lines) + "\nname: boom\n")
    with pytest.raises(MappingError, match="aliases expand past"):
        load_source([bomb])
    with pytest.raises(ParamsError, match="aliases expand past"):
        load_section(bomb, "name", dict)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("spec", "says"),
    [
        (["a", "list"], "a YAML mapping of keys"),
        ({"tables": {"leads": {"file": "/etc/passwd", "columns": {}}}}, "relative to the export"),
        ({"tables": {"leads": {"file": "l.csv", "columns": "Id"}}}, "columns: expected a mapping"),
        ({"same_person": {"file": "l.csv", "alias": "A"}}, "same_person needs `id`"),
        ({"tables": {"leads": {"file": "l.csv", "dates": {"tz": "Mars/Base"}}}}, "'Mars/Base'"),
        ({"tables": {"leads": {"file": "l.csv", "numbers": {"decimal": ";"}}}}, "decimal"),
        ({"tables": {"leads": {"file": "l.csv", "optional": "yes"}}}, "optional: expected true"),
    ],
)
def test_a_mapping_of_the_wrong_shape_is_refused_in_one_line(
    tmp_path: Path, spec: object, says: str
) -> None:
    path = tmp_path / "m.yaml"
    path.write_text(yaml.safe_dump(spec))
    with pytest.raises(MappingError, match=says) as err:
        load_source([path])
    assert "\n" not in str(err.value) and str(path) in str(err.value)


def test_export_time_with_an_offset_or_missing_says_what_to_do(tmp_path: Path) -> None:
    (tmp_path / "export.json").write_text(json.dumps({"exported_at": "2025-10-01T10:00:00Z"}))
    assert read_export_time(tmp_path) == pd.Timestamp("2025-10-01 10:00")
    (tmp_path / "export.json").write_text(json.dumps({"source": "x"}))
    with pytest.raises(FileNotFoundError, match="no readable exported_at"):
        read_export_time(tmp_path)
    with pytest.raises(FileNotFoundError, match="the export folder does not exist"):
        read_export_time(tmp_path / "nope")


def test_messages_never_quote_a_person() -> None:
    """A shifted header puts an email under a date column: the refusal names the file,
    column and row, and shows the address only by its domain."""
    times = pd.Series([None, "taylor.weber62@example.com"])
    with pytest.raises(MappingError) as err:
        parse_times(times, {}, "Lead.csv", "CreatedDate")
    assert "taylor" not in str(err.value)
    assert "'…@example.com' in data row 2 is not a date" in str(err.value)
    with pytest.raises(MappingError) as err:
        parse_numbers(pd.Series(["Taylor Weber"]), {}, "Lead.csv", "LastName")
    assert "Taylor" not in str(err.value) and "column 'LastName'" in str(err.value)


def test_a_time_zone_applies_only_to_times_without_one() -> None:
    """`dates: {tz: ...}` localizes naive times; a date ending in digits is naive, a zone
    name or an offset after the time is kept."""
    cells = pd.Series(["15-01-2025 10:00", "2025-01-15 10:00 PST", "2025-01-15T10:00:00+01:00"])
    parsed = parse_times(cells, {"tz": "America/New_York", "dayfirst": True}, "f.csv", "c")
    assert parsed.tolist() == [
        pd.Timestamp("2025-01-15 15:00"),
        pd.Timestamp("2025-01-15 18:00"),
        pd.Timestamp("2025-01-15 09:00"),
    ]
