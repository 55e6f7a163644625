"""The detector's statistics: one-sided tails of the tests it runs, as surprises ``-log10(p)``.

Pure functions of numbers, no state.  The count test is negative-binomial (variance
``mu + alpha*mu**2``), the share test beta-binomial (variance inflated by ``phi`` over the
binomial); both are exact sums where few terms are needed and close approximations elsewhere
(``alerts/DETECTOR.md``, "Tests").
"""

from __future__ import annotations

import math

LN10 = math.log(10.0)
LOG10_2 = math.log10(2.0)
INV_SQRT2 = 1.0 / math.sqrt(2.0)
_LOG_SQRT_2PI = 0.5 * math.log(2.0 * math.pi)
_THIRD = 1.0 / 3.0
# Exact tail sums are cheap up to this count; above it Paulson's approximation is within ~0.2 decades.
_EXACT_MAX = 40
# Expected-count floor: a key with no history still gets a finite (huge) surprise.
MU_FLOOR = 1e-3


def log10_sf(z: float) -> float:
    """log10 P(Z >= z) for a standard normal Z, finite far into the tail."""
    if z < 30.0:
        return math.log10(0.5 * math.erfc(z * INV_SQRT2))
    return -(0.5 * z * z + math.log(z) + _LOG_SQRT_2PI) / LN10


def nb_surprise(k: float, mu: float, alpha: float) -> float:
    """``-log10 P(X >= k)`` for X negative-binomial with mean ``mu`` and variance ``mu + alpha*mu**2``.

    ``alpha = 0`` is Poisson.  Exact for integer ``k <= 40``, Paulson's F
    approximation above (slightly conservative, within ~0.2 decades).
    """
    if k <= 0.0:
        return 0.0
    if mu < MU_FLOOR:
        mu = MU_FLOOR
    if k <= _EXACT_MAX and k == int(k):
        return _nb_exact_surprise(int(k), mu, alpha)
    # P(X >= k) = P(F(2k, 2r) <= mu/k), r = 1/alpha.
    a = 1.0 / (9.0 * k)
    b = alpha / 9.0
    c = (mu / k) ** _THIRD
    z = ((1.0 - b) * c - (1.0 - a)) / math.sqrt(a + c * c * b)
    s = -log10_sf(-z)
    return s if s > 0.0 else 0.0


def _nb_exact_surprise(k: int, mu: float, alpha: float) -> float:
    # Sums the upper tail relative to its first term, so tiny tails never underflow.
    if alpha < 1e-9:
        log_first = -mu + k * math.log(mu) - math.lgamma(k + 1.0)
        r = 0.0
        q = 0.0
    else:
        r = 1.0 / alpha
        q = mu / (mu + r)
        log_first = (
            math.lgamma(k + r)
            - math.lgamma(r)
            - math.lgamma(k + 1.0)
            - r * math.log1p(mu / r)
            + k * math.log(q)
        )
    total = 1.0
    term = 1.0
    j = k
    for _ in range(5000):
        term *= (j + r) / (j + 1.0) * q if r else mu / (j + 1.0)
        j += 1
        total += term
        if term < total * 1e-12:
            break
    s = -(log_first + math.log(total)) / LN10
    return s if s > 0.0 else 0.0


def share_surprise(k: float, n: float, p0: float, phi: float = 1.0) -> float:
    """``-log10 P(K >= k)`` for K negatives out of ``n`` when the usual share is ``p0``.

    Overdispersion ``phi`` (variance inflation over binomial, as in a
    beta-binomial) shrinks the effective sample.  Blends a continuity-corrected
    deviance (accurate for a plain binomial, too optimistic under
    overdispersion) with a moment-matched beta approximation (accurate once
    overdispersion dominates), weighting the deviance by ``1/phi**2``.
    """
    if n <= 0.0 or p0 <= 0.0 or p0 >= 1.0:
        return 0.0
    kc = k - 0.5
    if kc <= n * p0:
        return 0.0
    if n - k <= _EXACT_MAX and k == int(k) and n == int(n):
        # Few terms to sum, and near-unanimous windows are where the approximations err most.
        return _betabinom_exact_surprise(int(k), int(n), p0, phi)
    nn = n / phi
    kk = kc / phi
    dev = kk * math.log(kk / (nn * p0))
    if nn > kk:
        dev += (nn - kk) * math.log((nn - kk) / (nn * (1.0 - p0)))
    s1 = -log10_sf(math.sqrt(2.0 * dev)) if dev > 0.0 else 0.0
    a = p0 * nn
    b = (1.0 - p0) * nn
    x = kc / n
    c = ((b / a) * x / (1.0 - x)) ** _THIRD
    ia = 1.0 / (9.0 * a)
    ib = 1.0 / (9.0 * b)
    z = ((1.0 - ib) * c - (1.0 - ia)) / math.sqrt(ia + c * c * ib)
    s2 = -log10_sf(z)
    w = 1.0 / (phi * phi)
    s = w * s1 + (1.0 - w) * s2
    return s if s > 0.0 else 0.0


def _betabinom_exact_surprise(k: int, n: int, p0: float, phi: float) -> float:
    # The beta-binomial with the same variance inflation: phi = 1 + (n - 1) * rho.
    rho = (phi - 1.0) / (n - 1) if n > 1 else 0.0
    lg = math.lgamma
    log_first = lg(n + 1.0) - lg(k + 1.0) - lg(n - k + 1.0)
    if rho < 1e-6:
        log_first += k * math.log(p0) + (n - k) * math.log1p(-p0)
        a = b = 0.0
    else:
        if rho > 0.999:
            rho = 0.999
        scale = (1.0 - rho) / rho
        a = p0 * scale
        b = (1.0 - p0) * scale
        log_first += lg(k + a) - lg(a) + lg(n - k + b) - lg(b) - lg(n + a + b) + lg(a + b)
    total = 1.0
    term = 1.0
    odds = p0 / (1.0 - p0)
    for j in range(k, n):
        if a:
            term *= (n - j) / (j + 1.0) * (j + a) / (n - j - 1.0 + b)
        else:
            term *= (n - j) / (j + 1.0) * odds
        total += term
    s = -(log_first + math.log(total)) / LN10
    return s if s > 0.0 else 0.0
