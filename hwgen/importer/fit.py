"""Integer parameters that reproduce a tabulated step function exactly.

``hwgen import`` evaluates a model's own float nodes on integer inputs and
gets a non-decreasing integer function ``f`` (the activation quantizer's
output level for each accumulator). This module turns ``f`` into hwgen
parameters that equal it on every integer of its domain, or says that none
exist:

* :func:`thresholds` - the multi-threshold row ``T_j = min{x : f(x) - base >= j}``;
* :func:`fit_dyadic` - ``clamp(round_s((x + B) * m) + zp, L, H)`` (a dense bias
  ``B`` and a requant), by intersecting the intervals of ``m`` that put every
  step of the rescale on the same integer as the step of ``f``.

Both are exact by construction: two non-decreasing integer functions on
``[A0, A1]`` are equal when they agree at ``A0``, at ``A1`` and on both sides
of every step, which is what the constraints below state.
"""

from __future__ import annotations

import numpy as np

__all__ = ["thresholds", "Steps", "steps_of_table", "fit_dyadic", "float_ties", "dyadic_apply"]

_M_MAX = (1 << 31) - 1


def thresholds(values: np.ndarray, start: int, base: int, count: int) -> list[int]:
    """Threshold row for the non-decreasing ``values[i] = f(start + i)``.

    ``T_j`` (``j = 1..count``) is the smallest ``x`` with ``f(x) - base >= j``;
    a level met by every ``x`` of the domain gets ``start - 1`` and one met by
    none ``start + len(values)``: both lie outside the reachable range, so
    a constant channel has only out-of-range thresholds.
    """
    levels = np.asarray(values, dtype=np.int64) - base
    row = []
    for j in range(1, count + 1):
        index = int(np.searchsorted(levels, j, side="left"))
        row.append(start - 1 if index == 0 else start + index)
    return row


class Steps:
    """A non-decreasing integer function on ``[lo, hi]`` by its steps.

    ``first = f(lo)``, ``last = f(hi)``, and ``at[k]`` (for ``first < k <= last``)
    the smallest ``x`` with ``f(x) >= k``.
    """

    def __init__(self, lo: int, hi: int, first: int, last: int, at: dict):
        self.lo, self.hi, self.first, self.last, self.at = lo, hi, first, last, dict(at)

    def __call__(self, x: int) -> int:
        return self.first + sum(1 for b in self.at.values() if b <= x)


def steps_of_table(values: np.ndarray, start: int) -> Steps:
    """The :class:`Steps` of ``values[i] = f(start + i)`` (non-decreasing)."""
    values = np.asarray(values, dtype=np.int64)
    first, last = int(values[0]), int(values[-1])
    at = {k: start + int(np.searchsorted(values, k, side="left")) for k in range(first + 1, last + 1)}
    return Steps(start, start + len(values) - 1, first, last, at)


def _theta(j: int, s: int, rounding: str) -> int:
    """``round_s(p) >= j``  <=>  ``p >= theta`` (docs/design/numbers.md's three modes)."""
    if s == 0:
        return j
    if rounding == "half_up":
        return (2 * j - 1) << (s - 1)
    if rounding == "half_even":          # the tie (2j-1)/2 goes to j only when j is even
        return ((2 * j - 1) << (s - 1)) + (j & 1)
    return j << s                        # floor


def _ceil_div(a: int, b: int) -> int:
    return -((-a) // b)


def _constraints(steps: Steps, bias: int, zp: int, lo: int, hi: int):
    """``(x, j, must)``: ``round_s((x) * m) >= j`` must be ``must`` (x includes the bias)."""
    out = []
    for k in range(steps.first, steps.last + 2):
        if k <= lo or k > hi:       # the clamp alone decides these levels
            continue
        b = steps.lo if k == steps.first else (steps.hi + 1 if k == steps.last + 1 else steps.at[k])
        if b <= steps.hi:
            out.append((b + bias, k - zp, True))
        if b - 1 >= steps.lo:
            out.append((b - 1 + bias, k - zp, False))
    return out


def _m_interval(constraints, s: int, rounding: str):
    """``[m_lo, m_hi]`` satisfying every constraint at shift ``s`` (empty: m_lo > m_hi)."""
    m_lo, m_hi = 1, _M_MAX
    for x, j, must in constraints:
        theta = _theta(j, s, rounding)
        if not must:
            theta -= 1                   # x*m <= theta - 1
        if x == 0:                       # 0 >= theta, or 0 <= theta - 1: m does not matter
            if not ((0 >= theta) if must else (0 <= theta)):
                return 1, 0
            continue
        if must:                         # x*m >= theta
            if x > 0:
                m_lo = max(m_lo, _ceil_div(theta, x))
            else:
                m_hi = min(m_hi, theta // x)
        else:                            # x*m <= theta
            if x > 0:
                m_hi = min(m_hi, theta // x)
            else:
                m_lo = max(m_lo, _ceil_div(theta, x))
        if m_lo > m_hi:
            return m_lo, m_hi
    return m_lo, m_hi


def fit_dyadic(steps: Steps, rounding: str, out_lo: int, out_hi: int, *, candidates, ratio=None,
               loose=()):
    """``(bias, m, s, zp)`` with ``clamp(round_s((x + bias) * m) + zp, out_lo, out_hi) == f(x)``
    for every integer ``x`` in ``[steps.lo, steps.hi]``, or None.

    ``candidates`` lists the ``(bias, zp)`` pairs to try, in order; for each,
    the smallest shift with a non-empty interval of multipliers wins, and the
    multiplier closest to ``ratio * 2**s`` (the model's real slope, when
    known) is taken from the interval. Steps listed in ``loose`` (levels
    ``k``) are left free: the caller knows that the model puts them within
    float32 rounding of a half-way point (see :func:`float_ties`).
    """
    if steps.first < out_lo or steps.last > out_hi:
        return None
    for bias, zp in candidates:
        if not out_lo <= zp <= out_hi:
            continue
        constraints = [c for c in _constraints(steps, bias, zp, out_lo, out_hi)
                       if c[1] + zp not in loose]
        for s in range(64):
            m_lo, m_hi = _m_interval(constraints, s, rounding)
            if m_lo <= m_hi:
                target = m_lo if ratio is None else round(ratio * 2.0 ** s)
                return bias, min(max(target, m_lo), m_hi), s, zp
    return None


def float_ties(steps: Steps, ratio: float, offset: float, rounding: str, tolerance=2.0 ** -21):
    """Levels ``k`` whose step the model's float32 arithmetic may have moved by one.

    The model's value before rounding is ``ratio * (x + offset)`` in exact
    arithmetic; where it lies within ``tolerance`` (relative) of the rounding
    point of level ``k`` at ``x = at[k]`` or ``at[k] - 1``, float32 sums and
    products (the executor's own, too) decide the step either way.
    """
    point = 0.0 if rounding == "floor" else 0.5
    loose = set()
    for k, b in steps.at.items():
        edge = k - point
        for x in (b, b - 1):
            value = ratio * (x + offset)
            if abs(value - edge) <= tolerance * max(1.0, abs(edge)):
                loose.add(k)
    return loose


def dyadic_apply(x: np.ndarray, bias: int, m: int, s: int, zp: int, lo: int, hi: int,
                 rounding: str) -> np.ndarray:
    """``clamp(round_s((x + bias) * m) + zp, lo, hi)`` in Python integers (a self-check)."""
    out = []
    for value in np.asarray(x).reshape(-1).tolist():
        p = (int(value) + bias) * m
        if s == 0:
            r = p
        elif rounding == "half_up":
            r = (p + (1 << (s - 1))) >> s
        elif rounding == "half_even":
            r = (p + (1 << (s - 1)) - 1 + ((p >> s) & 1)) >> s
        else:
            r = p >> s
        out.append(min(max(r + zp, lo), hi))
    return np.array(out, dtype=np.int64).reshape(np.shape(x))
