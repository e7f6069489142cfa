"""Shiftmax: construction checks, Amaranth simulation, Verilator cosim, against ``sw_reference.ivit``.

Rows: random, all equal, one huge value among minima, all at the most
negative value, random rows from a few values (ties for the maximum), and
cases whose exponential sum saturates at ``2**31 - 1`` (``|x0|`` near
``2**16``). ``heads`` is checked through ``sw_reference.modules.Shiftmax``
on a ``[T, heads * T]`` tensor streamed row after row.
"""

import numpy as np
import pytest
import torch
from amaranth.hdl import signed, unsigned

from hwgen.units.shiftmax import Shiftmax
from sw_reference import ivit
from sw_reference.modules import Shiftmax as GoldenShiftmax

from .row_cases import (
    assert_lint_clean,
    assert_rows_at_rate,
    assert_rows_equal,
    cosim_rows,
    fast_first,
    simulate_rows,
)

CASES = {
    "s8_l16_simd4": dict(in_shape=signed(8), length=16, simd=4, x0=-16, out_bits=8),
    "s8_l12_simd1_x0_3": dict(in_shape=signed(8), length=12, simd=1, x0=-3, out_bits=8),
    "u6_l6_simd6": dict(in_shape=unsigned(6), length=6, simd=6, x0=-5, out_bits=4),
    # |x0| << 15 near 2**31: any two equal maxima saturate the sum
    "s16_l8_simd2_saturating": dict(in_shape=signed(16), length=8, simd=2, x0=-65535,
                                    out_bits=16),
    "s32_l4_simd1_out32": dict(in_shape=signed(32), length=4, simd=1, x0=-1000, out_bits=32),
}

BASE = dict(in_shape=signed(8), length=16, simd=4, x0=-16)


@pytest.mark.parametrize("change, error, message", [
    (dict(simd=3), ValueError, "simd must divide length (16), not 3"),
    (dict(length=0), ValueError, "length must be at least 1, not 0"),
    (dict(x0=0), ValueError, "x0 must be at most -1, not 0"),
    (dict(x0=-65536), ValueError, "x0 must satisfy |x0| << n < 2**31 (n = 15), not -65536"),
    (dict(x0=-1.5), TypeError, "x0 must be an integer, not -1.5"),
    (dict(out_bits=33), ValueError, "out_bits must be at most 32, not 33"),
    (dict(in_shape="int8"), TypeError, "in_shape must be a shape such as signed(8)"),
])
def test_construction_errors(change, error, message):
    with pytest.raises(error) as info:
        Shiftmax(**{**BASE, **change})
    assert message in str(info.value)


def test_widths_from_bounds():
    unit = Shiftmax(**BASE)
    assert unit.factor_bits == 12          # (2**31-1) // 2**19 = 4095
    assert Shiftmax(**{**BASE, "x0": -65535}).factor_bits == 1
    assert (unit.folds, unit.cycles_per_row) == (4, 4)


def _range(shape):
    if shape.signed:
        return -(1 << (shape.width - 1)), (1 << (shape.width - 1)) - 1
    return 0, (1 << shape.width) - 1


def case_rows(case, count, seed):
    """``count`` random rows (half from few values), then the edge rows."""
    length = case["length"]
    lo, hi = _range(case["in_shape"])
    rng = np.random.default_rng(seed)
    span = min(hi - lo, 40 * -case["x0"])           # mostly within the exponent's range
    centre = rng.integers(lo, hi - span, size=(count // 2, 1), endpoint=True)
    near = centre + rng.integers(0, span, size=(count // 2, length), endpoint=True)
    few = rng.choice([lo, lo + 1, (lo + hi) // 2, hi - 1, hi], size=(count - count // 2, length))
    huge = np.full(length, lo)
    huge[length // 2] = hi
    edges = [np.full(length, lo), np.full(length, hi), np.full(length, (lo + hi) // 2), huge,
             np.resize([lo, hi], length), np.arange(length) % (hi - lo + 1) + lo]
    return np.concatenate([near, few, np.array(edges)]).astype(np.int64)


def case_expected(case, x):
    return ivit.shiftmax(torch.from_numpy(x), case["x0"], case["out_bits"]).numpy()



@pytest.mark.parametrize("name", fast_first(sorted(CASES), {"s8_l12_simd1_x0_3", "u6_l6_simd6",
                                                             "s32_l4_simd1_out32"}))
def test_amaranth_sim_matches_golden(name):
    """Under 30 % stalls on both sides, from random values in every register without a reset
    (``scramble``): the unit reads them only behind its valid flags."""
    case = CASES[name]
    x = case_rows(case, count=40, seed=11)
    got = simulate_rows(Shiftmax(**case), x, stall=0.3, seed=5, scramble=2)
    assert_rows_equal(got, case_expected(case, x), x)


def test_saturating_rows_are_covered():
    case = CASES["s16_l8_simd2_saturating"]
    x = torch.from_numpy(case_rows(case, count=40, seed=11))
    e = ivit.exp_shift(x - x.amax(dim=-1, keepdim=True), case["x0"], 15)
    assert (e.sum(dim=-1) > (1 << 31) - 1).sum() >= 5


def test_heads_split_the_row():
    """``heads=2`` on [T, 2T]: each half of a row is its own softmax row of length T."""
    t = 6
    case = dict(in_shape=signed(8), length=t, simd=3, x0=-12, out_bits=8)
    x = torch.randint(-128, 128, (3, t, 2 * t), generator=torch.Generator().manual_seed(2))
    want = GoldenShiftmax(x0=case["x0"], out_bits=8, heads=2)(x).numpy()
    rows = x.numpy().reshape(-1, t)                 # [N*T*heads, T]: head groups in stream order
    got = simulate_rows(Shiftmax(**case), rows, stall=0.2, seed=1).reshape(want.shape)
    np.testing.assert_array_equal(got, want)


def test_next_row_fills_while_previous_drains():
    """No backpressure: rows leave every ``cycles_per_row`` cycles or faster."""
    case = CASES["s8_l16_simd4"]
    x = case_rows(case, count=10, seed=4)
    assert_rows_at_rate(Shiftmax(**case), x, case_expected(case, x))


COSIM = ["s8_l16_simd4", "s16_l8_simd2_saturating"]


@pytest.mark.parametrize("name", fast_first(COSIM, {"s16_l8_simd2_saturating"}))
def test_verilator_cosim_matches_golden(name):
    """>= 200 rows under 30% random pauses on both AXI4-Stream sides."""
    case = CASES[name]
    x = case_rows(case, count=200, seed=23)
    got = cosim_rows(Shiftmax(**case), f"shiftmax_{name}", x)
    assert_rows_equal(got, case_expected(case, x), x)


def test_verilog_is_deterministic_and_lint_clean(tmp_path):
    assert_lint_clean(lambda: Shiftmax(**CASES["s8_l16_simd4"]), "shiftmax_top", tmp_path, twice=True)
