"""A flat file's cells typed: what is not a finite number is no number."""

from __future__ import annotations

import numpy as np
import pandas as pd

from sources.flat_file import infer_kind, typed


def test_infinite_spellings_are_missing_numbers_not_infinity() -> None:
    values = pd.Series(["1,5", "inf", "-1e309", "1e400", "2", None], dtype=object)
    numbers = typed(values, "number")  # inf reached the regression's imputer: exit 3
    assert numbers.iloc[0] == 1.5 and numbers.iloc[4] == 2.0
    assert numbers.iloc[1:4].isna().all() and np.isfinite(numbers.dropna()).all()
    assert infer_kind(pd.Series(["inf"] * 60)) == "category"  # a word, every row the same
