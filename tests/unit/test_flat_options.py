"""train-flat's options name columns of the file, or the run stops saying which."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from mqlscore.refusal import Refusal
from pipeline import train_flat


def _file(tmp_path: Path) -> Path:
    path = tmp_path / "leads.csv"
    pd.DataFrame(
        {
            "Prospect ID": ["p1", "p2"],
            "Lead Source": ["Google", "Reference"],
            "Signup Date": ["2025-01-01", "2025-01-02"],
            "Converted": ["Yes", "No"],
        }
    ).to_csv(path, index=False)
    return path


@pytest.mark.parametrize(
    ("extra", "says"),
    [
        (
            {"date": "Signup Dat"},
            "--date 'Signup Dat' is not a column of the file \\(closest: 'Signup Date'\\)",
        ),
        ({"date": "Prospect ID"}, "--id and --date both name 'Prospect ID'"),  # was KeyError
        ({"exclude": ["Lead Sorce"]}, "--exclude 'Lead Sorce' is not a column"),  # was ignored
        ({"keep": ["Status"]}, "--keep 'Status' is not a column"),
        ({"target": ""}, "--target '' is not a column"),  # was KeyError: 'label'
        ({"id": "Converted"}, "--target and --id both name 'Converted'"),
    ],
)
def test_an_option_naming_no_column_of_the_file_is_refused(
    tmp_path: Path, extra: dict, says: str
) -> None:
    options = {"target": "Converted", "id": "Prospect ID"} | extra
    with pytest.raises(Refusal, match=says):
        train_flat.main(input=_file(tmp_path), out=tmp_path / "out", **options)
    assert not (tmp_path / "out").exists()
