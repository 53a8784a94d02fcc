"""Per-lead reasons in plain words: the features that pushed a score up or down most.

Reasons come from the model's own SHAP contributions (LightGBM `pred_contrib`); each
feature has a sentence template filled with the row's value, so sales reads
"3 people from this account engaged in 90 days", never a column name. A sentence names
what it is about (this lead, this account); a lead matched to no account is never told
about "this account": its account features hold only fill values.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from functools import cache, lru_cache, partial
from typing import Protocol

import numpy as np
import pandas as pd

TOP = 3
ACTIVITY_WORDS: dict[str, str] = {
    "email_open": "email opens",
    "email_click": "email clicks",
    "web_visit": "website visits",
    "pricing_page_visit": "pricing-page visits",
    "content_download": "content downloads",
    "form_fill": "form fills (demo or contact)",
    "webinar_attend": "webinars attended",
    "event_scan": "trade-show badge scans",
    "ad_click": "ad clicks",
    "events": "marketing touches",
    "high_intent": "high-intent touches (pricing page, demo form)",
}
# Feature name (or regex with a named group `w` for the window) -> sentence, {n} the value;
# for yes/no features a pair: (sentence if yes, sentence if no).
TEMPLATES: dict[str, str | tuple[str, str]] = {
    r"(?P<what>\w+?)_(?P<w>\d+)d": "{n} {what} by this lead in {w} days",
    r"account_engaged_contacts_(?P<w>\d+)d": "{n} people from this account engaged in {w} days",
    r"account_engaged_functions_(?P<w>\d+)d": "{n} departments of this account engaged "
    "in {w} days",
    r"account_engaged_seniorities_(?P<w>\d+)d": "{n} seniority levels engaged at this account "
    "in {w} days",
    r"account_engaged_senior_(?P<w>\d+)d": "{n} VPs or C-level people from this account "
    "engaged in {w} days",
    r"account_events_(?P<w>\d+)d": "{n} marketing touches from this account in {w} days",
    r"account_high_intent_(?P<w>\d+)d": "{n} pricing-page or demo-form visits from this "
    "account in {w} days",
    r"account_sales_touches_(?P<w>\d+)d": "{n} sales calls, emails or meetings with this "
    "account in {w} days",
    r"sales_touches_(?P<w>\d+)d": "{n} sales calls, emails or meetings with this lead in {w} days",
    "buying_group_coverage": "{pct} of this account's buying group{roles} engaged",
    "account_velocity": "this account's engagement {trend} (last {recent} days vs the "
    "{before} before)",
    "engagement_trend": "this lead's engagement {trend} (last {recent} days vs the {before} "
    "before)",
    "decayed_engagement": "this lead's recent engagement weight {n}",
    "days_since_last_event": "this lead's last marketing touch: {days}",
    "days_since_last_opportunity": "last opportunity with this account: {days}",
    "last_opportunity_outcome": "the last opportunity with this account: {text}",
    "account_prior_opportunities": "{n} earlier opportunities with this account",
    "account_prior_won": "{n} earlier deals won with this account",
    "account_prior_lost": "{n} earlier deals lost with this account",
    "lead_age_days": "lead created {n} days ago",
    "employees": "{n} employees at this account",
    "annual_revenue": "this account's annual revenue {money}",
    "is_target_account": ("on sales' target-account list", "not on sales' target-account list"),
    "free_mail": ("a free-mail address", "a company email address"),
    "no_account": ("not matched to any account", "matched to an account"),
    "seniority": "title: {text}",
    "function": "works in {text}",
    "industry": "this account's industry: {text}",
    "country": "this account's country: {text}",
    "match_rule": "matched to the account by {text}",
    "marketing_points": "marketing points score {n}",
    "is_mql": ("flagged MQL by marketing", "not flagged MQL by marketing"),
    "new_mql": ("newly flagged MQL by marketing", "not newly flagged MQL by marketing"),
    "account_marketing_points": "this account's summed marketing points {n}",
    "account_mql_leads": "{n} MQLs at this account",
    "lead_source": "came in through {text}",
    r"x_(?P<field>\w+)": "{field}: {text}",  # columns a mapping passes through
}
_COMPILED = [(re.compile(f"^{k}$"), v) for k, v in reversed(TEMPLATES.items())]
# text values whose sentence is not the template's ("matched to the account by unmatched")
SAID: dict[tuple[str, str], str] = {
    ("match_rule", "unmatched"): "not matched to any account",
    ("match_rule", "account_id"): "matched to the account by its CRM account id",
    ("last_opportunity_outcome", "none"): "no earlier opportunity with this account",
}
# Features read from the lead's matched account (features/snapshots.py's account joins and
# firmographics). For a lead matched to none they are fill values (0, 9999 days, 'none',
# blank), not its company's facts, so they are never its reasons.
OF_ACCOUNT = re.compile(
    r"^(account_\w+|buying_group_coverage|days_since_last_opportunity"
    r"|last_opportunity_outcome|employees|annual_revenue|is_target_account|industry|country)$"
)


def _number(value: float) -> str:
    if value == int(value) or abs(value) >= 100:  # 1,206 employees, never 1,206.2
        return f"{round(value):,}"
    return f"{value:,.1f}"


PROPER = {"it": "IT", "hr": "HR", "c level": "C-level", "vp": "VP", "ceo": "CEO"}
# the nouns a count names, as one of them (when the count is 1)
SINGULAR = [
    ("people", "person"), ("touches", "touch"), ("visits", "visit"), ("downloads", "download"),
    ("clicks", "click"), ("opens", "open"), ("fills", "fill"), ("scans", "scan"),
    ("attendances", "attendance"), ("departments", "department"), ("employees", "employee"),
    ("opportunities", "opportunity"), ("deals", "deal"), ("MQLs", "MQL"), ("VPs", "VP"),
    ("calls, emails or meetings", "call, email or meeting"), ("seniorities", "seniority"),
]  # fmt: skip


def _one(sentence: str) -> str:
    """A sentence about a count of 1 in the singular ("1 website visit", "1 person")."""
    for plural, single in SINGULAR:
        sentence = re.sub(rf"\b{re.escape(plural)}\b", single, sentence, count=1)
    return sentence


def _proper(text: str) -> str:
    words = text.replace("_", " ")
    return PROPER.get(words.lower(), words)


def _words_for(what: str) -> str:
    return ACTIVITY_WORDS.get(what, what.replace("_", " "))


@cache
def _match(feature: str) -> tuple[str | tuple[str, str], dict[str, str]] | None:
    """The template describing a feature, and the words its name fills in (window,
    activity, field); None when no template fits."""
    for pattern, template in _COMPILED:
        found = pattern.match(feature)
        groups = found.groupdict() if found else {}
        if not found or ("what" in groups and groups["what"] not in ACTIVITY_WORDS):
            continue
        words = {"w": groups.get("w", ""), "what": _words_for(groups.get("what", ""))}
        return template, words | {"field": groups.get("field", "").replace("_", " ")}
    return None


@lru_cache(maxsize=1 << 17)
def describe(feature: str, value: object, words: tuple = ()) -> str:
    """One feature and its value as a short sentence; `words` (pairs from `model_words`) name
    the model's windows and buying-group roles, which params set."""
    matched = _match(feature)
    if matched is None:
        return f"{feature.replace('_', ' ')} = {value}"
    if value is None or (isinstance(value, float) and np.isnan(value)):
        return f"{feature.replace('_', ' ')} unknown"
    template, fields = matched
    if isinstance(value, str):
        return SAID.get((feature, value)) or template.format(text=_proper(value), **fields)
    number = float(value)
    if isinstance(template, tuple):
        return template[0] if number >= 0.5 else template[1]
    filled = {
        "n": "no" if number == 0 and "{n} " in template else _number(number),
        "pct": f"{number:.0%}",
        "money": f"{number / 1e6:,.1f}M" if number >= 1e6 else _number(number),
        "trend": "rising" if number > 0 else "falling" if number < 0 else "flat",
        "days": "never" if number >= 9999 else f"{_number(number)} days ago",
    }
    sentence = template.format(text=str(value), **fields, **filled, **_context(words))
    return _one(sentence) if number == 1 and "{n}" in template else sentence


def model_words(features: list[str], typical: dict) -> tuple:
    """What a model's sentences name that params decide: its recent window and the rest of
    its longest (the trend features: `features.windows_days`' 2nd and last; account
    features have only those two), and the buying group's roles (`features.buying_group`,
    kept with the model's means)."""
    windows = sorted({int(m["w"]) for f in features if (m := WINDOWED.match(f))})
    of_account = sorted(
        {int(m["w"]) for f in features if (m := WINDOWED.match(f)) and OF_ACCOUNT.match(f)}
    )
    recent = (of_account or windows[1:] or windows or [0])[0]
    roles = typical.get("buying_group") or []
    named = f" ({', '.join(roles)})" if roles else ""
    return (("recent", recent), ("before", (windows or [0])[-1] - recent), ("roles", named))


def _context(words: tuple) -> dict:
    """The words as template fields (hashable pairs, so `describe` stays cached)."""
    return dict(words) or {"recent": "recent", "before": "earlier", "roles": ""}


NAMES = {  # where the sentence without its value reads badly
    "seniority": "seniority (from the title)",
    "function": "department",
    "match_rule": "how the lead was matched to its account",
    "lead_source": "lead source",
    "industry": "industry",
    "lead_age_days": "days since the lead was created",
    "days_since_last_event": "days since the last marketing touch",
    "days_since_last_opportunity": "days since the last opportunity with the account",
    "engagement_trend": "this lead's engagement trend",
    "account_velocity": "account engagement trend",
    "buying_group_coverage": "share of the buying group engaged",
    "decayed_engagement": "recent engagement weight",
    "employees": "employees",
    "annual_revenue": "annual revenue",
    "country": "country",
    "account_marketing_points": "account's summed marketing points",
}


def plain_name(feature: str) -> str:
    """A feature named in words, for charts: its sentence without the value."""
    if feature in NAMES:
        return NAMES[feature]
    matched = _match(feature)
    if matched is None:
        return feature.replace("_", " ")
    template, fields = matched
    blank = {"n": "", "pct": "share", "money": "", "trend": "trend", "days": "", "text": ""}
    sentence = (template[0] if isinstance(template, tuple) else template).format(**blank, **fields)
    return re.sub(r"\s+", " ", sentence).strip(" :")


def plain_names(features: Iterable[str]) -> dict[str, str]:
    """Each feature's plain name."""
    return {f: plain_name(f) for f in features}


def looks_converting(values: pd.DataFrame, typical: dict) -> np.ndarray:
    """Cells whose value sits nearer the converting rows' mean than the others' (for a
    trend: points the converters' way): as a reason against, such a value reads as
    nonsense, whatever SHAP's interactions say."""
    out = np.zeros(values.shape, dtype=bool)
    for j, feature in enumerate(values.columns):
        if feature not in typical.get("features", {}):
            continue
        converting, others = typical["features"][feature]
        column = pd.to_numeric(values[feature], errors="coerce").to_numpy(dtype=float)
        # nearer the converters' mean than the others', or a trend in their direction
        edge = 0.0 if "{trend}" in str(_template(feature)) else (converting + others) / 2
        if converting > others:
            out[:, j] = column >= edge
        elif converting < others:
            out[:, j] = column <= edge
    return out


def _template(feature: str) -> str | tuple[str, str] | None:
    matched = _match(feature)
    return matched[0] if matched else None


def _against(feature: str, value: object, typical: dict) -> str:
    """A reason against, with what converting rows show on average when the sentence
    states a count or a share ("2 people ... (converting leads: about 5)")."""
    text = describe(feature, value, model_words(list(typical.get("features", {})), typical))
    means = typical.get("features", {}).get(feature)
    template = _template(feature)
    if means is None or isinstance(value, str) or not isinstance(template, str):
        return text
    converting, others = means
    if converting == others:  # nothing to contrast with
        return text
    if "{n}" in template:
        return f"{text} (converting {typical['noun']}: about {_number(round(converting, 1))})"
    if "{pct}" in template:
        return f"{text} (converting {typical['noun']}: about {converting:.0%})"
    return text


def _largest(pushes: np.ndarray, top: int) -> np.ndarray:
    """Per row, the columns of the `top` largest values, largest first."""
    width = pushes.shape[1]
    k = min(top, width)
    if k == 0:
        return np.zeros((len(pushes), 0), dtype=np.int64)
    part = np.argpartition(pushes, width - k, axis=1)[:, width - k :]  # row-major: fast
    ranked = np.argsort(-np.take_along_axis(pushes, part, axis=1), axis=1, kind="stable")
    return np.take_along_axis(part, ranked, axis=1)


WINDOWED = re.compile(r"^(?P<signal>.+)_(?P<w>\d+)d$")


def signal_windows(features: list[str]) -> dict[str, list[str]]:
    """Each windowed feature's other windows of the same signal (`pricing_page_visit_30d`
    -> `pricing_page_visit_7d`, `..._90d`), shortest window first."""
    signals: dict[str, list[str]] = {}
    for feature in features:
        found = WINDOWED.match(feature)
        if found:
            signals.setdefault(found["signal"], []).append(feature)
    return {
        f: [o for o in sorted(group, key=lambda g: int(WINDOWED.match(g)["w"])) if o != f]
        for group in signals.values()
        if len(group) > 1
        for f in group
    }


SAME_FACT = ("no_account", "match_rule")  # "not matched to any account", said by both


def same_fact(features: list[str]) -> dict[str, list[str]]:
    """Features that say one fact, as `signal_windows` pairs them: one slot of a row at most."""
    if not set(SAME_FACT) <= set(features):
        return {}
    return {f: [o for o in SAME_FACT if o != f] for f in SAME_FACT}


def one_window(pushes: np.ndarray, features: list[str], windows: dict) -> np.ndarray:
    """Per row, only the window of a signal that pushes most may be a reason (its other
    windows are said in the same sentence), so one signal never takes two slots."""
    out = pushes.copy()
    index = {f: i for i, f in enumerate(features)}
    done: set[str] = set()
    for feature, others in windows.items():
        if feature in done:
            continue
        columns = [index[feature], *(index[o] for o in others)]
        done.update([feature, *others])
        block = pushes[:, columns]
        weaker = np.ones(block.shape, dtype=bool)
        weaker[np.arange(len(block)), block.argmax(axis=1)] = False
        out[:, columns] = np.where(weaker, 0.0, block)
    return out


def _words(
    slot: np.ndarray, pushes: np.ndarray, values: pd.DataFrame, words_for, windows: dict
) -> np.ndarray:
    """One reason column: each row's feature in `slot` described with its value (and its
    signal's other windows: "7 pricing-page visits ... in 30 days, 20 in 90 days"); one
    sentence per distinct (feature, values), rows grouped by feature."""
    texts = np.full(len(slot), "", dtype=object)
    rows = np.flatnonzero(pushes)
    if not len(rows):
        return texts
    rows = rows[np.argsort(slot[rows], kind="stable")]
    features, starts = np.unique(slot[rows], return_index=True)
    for i, group in zip(features, np.split(rows, starts[1:]), strict=True):
        name = values.columns[i]
        shown = [name, *windows.get(name, [])]
        cells = pd.Series(list(zip(*(values[c].to_numpy()[group] for c in shown), strict=True)))
        codes, uniques = pd.factorize(cells, use_na_sentinel=False)
        words = np.array(
            [_with_windows(words_for(name, key[0]), shown[1:], key[1:]) for key in uniques],
            dtype=object,
        )
        texts[group] = words[codes]
    return texts


def _with_windows(text: str, others: list[str], cells: tuple) -> str:
    """A reason with the same signal's count in its other windows appended."""
    more = [
        f"{_number(float(v))} in {WINDOWED.match(o)['w']} days"
        for o, v in zip(others, cells, strict=True)
        if v is not None and not (isinstance(v, float) and np.isnan(v))
    ]
    return ", ".join([text, *more])


def top_reasons(
    contributions: pd.DataFrame,
    values: pd.DataFrame,
    top: int = TOP,
    typical: dict | None = None,
    has_account: np.ndarray | None = None,
) -> pd.DataFrame:
    """Top positive and negative reasons per row, as `reason_up_1..top`, `reason_down_1..top`.

    `contributions` holds per-row SHAP values (columns = features); `values` the same rows'
    feature values. With `typical` (the model's means), a reason against says what
    converting rows show, and a value on the converting side is never one. With
    `has_account` (per row), a row without an account gets no account feature as a
    reason. Blank when fewer than `top` features pushed that way.
    """
    typical = typical or {}
    features = list(contributions.columns)
    values = values[features]  # column i of each: the same feature
    shap = np.ascontiguousarray(contributions.to_numpy())  # rows contiguous for the top-k
    rows = np.arange(len(shap))
    windows = signal_windows(features)
    columns = {}
    shap = np.where(not_theirs(features, has_account, len(shap)), 0.0, shap)
    says_nothing = vague(values)  # "unknown", "other": nothing a rep can look at
    for direction, sign in (("up", 1.0), ("down", -1.0)):
        pushes_all = shap if sign > 0 else -shap
        if direction == "up":  # a reason for is never an absence ("no ...") either
            pushes_all = np.where(absences(values) | says_nothing, 0.0, pushes_all)
        else:
            pushes_all = np.where(says_nothing, 0.0, pushes_all)
        if direction == "down" and typical:
            pushes_all = np.where(looks_converting(values, typical), 0.0, pushes_all)
        pushes_all = one_window(pushes_all, features, windows | same_fact(features))
        order = _largest(pushes_all, top)
        words_for = (
            partial(describe, words=model_words(features, typical))
            if direction == "up"
            else partial(_against, typical=typical)
        )
        for k in range(top):  # a model with fewer features than `top`: blank columns
            columns[f"reason_{direction}_{k + 1}"] = (
                _words(order[:, k], pushes_all[rows, order[:, k]] > 0, values, words_for, windows)
                if k < order.shape[1]
                else np.full(len(rows), "", dtype=object)
            )
    return pd.DataFrame(columns, index=contributions.index)


def not_theirs(features: list[str], has_account: np.ndarray | None, rows: int) -> np.ndarray:
    """Cells of account features on rows with no account (none without `has_account`)."""
    if has_account is None:
        return np.zeros((rows, len(features)), dtype=bool)
    about = np.array([bool(OF_ACCOUNT.match(f)) for f in features], dtype=bool)
    return ~np.asarray(has_account, dtype=bool)[:, None] & about[None, :]


def matched(frame: pd.DataFrame) -> np.ndarray | None:
    """Rows with a matched account (a non-blank `account_id`); None when the rows have no
    such column (a flat file's)."""
    if "account_id" not in frame.columns:
        return None
    ids = frame["account_id"]
    return (ids.notna() & ids.astype(str).str.strip().ne("")).to_numpy()


# Category values that say nothing a rep can look at ("works in other")
VAGUE_VALUES = frozenset({"other", "unknown", "none", "n/a", "na", "-", "(blank)"})


def _is_absence(feature: str, value: object) -> bool:
    return describe(feature, value).startswith(("no ", "not "))


def vague(values: pd.DataFrame) -> np.ndarray:
    """Blank cells, and text cells whose value says nothing (`VAGUE_VALUES`)."""
    said = [
        values[f].astype("string").str.strip().str.lower().isin(VAGUE_VALUES).fillna(False)
        if not pd.api.types.is_numeric_dtype(values[f])
        else pd.Series(False, index=values.index)
        for f in values.columns
    ]
    blank = values.isna().to_numpy()
    return blank | np.column_stack([s.to_numpy(dtype=bool) for s in said]) if said else blank


def absences(values: pd.DataFrame) -> np.ndarray:
    """Cells that say something is missing: blank, or a value its words call an absence
    ("no people from this account engaged", "not matched to any account")."""
    blank = values.isna().to_numpy()
    said = [_absent(f, values[f]) for f in values.columns]
    return blank | np.column_stack(said) if said else blank


def _absent(feature: str, column: pd.Series) -> np.ndarray:
    """One column's cells whose sentence is an absence: a zero ("no ..."), either side of
    a yes/no ("not matched to any account" is its yes), or a text ("no earlier ...")."""
    if not pd.api.types.is_numeric_dtype(column):
        absent = [v for v in column.dropna().unique() if _is_absence(feature, v)]
        return column.isin(absent).to_numpy(dtype=bool)
    yes = column.to_numpy(dtype=float) >= 0.5
    if isinstance(_template(feature), tuple):
        return np.where(yes, _is_absence(feature, 1.0), _is_absence(feature, 0.0))
    return column.eq(0).to_numpy() & _is_absence(feature, 0.0)


class Explained(Protocol):
    """What a reason needs from a model (`mqlscore.model.Scorer` has it)."""

    features: list[str]
    typical: dict

    def contributions(self, frame: pd.DataFrame) -> pd.DataFrame: ...


def explain(scorer: Explained, frame: pd.DataFrame, top: int = TOP) -> pd.DataFrame:
    """A model's top `top` reasons up and down per row, in words (`reason_up_1`, ...)."""
    contributions = scorer.contributions(frame)
    values = frame[scorer.features]
    return top_reasons(contributions, values, top, scorer.typical, matched(frame))


def check_templates(features: list[str]) -> list[str]:
    """Features that would be described by the generic fallback (no template)."""
    return [f for f in features if " = " in describe(f, 1.0)]
