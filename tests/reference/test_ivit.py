"""sw_reference.ivit: exact against docs/design/operators.md in Python big ints, and accuracy vs float.

The accuracy tests recompute the figures quoted in ``sw_reference.ivit``'s
docstring (2000 rows each, fixed seeds) and assert bounds a little looser.
"""

import math
from fractions import Fraction

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from sw_reference import ivit

Q31 = 2**31 - 1
rng = np.random.default_rng(99)


def t(a):
    return torch.tensor(np.asarray(a, dtype=np.int64))


# -- the contract's lines in Python integers (unbounded; >> and // floor) -----------------------

def py_exp_shift(d, x0, n):
    tt = d + (d >> 1) - (d >> 4)
    tt = max(tt, n * x0)
    q = tt // x0
    r = tt - x0 * q
    assert x0 < r <= 0
    return ((r >> 1) - x0) << (n - q)


def py_shiftmax(row, x0, out_bits=8, n=15):
    mx = max(row)
    e = [py_exp_shift(v - mx, x0, n) for v in row]
    s = min(sum(e), Q31)
    return [(v * (Q31 // s)) >> (32 - out_bits) for v in e]


def py_shiftgelu(row, x0):
    m = max(row)
    em = py_exp_shift(-m, x0, 23)           # may be astronomically large: Python doesn't care
    out = []
    for p in row:
        e = py_exp_shift(p - m, x0, 23)
        sig = (e * (Q31 // min(e + em, Q31))) >> 24
        out.append(p * sig)
    return out


def py_newton10(v):
    k = 2**16
    for _ in range(10):
        k = (k + v // k) >> 1
    return k


def py_layernorm(row, bias, sqrt):
    c = len(row)
    mean = (sum(row) + c // 2) // c
    y = [v - mean for v in row]
    var = sum(v * v for v in y)
    k = max(math.isqrt(var), 1) if sqrt == "exact" else py_newton10(var)
    return [((v * (Q31 // k)) >> 1) + (bias[i] if bias is not None else 0) for i, v in enumerate(y)]


# -- exactness ----------------------------------------------------------------------------------

@pytest.mark.parametrize("x0", [-1, -2, -7, -16, -19, -100, -4096])
@pytest.mark.parametrize("n", [15, 23])
def test_exp_shift_matches_contract(x0, n):
    d = np.concatenate([np.arange(-3000, 1), rng.integers(-2**40, 0, 500)])
    got = ivit.exp_shift(t(d), x0, n).tolist()
    assert got == [py_exp_shift(int(v), x0, n) for v in d]
    assert min(got) >= 1 and max(got) <= (-x0) << n


def test_exp_shift_positive_d_caps_exactly():
    for x0 in [-1, -3, -5, -19, -300]:
        d = np.arange(0, 400)
        got = ivit.exp_shift(t(d), x0, 23, cap=Q31).tolist()
        assert got == [min(py_exp_shift(int(v), x0, 23), Q31) for v in d]
    with pytest.raises(OverflowError):
        ivit.exp_shift(t([300]), -2, 23)            # uncapped shift far past 63 bits
    with pytest.raises(ValueError):
        ivit.exp_shift(t([0]), 0, 15)               # x0 must be negative


@pytest.mark.parametrize("x0,out_bits,length", [(-16, 8, 64), (-20, 8, 7), (-3, 4, 10),
                                                (-200, 8, 197), (-5, 16, 33)])
def test_shiftmax_matches_contract(x0, out_bits, length):
    x = rng.integers(-3000, 3000, (60, length))
    x[:5] = rng.integers(-3, 3, (5, length))            # near-uniform rows
    x[5] = 7                                            # constant row
    got = ivit.shiftmax(t(x), x0, out_bits).tolist()
    assert got == [py_shiftmax([int(v) for v in row], x0, out_bits) for row in x]
    assert max(max(r) for r in got) <= 2**(out_bits - 1) - 1


def test_shiftmax_saturated_sum():
    # |x0| * 2**15 * L >= 2**31: the sum clamps at 2**31 - 1 and the factor becomes 1
    x = np.zeros((1, 200), dtype=np.int64)
    got = ivit.shiftmax(t(x), -400, 8).tolist()[0]
    assert got == py_shiftmax([0] * 200, -400, 8) == [(400 << 15) >> 24] * 200


@pytest.mark.parametrize("x0", [-1, -3, -5, -10, -19, -38, -300])
def test_shiftgelu_matches_contract_including_all_negative_rows(x0):
    p = rng.integers(-128, 128, (80, 24))
    p[:20] = rng.integers(-128, 0, (20, 24))          # all negative: exp_shift(-m) with -m > 0
    p[20] = -128
    p[21] = 0
    p[22] = 127
    got = ivit.shiftgelu(t(p), x0).tolist()
    assert got == [py_shiftgelu([int(v) for v in row], x0) for row in p]


def test_isqrt_exhaustive_small():
    v = torch.arange(0, 100001, dtype=torch.int64)
    assert ivit.isqrt(v).tolist() == [math.isqrt(i) for i in range(100001)]


def test_isqrt_random_large_and_edges():
    v = [int(a) for a in rng.integers(0, 2**63 - 1, 5000, dtype=np.int64)]
    v += [2**63 - 1, 2**62, 2**62 - 1, (2**31 - 1)**2, (2**31 - 1)**2 - 1, 2**32, 2**32 - 1]
    v += [k * k + e for k in [3037000499, 2**20, 12345678] for e in (-1, 0, 1)]
    assert ivit.isqrt(t(v)).tolist() == [math.isqrt(a) for a in v]
    with pytest.raises(ValueError):
        ivit.isqrt(t([4, -1]))


def test_newton10_matches_python_loop():
    v = [0, 1, 2, 3, 4, 15, 16, 255, 34595, 34596, 2**16, 2**32, 2**44, 2**46, 2**50, 2**62]
    v += [int(a) for a in rng.integers(0, 2**40, 2000)]
    got = ivit.newton10(t(v)).tolist()
    assert got == [py_newton10(a) for a in v]
    assert got[:4] == [64, 64, 64, 64]              # tiny variances: 10 halvings from 2**16
    assert got[0] != math.isqrt(0)


@pytest.mark.parametrize("sqrt", ["exact", "ivit"])
@pytest.mark.parametrize("c", [1, 2, 7, 64])
def test_layernorm_matches_contract(sqrt, c):
    x = rng.integers(-32768, 32768, (50, c))
    x[:10] = rng.integers(-3, 4, (10, c))              # tiny variance (Newton not converged)
    x[10] = 5                                          # zero variance: k = max(isqrt(0), 1)
    bias = rng.integers(-2**20, 2**20, c)
    for b in (None, bias):
        got = ivit.layernorm(t(x), None if b is None else t(b), sqrt=sqrt).tolist()
        expect = [py_layernorm([int(v) for v in row], None if b is None else [int(v) for v in b],
                               sqrt) for row in x]
        assert got == expect


def test_layernorm_errors():
    with pytest.raises(TypeError):
        ivit.layernorm(t([[1, 2]]), sqrt="newton")
    with pytest.raises(OverflowError):
        ivit.layernorm(t([[-2**40, 2**40]]))
    with pytest.raises(ValueError, match="bias"):
        ivit.layernorm(t([[1, 2]]), t([1, 2, 3]))


# -- generation-time helpers --------------------------------------------------------------------

def test_x0_from_scale():
    assert ivit.x0_from_scale(1 / 16) == -16
    assert ivit.x0_from_scale(0.05) == -20
    assert ivit.x0_from_scale(0.03) == -34            # floor(-33.33)
    assert ivit.x0_from_scale(5.0) == -1
    for bad in (0, -1.0, float("inf"), float("nan")):
        with pytest.raises(ValueError):
            ivit.x0_from_scale(bad)


def test_dyadic_from_float_round_trip():
    ratios = list(np.exp(rng.uniform(math.log(2**-32), math.log(2**30), 3000)))
    ratios += [1.0, 0.5, 2.0**-33 * 1.5, 2.0**30 * 1.999, 1 / 3, 0.1, 2.0**-20]
    for ratio in ratios:
        m, s = ivit.dyadic_from_float(ratio)
        assert isinstance(m, int) and isinstance(s, int)
        assert 2**30 <= m < 2**31 and 0 <= s < 64
        assert abs(Fraction(m, 2**s) - Fraction(ratio)) <= Fraction(ratio) * Fraction(1, 2**31)


def test_dyadic_from_float_half_up_and_normalisation():
    # mantissa * 2**31 exactly half-way: rounds up
    ratio = (2**30 + 0.5) / 2**31                       # frexp mantissa, exponent 0
    assert ivit.dyadic_from_float(ratio) == (2**30 + 1, 31)
    # mantissa rounds up to 2**31: halved, shift decremented
    assert ivit.dyadic_from_float(1 - 2.0**-40) == (2**30, 30)
    # ... also at the bottom of the shift range, where it makes s = 63 representable
    assert ivit.dyadic_from_float(2.0**-33 * (1 - 2.0**-45)) == (2**30, 63)


@pytest.mark.parametrize("ratio", [0.0, -1.0, float("inf"), float("nan"), 2.0**31,
                                   2.0**31 * (1 - 2.0**-40), 2.0**-34, 1e-30])
def test_dyadic_from_float_rejects(ratio):
    with pytest.raises(ValueError):
        ivit.dyadic_from_float(ratio)


# -- accuracy against float (figures quoted in the ivit docstring) -------------------------------

ROWS = 2000


def err_stats(got, ref):
    err = (got - ref).abs()
    return err.mean().item(), err.max().item()


@pytest.mark.parametrize("length,mean_bound,max_bound", [(64, 0.0030, 0.026), (16, 0.0045, 0.030)])
def test_shiftmax_accuracy(length, mean_bound, max_bound):
    g = torch.Generator().manual_seed(0)
    scale = 1 / 16
    z = torch.randn(ROWS, length, generator=g, dtype=torch.float64) * 2.0
    x = torch.round(z / scale).to(torch.int64)
    y = ivit.shiftmax(x, ivit.x0_from_scale(scale), out_bits=8).double() / 2**7
    mean, mx = err_stats(y, torch.softmax(x.double() * scale, dim=-1))
    assert mean < mean_bound and mx < max_bound, (mean, mx)
    assert (y.sum(-1) <= 1).all() and (y.sum(-1) > 0.7).all()


def test_shiftgelu_accuracy():
    g = torch.Generator().manual_seed(1)
    scale = 1 / 32
    x0 = ivit.x0_from_scale(1.702 * scale)
    assert x0 == -19
    p = torch.randint(-128, 128, (ROWS, 64), generator=g)
    xr = p.double() * scale
    y = ivit.shiftgelu(p, x0).double() * scale / 2**7
    mean, mx = err_stats(y, F.gelu(xr))
    assert mean < 0.025 and mx < 0.28, (mean, mx)
    mean, mx = err_stats(y, xr * torch.sigmoid(1.702 * xr))
    assert mean < 0.020 and mx < 0.28, (mean, mx)
    pn = torch.randint(-128, 0, (ROWS, 64), generator=g)
    xr = pn.double() * scale
    mean, mx = err_stats(ivit.shiftgelu(pn, x0).double() * scale / 2**7, F.gelu(xr))
    assert mean < 0.010 and mx < 0.05, (mean, mx)


def _layernorm_rows(std_lo, std_hi, c=64):
    g = torch.Generator().manual_seed(2)
    mu = torch.rand(ROWS, 1, generator=g, dtype=torch.float64) * 2000 - 1000
    log_std = torch.rand(ROWS, 1, generator=g, dtype=torch.float64)
    std = torch.exp(log_std * (math.log(std_hi) - math.log(std_lo)) + math.log(std_lo))
    z = torch.randn(ROWS, c, generator=g, dtype=torch.float64)
    return torch.round(mu + std * z).clamp(-32768, 32767).to(torch.int64)


@pytest.mark.parametrize("sqrt,std_lo,std_hi,mean_bound,max_bound", [
    ("exact", 16, 4096, 0.0036, 0.052),
    ("ivit", 16, 4096, 0.0040, 0.28),
    ("exact", 4, 16, 0.045, 0.24),
    ("ivit", 4, 16, 0.26, 2.6),
])
def test_layernorm_accuracy(sqrt, std_lo, std_hi, mean_bound, max_bound):
    c = 64
    x = _layernorm_rows(std_lo, std_hi, c)
    y = ivit.layernorm(x, sqrt=sqrt).double() * math.sqrt(c) / 2**30
    xd = x.double()
    ref = F.layer_norm(xd, (c,), eps=0.0)
    mean, mx = err_stats(y, ref)
    assert mean < mean_bound and mx < max_bound, (mean, mx)


def test_layernorm_bias_is_at_output_scale():
    c = 32
    x = _layernorm_rows(64, 1024, c)[:200]
    beta = torch.linspace(-2, 2, c, dtype=torch.float64)
    scale = math.sqrt(c) / 2**30
    bias_int = torch.round(beta / scale).to(torch.int64)
    y = ivit.layernorm(x, bias_int).double() * scale
    ref = F.layer_norm(x.double(), (c,), bias=beta, eps=0.0)
    assert (y - ref).abs().max().item() < 0.05


def test_shiftgelu_sig_exceeds_127_when_the_sum_saturates():
    # |x0| > 256: e = |x0| << 23 alone exceeds 2**31 - 1, the factor is 1 and sig = |x0| >> 1
    p = t([[127, 0, -5]])
    got = ivit.shiftgelu(p, -300).tolist()
    assert got == [py_shiftgelu([127, 0, -5], -300)]
    assert got[0][0] == 127 * 150 > 127 * 127
