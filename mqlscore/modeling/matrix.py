"""The model's input matrix: category levels, the feature frame and row weights."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

if TYPE_CHECKING:
    pass


CATEGORICAL_DTYPES = ("object", "category", "string", "str")


def category_levels(frame: pd.DataFrame, features: list[str]) -> dict[str, list[str]]:
    """Levels of each text feature as seen in training; unseen levels score as missing."""
    return {
        c: sorted(frame[c].dropna().astype(str).unique())
        for c in features
        if str(frame[c].dtype) in CATEGORICAL_DTYPES
    }


def input_frame(
    frame: pd.DataFrame, features: list[str], levels: dict[str, list[str]]
) -> pd.DataFrame:
    """The model's public input: feature columns, numbers as float64 (NaN if missing), text."""
    out = frame[features].copy()
    for column in features:
        if column in levels:
            out[column] = out[column].astype("object").where(out[column].notna(), None)
        else:
            out[column] = pd.to_numeric(out[column], errors="raise").astype("float64")
    return out


def row_weights(frame: pd.DataFrame) -> np.ndarray | None:
    """Row weights from a `weight` column (the follow-up correction), else None."""
    return frame["weight"].to_numpy(dtype=float) if "weight" in frame.columns else None
