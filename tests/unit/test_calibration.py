"""Calibration, grades and the minimum-data refusal."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from mqlscore.modeling.calibration import Calibrator, brier, expected_calibration_error
from mqlscore.modeling.scorer import grade, score_0_100
from mqlscore.modeling.split import NotEnoughData, Split, check_enough_conversions


@pytest.mark.parametrize("min_positives", [1, 10**6])  # isotonic, then sigmoid
def test_calibration_improves_brier_and_ece_on_overconfident_scores(min_positives: int) -> None:
    rng = np.random.default_rng(0)
    truth = rng.beta(0.5, 20, 40_000)  # true conversion chances, mostly small
    labels = (rng.random(truth.size) < truth).astype(int)
    raw = np.sqrt(truth)  # a model that overstates every chance
    fit, check = slice(0, 20_000), slice(20_000, None)
    calibrator = Calibrator.fit(raw[fit], labels[fit], min_positives)
    assert calibrator.method == ("isotonic" if min_positives == 1 else "sigmoid")
    calibrated = calibrator(raw[check])
    assert brier(calibrated, labels[check]) < brier(raw[check], labels[check])
    assert expected_calibration_error(calibrated, labels[check]) < 0.01
    assert expected_calibration_error(raw[check], labels[check]) > 0.05


def test_grades_and_scores() -> None:
    p = np.array([0.5, 0.3, 0.29, 0.1, 0.05, 0.0])
    assert grade(p, {"A": 0.3, "B": 0.1, "C": 0.03}).tolist() == ["A", "A", "B", "B", "C", "D"]
    assert score_0_100(p).tolist() == [50, 30, 29, 10, 5, 0]


def test_training_refuses_too_few_conversions_with_the_counts() -> None:
    rows = pd.DataFrame({"label": [1] * 12 + [0] * 88})
    split = Split(train=rows, valid=rows.head(50), test=rows.head(10))
    with pytest.raises(NotEnoughData, match=r"only 12 conversions in training .*at least 40"):
        check_enough_conversions(split, 40)
    check_enough_conversions(split, 12)  # enough: no error


def test_isotonic_calibration_keeps_the_raw_ranking() -> None:
    rng = np.random.default_rng(1)
    raw = rng.random(5000)
    labels = (rng.random(5000) < raw / 4).astype(int)
    calibrated = Calibrator.fit(raw, labels, isotonic_min_positives=1)(raw)
    assert (np.argsort(calibrated, kind="stable") == np.argsort(raw, kind="stable")).all()


def test_isotonic_never_promises_certainty_from_a_few_edge_rows() -> None:
    rng = np.random.default_rng(2)
    raw = rng.random(20_000)
    labels = (rng.random(20_000) < raw**4 / 3).astype(int)
    labels[np.argmax(raw)] = 1  # the single top row converted: a raw isotonic step of 1.0
    labels[np.argsort(raw)[:5000]] = 0  # a quiet bottom: a raw step of 0.0
    calibrator = Calibrator.fit(raw, labels, isotonic_min_positives=1)
    p = calibrator(raw)
    top = labels[np.argsort(raw)[-Calibrator.EDGE_ROWS :]].mean()
    assert p.max() <= top + 1e-6 and p.max() < 0.5
    assert p.min() > 0  # half a conversion over the bottom fifth, not zero
    assert (np.diff(p[np.argsort(raw)]) >= 0).all()  # the bounds keep the order


def test_ipw_keeps_worked_rows_weighted_by_inverse_propensity() -> None:
    from mqlscore.modeling.propensity import follow_up_weighted

    rng = np.random.default_rng(0)
    n = 2000
    x = rng.normal(size=n)
    worked = (rng.random(n) < 1 / (1 + np.exp(-2 * x))).astype(int)
    frame = pd.DataFrame({"x": x, "worked": worked, "label": worked & (rng.random(n) < 0.3)})
    split = Split(train=frame, valid=frame, test=frame)
    weighted = follow_up_weighted(split, ["x"], clip=0.2)
    assert (weighted.train["worked"] == 1).all() and len(weighted.train) == worked.sum()
    assert weighted.train["weight"].between(1.0, 5.0).all()  # 1 / P, P clipped at 0.2
    low, high = weighted.train["x"].nsmallest(50).index, weighted.train["x"].nlargest(50).index
    # rarely-worked leads (low x) stand for many like them: they weigh more
    assert weighted.train.loc[low, "weight"].mean() > 2 * weighted.train.loc[high, "weight"].mean()
    assert weighted.test is frame  # the test period is never reweighted


@pytest.mark.parametrize("overconfident", [True, False])
def test_calibration_is_kept_only_when_it_lowers_brier_on_the_check_half(
    overconfident: bool,
) -> None:
    from mqlscore.modeling.training import calibration_halves, choose_calibration

    rng = np.random.default_rng(4)
    truth = rng.beta(0.5, 20, 30_000)
    valid = pd.DataFrame({"account_id": [f"A{i % 3000}" for i in range(truth.size)]})
    check = calibration_halves(valid)
    assert 0.4 < check.mean() < 0.6
    assert pd.Series(check).groupby(valid["account_id"]).nunique().eq(1).all()  # by account
    # raw scores overstate every chance; or they are right, and the fitting half's
    # conversions ran three times as high (a fluke the check half does not repeat)
    chance = truth if overconfident else np.where(check, truth, np.minimum(3 * truth, 1))
    labels = (rng.random(truth.size) < chance).astype(int)
    raw = np.sqrt(truth) if overconfident else truth
    calibrator, figures = choose_calibration(raw, labels, check, 10**6)
    assert (calibrator is not None) == overconfident
    assert figures["calibration"] == ("sigmoid" if overconfident else "none")
    assert figures["calibration_tried"] == "sigmoid"
    improved = figures["calibration_check_brier"] < figures["calibration_check_brier_raw"]
    assert improved == overconfident
