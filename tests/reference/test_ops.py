"""sw_reference.ops against independent formulations (numpy, float64 torch, Python big ints)."""

import itertools

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from hypothesis import given, settings, strategies as st

from sw_reference import ops

I64 = torch.int64
rng = np.random.default_rng(1234)


def t(a):
    return torch.tensor(np.asarray(a, dtype=np.int64))


def pm1(*shape):
    return rng.choice(np.array([-1, 1], dtype=np.int64), size=shape)


def py_round_shift(p: int, s: int) -> int:
    """docs/design/numbers.md, literally, in Python's unbounded integers."""
    return p if s == 0 else (p + (1 << (s - 1))) >> s


# -- dtype discipline ---------------------------------------------------------------------------

@pytest.mark.parametrize("call", [
    lambda x: ops.dense(x, t([[1, 2]])),
    lambda x: ops.binary_dense(x, t([[1, -1]])),
    lambda x: ops.conv2d(x.reshape(1, 1, 1, 2), t(np.ones((1, 1, 1, 1)))),
    lambda x: ops.threshold(x, t([[0]])),
    lambda x: ops.requant(x, t([1]), t([0]), t([0]), -8, 7),
    lambda x: ops.dyadic(x, 1, 0),
    lambda x: ops.maxpool2d(x.reshape(1, 1, 1, 2), 1),
    lambda x: ops.flatten(x),
    lambda x: ops.argmax(x),
    lambda x: ops.add([x], t([1]), t([0]), t([0]), -8, 7),
    lambda x: ops.matmul(x.reshape(1, 1, 2), x.reshape(1, 2, 1)),
])
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64, torch.int32, torch.int8])
def test_rejects_non_int64(call, dtype):
    x = torch.tensor([[1, 2]], dtype=dtype)
    with pytest.raises(TypeError, match="int64"):
        call(x)


def test_rejects_float_weights_and_params():
    x = t([[1, 2]])
    with pytest.raises(TypeError):
        ops.dense(x, torch.ones(1, 2))
    with pytest.raises(TypeError):
        ops.requant(x, np.array([1.5]), t([0]), t([0]), -8, 7)


# -- binary_dense / dense -----------------------------------------------------------------------

def xnor_popcount(x, w):
    """Bit-packed XNOR-popcount (bit 1 = +1) in Python ints: 2*popcount(xnor) - K."""
    k = x.shape[1]
    mask = (1 << k) - 1
    pack = lambda row: sum(1 << i for i, v in enumerate(row) if v == 1)
    xs = [pack(r) for r in x]
    ws = [pack(r) for r in w]
    return np.array([[2 * bin(~(a ^ b) & mask).count("1") - k for b in ws] for a in xs])


@pytest.mark.parametrize("n,k,m", [(1, 1, 1), (5, 64, 10), (3, 100, 7), (8, 257, 33)])
def test_binary_dense_matches_matmul_and_xnor_popcount(n, k, m):
    x, w = pm1(n, k), pm1(m, k)
    y = ops.binary_dense(t(x), t(w))
    assert y.dtype == I64 and y.shape == (n, m)
    np.testing.assert_array_equal(y.numpy(), x @ w.T)
    np.testing.assert_array_equal(y.numpy(), xnor_popcount(x, w))


def test_binary_dense_general_integer_input():
    x = rng.integers(0, 256, (4, 20))
    w = pm1(6, 20)
    np.testing.assert_array_equal(ops.binary_dense(t(x), t(w)).numpy(), x @ w.T)


def test_binary_dense_rejects_non_binary_weights():
    with pytest.raises(ValueError, match="-1/\\+1"):
        ops.binary_dense(t(pm1(2, 4)), t([[1, 0, 1, -1]]))


def test_dense_exact_with_bias_and_token_axis():
    x = rng.integers(-128, 128, (3, 5, 16))          # [N, T, C]
    w = rng.integers(-128, 128, (7, 16))
    b = rng.integers(-2**31, 2**31, (7,))
    y = ops.dense(t(x), t(w), t(b))
    assert y.shape == (3, 5, 7)
    expect = np.einsum("ntc,mc->ntm", x.astype(object), w.astype(object)) + b.astype(object)
    np.testing.assert_array_equal(y.numpy().astype(object), expect)
    with pytest.raises(ValueError, match="does not match"):
        ops.dense(t(x), t(w[:, :15]))


# -- conv2d -------------------------------------------------------------------------------------

def float_conv(x, w, b, stride, padding, pad_value):
    xd = F.pad(torch.tensor(x, dtype=torch.float64), (padding,) * 4, value=float(pad_value))
    y = F.conv2d(xd, torch.tensor(w, dtype=torch.float64),
                 None if b is None else torch.tensor(b, dtype=torch.float64), stride=stride)
    return y.numpy()


@pytest.mark.parametrize("k,stride,padding,pad_value,bias", [
    (1, 1, 0, 0, False), (3, 1, 1, 0, True), (3, 2, 1, 0, False), (2, 2, 0, 0, True),
    (3, 1, 2, 5, False), (5, 3, 2, -3, True), (3, 2, 1, -1, False),
])
def test_conv2d_matches_float64_conv(k, stride, padding, pad_value, bias):
    x = rng.integers(-128, 128, (2, 3, 9, 7))
    w = rng.integers(-8, 8, (4, 3, k, k))
    b = rng.integers(-1000, 1000, (4,)) if bias else None
    y = ops.conv2d(t(x), t(w), None if b is None else t(b), stride=stride, padding=padding,
                   pad_value=pad_value)
    assert y.dtype == I64
    np.testing.assert_array_equal(y.numpy(), float_conv(x, w, b, stride, padding, pad_value))


@pytest.mark.parametrize("stride,padding", [(1, 0), (1, 1), (2, 1)])
def test_binary_conv2d_pads_with_minus_one(stride, padding):
    x, w = pm1(2, 4, 6, 6), pm1(5, 4, 3, 3)
    y = ops.binary_conv2d(t(x), t(w), stride=stride, padding=padding)
    np.testing.assert_array_equal(y.numpy(), float_conv(x, w, None, stride, padding, -1))
    if padding:
        assert not np.array_equal(y.numpy(), float_conv(x, w, None, stride, padding, 0))


def test_conv2d_shape_errors():
    with pytest.raises(ValueError, match="does not match"):
        ops.conv2d(t(np.zeros((1, 2, 4, 4))), t(np.zeros((1, 3, 3, 3))))
    with pytest.raises(ValueError, match="larger"):
        ops.conv2d(t(np.zeros((1, 1, 2, 2))), t(np.zeros((1, 1, 3, 3))))


# -- threshold ----------------------------------------------------------------------------------

def loop_threshold(x, thr, axis):
    x = np.moveaxis(x, axis, -1)
    y = np.zeros_like(x)
    for idx in np.ndindex(x.shape):
        row = thr[idx[-1] if thr.shape[0] > 1 else 0]
        y[idx] = sum(1 for tj in row if x[idx] >= tj)
    return np.moveaxis(y, -1, axis)


@pytest.mark.parametrize("shape,axis,rows", [((4, 6), -1, 6), ((4, 6), -1, 1),
                                             ((2, 3, 4, 5), 1, 3), ((2, 5, 3), -1, 3)])
@pytest.mark.parametrize("bits", [2, 4])
def test_threshold_matches_loop(shape, axis, rows, bits):
    x = rng.integers(-40, 40, shape)
    thr = np.sort(rng.integers(-30, 30, (rows, 2**bits - 1)), axis=1)
    y = ops.threshold(t(x), t(thr), channel_axis=axis)
    np.testing.assert_array_equal(y.numpy(), loop_threshold(x, thr, axis))
    assert int(y.min()) >= 0 and int(y.max()) <= 2**bits - 1


def test_threshold_binary_out():
    x = rng.integers(-10, 10, (3, 4, 5, 5))
    thr = rng.integers(-3, 3, (4, 1))
    y = ops.threshold(t(x), t(thr), channel_axis=1, binary_out=True).numpy()
    expect = np.where(x >= thr.reshape(1, 4, 1, 1), 1, -1)
    np.testing.assert_array_equal(y, expect)
    # x exactly at the threshold is +1
    assert ops.threshold(t([[0]]), t([[0]]), binary_out=True).item() == 1
    with pytest.raises(ValueError, match="one threshold"):
        ops.threshold(t(x), t(np.zeros((4, 3))), channel_axis=1, binary_out=True)
    with pytest.raises(ValueError, match="rows"):
        ops.threshold(t(x), t(np.zeros((3, 1))), channel_axis=1)


# -- dyadic / requant ---------------------------------------------------------------------------

def test_round_shift_identity_near_int64_limits():
    """((p >> (s-1)) + 1) >> 1 == (p + 2**(s-1)) >> s, even where p + 2**(s-1) would wrap."""
    limit = 2**63 - 2
    for p in [limit, -limit, limit - 1, -limit + 1, 2**62, -2**62, 2**62 + 2**61, 0, 1, -1]:
        x = t([p])
        for s in range(64):
            assert ops.dyadic(x, 1, s).item() == py_round_shift(p, s), (p, s)


def test_dyadic_random_against_big_ints():
    n = 4000
    m = rng.integers(1, 2**31, n)
    s = rng.integers(0, 64, n)
    lim = (2**63 - 2) // m
    x = np.array([int(rng.integers(-l, l + 1)) for l in lim], dtype=np.int64)
    x[:500] = rng.integers(-2**20, 2**20, 500)   # small values: exercise rounding with big shifts
    y = ops.dyadic(t(x), t(m), t(s)).numpy()
    expect = [py_round_shift(int(a) * int(b), int(c)) for a, b, c in zip(x, m, s)]
    assert y.tolist() == expect


def test_dyadic_half_way_points_round_up():
    cases = []
    for s in [1, 2, 5, 17, 31, 40, 62, 63]:
        for k in [-3, -2, -1, 0, 1, 2, 3, 2**(62 - s) - 1 if s < 62 else 0]:
            p = k * (1 << s) + (1 << (s - 1))          # exactly half-way between k and k+1
            if abs(p) <= 2**63 - 2:
                cases.append((p, s))
    x = t([p for p, _ in cases])
    s = t([s for _, s in cases])
    y = ops.dyadic(x, 1, s).tolist()
    for (p, sh), got in zip(cases, y):
        assert got == (p >> sh) + 1 == py_round_shift(p, sh), (p, sh)   # half-up, both signs


def py_round_mode(p: int, s: int, rounding: str) -> int:
    """docs/design/numbers.md's three formulas, literally, in Python's unbounded integers."""
    if s == 0:
        return p
    if rounding == "half_up":
        return (p + (1 << (s - 1))) >> s
    if rounding == "half_even":
        return (p + (1 << (s - 1)) - 1 + ((p >> s) & 1)) >> s
    return p >> s


@pytest.mark.parametrize("rounding, want", [
    ("half_up", [-3, -3, -2, -2, -1, -1, 0, 0, 1, 1, 2, 2, 3]),
    ("half_even", [-4, -3, -2, -2, -2, -1, 0, 0, 0, 1, 2, 2, 2]),
    ("floor", [-4, -3, -3, -2, -2, -1, -1, 0, 0, 1, 1, 2, 2]),
])
def test_dyadic_rounding_modes_at_half_way_points(rounding, want):
    """x/2 for x = -7..5: every odd x is a tie (-3.5 .. 2.5); half_even matches np.round."""
    x = t(list(range(-7, 6)))
    assert ops.dyadic(x, 1, 1, rounding).tolist() == want
    if rounding == "half_even":
        assert want == np.round(np.arange(-7, 6) / 2).astype(int).tolist()
    if rounding == "floor":
        assert want == np.floor(np.arange(-7, 6) / 2).astype(int).tolist()


@pytest.mark.parametrize("rounding", ["half_up", "half_even", "floor"])
def test_dyadic_rounding_modes_against_big_ints(rounding):
    """Random products, ties of both parities and signs, and values near the int64 limits."""
    n = 3000
    m = rng.integers(1, 2**31, n)
    s = rng.integers(0, 64, n)
    lim = (2**63 - 2) // m
    x = np.array([int(rng.integers(-l, l + 1)) for l in lim], dtype=np.int64)
    x[:500] = rng.integers(-2**20, 2**20, 500)
    y = ops.dyadic(t(x), t(m), t(s), rounding).tolist()
    assert y == [py_round_mode(int(a) * int(b), int(c), rounding) for a, b, c in zip(x, m, s)]
    ties, shifts = [], []
    for sh in [1, 2, 3, 17, 31, 62, 63]:
        for k in [-4, -3, -2, -1, 0, 1, 2, 3, 2**(62 - sh) - 1 if sh < 62 else 0]:
            p = k * (1 << sh) + (1 << (sh - 1))
            if abs(p) <= 2**63 - 2:
                ties += [p, p - 1, p + 1]
                shifts += [sh] * 3
    for p in [2**63 - 2, -(2**63 - 2), 2**62, -2**62]:
        ties += [p] * 64
        shifts += list(range(64))
    y = ops.dyadic(t(ties), 1, t(shifts), rounding).tolist()
    assert y == [py_round_mode(p, sh, rounding) for p, sh in zip(ties, shifts)]


def test_requant_and_add_take_the_rounding_mode():
    x = t([[-5, -3, -1, 1, 3, 5]])
    assert ops.requant(x, t([1]), t([1]), t([0]), -8, 7, rounding="half_even").tolist() == \
        [[-2, -2, 0, 0, 2, 2]]
    assert ops.requant(x, t([1]), t([1]), t([0]), -8, 7, rounding="floor").tolist() == \
        [[-3, -2, -1, 0, 1, 2]]
    assert ops.add([x, x], t([1, 1]), t([1, 1]), 0, -8, 7, rounding="half_even").tolist() == \
        [[-4, -4, 0, 0, 4, 4]]
    with pytest.raises(ValueError, match="rounding must be one of half_up, half_even, floor"):
        ops.dyadic(x, 1, 1, "nearest")


def test_dyadic_shift_zero_adds_no_rounding_term():
    x = t([-7, -1, 0, 1, 7, 123456789])
    assert ops.dyadic(x, 3, 0).tolist() == [-21, -3, 0, 3, 21, 370370367]


def test_dyadic_extreme_multiplier_and_shift():
    m = 2**31 - 1
    lim = (2**63 - 2) // m
    xs = [lim, -lim, lim - 12345, -1, 1, 0, 2**31, -2**31]
    for s in [0, 1, 31, 62, 63]:
        y = ops.dyadic(t(xs), m, s).tolist()
        assert y == [py_round_shift(v * m, s) for v in xs]


def test_dyadic_overflow_and_range_errors():
    with pytest.raises(OverflowError):
        ops.dyadic(t([2**62]), 2, 1)
    with pytest.raises(OverflowError):
        ops.dyadic(t([-(2**32 + 3)]), 2**31 - 1, 0)
    with pytest.raises(ValueError, match="multipliers"):
        ops.dyadic(t([1]), 2**31, 1)
    with pytest.raises(ValueError, match="multipliers"):
        ops.dyadic(t([1]), 0, 1)
    with pytest.raises(ValueError, match="shifts"):
        ops.dyadic(t([1]), 1, 64)
    with pytest.raises(ValueError, match="shifts"):
        ops.dyadic(t([1]), 1, -1)


@settings(max_examples=300, deadline=None)
@given(st.data())
def test_dyadic_property(data):
    m = data.draw(st.integers(1, 2**31 - 1))
    s = data.draw(st.integers(0, 63))
    lim = (2**63 - 2) // m
    x = data.draw(st.integers(-lim, lim))
    assert ops.dyadic(t([x]), m, s).item() == py_round_shift(x * m, s)


def py_requant(x, m, s, zp, lo, hi):
    return min(max(py_round_shift(x * m, s) + zp, lo), hi)


@pytest.mark.parametrize("shape,axis", [((50, 8), -1), ((6, 8, 3, 3), 1), ((5, 4, 8), -1)])
def test_requant_per_channel_against_big_ints(shape, axis):
    x = rng.integers(-2**12, 2**12, shape)
    m = rng.integers(2**28, 2**31, 8)
    s = rng.integers(34, 39, 8)                      # gains 2**-10 .. 2**-3: in range and saturated
    m[0], s[0] = 1, 0                                # one channel without rounding term
    zp = rng.integers(-5, 6, 8)
    lo, hi = -128, 127
    y = ops.requant(t(x), t(m), t(s), t(zp), lo, hi, channel_axis=axis).numpy()
    xc = np.moveaxis(x, axis, -1)
    expect = np.empty_like(xc)
    for idx in np.ndindex(xc.shape):
        c = idx[-1]
        expect[idx] = py_requant(int(xc[idx]), int(m[c]), int(s[c]), int(zp[c]), lo, hi)
    np.testing.assert_array_equal(y, np.moveaxis(expect, -1, axis))
    assert (y == lo).any() and (y == hi).any() and ((y > lo) & (y < hi)).any()


def test_requant_per_tensor_and_saturation():
    x = t([[-10**9, -300, -2, 0, 2, 300, 10**9]])
    y = ops.requant(x, t([2**30]), t([31]), t([3]), 0, 255)     # x/2 + 3, unsigned 8 bit
    assert y.tolist() == [[0, 0, 2, 3, 4, 153, 255]]
    with pytest.raises(ValueError, match="entries"):
        ops.requant(x, t([1, 2]), t([0]), t([0]), 0, 255)
    with pytest.raises(ValueError, match="empty"):
        ops.requant(x, t([1]), t([0]), t([0]), 5, 4)


# -- add ----------------------------------------------------------------------------------------

def test_add_against_big_ints():
    xs = [rng.integers(-2**20, 2**20, (40, 6)) for _ in range(3)]
    m = rng.integers(1, 2**31, 3)
    s = rng.integers(0, 50, 3)
    zp, lo, hi = -4, -128, 127
    y = ops.add([t(x) for x in xs], t(m), t(s), t([zp]), lo, hi).numpy()
    for idx in np.ndindex(y.shape):
        total = sum(py_round_shift(int(x[idx]) * int(mi), int(si)) for x, mi, si in zip(xs, m, s))
        assert y[idx] == min(max(total + zp, lo), hi)


def test_add_errors():
    a, b = t(np.zeros((2, 3))), t(np.zeros((2, 4)))
    with pytest.raises(ValueError, match="shape"):
        ops.add([a, b], t([1, 1]), t([0, 0]), t([0]), -8, 7)
    with pytest.raises(ValueError, match="multipliers"):
        ops.add([a, a], t([1]), t([0]), t([0]), -8, 7)


def test_add_const_per_element():
    x = rng.integers(-2**31, 2**31, (5, 4, 3))
    values = rng.integers(-2**31, 2**31, (4, 3))
    y = ops.add_const(t(x), values).numpy()
    for idx in np.ndindex(y.shape):
        assert y[idx] == int(x[idx]) + int(values[idx[1:]])
    with pytest.raises(ValueError, match=r"values \[3\] must have the sample's shape \[4, 3\]"):
        ops.add_const(t(x), values[0])
    with pytest.raises(TypeError, match="values must hold integers"):
        ops.add_const(t(x), values.astype(float))


# -- maxpool / flatten / argmax -----------------------------------------------------------------

@pytest.mark.parametrize("shape,k", [((2, 3, 8, 8), 2), ((1, 2, 7, 9), 2), ((2, 1, 9, 10), 3),
                                     ((1, 1, 4, 4), 1), ((1, 2, 5, 5), 5)])
def test_maxpool_matches_torch(shape, k):
    x = rng.integers(-1000, 1000, shape)
    expect = F.max_pool2d(torch.tensor(x, dtype=torch.float64), k).numpy()
    np.testing.assert_array_equal(ops.maxpool2d(t(x), k).numpy(), expect)


def test_maxpool_is_or_on_binary_data():
    x = pm1(3, 4, 6, 6)
    y = ops.maxpool2d(t(x), 2).numpy()
    bits = (x == 1).reshape(3, 4, 3, 2, 3, 2).any(axis=(3, 5))
    np.testing.assert_array_equal(y, np.where(bits, 1, -1))


def test_flatten_is_pytorch_order():
    x = rng.integers(-9, 9, (2, 3, 4, 5))
    np.testing.assert_array_equal(ops.flatten(t(x)).numpy(),
                                  torch.flatten(torch.tensor(x), 1).numpy())


def test_argmax_ties_go_to_lowest_index():
    x = t([[1, 5, 5, 2], [7, 7, 7, 7], [0, -1, 0, -1], [-3, -2, -1, -1], [4, 0, 0, 4]])
    assert ops.argmax(x).tolist() == [1, 0, 0, 2, 0]
    big = rng.integers(0, 3, (500, 10))                # many ties
    expect = [min(i for i, v in enumerate(row) if v == row.max()) for row in big]
    assert ops.argmax(t(big)).tolist() == expect
    assert ops.argmax(t(big)).tolist() == torch.argmax(t(big), dim=-1).tolist()  # torch agrees


# -- matmul -------------------------------------------------------------------------------------

@pytest.mark.parametrize("heads", [1, 2, 4])
def test_matmul_per_head_against_numpy_loops(heads):
    n, tk, d = 2, 5, 3
    q = rng.integers(-128, 128, (n, tk, heads * d))
    k = rng.integers(-128, 128, (n, tk, heads * d))
    p = rng.integers(0, 128, (n, tk, heads * tk))
    scores = ops.matmul(t(q), t(k), transpose_b=True, heads=heads).numpy()
    av = ops.matmul(t(p), t(k), heads=heads).numpy()
    assert scores.shape == (n, tk, heads * tk) and av.shape == (n, tk, heads * d)
    for b, h, i in itertools.product(range(n), range(heads), range(tk)):
        for j in range(tk):
            dot = sum(int(q[b, i, h * d + c]) * int(k[b, j, h * d + c]) for c in range(d))
            assert scores[b, i, h * tk + j] == dot
        for c in range(d):
            dot = sum(int(p[b, i, h * tk + j]) * int(k[b, j, h * d + c]) for j in range(tk))
            assert av[b, i, h * d + c] == dot


def test_matmul_shape_errors():
    a = t(np.zeros((1, 4, 6)))
    with pytest.raises(ValueError, match="heads"):
        ops.matmul(a, a, transpose_b=True, heads=4)
    with pytest.raises(ValueError, match="rows of b"):
        ops.matmul(a, t(np.zeros((1, 5, 6))), heads=2)
