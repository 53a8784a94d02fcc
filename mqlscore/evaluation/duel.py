"""The champion duel: a candidate and the registered champion on the same test rows."""

from __future__ import annotations

import pandas as pd

from mqlscore.config import EvaluateParams
from mqlscore.evaluation.gate import challenge, should_promote
from mqlscore.evaluation.intervals import bootstrap_for
from mqlscore.evaluation.kinds import KINDS
from mqlscore.modeling.registered import champion_probabilities


def duel(kind: str, candidate: dict, test: pd.DataFrame, config: EvaluateParams) -> dict:
    """The candidate's figure and the champion's on the candidate's test rows (the
    champion scored by its evaluation model, fitted without that period), the paired lead
    with its interval (the same resamples evaluate drew), and whether it is ahead."""
    name, version = candidate["registered_model"], candidate["version"]
    boot = bootstrap_for(
        test, KINDS[kind].key, config.bootstrap_resamples, config.bootstrap_seed, config.interval
    )
    champion_version, champion = champion_probabilities(name, test)
    held = champion_version == str(version)  # promote run again: it holds the title already
    champion = None if held else champion
    result = challenge(test, test["model"].to_numpy(), champion, config.champion_metric, boot)
    return {
        "metric": config.champion_metric,
        "registered_model": name,
        "version": version,
        "champion_version": champion_version,
        **result,
        "margin": config.promotion_margin,
        "better": not held and should_promote(result, config.promotion_margin),
        "already_champion": held,
    }
