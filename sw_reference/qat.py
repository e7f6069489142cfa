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

import torch
from torch import nn
from torch.nn import functional as F

__all__ = ["binarize", "round_half_up", "BinaryLinear", "BinaryConv2d", "BinaryAct",
           "TernaryLinear", "IntLinear", "ActQuant", "Scale", "clip_latent_weights"]


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


class ActQuant(nn.Module):
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
    def lo(self) -> int:
        return -(1 << (self.bits - 1)) if self.signed else 0

    @property
    def hi(self) -> int:
        return (1 << (self.bits - 1)) - 1 if self.signed else (1 << self.bits) - 1

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
