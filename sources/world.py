"""A seeded synthetic B2B world that holds the dynamics the MQL rule gets wrong.

Accounts have a latent fit. Each month an account moves through a buying journey
(dormant -> researching -> evaluating -> deciding), a Markov chain whose entry rate
grows with fit. The buying group of the account (economic buyer, champion, evaluator,
users, procurement) engages more the further the journey goes; a deciding account
opens an opportunity, more often when sales covers it. Noise people (students, job
seekers, competitors, consultants) and habitual email openers pile up marketing
points without any intent. Marketing's MQL rule (title + activity points over a
threshold) is applied to the result, and sales follows up on MQLs and target accounts.

The truth table is the exact probability, given the latent state at a snapshot, that
the lead lands on an opportunity created within the truth window. Only evaluation
reads it.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from features.matching import FREE_MAIL_DOMAINS
from features.persona import seniority_of
from mqlscore.config import MqlRule, WorldParams
from mqlscore.schema import ACTIVITY_TYPES, SALES_ACTIVITY_TYPES

BUYING_ROLES: tuple[str, ...] = ("economic_buyer", "champion", "evaluator", "user", "procurement")

_ROLES = (*BUYING_ROLES, "other")
_ROLE_TITLES: dict[str, tuple[str, ...]] = {
    "economic_buyer": (
        "Chief Financial Officer",
        "Chief Information Officer",
        "Chief Operating Officer",
        "VP of Finance",
        "VP Information Technology",
        "CEO",
    ),
    "champion": (
        "Director of IT",
        "Head of Operations",
        "Director, Revenue Operations",
        "Head of Data",
        "IT Director",
    ),
    "evaluator": (
        "IT Manager",
        "Solutions Architect",
        "Systems Engineer",
        "Data Engineer",
        "Operations Manager",
    ),
    "user": (
        "Business Analyst",
        "Operations Specialist",
        "Sales Operations Analyst",
        "Accountant",
        "Data Analyst",
    ),
    "procurement": (
        "Procurement Manager",
        "Purchasing Specialist",
        "Vendor Manager",
        "Sourcing Director",
    ),
    "other": (
        "HR Coordinator",
        "Office Manager",
        "Recruiter",
        "Executive Assistant",
        "Customer Support Representative",
        "VP of Human Resources",
        "Marketing Coordinator",
    ),
}
_NOISE_TITLES: dict[str, tuple[str, ...]] = {
    "student": ("Student", "Graduate Student", "MBA Candidate", "PhD Student", "Marketing Intern"),
    "job_seeker": ("Open to Work", "Seeking New Opportunities", "Job Seeker", "Career Changer"),
    "competitor": ("Product Marketing Manager", "Sales Director", "VP of Sales", "Market Analyst"),
    "consultant": ("Independent Consultant", "Freelance Consultant", "Founder & Consultant"),
}
_NOISE_KINDS = tuple(_NOISE_TITLES)
_COMPETITOR_DOMAINS = ("rivalsoft.com", "leadgenie.io", "scoremaster.com")
_UNIVERSITIES = ("state-university.edu", "tu-nord.de", "ecole-sup.fr", "city-college.ac.uk")

# Journey stages 0..3 and how intensely each buying role engages at each stage.
_ROLE_INTENSITY = np.array(
    [
        [0.0, 0.2, 0.6, 1.0],  # economic_buyer
        [0.0, 1.0, 1.0, 1.0],  # champion
        [0.0, 0.6, 1.0, 0.8],  # evaluator
        [0.0, 0.2, 0.7, 0.5],  # user
        [0.0, 0.0, 0.2, 1.0],  # procurement
        [0.0, 0.0, 0.0, 0.0],  # other
    ]
)
# Monthly events per activity type (order of ACTIVITY_TYPES).
_BASE_RATE = np.array([0.5, 0.05, 0.15, 0.01, 0.03, 0.004, 0.015, 0.0, 0.06])
_INTENT_RATE = np.array([1.2, 0.8, 2.5, 0.8, 0.6, 0.25, 0.25, 0.0, 0.2])
_OPENER_RATE = np.array([6.0, 0.4, 0.2, 0.0, 0.08, 0.0, 0.0, 0.0, 0.0])
_NOISE_RATE = {
    "student": np.array([2.0, 0.4, 0.8, 0.03, 0.6, 0.05, 0.3, 0.0, 0.15]),
    "job_seeker": np.array([1.5, 0.3, 1.0, 0.03, 0.25, 0.08, 0.1, 0.0, 0.15]),
    "competitor": np.array([1.0, 0.4, 1.0, 0.4, 0.5, 0.03, 0.25, 0.0, 0.05]),
    "consultant": np.array([1.5, 0.5, 0.5, 0.1, 0.6, 0.03, 0.3, 0.0, 0.1]),
}
_ATTACH_PROB = np.array([0.8, 0.9, 0.7, 0.35, 0.5, 0.03])  # per role, chance to be on the deal
_TRADE_SHOW_EVERY = 3  # months
_SCAN_PROB_ACCOUNT, _SCAN_PROB_NOISE = 0.08, 0.35

_INDUSTRIES = {
    "software": 0.8,
    "financial_services": 0.6,
    "healthcare": 0.3,
    "manufacturing": 0.2,
    "logistics": 0.1,
    "energy": 0.1,
    "retail": -0.2,
    "media": -0.3,
    "government": -0.6,
    "education": -0.8,
}
_COUNTRIES = {  # weight, fit effect, top-level domain
    "US": (0.35, 0.3, ".com"),
    "GB": (0.12, 0.2, ".co.uk"),
    "DE": (0.12, 0.2, ".de"),
    "FR": (0.08, 0.0, ".fr"),
    "NL": (0.06, 0.1, ".nl"),
    "CA": (0.07, 0.1, ".ca"),
    "BR": (0.08, -0.3, ".com.br"),
    "IN": (0.07, -0.4, ".in"),
    "ES": (0.05, -0.1, ".es"),
}
_STEMS = (
    "Nor Vel Tri Quan Zen Lum Ark Cor Dyn Syn Ver Pol Alt Omni Nex Hal Bry Cal Dor Fen "
    "Gal Hel Ist Jun Kor Lor Mar Nov Ori Pra Rho Sol Tor Ul Vor Wyn Xan Yor Zel"
).split()
_ENDINGS = ("tex ora ion ium ify ara ent ix ico aro ela une is").split()
_WORDS = (
    "Systems Labs Logistics Foods Health Capital Industries Analytics Motors Energy "
    "Networks Group Solutions Partners"
).split()
_LEGAL = ("Inc", "GmbH", "Ltd", "S.A.", "LLC", "AG", "B.V.", "Corp")
_FIRST = (
    "alex sam jordan taylor morgan casey jamie robin avery riley quinn drew kim lee maria "
    "anna lukas sofia noah emma liam mia ana joao pedro lucas chloe hugo"
).split()
_LAST = (
    "smith mueller silva garcia martin bernard rossi novak kowalski jensen berg costa "
    "santos dubois schmidt weber fischer meyer wagner becker hoffmann lopez perez"
).split()
_LEAD_SOURCES = ("web", "event", "webinar", "content_syndication", "paid_social", "list_import")
# Per activity type (order of ACTIVITY_TYPES): the campaign type (Salesforce's Campaign.Type
# picklist) and its typical cost per 1,000 accounts in the world: trade shows dear,
# webinars and sends cheap.
_CAMPAIGN_TYPES = (
    ("Email", 2_000.0),
    ("Email", 2_000.0),
    ("Website", 4_000.0),
    ("Website", 2_000.0),
    ("Content Syndication", 10_000.0),
    ("Website", 2_000.0),
    ("Webinar", 4_000.0),
    ("Trade Show", 60_000.0),
    ("Advertisement", 15_000.0),
)
_COST_STREAM = 1  # campaign costs draw from their own generator: no other draw moves


@dataclass(frozen=True)
class World:
    """The canonical raw tables plus the hidden truth."""

    accounts: pd.DataFrame
    leads: pd.DataFrame
    engagement: pd.DataFrame
    sales_activities: pd.DataFrame
    opportunities: pd.DataFrame
    opportunity_contacts: pd.DataFrame
    truth_leads: pd.DataFrame
    truth_accounts: pd.DataFrame
    exported_at: pd.Timestamp
    campaigns: pd.DataFrame  # the optional campaigns table: types and costs

    def raw_tables(self) -> dict[str, pd.DataFrame]:
        """The six canonical tables the model reads, as an export would hold them (text,
        not categoricals)."""
        return {
            "accounts": self.accounts,
            "leads": self.leads,
            "engagement": self.engagement,
            "sales_activities": self.sales_activities,
            "opportunities": self.opportunities,
            "opportunity_contacts": self.opportunity_contacts,
        }

    def tables(self) -> dict[str, pd.DataFrame]:
        """Every canonical table the world has: the six and its campaigns."""
        return self.raw_tables() | {"campaigns": self.campaigns}

    def truth_tables(self) -> dict[str, pd.DataFrame]:
        return {"leads": self.truth_leads, "accounts": self.truth_accounts}


def _sigmoid(x: np.ndarray | float) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-np.asarray(x, dtype=float)))


def month_starts(params: WorldParams) -> pd.DatetimeIndex:
    """First day of each simulated month, plus the end boundary."""
    return pd.date_range(pd.Timestamp(params.start), periods=params.months + 1, freq="MS")


def _transition_matrices(fit: np.ndarray, params: WorldParams) -> np.ndarray:
    """Per-account monthly stage transition matrix, shape (accounts, 4, 4)."""
    n = len(fit)
    p_start = _sigmoid(params.in_market_start_logit + params.fit_effect * fit)
    t = np.zeros((n, 4, 4))
    t[:, 0, 0], t[:, 0, 1] = 1 - p_start, p_start
    t[:, 1] = [0.25, 0.40, 0.35, 0.0]
    t[:, 2] = [0.15, 0.0, 0.45, 0.40]
    t[:, 3] = [0.30, 0.0, 0.0, 0.70]
    return t


def _opportunity_hazard(fit: np.ndarray, covered: np.ndarray, params: WorldParams) -> np.ndarray:
    """Chance per deciding month that the account opens an opportunity sales records."""
    base = _sigmoid(params.opportunity_logit + 0.8 * params.fit_effect * fit)
    return base * np.where(covered, 1.0, params.uncovered_factor)


def _opportunity_probability(
    stage_before: np.ndarray, trans: np.ndarray, hazard: np.ndarray, horizon: int
) -> np.ndarray:
    """P(at least one opportunity in the next `horizon` months | stage last month).

    Exact under the chain: each month the stage moves, then a deciding account opens
    an opportunity with `hazard` and restarts its journey.
    """
    n = len(stage_before)
    dist = np.zeros((n, 4))
    dist[np.arange(n), stage_before] = 1.0
    p_none = np.ones(n)
    for _ in range(horizon):
        dist = np.einsum("ns,nst->nt", dist, trans)
        opened = dist[:, 3] * hazard
        p_none -= opened
        dist[:, 3] -= opened  # paths that opened are done; keep only the no-opportunity mass
    return 1.0 - p_none


def _accounts(rng: np.random.Generator, n: int) -> tuple[pd.DataFrame, np.ndarray]:
    industries = np.array(list(_INDUSTRIES))
    industry = rng.choice(industries, n)
    countries = np.array(list(_COUNTRIES))
    weights = np.array([w for w, _, _ in _COUNTRIES.values()])
    country = rng.choice(countries, n, p=weights / weights.sum())
    log_emp = np.clip(rng.normal(5.5, 1.4, n), np.log(5), np.log(200_000))
    employees = np.round(np.exp(log_emp)).astype(np.int64)
    revenue = np.round(employees * np.exp(rng.normal(np.log(150_000), 0.5, n)), -3)
    fit_raw = (
        pd.Series(industry).map(_INDUSTRIES).to_numpy()
        + pd.Series(country).map({k: v[1] for k, v in _COUNTRIES.items()}).to_numpy()
        + 0.35 * (log_emp - 5.5) / 1.4
        + rng.normal(0, 0.6, n)
    )
    fit = (fit_raw - fit_raw.mean()) / fit_raw.std()

    stem = rng.choice(_STEMS, n).astype(object) + rng.choice(_ENDINGS, n).astype(object)
    word = rng.choice(_WORDS, n).astype(object)
    tld = pd.Series(country).map({k: v[2] for k, v in _COUNTRIES.items()}).to_numpy()
    base = pd.Series(stem + word).str.lower()
    dup = base.groupby(base).cumcount().to_numpy()
    slug = (base + pd.Series(dup).map(lambda d: str(d) if d else "")).to_numpy(dtype=object)
    suffix = pd.Series(dup).map(lambda d: f" {d}" if d else "").to_numpy(dtype=object)
    legal = rng.choice(_LEGAL, n).astype(object)
    accounts = pd.DataFrame(
        {
            "account_id": [f"A{i:06d}" for i in range(1, n + 1)],
            "name": stem + " " + word + suffix + " " + legal,
            "domain": slug + tld,
            "industry": industry,
            "employees": employees,
            "annual_revenue": revenue,
            "country": country,
        }
    )
    return accounts, fit


def generate_world(params: WorldParams, rule: MqlRule) -> World:
    """Build the whole world from its params; same params, same world."""
    rng = np.random.default_rng(params.seed)
    bounds = month_starts(params)
    starts, end = bounds[:-1], bounds[-1]
    n_months = params.months
    n_acc = max(10, round(params.accounts * params.scale))

    accounts, fit = _accounts(rng, n_acc)
    size_z = (np.log(accounts["employees"].to_numpy()) - 5.5) / 1.4
    target_score = 0.9 * size_z + 0.5 * fit + rng.normal(0, 0.8, n_acc)
    is_target = target_score >= np.quantile(target_score, 1 - params.target_share)
    accounts["is_target_account"] = is_target
    covered = rng.random(n_acc) < np.where(
        is_target, params.covered_if_target, params.covered_otherwise
    )

    # Buying journey, month by month.
    trans = _transition_matrices(fit, params)
    hazard = _opportunity_hazard(fit, covered, params)
    stage = np.zeros((n_acc, n_months), dtype=np.int8)
    opened = np.zeros((n_acc, n_months), dtype=bool)
    current = rng.choice(4, n_acc, p=[0.85, 0.08, 0.05, 0.02])
    for m in range(n_months):
        cum = trans[np.arange(n_acc), current].cumsum(axis=1)
        nxt = (rng.random(n_acc)[:, None] > cum).sum(axis=1).clip(0, 3)
        stage[:, m] = nxt
        opened[:, m] = (nxt == 3) & (rng.random(n_acc) < hazard)
        current = np.where(opened[:, m], 0, nxt)

    # People: account contacts (a buying group of 4-7 plus bystanders) and noise.
    n_group = rng.integers(4, 8, n_acc)
    n_other = rng.poisson(np.clip(1 + size_z, 0.5, 6))
    per_acc = n_group + n_other
    acc_idx = np.repeat(np.arange(n_acc), per_acc)
    offset = np.arange(len(acc_idx)) - np.repeat(np.cumsum(per_acc) - per_acc, per_acc)
    group_size = np.repeat(n_group, per_acc)
    # Slots 0..4 are the five roles; extra group slots are evaluators or users.
    extra_role = np.where(rng.random(len(acc_idx)) < 0.5, 2, 3)
    role = np.where(offset < 5, offset, extra_role)
    role = np.where(offset >= group_size, 5, role)
    # A group of 4 has no procurement: its fifth slot is a bystander.
    role = np.where((offset == 4) & (group_size == 4), 5, role)
    n_acc_leads = len(acc_idx)
    n_noise = round(n_acc_leads * params.noise_lead_share / (1 - params.noise_lead_share))
    n_leads = n_acc_leads + n_noise
    lead_acc = np.concatenate([acc_idx, np.full(n_noise, -1)])
    lead_role = np.concatenate([role, np.full(n_noise, 5)])
    noise_kind = np.concatenate(
        [np.full(n_acc_leads, ""), rng.choice(_NOISE_KINDS, n_noise, p=[0.35, 0.25, 0.15, 0.25])]
    )
    is_noise = lead_acc < 0

    leads = _people(rng, accounts, lead_acc, lead_role, noise_kind, params, starts[0], end)
    created = leads["created_at"].to_numpy()

    # Engagement: Poisson counts per lead, month and activity type.
    alive = created[:, None] < bounds[1:].to_numpy()[None, :]
    opener = (~is_noise) & (rng.random(n_leads) < params.habitual_opener_share)
    level = rng.gamma(2.0, 0.5, n_leads)
    intensity = np.zeros((n_leads, n_months))
    intensity[~is_noise] = _ROLE_INTENSITY[lead_role[~is_noise][:, None], stage[acc_idx]]
    base = np.where(opener[:, None], _OPENER_RATE, _BASE_RATE)
    for kind, rate in _NOISE_RATE.items():
        base[noise_kind == kind] = rate
    show_month = (np.arange(n_months) % _TRADE_SHOW_EVERY) == 1
    scan_prob = np.where(is_noise, _SCAN_PROB_NOISE, _SCAN_PROB_ACCOUNT)

    event_parts = []
    for k, activity in enumerate(ACTIVITY_TYPES):
        if activity == "event_scan":
            counts = (rng.random((n_leads, n_months)) < scan_prob[:, None]) * show_month
            counts = counts * rng.integers(1, 3, (n_leads, n_months))
        else:
            lam = base[:, k, None] * level[:, None] + _INTENT_RATE[k] * intensity * (
                0.5 + level[:, None]
            )
            counts = rng.poisson(lam * alive)
        li, mi = np.nonzero(counts)
        reps = counts[li, mi]
        event_parts.append((np.repeat(li, reps), np.repeat(mi, reps), k))
    engagement = _events(rng, event_parts, starts, bounds, created, params)

    opportunities, contacts = _opportunities(
        rng, accounts, fit, opened, starts, end, leads, lead_acc, lead_role, n_acc
    )
    leads = apply_mql_rule(leads, engagement, rule)
    sales = _sales_activities(
        rng,
        leads,
        lead_acc,
        lead_role,
        is_target,
        covered,
        stage,
        starts,
        end,
        contacts,
        opportunities,
        params,
    )
    state_after = np.where(opened, 0, stage)  # a month that opened a deal restarts the journey
    truth_leads, truth_accounts = _truth(
        state_after, trans, hazard, leads, lead_acc, lead_role, bounds, params
    )
    return World(
        accounts=accounts,
        leads=leads,
        engagement=engagement,
        sales_activities=sales,
        opportunities=opportunities,
        opportunity_contacts=contacts,
        truth_leads=truth_leads,
        truth_accounts=truth_accounts,
        exported_at=end,
        campaigns=campaign_table(engagement, n_acc, params.seed),
    )


def campaign_table(engagement: pd.DataFrame, n_accounts: int, seed: int) -> pd.DataFrame:
    """One campaign per activity type and month the engagement names (`CMP-<type>-<yyyymm>`):
    its type, its month's start, and costs drawn from a generator of their own (seeded
    from the world's seed), so the world's other draws stay as they were. Actual cost:
    the type's typical cost, scaled to the world's accounts, times a lognormal factor;
    budget: the actual cost within 30% either way."""
    rng = np.random.default_rng([seed, _COST_STREAM])
    ids = sorted(engagement["campaign_id"].dropna().unique())
    activity = [i.removeprefix("CMP-").rsplit("-", 1)[0] for i in ids]
    month = pd.to_datetime([i.rsplit("-", 1)[1] for i in ids], format="%Y%m")
    kind = np.array([ACTIVITY_TYPES.index(a) for a in activity], dtype=np.int64)
    typical = np.array([c for _, c in _CAMPAIGN_TYPES])[kind] * n_accounts / 1_000
    actual = np.round(typical * rng.lognormal(0.0, 0.3, len(ids)), -1)
    budget = np.round(actual * rng.uniform(0.7, 1.3, len(ids)), -1)
    return pd.DataFrame(
        {
            "campaign_id": np.asarray(ids, dtype=object),
            "type": _text(kind, [t for t, _ in _CAMPAIGN_TYPES]),
            "started_at": month.astype("datetime64[us]"),
            "budgeted_cost": budget,
            "actual_cost": actual,
        }
    )


def _people(
    rng: np.random.Generator,
    accounts: pd.DataFrame,
    lead_acc: np.ndarray,
    lead_role: np.ndarray,
    noise_kind: np.ndarray,
    params: WorldParams,
    start: pd.Timestamp,
    end: pd.Timestamp,
) -> pd.DataFrame:
    n = len(lead_acc)
    is_noise = lead_acc < 0
    title = np.empty(n, dtype=object)
    for r, name in enumerate(_ROLES):
        pick = (lead_role == r) & ~is_noise
        title[pick] = rng.choice(_ROLE_TITLES[name], pick.sum())
    for kind, titles in _NOISE_TITLES.items():
        pick = noise_kind == kind
        title[pick] = rng.choice(titles, pick.sum())

    first = rng.choice(_FIRST, n).astype(object)
    last = rng.choice(_LAST, n).astype(object)
    local = first + "." + last + rng.integers(1, 100, n).astype(str).astype(object)
    acc_domain = accounts["domain"].to_numpy()[np.clip(lead_acc, 0, None)]
    acc_name = accounts["name"].to_numpy()[np.clip(lead_acc, 0, None)]
    free_mail = rng.choice(sorted(FREE_MAIL_DOMAINS)[:8], n).astype(object)
    uses_free_mail = np.where(is_noise, rng.random(n) < 0.7, rng.random(n) < 0.07)
    own_domain = acc_domain.copy()
    student = noise_kind == "student"
    own_domain[student] = "student." + rng.choice(_UNIVERSITIES, student.sum()).astype(object)
    consultant = noise_kind == "consultant"
    own_domain[consultant] = last[consultant] + "-consulting.com"
    competitor = noise_kind == "competitor"
    own_domain[competitor] = rng.choice(_COMPETITOR_DOMAINS, competitor.sum())
    uses_free_mail |= noise_kind == "job_seeker"
    domain = np.where(uses_free_mail & ~competitor, free_mail, own_domain)
    # CRM company fields are typed by hand: legal suffix dropped, case changed.
    bare = pd.Series(acc_name).str.rsplit(" ", n=1).str[0].to_numpy(dtype=object)
    variant = rng.random(n)
    typed = np.where(variant < 0.4, bare, acc_name)
    typed = np.where(variant > 0.9, pd.Series(typed).str.upper().to_numpy(dtype=object), typed)
    company = np.where(is_noise, "", typed).astype(object)
    # Some people write from a subsidiary's or region's subdomain.
    regional = ~is_noise & ~uses_free_mail & (rng.random(n) < 0.05)
    domain = np.where(regional, rng.choice(["eu.", "us.", "mail."], n) + domain, domain)
    company[student] = "University"
    company[noise_kind == "job_seeker"] = ""
    company[consultant] = "Self-employed"
    company[competitor] = pd.Series(domain[competitor]).str.split(".").str[0].str.title().values

    account_id = np.where(
        is_noise | (rng.random(n) < params.blank_account_id_share),
        None,
        accounts["account_id"].to_numpy()[np.clip(lead_acc, 0, None)],
    )
    span = (end - start).total_seconds()
    pre_existing = rng.random(n) < 0.5
    offset_s = np.where(pre_existing, -rng.random(n) * 365 * 86400, rng.random(n) * span * 0.95)
    created_at = (start + pd.to_timedelta(np.round(offset_s), unit="s")).astype("datetime64[us]")
    return pd.DataFrame(
        {
            "lead_id": _lead_id_list(n),
            "email": local + "@" + domain,
            "title": title,
            "company": company,
            "account_id": account_id,
            "lead_source": rng.choice(_LEAD_SOURCES, n),
            "created_at": created_at,
        }
    )


def _events(
    rng: np.random.Generator,
    parts: list[tuple[np.ndarray, np.ndarray, int]],
    starts: pd.DatetimeIndex,
    bounds: pd.DatetimeIndex,
    created: np.ndarray,
    params: WorldParams,
) -> pd.DataFrame:
    lead_i = np.concatenate([p[0] for p in parts])
    month_i = np.concatenate([p[1] for p in parts])
    kind = np.concatenate([np.full(len(p[0]), p[2], dtype=np.int8) for p in parts])
    month_len = (bounds[1:] - bounds[:-1]).total_seconds().to_numpy()
    secs = np.floor(rng.random(len(lead_i)) * month_len[month_i]).astype("timedelta64[s]")
    occurred = starts.to_numpy()[month_i] + secs
    keep = occurred >= created[lead_i]
    lead_i, month_i, kind, occurred = lead_i[keep], month_i[keep], kind[keep], occurred[keep]
    order = np.lexsort((lead_i, occurred))
    lead_i, month_i, kind, occurred = lead_i[order], month_i[order], kind[order], occurred[order]
    month_label = starts.strftime("%Y%m").to_numpy()
    campaign = _text(
        kind.astype(np.int64) * len(starts) + month_i,
        [f"CMP-{a}-{m}" for a in ACTIVITY_TYPES for m in month_label],
    )
    return pd.DataFrame(
        {
            "event_id": np.arange(1, len(lead_i) + 1, dtype=np.int64),
            "lead_id": _text(lead_i, _lead_id_list(int(lead_i.max(initial=0)) + 1)),
            "occurred_at": occurred.astype("datetime64[us]"),
            "activity_type": _text(kind, ACTIVITY_TYPES),
            "campaign_id": campaign,
        }
    )


def _lead_id_list(n: int) -> list[str]:
    return [f"L{i:07d}" for i in range(1, n + 1)]


def _text(codes: np.ndarray, labels: list[str] | tuple[str, ...]) -> np.ndarray:
    """Plain text values for integer codes (cheap for millions of rows)."""
    return np.asarray(labels, dtype=object)[codes]


def _opportunities(
    rng: np.random.Generator,
    accounts: pd.DataFrame,
    fit: np.ndarray,
    opened: np.ndarray,
    starts: pd.DatetimeIndex,
    end: pd.Timestamp,
    leads: pd.DataFrame,
    lead_acc: np.ndarray,
    lead_role: np.ndarray,
    n_acc: int,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    acc_i, month_i = np.nonzero(opened)
    n_opp = len(acc_i)
    days = np.asarray(starts.days_in_month)[month_i]
    created = starts.to_numpy()[month_i] + (rng.random(n_opp) * days * 86400).astype(
        "timedelta64[s]"
    )
    opp_ids = np.array([f"O{i:06d}" for i in range(1, n_opp + 1)], dtype=object)

    # Contacts: people of the account created before the deal, by role.
    order = np.argsort(lead_acc, kind="stable")
    sorted_acc = lead_acc[order]
    lo = np.searchsorted(sorted_acc, acc_i, side="left")
    hi = np.searchsorted(sorted_acc, acc_i, side="right")
    sizes = hi - lo
    opp_rep = np.repeat(np.arange(n_opp), sizes)
    within = np.arange(sizes.sum()) - np.repeat(np.cumsum(sizes) - sizes, sizes)
    lead_i = order[np.repeat(lo, sizes) + within]
    created_lead = leads["created_at"].to_numpy()[lead_i]
    attach = (created_lead < created[opp_rep]) & (
        rng.random(len(lead_i)) < _ATTACH_PROB[lead_role[lead_i]]
    )
    opp_rep, lead_i = opp_rep[attach], lead_i[attach]
    roles = np.array(_ROLES, dtype=object)[lead_role[lead_i]]
    contacts = pd.DataFrame(
        {
            "opportunity_id": opp_ids[opp_rep],
            "lead_id": leads["lead_id"].to_numpy()[lead_i],
            "role": roles,
            "created_at": created[opp_rep].astype("datetime64[us]"),  # on the deal from its start
        }
    )

    buying = lead_role[lead_i] < 5
    coverage = np.zeros(n_opp)
    distinct = pd.DataFrame(
        {"o": opp_rep[buying], "r": lead_role[lead_i][buying]}
    ).drop_duplicates()
    np.add.at(coverage, distinct["o"].to_numpy(), 1.0)
    coverage /= len(BUYING_ROLES)
    p_won = _sigmoid(-0.4 + 0.8 * fit[acc_i] + 3.0 * (coverage - 0.6))
    cycle = rng.uniform(21, 180, n_opp) * 86400
    closed = created + cycle.astype("timedelta64[s]")
    is_closed = closed < end.to_datetime64()
    won = rng.random(n_opp) < p_won
    employees = accounts["employees"].to_numpy()[acc_i]
    amount = np.round(np.exp(rng.normal(0.6 * np.log(employees) + 8.0, 0.5)), -2)
    opportunities = pd.DataFrame(
        {
            "opportunity_id": opp_ids,
            "account_id": accounts["account_id"].to_numpy()[acc_i],
            "created_at": created.astype("datetime64[us]"),
            "closed_at": pd.Series(closed.astype("datetime64[us]")).where(is_closed),
            "is_won": pd.array(np.where(is_closed, won, pd.NA), dtype="boolean"),
            "amount": amount,
        }
    )
    return opportunities, contacts


def title_points(titles: pd.Series, rule: MqlRule) -> pd.Series:
    """Points marketing's rule gives each title."""
    return seniority_of(titles).map(rule.title_points).fillna(0).astype(np.int64)


def apply_mql_rule(leads: pd.DataFrame, engagement: pd.DataFrame, rule: MqlRule) -> pd.DataFrame:
    """Add marketing_score (points at export time) and mql_at (first crossing of threshold)."""
    by_lead = pd.Series(title_points(leads["title"], rule).to_numpy(), index=leads["lead_id"])
    ev = pd.DataFrame(
        {
            "lead_id": engagement["lead_id"].astype(str),
            "occurred_at": engagement["occurred_at"],
            "points": engagement["activity_type"]
            .astype(str)
            .map(rule.activity_points)
            .fillna(0)
            .astype(np.int64),
        }
    ).sort_values(["lead_id", "occurred_at"], kind="stable")
    ev["score"] = ev.groupby("lead_id", sort=False)["points"].cumsum() + ev["lead_id"].map(by_lead)
    crossed = ev.loc[ev["score"] >= rule.threshold].groupby("lead_id")["occurred_at"].min()
    event_points = ev.groupby("lead_id")["points"].sum().reindex(by_lead.index, fill_value=0)
    out = leads.copy()
    out["marketing_score"] = (by_lead + event_points).to_numpy()
    out["mql_at"] = out["lead_id"].map(crossed).astype("datetime64[us]")
    return out


def _sales_activities(
    rng: np.random.Generator,
    leads: pd.DataFrame,
    lead_acc: np.ndarray,
    lead_role: np.ndarray,
    is_target: np.ndarray,
    covered: np.ndarray,
    stage: np.ndarray,
    starts: pd.DatetimeIndex,
    end: pd.Timestamp,
    contacts: pd.DataFrame,
    opportunities: pd.DataFrame,
    params: WorldParams,
) -> pd.DataFrame:
    n_leads = len(leads)
    created = leads["created_at"].to_numpy()
    end64 = end.to_datetime64()
    parts: list[tuple[np.ndarray, np.ndarray, np.ndarray]] = []  # lead, time, type

    # Account coverage: sales works the buying group of covered accounts it sees moving.
    has_acc = lead_acc >= 0
    acc_stage = np.zeros((n_leads, len(starts)), dtype=np.int8)
    acc_stage[has_acc] = stage[lead_acc[has_acc]]
    lead_cov = has_acc & covered[np.clip(lead_acc, 0, None)] & (lead_role < 5)
    rate = np.where(acc_stage >= 2, 0.8, 0.05) * lead_cov[:, None]
    counts = rng.poisson(rate)
    li, mi = np.nonzero(counts)
    reps = counts[li, mi]
    li, mi = np.repeat(li, reps), np.repeat(mi, reps)
    days = np.asarray(starts.days_in_month)[mi]
    t = starts.to_numpy()[mi] + (rng.random(len(li)) * days * 86400).astype("timedelta64[s]")
    parts.append((li, t, rng.choice([0, 1], len(li))))

    # MQL follow-up: sales calls most MQLs, more so on target accounts.
    mql_at = leads["mql_at"].to_numpy()
    is_mql = ~np.isnat(mql_at)
    target_lead = has_acc & is_target[np.clip(lead_acc, 0, None)]
    p_follow = np.where(target_lead, params.mql_follow_up_target, params.mql_follow_up)
    worked = is_mql & (rng.random(n_leads) < p_follow)
    n_touch = 1 + rng.poisson(1.5, n_leads)
    li = np.repeat(np.nonzero(worked)[0], n_touch[worked])
    t = mql_at[li] + (rng.random(len(li)) * 21 * 86400).astype("timedelta64[s]")
    parts.append((li, t, rng.choice([0, 1], len(li), p=[0.6, 0.4])))

    # Deals: meetings with the contacts while the opportunity is open.
    lead_pos = pd.Series(np.arange(n_leads), index=leads["lead_id"])
    opp = contacts.merge(opportunities[["opportunity_id", "created_at", "closed_at"]])
    li = lead_pos[opp["lead_id"]].to_numpy()
    o_start = opp["created_at"].to_numpy()
    o_end = opp["closed_at"].fillna(end).to_numpy()
    n_meet = rng.poisson(2.0, len(li))
    rep = np.repeat(np.arange(len(li)), n_meet)
    span = (o_end - o_start)[rep].astype("timedelta64[s]").astype(np.int64)
    t = o_start[rep] + (rng.random(len(rep)) * span).astype("timedelta64[s]")
    parts.append((li[rep], t, np.full(len(rep), 2)))

    lead_i = np.concatenate([p[0] for p in parts])
    when = np.concatenate([p[1] for p in parts]).astype("datetime64[s]")
    kind = np.concatenate([p[2] for p in parts]).astype(np.int8)
    keep = (when < end64) & (when >= created[lead_i])
    lead_i, when, kind = lead_i[keep], when[keep], kind[keep]
    order = np.lexsort((lead_i, when))
    return pd.DataFrame(
        {
            "activity_id": np.arange(1, len(order) + 1, dtype=np.int64),
            "lead_id": leads["lead_id"].to_numpy()[lead_i[order]],
            "account_id": None,  # every touch here is on a person (none on an account only)
            "occurred_at": when[order].astype("datetime64[us]"),
            "type": _text(kind[order], SALES_ACTIVITY_TYPES),
        }
    )


def _truth(
    state_after: np.ndarray,
    trans: np.ndarray,
    hazard: np.ndarray,
    leads: pd.DataFrame,
    lead_acc: np.ndarray,
    lead_role: np.ndarray,
    bounds: pd.DatetimeIndex,
    params: WorldParams,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Exact P(opportunity within the truth window) per account and lead, per month start."""
    n_acc, n_months = state_after.shape
    horizon = max(1, round(params.truth_window_days / 30.4))
    snap_months = np.arange(1, n_months)
    p_acc = np.column_stack(
        [
            _opportunity_probability(state_after[:, m - 1], trans, hazard, horizon)
            for m in snap_months
        ]
    )
    snap_dates = bounds[snap_months]
    truth_accounts = pd.DataFrame(
        {
            "account_id": np.repeat([f"A{i:06d}" for i in range(1, n_acc + 1)], len(snap_months)),
            "snapshot_date": np.tile(snap_dates.to_numpy(), n_acc).astype("datetime64[us]"),
            "p_opportunity": p_acc.ravel(),
        }
    )
    has_acc = lead_acc >= 0
    p_lead = np.zeros((len(leads), len(snap_months)))
    p_lead[has_acc] = p_acc[lead_acc[has_acc]] * _ATTACH_PROB[lead_role[has_acc]][:, None]
    alive = leads["created_at"].to_numpy()[:, None] < snap_dates.to_numpy()[None, :]
    li, si = np.nonzero(alive)
    truth_leads = pd.DataFrame(
        {
            "lead_id": leads["lead_id"].to_numpy()[li],
            "snapshot_date": snap_dates.to_numpy()[si].astype("datetime64[us]"),
            "p_opportunity": p_lead[li, si],
        }
    )
    return truth_leads, truth_accounts
