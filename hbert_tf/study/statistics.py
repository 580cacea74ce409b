"""Statistics over seeds: mean, sample std, 95% t-intervals, and paired verdicts.

A study repeats every training run once per seed; the evaluation data are the same for every
seed. So the spread that matters is the one between seeds, and two models are compared seed by
seed: the difference A - B of the runs that share a seed (same data order and initial draw where
the models allow it). The interval of a mean over n seeds is Student's t-interval
`mean ± t(0.975, n - 1) * std / sqrt(n)`; docs/study_report.md says why no bootstrap.
"""

import math

import numpy as np
from scipy import stats

CONFIDENCE = 0.95
MIN_SEEDS = 2
SEEDS_NOTE = (
    "confidence intervals need 2 or more seeds; this study has {n} (std and intervals are "
    'shown as "-"; pass e.g. --seeds=0,1,2)'
)


def seeds_note(seeds):
    """The one-line note for a study with fewer than 2 seeds, else None."""
    return SEEDS_NOTE.format(n=len(seeds)) if len(seeds) < MIN_SEEDS else None


def t_quantile(df):
    """The two-sided 95% quantile of Student's t with `df` degrees of freedom (12.71 at 1)."""
    return float(stats.t.ppf(0.5 + CONFIDENCE / 2, df))


def summarize(values):
    """Mean, sample std and the 95% t-interval of the mean.

    Args:
        values: sequence of floats (one per seed).

    Returns:
        dict with "mean", "std" (n - 1), "n", "ci_low", "ci_high"; std and the interval are None
        for fewer than 2 values, mean is None for none.
    """
    values = np.asarray(values, dtype=float)
    n = len(values)
    out = {"mean": None, "std": None, "n": n, "ci_low": None, "ci_high": None}
    if n == 0:
        return out
    out["mean"] = float(np.mean(values))
    if n >= MIN_SEEDS:
        out["std"] = float(np.std(values, ddof=1))
        half = t_quantile(n - 1) * out["std"] / math.sqrt(n)
        out["ci_low"], out["ci_high"] = out["mean"] - half, out["mean"] + half
    return out


def paired_differences(a_by_seed, b_by_seed):
    """(seeds, differences a - b) over the seeds both dicts {seed: value} have, in seed order."""
    seeds = sorted(set(a_by_seed) & set(b_by_seed))
    return seeds, [float(a_by_seed[s]) - float(b_by_seed[s]) for s in seeds]


def verdict(summary, threshold, claim):
    """Whether the paired differences support the claim `difference >= threshold` (claim ">="),
    `difference > threshold` (claim ">": the interval must exclude the threshold) or
    `difference < threshold` (claim "<").

    Args:
        summary: `summarize` of the paired differences.
        threshold: float. The claim's boundary (0 for "A is worse than B").
        claim: ">=", ">" or "<".

    Returns:
        "agrees" when the whole 95% interval lies on the claim's side of the threshold,
        "disagrees" when it lies wholly on the other side, "inconclusive" when it straddles the
        threshold. With one seed (no interval) the point difference decides: "agrees" or
        "disagrees" (the report says that these are single runs).
    """
    low, high = summary["ci_low"], summary["ci_high"]
    if low is None:
        low = high = summary["mean"]
    if claim == ">=":
        holds, fails = low >= threshold, high < threshold
    elif claim == ">":
        holds, fails = low > threshold, high <= threshold
    elif claim == "<":
        holds, fails = high < threshold, low >= threshold
    else:
        raise ValueError(f"claim must be '>=', '>' or '<', got {claim!r}")
    return "agrees" if holds else "disagrees" if fails else "inconclusive"


def combine(verdicts):
    """A finding's verdict from its comparisons' verdicts: "not measured" (none), "agrees" /
    "disagrees" (all alike), "mixed" (some agree, some disagree), else "inconclusive"."""
    found = set(verdicts)
    if not found:
        return "not measured"
    if len(found) == 1:
        return found.pop()
    if {"agrees", "disagrees"} <= found:
        return "mixed"
    return "inconclusive"
