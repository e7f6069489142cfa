"""Integer-only transformer units of I-ViT: Shiftmax, ShiftGELU, I-LayerNorm (docs/design/operators.md).

The functions below are docs/design/operators.md's lines, one for one, in int64
torch arithmetic (``>>`` arithmetic shift, ``//`` floor division). Floats
appear only in the generation-time helpers :func:`x0_from_scale` and
:func:`dyadic_from_float`, which turn a real scale into integer constants.

Sources (read to understand, not copied):

* I-ViT, Z. Li and Q. Gu, "I-ViT: Integer-only Quantization for Efficient
  Vision Transformer Inference", ICCV 2023; github.com/zkkli/I-ViT,
  ``models/quantization_utils/quant_modules.py`` (``IntSoftmax``,
  ``IntGELU``, ``IntLayerNorm``, ``int_exp_shift``; float tensors with
  ``floor_ste``) and the int32 TVM version ``TVM_benchmark/models/layers.py``
  (``shift_exp``, ``quantized_softmax``, ``quantized_gelu``,
  ``quantized_layernorm``).
* HAWQ-V3, Z. Yao et al., "HAWQ-V3: Dyadic Neural Network Quantization",
  ICML 2021; github.com/Zhen-Dong/HAWQ ``utils/quantization_utils/quant_utils.py``
  (``batch_frexp``: mantissa * 2**31 rounded half-up, shift = 31 - exponent).

Where the contract differs from those sources
---------------------------------------------
* ``x0 = floor(-1/scale)`` as in ``quant_modules.py`` (computed there in
  float32 on the scale tensor; here in float64). The TVM version uses
  ``int(-1/scale - 1)`` (truncation) instead, which agrees except when
  ``-1/scale`` is an integer, where it is one lower.
* ``exp_shift`` uses ``(r >> 1) - x0`` (floor) where ``quant_modules.py``
  computes ``r/2 - x0`` in float and floors only after the ``<< (n - q)``
  scaling; the contract's version is the TVM one. ``quant_modules.py`` also
  clamps the exponential at 0, which is a no-op here (``(r >> 1) - x0 >= 1``).
* Shiftmax uses ``n = 15`` (``quant_modules.py``); the TVM version uses 16.
* LayerNorm's mean is rounded half-up (``(sum + C//2) // C``); I-ViT uses
  round-half-even (``torch.round``) and TVM ``relay.mean`` (truncation).
  The contract also offers an exact digit-by-digit square root besides
  I-ViT's 10 Newton steps from ``2**16``.

Scale conventions (what the integers mean)
------------------------------------------
* ``shiftmax``: input ``x`` at scale ``scale`` (real logit = ``x * scale``),
  ``x0 = x0_from_scale(scale)``; output is the probability at scale
  ``2**-(out_bits - 1)``, an integer in ``[0, 2**(out_bits-1) - 1]``.
* ``shiftgelu``: input ``p`` at scale ``scale``, ``x0 = x0_from_scale(1.702 *
  scale)``; ``sig`` approximates ``sigmoid(1.702 * p * scale)`` at scale
  ``2**-7``, so the output ``p * sig`` is GELU at scale ``scale * 2**-7``.
* ``layernorm``: with ``C`` channels the output approximates
  ``(x - mean) / std`` (population std, no eps) at scale ``sqrt(C) * 2**-30``
  (``y * (2**31 - 1) / k / 2`` with ``k ~ sqrt(C) * std``), i.e. I-ViT's
  ``dim_sqrt / 2**30``. ``bias_int`` is added at that same scale
  (``round(beta / gamma / scale)`` in I-ViT); gamma and the output scale
  are folded into the following per-channel requant.

Measured accuracy (``tests/reference/test_ivit.py`` recomputes and asserts these)
----------------------------------------------------------------------------------
Mean / max absolute error over 2000 random rows each (fixed seeds)::

    shiftmax, L=64, logits ~ N(0, 2**2), scale 1/16 (x0 = -16)   0.0025 / 0.021
        (probabilities; per-element truncation: rows sum to 0.74 .. 1.0)
    shiftmax, same, L=16                                         0.0037 / 0.024
    shiftgelu vs GELU (erf), p uniform int8, scale 1/32 (x0=-19) 0.021  / 0.24
    shiftgelu vs p*sigmoid(1.702 p), same                        0.017  / 0.23
    shiftgelu vs GELU, rows whose p are all negative             0.0078 / 0.041
    layernorm "exact", C=64, std log-uniform in [16, 4096]       0.0029 / 0.042
    layernorm "ivit",  same                                      0.0033 / 0.23
    layernorm "exact", C=64, std log-uniform in [4, 16]          0.036  / 0.20
    layernorm "ivit",  same (Newton not converged)               0.21   / 2.2

GELU errors are in real units (inputs span [-4, 4)); layernorm errors in
units of the normalised value ``(x - mean) / std``; integer inputs int16.

The dominant error of ShiftGELU is its integer division: ``(2**31 - 1) // S``
with ``S ~ |x0| * 2**23`` has only about ``256 / |x0|`` levels (13 for
``x0 = -19``), so ``sig`` comes out a few percent low near ``p = max(p)``.
I-ViT's Newton square root starts at ``2**16`` and at best halves per step:
:func:`newton10` is within 1 of ``floor(sqrt(v))`` only for roots from 186
to about ``2**22.5``; below that it stays too large (64 for ``v = 0``), so
with ``sqrt="ivit"`` keep ``sqrt(C) * std`` (integer units) above ~200.
"""

from __future__ import annotations

import math
from fractions import Fraction

import torch

from .ops import _check_int64, _int


_Q31 = (1 << 31) - 1


def _check_x0(x0) -> int:
    x0 = _int("x0", x0)
    if not -(1 << 31) < x0 < 0:
        raise ValueError(f"x0 must be a negative integer above -2**31, not {x0!r}")
    return x0


def exp_shift(d: torch.Tensor, x0: int, n: int, *, cap: int | None = None) -> torch.Tensor:
    """Shift-based exponential: ``~ 2**n * |x0| * exp(d * scale)`` for ``d <= 0``.

    Contract lines::

        t = d + (d >> 1) - (d >> 4)      # ~ d * log2(e)  (1 + 1/2 - 1/16 = 1.4375)
        t = max(t, n * x0)
        q = t // x0                      # 0..n
        r = t - x0 * q                   # in (x0, 0]
        return ((r >> 1) - x0) << (n - q)

    ``t / |x0|`` is the base-2 exponent; ``2**(r/|x0|)`` on ``(-1, 0]`` is
    approximated by the line ``1 + r/(2|x0|)``, and ``q`` becomes a shift.
    For ``d <= 0`` the result is in ``[1, |x0| * 2**n]``.

    ``d > 0`` (only ShiftGELU's ``exp_shift(-max(p))`` when every ``p < 0``)
    makes ``q < 0`` and the shift exceed ``n``; the exact value can then
    exceed int64. Pass ``cap`` to get ``min(result, cap)`` computed without
    overflow (exact, since ``(r >> 1) - x0 >= 1``); without ``cap`` an
    overflowing shift raises OverflowError.
    """
    _check_int64("d", d)
    x0 = _check_x0(x0)
    n = _int("n", n, 0)
    t = d + (d >> 1) - (d >> 4)
    t = torch.clamp(t, min=n * x0)
    q = torch.div(t, x0, rounding_mode="floor")
    r = t - x0 * q
    v = (r >> 1) - x0                        # 1 <= v <= |x0| < 2**31
    k = n - q                                # >= 0 (t >= n*x0 gives q <= n)
    if cap is None:
        if k.numel() and (-x0).bit_length() + int(k.max()) > 62:
            raise OverflowError(f"exp_shift: shift by {int(k.max())} overflows int64 "
                                f"(d > 0 needs cap=)")
        return v << k
    cap = _int("cap", cap, 1)
    if cap >= 1 << 31:
        raise ValueError(f"cap must be below 2**31, not {cap!r}")
    limit = cap.bit_length()                 # v >= 1, so k >= limit gives v << k > cap
    shifted = v << k.clamp(max=limit)        # v < 2**31 and limit <= 31: below 2**62
    return torch.where(k >= limit, torch.full_like(v, cap), torch.clamp(shifted, max=cap))


def shiftmax(x: torch.Tensor, x0: int, out_bits: int = 8, n: int = 15) -> torch.Tensor:
    """I-ViT Shiftmax over the last axis (integer softmax, one integer division per row).

    Contract lines::

        e = exp_shift(x - max(x), x0, n)
        S = min(sum(e), 2**31 - 1)
        return (e * ((2**31 - 1) // S)) >> (32 - out_bits)

    Parameters
    ----------
    x : int64 [N, ..., L]   logits at scale ``scale``
    x0 : int                ``x0_from_scale(scale)``
    out_bits : int          output scale ``2**-(out_bits-1)``; values in
                            ``[0, 2**(out_bits-1) - 1]`` (I-ViT: 0..127 in an int8)
    n : int                 exponent range (I-ViT: 15)

    Note: since ``e <= S`` the product ``e * (Q31 // S)`` never exceeds
    ``2**31 - 1``, so a row sums to at most ``2**(out_bits-1)`` (a 1.0 that
    is never quite reached). When ``S`` saturates at ``2**31 - 1`` (long rows
    with a large ``|x0|``) the factor becomes 1 and the output is simply
    ``e >> (32 - out_bits)``; rows then sum to less than 1.
    """
    _check_int64("x", x)
    x0 = _check_x0(x0)
    out_bits = _int("out_bits", out_bits, 1)
    if out_bits > 32:
        raise ValueError(f"out_bits must be at most 32, not {out_bits!r}")
    n = _int("n", n, 0)
    if x.ndim == 0 or x.shape[-1] == 0:
        raise ValueError("shiftmax needs a non-empty last axis")
    if x.shape[-1] * (-x0) << n >= 1 << 63:
        raise OverflowError("shiftmax: sum of exponentials could overflow int64")
    e = exp_shift(x - x.amax(dim=-1, keepdim=True), x0, n)
    s = torch.clamp(e.sum(dim=-1, keepdim=True), max=_Q31)
    return (e * torch.div(torch.tensor(_Q31), s, rounding_mode="floor")) >> (32 - out_bits)


def shiftgelu(p: torch.Tensor, x0: int, n: int = 23) -> torch.Tensor:
    """I-ViT ShiftGELU: ``p * sigmoid(1.702 p)`` with the shift exponential (last-axis max).

    Contract lines::

        m = max(p) over the last axis
        e  = exp_shift(p - m, x0_1702, 23);  em = exp_shift(-m, x0_1702, 23)
        sig = (e * ((2**31 - 1) // min(e + em, 2**31 - 1))) >> 24   # scale 2**-7
        return p * sig

    ``sig = e**(p-m) / (e**(p-m) + e**(-m))`` is the sigmoid; the output is at
    scale ``scale * 2**-7`` (a requant narrows it). ``x0`` must come from
    ``x0_from_scale(1.702 * scale)``.

    Surprising corners of the contract, kept as written:

    * When every ``p`` of a row is negative, ``-m > 0`` and ``exp_shift(-m)``
      leaves its ``d <= 0`` domain: ``q < 0`` and the shift exceeds ``n``
      (``em`` grows like ``2**(n + |m|*1.4375/|x0|)``, far past int64 for
      ``|x0| <~ 5``). Only ``min(e + em, 2**31 - 1)`` is used, so ``em`` is
      computed saturated at ``2**31 - 1`` (``exp_shift(..., cap=)``), which
      gives exactly the unbounded-integer result. Once the sum saturates the
      division factor is 1 and ``sig = e >> 24`` is no longer normalised: it
      stays about ``|x0| / 2`` for ``p == m`` instead of tending to 0 (e.g.
      ``x0 = -19``, ``p = m = -128``: ``sig = 9`` where sigmoid ~ 0.0015),
      so all-negative rows carry a larger error.
    * ``sig <= 127`` only while ``e + em`` does not saturate; with ``|x0| >
      256`` (``scale < ~0.0023``) and a saturated sum ``sig`` can reach
      ``|x0| / 2``.
    """
    _check_int64("p", p)
    x0 = _check_x0(x0)
    n = _int("n", n, 0)
    if p.ndim == 0 or p.shape[-1] == 0:
        raise ValueError("shiftgelu needs a non-empty last axis")
    m = p.amax(dim=-1, keepdim=True)
    e = exp_shift(p - m, x0, n)
    em = exp_shift(-m, x0, n, cap=_Q31)
    s = torch.clamp(e + em, max=_Q31)
    sig = (e * torch.div(torch.tensor(_Q31), s, rounding_mode="floor")) >> 24
    return p * sig


def isqrt(v: torch.Tensor) -> torch.Tensor:
    """Exact ``floor(sqrt(v))`` of non-negative int64 values, digit by digit (base 4).

    The classic restoring square root: 32 steps, each trying one result bit
    with a compare and a subtract, the same recurrence a hardware unit
    unrolls or iterates. Vectorised over the tensor; raises ValueError for
    negative values.
    """
    _check_int64("v", v)
    if v.numel() and bool((v < 0).any()):
        raise ValueError("isqrt of a negative value")
    rem = v.clone()
    res = torch.zeros_like(v)
    for i in range(31, -1, -1):
        bit = 1 << (2 * i)
        trial = res + bit
        take = rem >= trial
        rem = torch.where(take, rem - trial, rem)
        res = torch.where(take, (res >> 1) + bit, res >> 1)
    return res


def newton10(v: torch.Tensor) -> torch.Tensor:
    """I-ViT's integer square root: ``k = 2**16``, then 10 times ``k = (k + v // k) >> 1``.

    Not ``floor(sqrt(v))`` in general. Measured against :func:`isqrt`: within
    1 (floor Newton oscillates between ``r`` and ``r + 1`` when ``v + 1`` is
    a square) for ``34596 <= v < ~2**45`` (roots 186 .. ~2**22.5); from
    ``2**16`` ten steps cannot reach small roots (each step at best halves
    ``k``: ``v = 0`` gives ``2**6 = 64``) and have not converged yet for
    ``v >= ~2**45``. ``k`` never reaches 0 (it stays >= 64).
    """
    _check_int64("v", v)
    if v.numel() and bool((v < 0).any()):
        raise ValueError("newton10 of a negative value")
    k = torch.full_like(v, 1 << 16)
    for _ in range(10):
        k = (k + torch.div(v, k, rounding_mode="floor")) >> 1
    return k


def layernorm(x: torch.Tensor, bias: torch.Tensor | None = None,
              sqrt: str = "exact") -> torch.Tensor:
    """I-ViT integer LayerNorm over the last axis (``C`` channels).

    Contract lines::

        mean = (sum(x) + C // 2) // C
        y = x - mean;  var = sum(y * y)
        k = max(isqrt(var), 1)   if sqrt == "exact"
            newton10(var)        if sqrt == "ivit"
        return ((y * ((2**31 - 1) // k)) >> 1) + bias_int

    Output scale ``sqrt(C) * 2**-30`` for the normalised value (module
    docstring). Designed for int16 inputs; any input whose ``C * (max -
    min)**2`` stays below ``2**62`` is exact, larger ones raise OverflowError.

    Parameters
    ----------
    x : int64 [N, ..., C]
    bias : int64 [C] or None    ``bias_int``
    sqrt : "exact" | "ivit"
    """
    _check_int64("x", x)
    if sqrt not in ("exact", "ivit"):
        raise TypeError(f"sqrt must be 'exact' or 'ivit', not {sqrt!r}")
    if x.ndim == 0 or x.shape[-1] == 0:
        raise ValueError("layernorm needs a non-empty last axis")
    c = x.shape[-1]
    if x.numel():
        span = int(x.max()) - int(x.min())
        if c * span * span >= 1 << 62:
            raise OverflowError(f"layernorm: {c} channels spanning {span} overflow the variance")
    mean = torch.div(x.sum(dim=-1, keepdim=True) + c // 2, c, rounding_mode="floor")
    y = x - mean
    var = (y * y).sum(dim=-1, keepdim=True)
    if sqrt == "exact":
        k = torch.clamp(isqrt(var), min=1)
    else:
        k = newton10(var)
    out = (y * torch.div(torch.tensor(_Q31), k, rounding_mode="floor")) >> 1
    if bias is not None:
        _check_int64("bias", bias)
        if bias.shape != (c,):
            raise ValueError(f"bias must have shape [{c}], not {list(bias.shape)}")
        out = out + bias
    return out


# -- generation-time helpers (floats allowed: they derive integer constants) --------------------

def x0_from_scale(scale: float) -> int:
    """``floor(-1 / scale)``, the (negative) integer that stands for -1.0 at ``scale``.

    Computed in float64 (I-ViT: float32 on the scale tensor). Always <= -1.
    """
    scale = float(scale)
    if not math.isfinite(scale) or scale <= 0:
        raise ValueError(f"scale must be a positive finite number, not {scale!r}")
    return math.floor(-1.0 / scale)


def dyadic_from_float(ratio: float) -> tuple[int, int]:
    """``(m, s)`` with ``m * 2**-s ~ ratio``, ``2**30 <= m < 2**31``, ``0 <= s < 64``.

    HAWQ-V3 ``batch_frexp``: ``ratio = mant * 2**e`` with ``0.5 <= mant < 1``;
    ``m = round_half_up(mant * 2**31)`` (exact, via :class:`fractions.Fraction`),
    ``s = 31 - e``. If rounding carries ``m`` to ``2**31`` it is halved and
    ``s`` decremented (HAWQ leaves ``m = 2**31``, which does not fit the
    31-bit multiplier). The relative error is at most ``2**-31``.

    Raises ValueError for ``ratio <= 0``, non-finite ratios, and ratios whose
    shift would fall outside ``[0, 63]`` (``ratio >= ~2**31`` or ``< ~2**-33``).
    """
    ratio = float(ratio)
    if not math.isfinite(ratio) or ratio <= 0:
        raise ValueError(f"ratio must be a positive finite number, not {ratio!r}")
    mant, exp = math.frexp(ratio)
    m = math.floor(Fraction(mant) * (1 << 31) + Fraction(1, 2))
    s = 31 - exp
    if m == 1 << 31:
        m >>= 1
        s -= 1
    if not 0 <= s < 64:
        raise ValueError(f"ratio {ratio!r} is not representable as m * 2**-s with "
                         f"m < 2**31 and 0 <= s < 64 (needs s = {s})")
    return m, s


# The public functions, named once (as the functions themselves).
__all__ = [f.__name__ for f in (exp_shift, shiftmax, shiftgelu, isqrt, newton10,
                                layernorm, x0_from_scale, dyadic_from_float)]
