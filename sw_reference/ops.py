"""Integer-exact functional ops of the golden model (docs/design/numbers.md and operators.md).

Every function takes and returns ``torch.int64`` tensors with a leading batch
axis ``N`` and raises :class:`TypeError` for any other dtype: nothing in here
is ever computed in floating point, so the results are exact integers that
the hardware must reproduce bit for bit.

Integer parameters (multipliers, shifts, zero points) may be given as int64
tensors, numpy integer arrays or Python ints; floats are refused.

Conventions
-----------
* Binary tensors hold -1/+1 (never 0/1).
* Per-channel parameters have shape ``[C]`` or ``[1]`` (broadcast) and are
  laid along ``channel_axis`` of the batched tensor: axis 1 for
  ``[N, C, H, W]`` feature maps, the last axis otherwise
  (:attr:`hwgen.spec.TensorType.channel_axis`).
* ``>>`` on int64 tensors is an arithmetic (floor) shift; floor division is
  always spelled ``torch.div(..., rounding_mode="floor")``.
* Where an int64 intermediate could wrap around, the op checks its operands
  and raises :class:`OverflowError` instead of returning a wrong value.
"""

from __future__ import annotations

import numpy as np
import torch


_INT64_MAX = (1 << 63) - 1


# -- argument helpers ---------------------------------------------------------------------------

def _check_int64(name: str, x) -> torch.Tensor:
    if not isinstance(x, torch.Tensor):
        raise TypeError(f"{name} must be an int64 torch tensor, not {type(x).__name__}")
    if x.dtype != torch.int64:
        raise TypeError(f"{name} must be an int64 torch tensor, not {x.dtype}")
    return x


def _as_param(name: str, value) -> torch.Tensor:
    """An integer parameter as an int64 tensor (ints, integer numpy arrays, int64 tensors)."""
    if isinstance(value, torch.Tensor):
        return _check_int64(name, value)
    if isinstance(value, (bool, np.bool_)):
        raise TypeError(f"{name} must be an integer, not {value!r}")
    if isinstance(value, (int, np.integer)):
        return torch.tensor(int(value), dtype=torch.int64)
    array = np.asarray(value)
    if array.dtype.kind not in "iu":
        raise TypeError(f"{name} must hold integers, not {array.dtype}")
    return torch.tensor(array.astype(np.int64))


def _int(name: str, value, minimum: int | None = None) -> int:
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, np.integer)):
        raise TypeError(f"{name} must be an integer, not {value!r}")
    value = int(value)
    if minimum is not None and value < minimum:
        raise ValueError(f"{name} must be at least {minimum}, not {value!r}")
    return value


def _channel_view(name: str, param: torch.Tensor, ndim: int, channel_axis: int,
                  channels: int) -> torch.Tensor:
    """Reshape a ``[C]``/``[1]``/scalar parameter so it broadcasts along ``channel_axis``."""
    param = param.reshape(-1)
    axis = channel_axis % ndim
    if param.numel() not in (1, channels):
        raise ValueError(f"{name} must have 1 or {channels} entries (channel axis {channel_axis}), "
                         f"not {param.numel()}")
    shape = [1] * ndim
    shape[axis] = param.numel()
    return param.reshape(shape)


def _check_pm1(name: str, w: torch.Tensor):
    if not bool(((w == 1) | (w == -1)).all()):
        bad = w[(w != 1) & (w != -1)][0].item()
        raise ValueError(f"{name} must hold only -1/+1, found {bad}")


# -- multiply-accumulate ------------------------------------------------------------------------

def dense(x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None = None) -> torch.Tensor:
    """Integer fully connected layer: ``y[..., m] = sum_k x[..., k] * weight[m, k] + bias[m]``.

    Parameters
    ----------
    x : int64 [N, K] (or [N, ..., K]: applied to the last axis, e.g. [N, T, C] tokens)
    weight : int64 [M, K]
    bias : int64 [M] or None

    Returns int64 [N, M] (or [N, ..., M]).
    """
    _check_int64("x", x)
    _check_int64("weight", weight)
    if weight.ndim != 2 or x.ndim < 2 or x.shape[-1] != weight.shape[1]:
        raise ValueError(f"dense: x {list(x.shape)} does not match weight {list(weight.shape)} "
                         f"(want x [N, ..., K], weight [M, K])")
    y = torch.matmul(x, weight.t())
    if bias is not None:
        _check_int64("bias", bias)
        if bias.shape != (weight.shape[0],):
            raise ValueError(f"bias must have shape [{weight.shape[0]}], not {list(bias.shape)}")
        y = y + bias
    return y


def binary_dense(x: torch.Tensor, weight: torch.Tensor) -> torch.Tensor:
    """XNOR-popcount layer: ``s[n, m] = sum_k x[n, k] * weight[m, k]``.

    For ``x`` in {-1,+1} this equals ``2 * popcount(xnor(x, w)) - K`` (matches
    count +1, mismatches -1). ``x`` may also hold general integers (a first
    layer fed with integer pixels); ``weight`` must be -1/+1.

    Parameters
    ----------
    x : int64 [N, K] (or [N, ..., K])
    weight : int64 [M, K] in {-1, +1}

    Returns int64 [N, M] in [-K, K].
    """
    _check_int64("weight", weight)
    _check_pm1("binary_dense weight", weight)
    return dense(x, weight)


def conv2d(x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None = None,
           stride: int = 1, padding: int = 0, pad_value: int = 0) -> torch.Tensor:
    """Integer 2-D convolution (cross-correlation, as ``torch.nn.functional.conv2d``).

    Implemented as im2col (strided slices of the padded input) followed by one
    int64 matmul, so it is exact for any integer data; ``padding`` adds
    ``padding`` rows/columns of ``pad_value`` on every side.

    Parameters
    ----------
    x : int64 [N, C, H, W]
    weight : int64 [M, C, kh, kw]
    bias : int64 [M] or None
    stride, padding : int
    pad_value : int      0 for integer layers, -1 for binary ones

    Returns int64 [N, M, Ho, Wo] with ``Ho = (H + 2*padding - kh) // stride + 1``.
    """
    _check_int64("x", x)
    _check_int64("weight", weight)
    stride = _int("stride", stride, 1)
    padding = _int("padding", padding, 0)
    pad_value = _int("pad_value", pad_value)
    if x.ndim != 4 or weight.ndim != 4 or x.shape[1] != weight.shape[1]:
        raise ValueError(f"conv2d: x {list(x.shape)} does not match weight {list(weight.shape)} "
                         f"(want x [N, C, H, W], weight [M, C, kh, kw])")
    n, c, h, w = x.shape
    m, _, kh, kw = weight.shape
    if padding:
        xp = x.new_full((n, c, h + 2 * padding, w + 2 * padding), pad_value)
        xp[:, :, padding:padding + h, padding:padding + w] = x
    else:
        xp = x
    hp, wp = xp.shape[2], xp.shape[3]
    if hp < kh or wp < kw:
        raise ValueError(f"conv2d: kernel {kh}x{kw} larger than padded input {hp}x{wp}")
    ho = (hp - kh) // stride + 1
    wo = (wp - kw) // stride + 1
    # patches[n, c, i*kw + j, oy, ox] = xp[n, c, oy*stride + i, ox*stride + j]
    cols = [xp[:, :, i:i + stride * (ho - 1) + 1:stride, j:j + stride * (wo - 1) + 1:stride]
            for i in range(kh) for j in range(kw)]
    patches = torch.stack(cols, dim=2).reshape(n, c * kh * kw, ho * wo)
    y = torch.matmul(weight.reshape(m, c * kh * kw), patches).reshape(n, m, ho, wo)
    if bias is not None:
        _check_int64("bias", bias)
        if bias.shape != (m,):
            raise ValueError(f"bias must have shape [{m}], not {list(bias.shape)}")
        y = y + bias.reshape(1, m, 1, 1)
    return y


def binary_conv2d(x: torch.Tensor, weight: torch.Tensor, stride: int = 1,
                  padding: int = 0) -> torch.Tensor:
    """XNOR-popcount convolution: :func:`conv2d` with -1/+1 weights, padding with -1."""
    _check_int64("weight", weight)
    _check_pm1("binary_conv2d weight", weight)
    return conv2d(x, weight, None, stride=stride, padding=padding, pad_value=-1)


def matmul(a: torch.Tensor, b: torch.Tensor, transpose_b: bool = False,
           heads: int = 1) -> torch.Tensor:
    """Activation x activation product, per attention head.

    The last axis of each operand is split into ``heads`` equal groups; head
    ``h`` computes ``a_h @ b_h`` (or ``a_h @ b_h^T`` when ``transpose_b``) and
    the head outputs are concatenated along the last axis.

    Parameters
    ----------
    a : int64 [N, M, H*Ka]
    b : int64 [N, R, H*Kb]
    transpose_b : bool   QK^T: a = Q [N, T, H*D], b = K [N, T, H*D] -> [N, T, H*T]
                         AV:   a = P [N, T, H*T], b = V [N, T, H*D] -> [N, T, H*D]
    heads : int

    Returns int64 [N, M, H*out] with out = R (transpose_b) or Kb.
    """
    _check_int64("a", a)
    _check_int64("b", b)
    heads = _int("heads", heads, 1)
    if a.ndim != 3 or b.ndim != 3 or a.shape[0] != b.shape[0]:
        raise ValueError(f"matmul: want a [N, M, H*Ka] and b [N, R, H*Kb], "
                         f"not {list(a.shape)} and {list(b.shape)}")
    if a.shape[2] % heads or b.shape[2] % heads:
        raise ValueError(f"matmul: heads={heads} must divide the last axes "
                         f"{a.shape[2]} and {b.shape[2]}")
    n, m, _ = a.shape
    r = b.shape[1]
    ka, kb = a.shape[2] // heads, b.shape[2] // heads
    ah = a.reshape(n, m, heads, ka).permute(0, 2, 1, 3)      # [N, H, M, Ka]
    bh = b.reshape(n, r, heads, kb).permute(0, 2, 1, 3)      # [N, H, R, Kb]
    if transpose_b:
        if ka != kb:
            raise ValueError(f"matmul (transpose_b): per-head widths differ, {ka} != {kb}")
        y = torch.matmul(ah, bh.transpose(2, 3))            # [N, H, M, R]
    else:
        if ka != r:
            raise ValueError(f"matmul: per-head width of a ({ka}) must equal rows of b ({r})")
        y = torch.matmul(ah, bh)                            # [N, H, M, Kb]
    return y.permute(0, 2, 1, 3).reshape(n, m, -1)


# -- activations --------------------------------------------------------------------------------

def threshold(x: torch.Tensor, thresholds: torch.Tensor, channel_axis: int = -1,
              binary_out: bool = False) -> torch.Tensor:
    """Multi-threshold activation (FINN Thresholding): ``y = sum_j [x >= T[c, j]]``.

    Parameters
    ----------
    x : int64 [N, ...]
    thresholds : int64 [C, 2**b - 1] or [1, 2**b - 1] (one row shared by all channels);
                 rows are expected sorted ascending (the loader checks), but the
                 count formula does not depend on it
    channel_axis : int   axis of ``x`` that indexes the rows of ``thresholds``
    binary_out : bool    1-bit output: return ``2*y - 1`` (-1/+1; +1 when ``x >= T[c, 0]``);
                         needs exactly one threshold per row

    Returns int64, same shape as ``x``: 0..2**b-1, or -1/+1 when ``binary_out``.
    """
    _check_int64("x", x)
    thresholds = _as_param("thresholds", thresholds)
    if thresholds.ndim != 2:
        raise ValueError(f"thresholds must be [C, 2**bits - 1], not {list(thresholds.shape)}")
    if binary_out and thresholds.shape[1] != 1:
        raise ValueError(f"binary output needs one threshold per channel, "
                         f"not {thresholds.shape[1]}")
    if x.ndim < 2:
        raise ValueError(f"x must have a batch axis and a channel axis, not {list(x.shape)}")
    xc = x.movedim(channel_axis, -1)                           # [..., C]
    channels = xc.shape[-1]
    if thresholds.shape[0] not in (1, channels):
        raise ValueError(f"thresholds have {thresholds.shape[0]} rows, "
                         f"x has {channels} channels on axis {channel_axis}")
    y = (xc.unsqueeze(-1) >= thresholds).sum(dim=-1, dtype=torch.int64)
    if binary_out:
        y = 2 * y - 1
    return y.movedim(-1, channel_axis)


#: rounding modes of the dyadic rescale (docs/design/numbers.md); ``half_up`` is the default
ROUNDING_MODES = ("half_up", "half_even", "floor")


def dyadic(x: torch.Tensor, m, s, rounding: str = "half_up") -> torch.Tensor:
    """Dyadic rescale ``round_s(x*m)``: ``x*m`` divided by ``2**s`` with the ``rounding`` mode.

    ``m`` (``0 < m < 2**31``) and ``s`` (``0 <= s < 64``) are ints or int64
    tensors broadcastable to ``x`` (per-channel values already laid out along
    their axis). With ``p = x*m`` and ``>>`` an arithmetic (floor) shift:

    * ``half_up`` (default, HAWQ-V3): ``(p + (1 << (s-1))) >> s``; halves go up
      for both signs (-2.5 -> -2, 2.5 -> 3);
    * ``half_even`` (ONNX/QONNX ``ROUND``, ``torch.round``):
      ``(p + (1 << (s-1)) - 1 + ((p >> s) & 1)) >> s``; halves go to the even
      neighbour (-2.5 -> -2, -1.5 -> -2, 0.5 -> 0, 1.5 -> 2);
    * ``floor`` (QONNX ``FLOOR``): ``p >> s``.

    With ``s == 0`` every mode returns ``p``.

    No rounding constant is ever added to ``p``: for ``s >= 1`` all three are
    computed from ``a = p >> (s-1)``. Half-up is ``(a + 1) >> 1``. Proof that it
    equals ``floor((p + 2**(s-1)) / 2**s)``: write ``p = a*2**(s-1) + r`` with
    ``0 <= r < 2**(s-1)``. Then ``(p + 2**(s-1)) / 2**s = ((a+1) + f) / 2`` with
    ``f = r / 2**(s-1)`` in ``[0, 1)``. For an integer ``A`` and ``0 <= f < 1``,
    ``floor((A + f)/2) == floor(A/2)``: if ``A = 2b`` the value is ``b + f/2`` in
    ``[b, b + 1/2)``; if ``A = 2b+1`` it is ``b + (1+f)/2`` in ``[b + 1/2, b + 1)``;
    both floor to ``b``. Floor is ``a >> 1`` (a floor of a floor). Half-even
    differs from half-up only on an exact tie, ``r == 0`` with ``a`` odd, where
    it must not go up when ``a >> 1`` (the value rounded down) is even, i.e.
    when ``a & 3 == 1``: then it is ``a >> 1 == (a + 1 - 1) >> 1``. Because
    ``|a| <= |p|``, the only intermediate besides ``p`` is ``a + 1``, so nothing
    wraps where ``p + 2**(s-1)`` would (``p`` near ``2**63``).

    Raises OverflowError if some ``|x*m| > 2**63 - 2`` (``p`` or ``a + 1`` would wrap).
    """
    _check_int64("x", x)
    if rounding not in ROUNDING_MODES:
        raise ValueError(f"rounding must be one of {', '.join(ROUNDING_MODES)}, not {rounding!r}")
    m = _as_param("multiplier", m)
    s = _as_param("shift", s)
    if m.numel() and (bool((m <= 0).any()) or bool((m >= 1 << 31).any())):
        raise ValueError(f"multipliers must be in [1, 2**31 - 1], got {m.reshape(-1).tolist()}")
    if s.numel() and (bool((s < 0).any()) or bool((s >= 64).any())):
        raise ValueError(f"shifts must be in [0, 63], got {s.reshape(-1).tolist()}")
    limit = torch.div(torch.tensor(_INT64_MAX - 1), m, rounding_mode="floor")   # |x| <= limit  <=>  |x*m| <= 2**63-2
    if bool(((x > limit) | (x < -limit)).any()):
        raise OverflowError("dyadic rescale: x * multiplier does not fit in int64")
    p = x * m
    below = (s - 1).clamp(min=0)
    a = p >> below
    if rounding == "floor":
        rounded = a >> 1
    elif rounding == "half_up":
        rounded = (a + 1) >> 1
    else:
        tie_to_even = ((p - (a << below)) == 0) & ((a & 3) == 1)
        rounded = (a + 1 - tie_to_even.to(torch.int64)) >> 1
    return torch.where(s == 0, p, rounded)


def requant(x: torch.Tensor, multiplier, shift, zero_point, lo: int, hi: int,
            channel_axis: int = -1, rounding: str = "half_up") -> torch.Tensor:
    """Requantise: ``clamp(dyadic(x, m, s, rounding) + zp, lo, hi)`` per tensor or per channel.

    Parameters
    ----------
    x : int64 [N, ...]
    multiplier, shift, zero_point : int64 [C] or [1]   (see :func:`dyadic`)
    lo, hi : int            the output type's range
    channel_axis : int      axis of ``x`` the ``[C]`` parameters run along
    rounding : str          ``half_up``, ``half_even`` or ``floor`` (see :func:`dyadic`)

    Returns int64 in ``[lo, hi]``, same shape as ``x``.
    """
    _check_int64("x", x)
    lo, hi = _int("lo", lo), _int("hi", hi)
    if lo > hi:
        raise ValueError(f"empty output range [{lo}, {hi}]")
    if x.ndim < 1:
        raise ValueError("x must have a batch axis")
    channels = x.shape[channel_axis] if x.ndim >= 2 else 1
    view = lambda name, v: _channel_view(name, _as_param(name, v), x.ndim, channel_axis, channels)
    m = view("multiplier", multiplier)
    s = view("shift", shift)
    zp = view("zero_point", zero_point)
    return torch.clamp(dyadic(x, m, s, rounding) + zp, lo, hi)


def add(xs, multipliers, shifts, zero_point, lo: int, hi: int,
        rounding: str = "half_up") -> torch.Tensor:
    """Residual add: ``clamp(sum_i dyadic(x_i, m_i, s_i, rounding) + zp, lo, hi)``.

    Each input is rescaled to the common output scale with its own dyadic
    multiplier (:func:`dyadic`, every input with the same ``rounding`` mode)
    before the integer sum.

    Parameters
    ----------
    xs : sequence of int64 tensors, all the same shape
    multipliers, shifts : int64 [len(xs)]
    zero_point : int64 [1] (or an int)
    lo, hi : int
    """
    xs = list(xs)
    if not xs:
        raise ValueError("add needs at least one input")
    for i, x in enumerate(xs):
        _check_int64(f"xs[{i}]", x)
        if x.shape != xs[0].shape:
            raise ValueError(f"add: input {i} has shape {list(x.shape)}, "
                             f"input 0 has {list(xs[0].shape)}")
    m = _as_param("multipliers", multipliers).reshape(-1)
    s = _as_param("shifts", shifts).reshape(-1)
    zp = _as_param("zero_point", zero_point).reshape(-1)
    if m.numel() != len(xs) or s.numel() != len(xs):
        raise ValueError(f"add: {len(xs)} inputs need {len(xs)} multipliers and shifts, "
                         f"got {m.numel()} and {s.numel()}")
    if zp.numel() != 1:
        raise ValueError(f"add: zero_point must be a single value, got {zp.numel()}")
    lo, hi = _int("lo", lo), _int("hi", hi)
    total = sum(dyadic(x, m[i], s[i], rounding) for i, x in enumerate(xs))
    return torch.clamp(total + zp[0], lo, hi)


def add_const(x: torch.Tensor, values) -> torch.Tensor:
    """Add a constant tensor of the sample's shape: ``y[n, ...] = x[n, ...] + values[...]``.

    A per-element bias, e.g. a vision transformer's position embedding ``[T, C]`` (one value
    per token and channel, which a dense layer's per-channel bias cannot express).

    Parameters
    ----------
    x : int64 [N, *S]
    values : int64 [*S] (tensor or integer array)
    """
    _check_int64("x", x)
    values = _as_param("values", values)
    if tuple(values.shape) != tuple(x.shape[1:]):
        raise ValueError(f"add_const: values {list(values.shape)} must have the sample's shape "
                         f"{list(x.shape[1:])}")
    return x + values


# -- data movement ------------------------------------------------------------------------------

def maxpool2d(x: torch.Tensor, kernel_size: int) -> torch.Tensor:
    """k x k max pooling, stride k, floor mode (trailing rows/columns dropped, as PyTorch).

    On -1/+1 data this is a logical OR of the window (any +1 gives +1).
    x : int64 [N, C, H, W] -> int64 [N, C, H // k, W // k]
    """
    _check_int64("x", x)
    k = _int("kernel_size", kernel_size, 1)
    if x.ndim != 4:
        raise ValueError(f"maxpool2d wants x [N, C, H, W], not {list(x.shape)}")
    n, c, h, w = x.shape
    ho, wo = h // k, w // k
    if ho == 0 or wo == 0:
        raise ValueError(f"maxpool2d: kernel {k} larger than input {h}x{w}")
    windows = x[:, :, :ho * k, :wo * k].reshape(n, c, ho, k, wo, k)
    return windows.amax(dim=(3, 5))


def flatten(x: torch.Tensor) -> torch.Tensor:
    """``[N, ...] -> [N, prod(...)]`` in PyTorch (row-major, C-outermost) order."""
    _check_int64("x", x)
    return x.reshape(x.shape[0], -1)


def argmax(x: torch.Tensor) -> torch.Tensor:
    """Index of the largest value over the last axis; ties go to the lowest index.

    Implemented explicitly (smallest index among the maxima) rather than
    relying on ``torch.argmax``'s tie rule, so FINN's LabelSelect ordering is
    guaranteed. x : int64 [N, ..., K] -> int64 [N, ...]
    """
    _check_int64("x", x)
    if x.shape[-1] == 0:
        raise ValueError("argmax over an empty axis")
    k = x.shape[-1]
    is_max = x == x.amax(dim=-1, keepdim=True)
    index = torch.arange(k, dtype=torch.int64).expand_as(x)
    return torch.where(is_max, index, torch.full_like(x, k)).amin(dim=-1)


# The public functions, named once (as the functions themselves), and the rounding modes.
__all__ = [f.__name__ for f in (binary_dense, dense, conv2d, binary_conv2d, threshold, dyadic,
                                requant, maxpool2d, flatten, argmax, add, add_const, matmul)]
__all__.insert(__all__.index("dyadic"), "ROUNDING_MODES")
