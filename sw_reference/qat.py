"""Quantization-aware training modules that export exactly to hwgen networks.

Drop these into a PyTorch model in place of ``nn.Linear`` / activations, train
with any optimizer, then export with :func:`sw_reference.export.export_mlp`.
Every module keeps float *latent* parameters for the optimizer and computes
its forward pass with the quantized values the hardware will use; gradients
reach the latent parameters through a straight-through estimator (STE,
Bengio et al. 2013): the backward pass treats the rounding/sign step as the
identity (optionally clipped), since its true derivative is zero almost
everywhere.

Forward and backward rules
--------------------------
:func:`binarize`, :class:`BinaryAct`
    forward ``+1 if x >= 0 else -1``; backward ``1 if |x| <= 1 else 0``
    (clipped identity: the "hard tanh" STE of BinaryConnect / BNN / XNOR-Net).
:class:`BinaryLinear`
    forward ``x @ binarize(W).T`` (no bias, no scale); backward: the
    :func:`binarize` STE on the latent ``W``.
:class:`BinaryConv2d`
    forward ``conv2d(pad(x, -1), binarize(W))`` (no bias, no scale; padding
    adds -1, the binary pad of ``binary_conv2d``); backward: the
    :func:`binarize` STE on the latent ``W``, exactly as :class:`BinaryLinear`.
:class:`TernaryLinear`
    forward ``x @ (g * clamp(round(W / g), -1, 1)).T + b`` with
    ``g = mean|W| + eps`` (BitNet b1.58 absmean); backward: identity to
    ``W`` (plain STE), ``g`` held constant.
:class:`IntLinear`
    forward ``x @ (s * clamp(round(W / s), -Q, Q)).T + b`` with
    ``Q = 2**(k-1) - 1`` and ``s[c] = max|W[c]| / Q`` per output channel
    (or one ``s`` per tensor); backward: identity to ``W``, ``s`` constant.
:class:`ActQuant`
    forward ``r * clamp(floor(x / r + 1/2), lo, hi)``, ``r = alpha / hi``
    (unsigned: ``lo = 0``, ``hi = 2**k - 1``, a quantized ReLU; signed:
    ``-2**(k-1) .. 2**(k-1) - 1``); backward: identity inside
    ``[lo * r, alpha]``, 0 outside; with ``range="learned"`` the gradient
    of ``x > alpha`` goes to ``alpha`` (PACT); with ``range="ema"``
    ``alpha`` follows an EMA of the batch's ``max |x|`` in training mode.
:class:`Scale`
    forward ``x * exp(log_scale)`` (a positive scalar); ordinary autograd.

The integer transformer (I-ViT's scheme)
----------------------------------------
:class:`QDense`, :class:`QPosition`, :class:`QLayerNorm`, :class:`QMatMul`, :class:`QShiftmax`,
:class:`QShiftGELU`, :class:`QAdd` pass :class:`QTensor` values (real value, int64 code,
scale). Forward: the integer algorithm of the golden model, computed by the very modules
of :mod:`sw_reference.modules` the exported network's golden model is built from (so the two
cannot drift), on the codes, with dyadic requants whose multipliers come from the current
scales (:class:`RangeEMA`: each activation's range, an EMA of ``max |x|``); the output value
is ``code * scale``. Backward: the gradient of the float function (LayerNorm, softmax, erf
GELU, matmul, sum) on the real values, clipped to each quantizer's range (the STE of
:class:`ActQuant`), and the weights' STE of :class:`IntLinear`. :class:`TinyViT` assembles
one encoder block; ``set_float_units`` swaps integer units back to float one at a time.

Rounding is ``floor(x + 1/2)`` (round half up), the rounding of hwgen's
dyadic requant (docs/design/numbers.md), not ``torch.round`` (half to even).

BatchNorm: put an ordinary ``nn.BatchNorm1d`` between a linear layer and its
activation (``nn.BatchNorm2d`` after a :class:`BinaryConv2d`). The exporter
folds it: before :class:`BinaryAct` into one integer threshold per channel
(negative gamma negates that channel's weights; gamma == 0 gives a constant
output), before :class:`ActQuant` into the integer bias and the per-channel
dyadic multiplier.

Latent binary weights should stay in ``[-1, 1]`` (BinaryConnect clips them
after every optimizer step): call :func:`clip_latent_weights` after
``optimizer.step()`` (it clips :class:`BinaryConv2d` weights too).

References: Courbariaux et al., *BinaryConnect* (2015) and *Binarized Neural
Networks* (2016); Rastegari et al., *XNOR-Net* (2016); Ma et al., *The Era of
1-bit LLMs: BitNet b1.58* (2024); Choi et al., *PACT* (2018); Jacob et al.,
*Quantization and Training of Neural Networks for Efficient
Integer-Arithmetic-Only Inference* (2018, EMA ranges).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from . import modules as golden
from .ivit import dyadic_from_float, x0_from_scale

__all__ = ["binarize", "round_half_up", "BinaryLinear", "BinaryConv2d", "BinaryAct",
           "TernaryLinear", "IntLinear", "ActQuant", "Scale", "clip_latent_weights",
           "QTensor", "RangeEMA", "QDense", "QLayerNorm", "QMatMul", "QShiftmax", "QShiftGELU",
           "QAdd", "QFlatten", "QPosition", "TinyViT", "INTEGER_UNITS"]


class _SignSTE(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x):
        ctx.save_for_backward(x)
        return torch.where(x >= 0, torch.ones_like(x), -torch.ones_like(x))

    @staticmethod
    def backward(ctx, grad):
        x, = ctx.saved_tensors
        return grad * (x.abs() <= 1).to(grad.dtype)


def binarize(x: torch.Tensor) -> torch.Tensor:
    """Sign with ``sign(0) = +1`` forward; clipped identity ``1[|x| <= 1]`` backward."""
    return _SignSTE.apply(x)


def round_half_up(x: torch.Tensor) -> torch.Tensor:
    """``floor(x + 1/2)`` forward, identity backward (STE)."""
    return x + (torch.floor(x + 0.5) - x).detach()


def _int(name, value, minimum):
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"{name} must be an integer, not {value!r}")
    if value < minimum:
        raise ValueError(f"{name} must be at least {minimum}, not {value!r}")
    return value


class BinaryLinear(nn.Linear):
    """Binary (-1/+1) weights, no bias: ``y = x @ binarize(W).T`` (exports to ``binary_dense``).

    With -1/+1 inputs ``y`` is the XNOR-popcount sum ``2*popcount(xnor) - K``
    exactly (an integer). There is no per-channel scale (XNOR-Net's ``alpha``):
    a following BatchNorm absorbs it, and a last layer that feeds argmax takes
    a :class:`Scale` instead so the class order is unchanged.
    Latent weights start uniform in ``[-1, 1]``.
    """

    def __init__(self, in_features: int, out_features: int):
        super().__init__(in_features, out_features, bias=False)
        with torch.no_grad():
            self.weight.uniform_(-1, 1)

    def quantized_weight(self) -> torch.Tensor:
        """The -1/+1 weights as int64 ``[out, in]``."""
        return torch.where(self.weight >= 0, 1, -1).to(torch.int64)

    def forward(self, x):
        return F.linear(x, binarize(self.weight))


class BinaryConv2d(nn.Conv2d):
    """Binary (-1/+1) kernels, no bias, padding with -1 (exports to ``binary_conv2d``).

    ``y = conv2d(pad(x, -1), binarize(W), stride)``: on -1/+1 inputs every
    output is the XNOR-popcount sum ``2*popcount(xnor) - C*k*k`` over a window,
    exactly as :func:`sw_reference.ops.binary_conv2d` (which pads with -1 too,
    so a padded window still holds only -1/+1 values). Square kernels, no
    dilation or groups; as :class:`BinaryLinear`, no per-channel scale (a
    following ``nn.BatchNorm2d`` absorbs it) and latent weights start uniform
    in ``[-1, 1]``. Backward: the :func:`binarize` STE on the latent ``W``.
    """

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int, *,
                 stride: int = 1, padding: int = 0):
        _int("in_channels", in_channels, 1)
        _int("out_channels", out_channels, 1)
        _int("kernel_size", kernel_size, 1)
        _int("stride", stride, 1)
        _int("padding", padding, 0)
        super().__init__(in_channels, out_channels, kernel_size, stride=stride, padding=padding,
                         bias=False)
        with torch.no_grad():
            self.weight.uniform_(-1, 1)

    def quantized_weight(self) -> torch.Tensor:
        """The -1/+1 kernels as int64 ``[out, in, k, k]``."""
        return torch.where(self.weight >= 0, 1, -1).to(torch.int64)

    def forward(self, x):
        p = self.padding[0]
        if p:
            x = F.pad(x, (p, p, p, p), value=-1.0)
        return F.conv2d(x, binarize(self.weight), None, self.stride)


class BinaryAct(nn.Module):
    """Binary activation: :func:`binarize` (exports to ``threshold`` with ``bits: 1``)."""

    def forward(self, x):
        return binarize(x)


class TernaryLinear(nn.Linear):
    """BitNet b1.58 ternary weights: ``W_q = clamp(round(W / g), -1, 1)``, ``g = mean|W| + eps``.

    Forward uses ``g * W_q`` (plus an optional float bias); backward passes the
    gradient to the latent ``W`` unchanged (STE, ``g`` held constant).
    Exports to ``dense`` with ``weight_type: ternary`` and one weight scale ``g``.
    """

    eps = 1e-5

    def weight_scale(self) -> torch.Tensor:
        return self.weight.detach().abs().mean().clamp(min=self.eps).reshape(1)

    def quantized_weight(self) -> torch.Tensor:
        g = self.weight_scale()
        return torch.clamp(torch.floor(self.weight.detach() / g + 0.5), -1, 1).to(torch.int64)

    def forward(self, x):
        g = self.weight_scale()
        w = self.weight
        wq = g * torch.clamp(torch.floor(w.detach() / g + 0.5), -1, 1)
        return F.linear(x, w + (wq - w).detach(), self.bias)


class IntLinear(nn.Linear):
    """Symmetric ``bits``-bit weights: ``W_q = clamp(round(W / s), -Q, Q)``, ``Q = 2**(bits-1) - 1``.

    ``s[c] = max|W[c]| / Q`` per output channel (``per_channel=True``) or one
    ``s`` for the whole tensor. Forward ``x @ (s * W_q).T + b``; backward is
    the plain STE to the latent ``W`` (``s`` held constant). The float bias is
    rounded to the accumulator's scale at export. A layer whose output feeds
    argmax directly must be per-tensor, so that the integer scores keep the
    float model's class order.
    """

    def __init__(self, in_features, out_features, bias=True, *, bits=8, per_channel=True):
        self.bits = _int("bits", bits, 2)
        if self.bits > 8:
            raise ValueError(f"bits must be at most 8 (hwgen weights are 2..8 bits), not {bits!r}")
        self.per_channel = bool(per_channel)
        super().__init__(in_features, out_features, bias=bias)

    @property
    def qmax(self) -> int:
        return (1 << (self.bits - 1)) - 1

    def weight_scale(self) -> torch.Tensor:
        w = self.weight.detach().abs()
        peak = w.amax(dim=1) if self.per_channel else w.amax().reshape(1)
        return peak.clamp(min=1e-8) / self.qmax

    def quantized_weight(self) -> torch.Tensor:
        s = self.weight_scale()[:, None]
        return torch.clamp(torch.floor(self.weight.detach() / s + 0.5),
                           -self.qmax, self.qmax).to(torch.int64)

    def forward(self, x):
        s = self.weight_scale()[:, None]
        w = self.weight
        wq = s * torch.clamp(torch.floor(w.detach() / s + 0.5), -self.qmax, self.qmax)
        return F.linear(x, w + (wq - w).detach(), self.bias)


class _CodeRange:
    """``lo``/``hi``: the integer codes of a ``bits``-wide (``signed``) activation."""

    @property
    def lo(self) -> int:
        return -(1 << (self.bits - 1)) if self.signed else 0

    @property
    def hi(self) -> int:
        return (1 << (self.bits - 1)) - 1 if self.signed else (1 << self.bits) - 1


class ActQuant(_CodeRange, nn.Module):
    """``bits``-bit activation quantizer with a learned (PACT) or EMA range.

    Forward ``r * clamp(floor(x / r + 1/2), lo, hi)`` with step ``r = alpha / hi``;
    unsigned: ``lo, hi = 0, 2**bits - 1`` (a quantized ReLU); signed:
    ``-2**(bits-1), 2**(bits-1) - 1``. Backward: identity where ``x`` is inside
    the closed clip range ``[lo*r, alpha]``, zero outside; with a learned
    range the gradient of ``x > alpha`` goes to ``alpha`` instead (PACT).

    ``range="ema"``: in training mode ``alpha`` tracks an exponential moving
    average (``momentum``) of the batch's ``max |x|``; ``range="learned"``:
    ``alpha`` is a parameter trained through ``clamp(x, lo*r, alpha)`` (PACT).
    Exports to a ``requant`` activation; ``scale`` is ``r``.
    """

    def __init__(self, bits: int = 8, *, signed: bool = False, range: str = "ema",
                 init: float = 1.0, momentum: float = 0.1):
        super().__init__()
        self.bits = _int("bits", bits, 1)
        self.signed = bool(signed)
        if range not in ("ema", "learned"):
            raise TypeError(f"range must be 'ema' or 'learned', not {range!r}")
        if not init > 0:
            raise ValueError(f"init must be positive, not {init!r}")
        self.range = range
        self.momentum = float(momentum)
        if range == "learned":
            self.alpha = nn.Parameter(torch.tensor(float(init)))
        else:
            self.register_buffer("alpha", torch.tensor(float(init)))
            self.register_buffer("initialised", torch.tensor(False))

    @property
    def scale(self) -> float:
        """Quantization step ``r`` (real value of one integer step)."""
        return float(self.alpha.detach().abs().clamp(min=1e-8)) / self.hi

    def quantize(self, x: torch.Tensor) -> torch.Tensor:
        """The integer codes ``clamp(floor(x / r + 1/2), lo, hi)`` (no gradient)."""
        r = self.scale
        return torch.clamp(torch.floor(x.detach() / r + 0.5), self.lo, self.hi)

    def forward(self, x):
        if self.range == "ema" and self.training:
            with torch.no_grad():
                peak = x.detach().abs().amax()
                if bool(self.initialised):
                    self.alpha.lerp_(peak, self.momentum)
                else:
                    self.alpha.copy_(peak)
                    self.initialised.fill_(True)
        alpha = self.alpha.abs().clamp(min=1e-8)
        r = alpha / self.hi
        low = r * self.lo
        clipped = torch.where(x > alpha, alpha, torch.where(x < low, low, x))   # PACT: d/d alpha where x > alpha
        q = torch.clamp(torch.floor(clipped.detach() / r.detach() + 0.5), self.lo, self.hi)
        return clipped + (q * r.detach() - clipped).detach()


class Scale(nn.Module):
    """Learned positive scalar ``x * exp(log_scale)``: a softmax temperature for the last layer.

    A positive scalar does not change argmax, so the exporter drops it.
    """

    def __init__(self, init: float = 1.0):
        super().__init__()
        if not init > 0:
            raise ValueError(f"init must be positive, not {init!r}")
        self.log_scale = nn.Parameter(torch.tensor(float(init)).log())

    def forward(self, x):
        return x * self.log_scale.exp()


def clip_latent_weights(model: nn.Module) -> None:
    """Clamp the latent weights of every :class:`BinaryLinear` and :class:`BinaryConv2d` to [-1, 1].

    (BinaryConnect; call it after each ``optimizer.step()``.)
    """
    with torch.no_grad():
        for module in model.modules():
            if isinstance(module, (BinaryLinear, BinaryConv2d)):
                module.weight.clamp_(-1, 1)


# -- the integer transformer (I-ViT) --------------------------------------------------------------
#
# Every module below computes its forward pass twice: the exact integer algorithm of the golden
# model (the very classes of sw_reference.modules that hwgen's golden network builds, on int64
# codes) and a float surrogate (the float function on real values). The output's value is the
# integer result times its scale; its gradient is the surrogate's (I-ViT's scheme: integer
# forward, the float function's gradient backward). So the trained model's integer forward is
# the exported network's golden forward, bit for bit.

#: the integer approximations a :class:`TinyViT` can swap back to float, one at a time:
#: ``"norm"`` I-LayerNorm -> LayerNorm, ``"softmax"`` Shiftmax -> softmax, ``"gelu"``
#: ShiftGELU -> erf GELU (each output still quantized to the same codes); ``"quant"``: weights
#: and activations unquantized, which makes every unit float
INTEGER_UNITS = ("norm", "softmax", "gelu", "quant")

_INT32 = (1 << 31) - 1
_SOFTMAX_SCALE = 2.0 ** -7          # Shiftmax/ShiftGELU's 8-bit probability scale


@dataclass
class QTensor:
    """A tensor on the integer path: real ``value`` (float, carries the gradient), its int64
    ``code`` and ``scale`` (``value == code * scale`` in the forward pass; ``scale`` is an
    array of one scale per channel for a per-channel accumulator); ``code`` and ``scale`` are
    None on the float path (``"quant"`` swapped to float)."""
    value: torch.Tensor
    code: torch.Tensor | None = None
    scale: float | np.ndarray | None = None


def _ste(surrogate, exact):
    """``exact`` forward, ``surrogate``'s gradient backward."""
    return surrogate + (exact.to(surrogate.dtype) - surrogate).detach()


def _round_half_up_np(x):
    return np.floor(np.asarray(x, dtype=np.float64) + 0.5).astype(np.int64)


def dyadic_arrays(ratios):
    """Per-channel ``(multiplier, shift)`` int64 arrays of positive ``ratios``
    (:func:`~sw_reference.ivit.dyadic_from_float`); ratios are kept inside what a 31-bit
    multiplier and a shift below 64 can express (``[2**-32, 2**30]``)."""
    pairs = [dyadic_from_float(min(max(float(r), 2.0 ** -32), 2.0 ** 30))
             for r in np.ravel(ratios)]
    return (np.array([m for m, _ in pairs], dtype=np.int64),
            np.array([s for _, s in pairs], dtype=np.int64))


class RangeEMA(_CodeRange, nn.Module):
    """The range of one quantization point: ``bits``-bit codes at step ``alpha / hi``.

    In training mode :meth:`observe` moves ``alpha`` towards the batch's ``max |x|``
    (exponential moving average, ``momentum``; the first batch sets it), as
    :class:`ActQuant` with ``range="ema"``.
    """

    def __init__(self, bits: int = 8, *, signed: bool = True, momentum: float = 0.1):
        super().__init__()
        self.bits = _int("bits", bits, 2)
        self.signed = bool(signed)
        self.momentum = float(momentum)
        self.register_buffer("alpha", torch.tensor(1.0))
        self.register_buffer("initialised", torch.tensor(False))

    @property
    def scale(self) -> float:
        """Real value of one code step (a Python float: the export reads the same number)."""
        return max(float(self.alpha), 1e-8) / self.hi

    def observe(self, x: torch.Tensor) -> None:
        if not self.training:
            return
        with torch.no_grad():
            peak = x.detach().abs().amax().float()
            if bool(self.initialised):
                self.alpha.lerp_(peak, self.momentum)
            else:
                self.alpha.copy_(peak)
                self.initialised.fill_(True)

    def clip(self, x: torch.Tensor) -> torch.Tensor:
        """``x`` clamped to the real range of the codes (gradient 0 outside)."""
        r = self.scale
        return torch.clamp(x, self.lo * r, self.hi * r)

    def quantize(self, x: torch.Tensor) -> torch.Tensor:
        """Codes ``clamp(floor(x / r + 1/2), lo, hi)`` of real values (no gradient)."""
        q = torch.floor(x.detach().double() / self.scale + 0.5)
        return torch.clamp(q, self.lo, self.hi).to(torch.int64)

    def code(self, surrogate, code):
        """QTensor of ``code`` at this range's scale whose gradient is ``surrogate``'s."""
        r = self.scale
        return QTensor(_ste(self.clip(surrogate), code * r), code, r)


def _requant(acc, multiplier, shift, out: RangeEMA):
    zero = np.zeros(len(multiplier), dtype=np.int64)
    return golden.Requant(multiplier, shift, zero, lo=out.lo, hi=out.hi)(acc)


class QDense(nn.Module):
    """Integer dense layer (``dense``, 8-bit weights) with an optional requant to ``out``.

    ``y = requant(x @ W_q.T + bias_int)``: ``W_q`` and the per-channel (or per-tensor) weight
    scale of :class:`IntLinear`, ``bias_int = round(b / (s_in * s_w))`` (int32),
    multiplier/shift the dyadic of ``s_in * s_w / s_out``. Without a requant the output is the
    accumulator at scale ``s_in * s_w``: an array of one scale per channel (for a
    :class:`QPosition` after it), or one float with ``per_channel=False`` (a classifier,
    whose argmax then keeps the float order).
    """

    def __init__(self, in_features, out_features, *, bits=8, out_bits=8, per_channel=True,
                 requant=True):
        super().__init__()
        self.linear = IntLinear(in_features, out_features, bits=bits, per_channel=per_channel)
        self.out = RangeEMA(out_bits) if requant else None

    def int_params(self, in_scale: float) -> dict:
        """``weight``, ``bias``, ``acc_scale`` and (with a requant) ``multiplier``, ``shift``."""
        weight = self.linear.quantized_weight().numpy()
        acc = in_scale * self.linear.weight_scale().double().numpy()
        acc = np.broadcast_to(acc, (weight.shape[0],)).copy()
        bias = np.clip(_round_half_up_np(self.linear.bias.detach().double().numpy() / acc),
                       -_INT32, _INT32)
        params = {"weight": weight, "bias": bias, "acc_scale": acc}
        if self.out is not None:
            params["multiplier"], params["shift"] = dyadic_arrays(acc / self.out.scale)
        return params

    def forward(self, x: QTensor, float_units=()) -> QTensor:
        if "quant" in float_units:
            return QTensor(F.linear(x.value, self.linear.weight, self.linear.bias))
        z = self.linear(x.value)
        if self.out is not None:
            self.out.observe(z)
        p = self.int_params(x.scale)
        acc = golden.Dense(p["weight"], p["bias"])(x.code)
        if self.out is None:        # the accumulator: one scale per channel (or per tensor)
            scale = p["acc_scale"] if self.linear.per_channel else float(p["acc_scale"][0])
            real = acc.double() * torch.tensor(np.broadcast_to(scale, p["acc_scale"].shape))
            return QTensor(_ste(z.double(), real), acc, scale)
        return self.out.code(z, _requant(acc, p["multiplier"], p["shift"], self.out))


class QPosition(nn.Module):
    """A learned position term ``[tokens, channels]`` added to a :class:`QDense`'s accumulators
    (``add_const``), then a per-channel requant to ``out``.

    ``values = round(pos / acc_scale[c])`` (int32) at the accumulator's per-channel scale;
    multiplier/shift the dyadic of ``acc_scale[c] / s_out``.
    """

    def __init__(self, tokens, channels, *, out_bits=8):
        super().__init__()
        self.pos = nn.Parameter(0.02 * torch.randn(tokens, channels))
        self.out = RangeEMA(out_bits)

    def int_params(self, acc_scale) -> dict:
        acc = np.asarray(acc_scale, dtype=np.float64)
        values = np.clip(_round_half_up_np(self.pos.detach().double().numpy() / acc),
                         -_INT32, _INT32)
        m, s = dyadic_arrays(acc / self.out.scale)
        return {"values": values, "multiplier": m, "shift": s}

    def forward(self, x: QTensor, float_units=()) -> QTensor:
        z = x.value.to(self.pos.dtype) + self.pos
        if "quant" in float_units:
            return QTensor(z)
        self.out.observe(z)
        p = self.int_params(np.broadcast_to(x.scale, (self.pos.shape[1],)))
        acc = golden.AddConst(p["values"])(x.code)
        return self.out.code(z, _requant(acc, p["multiplier"], p["shift"], self.out))


class QLayerNorm(nn.Module):
    """I-ViT integer LayerNorm (``layernorm``, exact square root, bias) + per-channel requant.

    Real output ``gamma * (x - mean) / std + beta``; the integer LayerNorm gives
    ``(x - mean) / std`` at scale ``sqrt(C) * 2**-30`` plus ``bias_int = round(beta / gamma /
    that scale)``, and the requant multiplies by ``gamma * sqrt(C) * 2**-30 / s_out``. The
    multiplier is positive, so ``gamma`` is used as ``max(|gamma|, 1e-3)`` (a sign would
    belong to the next layer's weights).
    """

    def __init__(self, channels, *, out_bits=8):
        super().__init__()
        self.channels = _int("channels", channels, 1)
        self.gamma = nn.Parameter(torch.ones(channels))
        self.beta = nn.Parameter(torch.zeros(channels))
        self.out = RangeEMA(out_bits)

    @property
    def norm_scale(self) -> float:
        return math.sqrt(self.channels) * 2.0 ** -30

    def effective_gamma(self):
        return self.gamma.abs().clamp(min=1e-3)

    def int_params(self) -> dict:
        gamma = self.effective_gamma().detach().double().numpy()
        beta = self.beta.detach().double().numpy()
        bias = np.clip(_round_half_up_np(beta / gamma / self.norm_scale), -(1 << 30), 1 << 30)
        m, s = dyadic_arrays(gamma * self.norm_scale / self.out.scale)
        return {"bias": bias, "multiplier": m, "shift": s}

    def forward(self, x: QTensor, float_units=()) -> QTensor:
        z = F.layer_norm(x.value, (self.channels,), self.effective_gamma(), self.beta, eps=1e-12)
        if "quant" in float_units:
            return QTensor(z)
        self.out.observe(z)
        if "norm" in float_units:
            return self.out.code(z, self.out.quantize(z))
        p = self.int_params()
        n = golden.LayerNorm(p["bias"], sqrt="exact")(x.code)
        return self.out.code(z, _requant(n, p["multiplier"], p["shift"], self.out))


class QMatMul(nn.Module):
    """Activation x activation product per head (``matmul``) + per-tensor requant; ``factor``
    (the attention's ``1/sqrt(d)``) is folded into the requant's multiplier."""

    def __init__(self, *, heads, transpose_b=False, factor=1.0, out_bits=8):
        super().__init__()
        self.heads, self.transpose_b, self.factor = int(heads), bool(transpose_b), float(factor)
        self.out = RangeEMA(out_bits)

    def _float(self, a, b):
        n, m, _ = a.shape
        ah = a.reshape(n, m, self.heads, -1).transpose(1, 2)
        bh = b.reshape(n, b.shape[1], self.heads, -1).transpose(1, 2)
        y = ah @ (bh.transpose(2, 3) if self.transpose_b else bh)
        return y.transpose(1, 2).reshape(n, m, -1) * self.factor

    def int_params(self, a_scale: float, b_scale: float) -> dict:
        m, s = dyadic_arrays([a_scale * b_scale * self.factor / self.out.scale])
        return {"multiplier": m, "shift": s}

    def forward(self, a: QTensor, b: QTensor, float_units=()) -> QTensor:
        z = self._float(a.value, b.value)
        if "quant" in float_units:
            return QTensor(z)
        self.out.observe(z)
        p = self.int_params(a.scale, b.scale)
        acc = golden.MatMul(transpose_b=self.transpose_b, heads=self.heads)(a.code, b.code)
        return self.out.code(z, _requant(acc, p["multiplier"], p["shift"], self.out))


class QShiftmax(nn.Module):
    """I-ViT Shiftmax per head (``shiftmax``, 8-bit probabilities at scale ``2**-7``);
    ``x0 = floor(-1 / s_in)``. Float: softmax, quantized to the same 8-bit codes."""

    out_bits = 8

    def __init__(self, *, heads):
        super().__init__()
        self.heads = int(heads)

    def forward(self, x: QTensor, float_units=()) -> QTensor:
        grouped = x.value.reshape(*x.value.shape[:-1], self.heads, -1)
        z = torch.softmax(grouped, dim=-1).reshape(x.value.shape)
        if "quant" in float_units:
            return QTensor(z)
        if "softmax" in float_units:
            code = torch.clamp(torch.floor(z.detach().double() / _SOFTMAX_SCALE + 0.5), 0, 127)
            code = code.to(torch.int64)
        else:
            code = golden.Shiftmax(x0=x0_from_scale(x.scale), out_bits=self.out_bits,
                                   heads=self.heads)(x.code)
        return QTensor(_ste(z, code * _SOFTMAX_SCALE), code, _SOFTMAX_SCALE)


class QShiftGELU(nn.Module):
    """I-ViT ShiftGELU (``shiftgelu``, ``x0 = floor(-1 / (1.702 s_in))``) + per-tensor requant;
    float: ``F.gelu`` (erf), quantized to the same codes."""

    def __init__(self, *, out_bits=8):
        super().__init__()
        self.out = RangeEMA(out_bits)

    def int_params(self, in_scale: float) -> dict:
        m, s = dyadic_arrays([in_scale * _SOFTMAX_SCALE / self.out.scale])
        return {"x0": x0_from_scale(1.702 * in_scale), "multiplier": m, "shift": s}

    def forward(self, x: QTensor, float_units=()) -> QTensor:
        z = F.gelu(x.value)
        if "quant" in float_units:
            return QTensor(z)
        self.out.observe(z)
        if "gelu" in float_units:
            return self.out.code(z, self.out.quantize(z))
        p = self.int_params(x.scale)
        g = golden.ShiftGELU(x0=p["x0"])(x.code)
        return self.out.code(z, _requant(g, p["multiplier"], p["shift"], self.out))


class QAdd(nn.Module):
    """Residual add (``add``): each input dyadic-rescaled to the output's own scale."""

    def __init__(self, *, out_bits=8):
        super().__init__()
        self.out = RangeEMA(out_bits)

    def int_params(self, a_scale: float, b_scale: float) -> dict:
        m, s = dyadic_arrays([a_scale / self.out.scale, b_scale / self.out.scale])
        return {"multiplier": m, "shift": s}

    def forward(self, a: QTensor, b: QTensor, float_units=()) -> QTensor:
        z = a.value + b.value
        if "quant" in float_units:
            return QTensor(z)
        self.out.observe(z)
        p = self.int_params(a.scale, b.scale)
        code = golden.Add(p["multiplier"], p["shift"], np.zeros(1, dtype=np.int64),
                          lo=self.out.lo, hi=self.out.hi)(a.code, b.code)
        return self.out.code(z, code)


class QFlatten(nn.Module):
    """``[N, T, C] -> [N, T*C]`` (``flatten``: tokens one after the other)."""

    def forward(self, x: QTensor, float_units=()) -> QTensor:
        return QTensor(x.value.flatten(1), None if x.code is None else x.code.flatten(1), x.scale)


class TinyViT(nn.Module):
    """A one-block integer vision transformer (I-ViT) on ``tokens`` patches of ``patch`` pixels.

    ``[N, tokens, patch]`` -> patch embedding (``QDense`` on every token) + position term
    (:class:`QPosition`) -> LayerNorm ->
    q, k, v -> ``q @ k.T / sqrt(d)`` per head -> Shiftmax -> ``@ v`` -> projection -> residual
    add -> LayerNorm -> dense ``mlp`` -> ShiftGELU -> dense -> residual add -> flatten ->
    classifier (per-tensor weight scale) -> scores ``[N, classes]``.
    Every activation is 8-bit signed (probabilities 8-bit unsigned).

    ``float_units`` (a subset of :data:`INTEGER_UNITS`) swaps integer units back to their float
    functions: the accuracy cost of each approximation is the accuracy difference. The input
    is real (``pixel * input_scale``); its codes are recovered as ``round(x / input_scale)``.
    """

    def __init__(self, *, tokens=16, patch=4, dim=16, heads=2, mlp=32, classes=10,
                 input_scale=1 / 16):
        super().__init__()
        if dim % heads:
            raise ValueError(f"heads ({heads}) must divide dim ({dim})")
        self.tokens, self.patch, self.dim, self.heads = tokens, patch, dim, heads
        self.input_scale = float(input_scale)
        self.float_units = frozenset()
        self.embed = QDense(patch, dim, requant=False)
        self.pos = QPosition(tokens, dim)
        self.ln1 = QLayerNorm(dim)
        self.q, self.k, self.v = QDense(dim, dim), QDense(dim, dim), QDense(dim, dim)
        self.scores = QMatMul(heads=heads, transpose_b=True, factor=(dim // heads) ** -0.5)
        self.attn = QShiftmax(heads=heads)
        self.ctx = QMatMul(heads=heads)
        self.proj = QDense(dim, dim)
        self.res1 = QAdd()
        self.ln2 = QLayerNorm(dim)
        self.fc1 = QDense(dim, mlp)
        self.gelu = QShiftGELU()
        self.fc2 = QDense(mlp, dim)
        self.res2 = QAdd()
        self.flat = QFlatten()
        self.head = QDense(tokens * dim, classes, per_channel=False, requant=False)

    def set_float_units(self, units) -> None:
        units = frozenset(units)
        unknown = units - set(INTEGER_UNITS)
        if unknown:
            raise ValueError(f"float_units must be among {', '.join(INTEGER_UNITS)}, "
                             f"not {sorted(unknown)}")
        self.float_units = units

    #: the layers in order, each with the tensors it reads (the export's YAML ``inputs``)
    GRAPH = (("embed", ("input",)), ("pos", ("embed",)), ("ln1", ("pos",)), ("q", ("ln1",)), ("k", ("ln1",)),
             ("v", ("ln1",)), ("scores", ("q", "k")), ("attn", ("scores",)),
             ("ctx", ("attn", "v")), ("proj", ("ctx",)), ("res1", ("pos", "proj")),
             ("ln2", ("res1",)), ("fc1", ("ln2",)), ("gelu", ("fc1",)), ("fc2", ("gelu",)),
             ("res2", ("res1", "fc2")), ("flat", ("res2",)), ("head", ("flat",)))

    def forward_all(self, x) -> dict:
        """Every intermediate :class:`QTensor` by layer name (``"input"``: the input's)."""
        code = torch.floor(x.detach().double() / self.input_scale + 0.5).to(torch.int64)
        t = {"input": QTensor(x, code, self.input_scale)}
        for name, inputs in self.GRAPH:
            t[name] = getattr(self, name)(*(t[i] for i in inputs), self.float_units)
        return t

    def forward(self, x):
        return self.forward_all(x)["head"].value
