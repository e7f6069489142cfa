"""ShiftGELU: construction checks, Amaranth simulation, Verilator cosim, against ``sw_reference.ivit``.

Rows: random int8, all equal, all at the minimum (every ``p < 0``: ``em``
saturates, the factor is 1), all at the maximum, one huge value among
minima, alternating extremes, a zero maximum. ``x0`` from I-ViT scales and
the corners: ``-1`` (``em`` beyond int64 for negative rows, capped) and
``-300`` (``sig`` above 127 once the sum saturates).
"""

import numpy as np
import pytest
import torch
from amaranth.hdl import signed, unsigned

from hwgen.units.shiftgelu import ShiftGELU
from sw_reference import ivit

from .row_cases import (
    assert_lint_clean,
    assert_rows_at_rate,
    assert_rows_equal,
    cosim_rows,
    fast_first,
    simulate_rows,
)

CASES = {
    "s8_l16_simd4": dict(in_shape=signed(8), length=16, simd=4, x0=ivit.x0_from_scale(1.702 / 32)),
    "s8_l6_simd1_x0_1": dict(in_shape=signed(8), length=6, simd=1, x0=-1),
    "s8_l8_simd2_x0_300": dict(in_shape=signed(8), length=8, simd=2, x0=-300),
    "u4_l4_simd4": dict(in_shape=unsigned(4), length=4, simd=4, x0=-7),
}
BASE = dict(in_shape=signed(8), length=16, simd=4, x0=-19)


@pytest.mark.parametrize("change, error, message", [
    (dict(simd=3), ValueError, "simd must divide length (16), not 3"),
    (dict(x0=0), ValueError, "x0 must be at most -1, not 0"),
    (dict(x0=-(1 << 31)), ValueError, "x0 must be at least -2147483647"),
    (dict(out_shape=signed(8)), ValueError, "out_shape must hold [-16256, 16129], not"),
    (dict(in_shape="int8"), TypeError, "in_shape must be a shape such as signed(8)"),
])
def test_construction_errors(change, error, message):
    with pytest.raises(error) as info:
        ShiftGELU(**{**BASE, **change})
    assert message is None or message in str(info.value)


@pytest.mark.parametrize("x0, shape", [(-19, signed(15)), (-300, signed(16)), (-1, signed(15))])
def test_default_out_shape(x0, shape):
    assert ShiftGELU(**{**BASE, "x0": x0}).out_shape == shape
    assert ShiftGELU(in_shape=unsigned(4), length=4, x0=x0).out_shape.signed is False


def case_rows(case, count, seed):
    length = case["length"]
    shape = case["in_shape"]
    lo = -(1 << (shape.width - 1)) if shape.signed else 0
    hi = (1 << (shape.width - 1)) - 1 if shape.signed else (1 << shape.width) - 1
    rng = np.random.default_rng(seed)
    x = rng.integers(lo, hi, size=(count, length), endpoint=True)
    negative = rng.integers(lo, min(hi, -1) if lo < 0 else lo, size=(count // 4, length),
                            endpoint=True)
    huge = np.full(length, lo)
    huge[-1] = hi
    zero_max = np.minimum(rng.integers(lo, hi, size=length, endpoint=True), 0)
    zero_max[0] = 0
    edges = [np.full(length, lo), np.full(length, hi), np.full(length, (lo + hi) // 2), huge,
             np.resize([lo, hi], length), zero_max]
    return np.concatenate([x, negative, np.array(edges)]).astype(np.int64)


def case_expected(case, x):
    return ivit.shiftgelu(torch.from_numpy(x), case["x0"]).numpy()



@pytest.mark.parametrize("name", fast_first(sorted(CASES), {"s8_l16_simd4", "s8_l6_simd1_x0_1"}))
def test_amaranth_sim_matches_golden(name):
    """Under 30 % stalls on both sides, from random values in every register without a reset
    (``scramble``): the unit reads them only behind its valid flags."""
    case = CASES[name]
    x = case_rows(case, count=24, seed=11)
    got = simulate_rows(ShiftGELU(**case), x, stall=0.3, seed=5, scramble=2)
    assert_rows_equal(got, case_expected(case, x), x)


def test_corners_are_covered():
    """Saturated sums (factor 1) and sig above 127 occur in the vectors."""
    case = CASES["s8_l8_simd2_x0_300"]
    x = torch.from_numpy(case_rows(case, count=24, seed=11))
    sig = ivit.shiftgelu(x, case["x0"]) // torch.where(x == 0, 1, x)
    assert (sig > 127).any()


@pytest.mark.slow
def test_full_throughput():
    """No backpressure: a row leaves every ``cycles_per_row`` cycles or faster."""
    case = CASES["s8_l16_simd4"]
    x = case_rows(case, count=10, seed=4)
    assert_rows_at_rate(ShiftGELU(**case), x, case_expected(case, x))


@pytest.mark.parametrize("name", fast_first(["s8_l16_simd4", "s8_l8_simd2_x0_300"], {"s8_l16_simd4"}))
def test_verilator_cosim_matches_golden(name):
    """>= 200 rows under 30% random pauses on both AXI4-Stream sides."""
    case = CASES[name]
    x = case_rows(case, count=200, seed=23)
    got = cosim_rows(ShiftGELU(**case), f"shiftgelu_{name}", x)
    assert_rows_equal(got, case_expected(case, x), x)


def test_verilog_is_lint_clean(tmp_path):
    assert_lint_clean(lambda: ShiftGELU(**CASES["s8_l16_simd4"]), "shiftgelu_top", tmp_path)


def every_pair_rows(lo, hi, length):
    """Rows whose maximum is ``m`` and whose other elements take every ``p <= m``: one row per
    ``m`` (chunks of ``length``, padded with ``m``), so each (p, max) pair of the type occurs."""
    rows = []
    for top in range(lo, hi + 1):
        values = list(range(lo, top + 1))
        for start in range(0, len(values), length - 1):
            chunk = [top] + values[start:start + length - 1]
            rows.append(chunk + [top] * (length - len(chunk)))
    return np.array(rows, dtype=np.int64)


@pytest.mark.parametrize("x0", [pytest.param(-1, marks=pytest.mark.slow), -19,
                                pytest.param(-300, marks=pytest.mark.slow)])
def test_every_int8_pair_under_verilator(x0):
    """Exhaustive for int8: an element's result depends only on (p, max(row)), and these rows
    hold all 32,896 pairs with p <= max, each through the per-lane divider under pauses."""
    case = dict(in_shape=signed(8), length=64, simd=8, x0=x0)
    x = every_pair_rows(-128, 127, case["length"])
    got = cosim_rows(ShiftGELU(**case), f"shiftgelu_pairs_{-x0}", x)
    assert_rows_equal(got, case_expected(case, x), x)
