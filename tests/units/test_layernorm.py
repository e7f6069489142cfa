"""LayerNorm: construction checks, Amaranth simulation, Verilator cosim, against ``sw_reference.ivit``.

Both square roots. Rows: random int16 with spreads from tiny (variance 0
and a few units, where I-ViT's Newton root has not converged and must still
match the golden model) to the full range, all-equal rows, all-min/all-max,
one outlier, alternating extremes, and means that land on the rounding
half-way point (``sum % C == C // 2`` for both signs).
"""

import numpy as np
import pytest
import torch
from amaranth.hdl import signed, unsigned

from hwgen.units.layernorm import LayerNorm
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
    "s16_c8_simd2_exact": dict(in_shape=signed(16), channels=8, simd=2, sqrt="exact",
                               bias=[0, 1, -1, 5, -(1 << 20), 1 << 20, 7, -7]),
    "s16_c8_simd4_ivit": dict(in_shape=signed(16), channels=8, simd=4, sqrt="ivit",
                              bias=[3, -3, 100, -100, 0, 0, 1, -1]),
    "s8_c6_simd1_exact_nobias": dict(in_shape=signed(8), channels=6, simd=1, sqrt="exact"),
    "u8_c5_simd5_ivit": dict(in_shape=unsigned(8), channels=5, simd=5, sqrt="ivit", bias=[9]),
}

BASE = dict(in_shape=signed(16), channels=8, simd=2)


@pytest.mark.parametrize("change, error, message", [
    (dict(simd=3), ValueError, "simd must divide channels (8), not 3"),
    (dict(channels=0), ValueError, "channels must be at least 1, not 0"),
    (dict(sqrt="newton"), TypeError, "sqrt must be 'exact' or 'ivit', not 'newton'"),
    (dict(bias=[1, 2]), ValueError, "bias must have 1 or 8 entries (one per channel), not 2"),
    (dict(bias=[1 << 31]), ValueError, "bias[0] must be in [-2147483648, 2147483647]"),
    (dict(out_shape=signed(30)), ValueError, "out_shape must hold [-2**30 + min(bias)"),
    (dict(bias=[1], out_shape=signed(32)), None, None),
    (dict(bias=[(1 << 31) - 1], out_shape=signed(32)), ValueError, "out_shape must hold"),
])
def test_construction_errors(change, error, message):
    if error is None:
        LayerNorm(**{**BASE, **change})
        return
    with pytest.raises(error) as info:
        LayerNorm(**{**BASE, **change})
    assert message in str(info.value)


def test_widths_from_bounds():
    unit = LayerNorm(**BASE)
    assert unit.var_bits == (8 * 65535 ** 2).bit_length() == 35
    assert unit.root_bits == 18                       # isqrt(2**35 - 1) = 185363
    assert unit.mean_bits == ((8 * 32767 + 4 + 8 * 32768).bit_length(), 16)
    ivit_unit = LayerNorm(**BASE, sqrt="ivit")
    assert ivit_unit.root_bits == 19                  # (2**16 + (2**35-1) // 2**16) >> 1 = 294911


def _range(shape):
    if shape.signed:
        return -(1 << (shape.width - 1)), (1 << (shape.width - 1)) - 1
    return 0, (1 << shape.width) - 1


def case_rows(case, count, seed):
    c = case["channels"]
    lo, hi = _range(case["in_shape"])
    rng = np.random.default_rng(seed)
    rows = []
    for _ in range(count):
        spread = int(2 ** rng.uniform(0, np.log2(hi - lo)))        # log-uniform spread
        centre = int(rng.integers(lo, hi, endpoint=True))
        row = np.clip(centre + rng.integers(-spread, spread, size=c, endpoint=True), lo, hi)
        rows.append(row)
    mid = (lo + hi) // 2
    outlier = np.full(c, lo)
    outlier[-1] = hi
    edges = [np.full(c, lo), np.full(c, hi), np.full(c, mid), outlier, np.resize([lo, hi], c),
             np.resize([mid, mid + 1], c), np.resize([mid, mid + 2], c)]
    for centre in (mid + 3, lo + 5, -5):                # sum % C == C // 2: half-way means
        row = np.full(c, max(centre, lo))
        row[: c // 2] += 1
        edges.append(row)
    return np.concatenate([np.array(rows), np.array(edges)]).astype(np.int64)


def case_expected(case, x):
    bias = case.get("bias")
    if bias is not None:
        bias = torch.tensor(np.resize(bias, case["channels"]), dtype=torch.int64)
    return ivit.layernorm(torch.from_numpy(x), bias, sqrt=case["sqrt"]).numpy()



@pytest.mark.parametrize("name", fast_first(sorted(CASES), {"s8_c6_simd1_exact_nobias",
                                                             "u8_c5_simd5_ivit"}))
def test_amaranth_sim_matches_golden(name):
    """Under 30 % stalls on both sides, from random values in every register without a reset
    (``scramble``): the unit reads them only behind its valid flags."""
    case = CASES[name]
    x = case_rows(case, count=25 if case["sqrt"] == "exact" else 8, seed=11)   # ivit: 10 divisions
    got = simulate_rows(LayerNorm(**case), x, stall=0.3, seed=5, scramble=2)
    assert_rows_equal(got, case_expected(case, x), x)


def test_edge_rows_hit_the_corners():
    """The vectors include zero variance, unconverged Newton roots and half-way means."""
    case = CASES["s16_c8_simd4_ivit"]
    x = torch.from_numpy(case_rows(case, count=25, seed=11))
    c = x.shape[-1]
    var = ((x - torch.div(x.sum(-1, keepdim=True) + c // 2, c, rounding_mode="floor")) ** 2).sum(-1)
    assert (var == 0).any()
    assert (ivit.newton10(var) > ivit.isqrt(var) + 1).sum() >= 3
    assert ((x.sum(-1) % c) == c // 2).sum() >= 2


def test_cycles_per_row_bound():
    case = CASES["s16_c8_simd2_exact"]
    x = case_rows(case, count=6, seed=4)
    assert_rows_at_rate(LayerNorm(**case), x, case_expected(case, x))


COSIM = ["s16_c8_simd2_exact", "s16_c8_simd4_ivit"]


@pytest.mark.parametrize("name", fast_first(COSIM, {"s16_c8_simd4_ivit"}))
def test_verilator_cosim_matches_golden(name):
    """>= 200 rows under 30% random pauses on both AXI4-Stream sides."""
    case = CASES[name]
    x = case_rows(case, count=200, seed=23)
    got = cosim_rows(LayerNorm(**case), f"layernorm_{name}", x)
    assert_rows_equal(got, case_expected(case, x), x)


def test_verilog_is_lint_clean(tmp_path):
    assert_lint_clean(lambda: LayerNorm(**CASES["s16_c8_simd4_ivit"]), "layernorm_top", tmp_path)
