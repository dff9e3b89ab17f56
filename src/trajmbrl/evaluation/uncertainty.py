"""Uncertainty quality of probabilistic / ensemble / sampled predictions.

Predictions are summarised per trajectory and horizon by a Gaussian with ``mean`` and ``var``
(a member mixture or a particle set: var = mean of member variances + variance of member means).
Errors are measured in range-normalised units (the manifest's train-split min/max), so NLL is
comparable across dimensions and runs.
"""

from __future__ import annotations

import numpy as np

#: floor on the normalised variance, so a collapsed ensemble gives a large but finite NLL
MIN_VAR = 1e-12


def mixture_moments(
    means: np.ndarray, variances: np.ndarray | None, axis: int = 0
) -> tuple[np.ndarray, np.ndarray]:
    """Mean and variance of an equal-weight mixture along ``axis``.

    :param means: (..., K, ...) component means; :param variances: same shape or None (point
        predictions: the mixture variance is the spread of the means).
    """
    with np.errstate(invalid="ignore", over="ignore"):
        mean = means.mean(axis=axis)
        spread = means.var(axis=axis)
        var = spread if variances is None else variances.mean(axis=axis) + spread
    return mean, var


def gaussian_scores(
    true: np.ndarray,
    mean: np.ndarray,
    var: np.ndarray,
    state_min: np.ndarray,
    state_max: np.ndarray,
) -> dict[str, np.ndarray]:
    """Per (trajectory, horizon): NLL, 1- and 2-sigma coverage, predictive spread.

    :param true, mean, var: (N, H, ds) raw units.
    :returns: ``nll`` (Gaussian negative log-likelihood per dimension, normalised units),
        ``cov1`` / ``cov2`` (share of dimensions whose truth lies within 1 / 2 standard
        deviations), ``spread`` (mean normalised standard deviation); each (N, H). Non-finite
        predictions give NaN.
    """
    span = np.where(state_max - state_min > 1e-12, state_max - state_min, 1.0)
    with np.errstate(invalid="ignore", over="ignore", divide="ignore"):
        err = (true - mean) / span
        v = np.maximum(var / span**2, MIN_VAR)
        nll = 0.5 * (np.log(2 * np.pi * v) + err**2 / v)
        z = np.abs(err) / np.sqrt(v)
        finite = np.isfinite(mean).all(axis=-1) & np.isfinite(var).all(axis=-1)
        out = {
            "nll": nll.mean(axis=-1),
            "cov1": (z <= 1.0).mean(axis=-1),
            "cov2": (z <= 2.0).mean(axis=-1),
            "spread": np.sqrt(v).mean(axis=-1),
        }
    missing = np.isnan(true).any(axis=-1)
    return {k: np.where(finite & ~missing, a, np.nan) for k, a in out.items()}
