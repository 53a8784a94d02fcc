"""score-flat's own rules: ties ranked by id, and a file with nothing to score refused."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from mqlscore.serving.flat_scoring import NothingToScore, check_scoreable, ranks


def test_equal_probabilities_rank_by_id_whatever_the_row_order() -> None:
    p = np.array([0.2, 0.5, 0.2, 0.2, 0.9])
    ids = np.array(["c", "b", "a", "e", "d"])
    by_id = dict(zip(ids, ranks(p, ids), strict=True))
    assert by_id == {"d": 1, "b": 2, "a": 3, "c": 4, "e": 5}
    shuffled = [3, 0, 4, 2, 1]  # the same leads in another order: the same ranks (it moved)
    assert dict(zip(ids[shuffled], ranks(p[shuffled], ids[shuffled]), strict=True)) == by_id
    assert ranks(p).tolist() == [3, 2, 4, 5, 1]  # no ids: ties by row order


@pytest.mark.parametrize(
    ("problems", "says"),
    [
        ([], "leads.csv: the file holds no rows to score"),  # header-only: was exit 3
        (["id is blank"] * 3, "none of its 3 rows can be scored; the first, data row 1: "),
    ],
)
def test_a_file_with_no_row_to_score_is_refused(problems: list[str], says: str) -> None:
    with pytest.raises(NothingToScore, match=says):
        check_scoreable(pd.Series(problems, dtype=object), "leads.csv")
    check_scoreable(pd.Series(["", "id is blank"]), "leads.csv")  # one row to score: fine
