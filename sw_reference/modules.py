"""One ``torch.nn.Module`` per hwgen operator, holding its integer parameters as buffers.

Each module is a thin wrapper over :mod:`sw_reference.ops` /
:mod:`sw_reference.ivit`: parameters are stored as int64 buffers (so
``state_dict()`` carries them and ``.to()`` keeps them integer), and
``forward`` takes and returns int64 tensors with a leading batch axis.

:func:`module_for` turns a resolved :class:`hwgen.spec.LayerSpec` into its
module: each op of the op table (:mod:`hwgen.ops`) names its class here and
says how to build it from the layer; an inline ``activation`` is applied
after the op (:class:`Activated`). This package never imports hwgen's
hardware code: the op table holds no units.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from hwgen.ops import OPS

from . import ivit, ops

__all__ = ["BinaryDense", "BinaryConv2d", "Dense", "Conv2d", "Threshold", "Requant",
           "MaxPool2d", "Flatten", "ArgMax", "Add", "AddConst", "MatMul", "Shiftmax", "ShiftGELU",
           "LayerNorm", "Activated", "module_for"]


def _buffer(name: str, value) -> torch.Tensor:
    """A private int64 copy of an integer array/tensor (the spec's arrays are read-only)."""
    if isinstance(value, torch.Tensor):
        if value.dtype.is_floating_point or value.dtype.is_complex or value.dtype == torch.bool:
            raise TypeError(f"{name} must hold integers, not {value.dtype}")
        return value.detach().to(torch.int64).clone()
    array = np.asarray(value)
    if array.dtype.kind not in "iu":
        raise TypeError(f"{name} must hold integers, not {array.dtype}")
    return torch.tensor(array.astype(np.int64))


class _IntModule(nn.Module):
    def _int_buffer(self, name: str, value):
        if value is None:
            self.register_buffer(name, None)
        else:
            self.register_buffer(name, _buffer(name, value))


class Dense(_IntModule):
    """Integer fully connected layer, ``y = x @ weight.T + bias`` (:func:`ops.dense`).

    ``weight_type="ternary"`` (BitNet b1.58) only checks that the weights are
    in {-1, 0, +1}; the arithmetic is the same.
    """

    def __init__(self, weight, bias=None, *, weight_type: str = "int"):
        super().__init__()
        if weight_type not in ("int", "ternary"):
            raise TypeError(f"weight_type must be 'int' or 'ternary', not {weight_type!r}")
        self._int_buffer("weight", weight)
        self._int_buffer("bias", bias)
        if weight_type == "ternary" and bool((self.weight.abs() > 1).any()):
            raise ValueError("ternary weights must be -1, 0 or +1")
        self.weight_type = weight_type

    def forward(self, x):
        return ops.dense(x, self.weight, self.bias)

    def extra_repr(self):
        out, inp = self.weight.shape
        return f"in={inp}, out={out}, bias={self.bias is not None}, weight_type={self.weight_type}"


class BinaryDense(_IntModule):
    """XNOR-popcount layer with -1/+1 weights (:func:`ops.binary_dense`)."""

    def __init__(self, weight):
        super().__init__()
        self._int_buffer("weight", weight)
        ops._check_pm1("BinaryDense weight", self.weight)

    def forward(self, x):
        return ops.binary_dense(x, self.weight)

    def extra_repr(self):
        out, inp = self.weight.shape
        return f"in={inp}, out={out}"


class Conv2d(_IntModule):
    """Integer 2-D convolution, zero padding (:func:`ops.conv2d`)."""

    def __init__(self, weight, bias=None, *, stride: int = 1, padding: int = 0,
                 weight_type: str = "int"):
        super().__init__()
        if weight_type not in ("int", "ternary"):
            raise TypeError(f"weight_type must be 'int' or 'ternary', not {weight_type!r}")
        self._int_buffer("weight", weight)
        self._int_buffer("bias", bias)
        if weight_type == "ternary" and bool((self.weight.abs() > 1).any()):
            raise ValueError("ternary weights must be -1, 0 or +1")
        self.stride, self.padding, self.weight_type = int(stride), int(padding), weight_type

    def forward(self, x):
        return ops.conv2d(x, self.weight, self.bias, stride=self.stride, padding=self.padding)

    def extra_repr(self):
        return (f"weight={list(self.weight.shape)}, stride={self.stride}, "
                f"padding={self.padding}, bias={self.bias is not None}")


class BinaryConv2d(_IntModule):
    """XNOR-popcount convolution, padding with -1 (:func:`ops.binary_conv2d`)."""

    def __init__(self, weight, *, stride: int = 1, padding: int = 0):
        super().__init__()
        self._int_buffer("weight", weight)
        ops._check_pm1("BinaryConv2d weight", self.weight)
        self.stride, self.padding = int(stride), int(padding)

    def forward(self, x):
        return ops.binary_conv2d(x, self.weight, stride=self.stride, padding=self.padding)

    def extra_repr(self):
        return f"weight={list(self.weight.shape)}, stride={self.stride}, padding={self.padding}"


class Threshold(_IntModule):
    """Multi-threshold activation (:func:`ops.threshold`); ``binary_out`` gives -1/+1."""

    def __init__(self, thresholds, *, channel_axis: int = -1, binary_out: bool = False):
        super().__init__()
        self._int_buffer("thresholds", thresholds)
        self.channel_axis, self.binary_out = int(channel_axis), bool(binary_out)

    def forward(self, x):
        return ops.threshold(x, self.thresholds, channel_axis=self.channel_axis,
                             binary_out=self.binary_out)

    def extra_repr(self):
        return (f"thresholds={list(self.thresholds.shape)}, channel_axis={self.channel_axis}, "
                f"binary_out={self.binary_out}")


class Requant(_IntModule):
    """Dyadic requantisation ``clamp(dyadic(x, m, s, rounding) + zp, lo, hi)`` (:func:`ops.requant`)."""

    def __init__(self, multiplier, shift, zero_point, *, lo: int, hi: int,
                 channel_axis: int = -1, rounding: str = "half_up"):
        super().__init__()
        self._int_buffer("multiplier", multiplier)
        self._int_buffer("shift", shift)
        self._int_buffer("zero_point", zero_point)
        self.lo, self.hi, self.channel_axis = int(lo), int(hi), int(channel_axis)
        self.rounding = _rounding(rounding)

    def forward(self, x):
        return ops.requant(x, self.multiplier, self.shift, self.zero_point, self.lo, self.hi,
                           channel_axis=self.channel_axis, rounding=self.rounding)

    def extra_repr(self):
        return (f"channels={self.multiplier.numel()}, range=[{self.lo}, {self.hi}], "
                f"channel_axis={self.channel_axis}, rounding={self.rounding}")


class Add(_IntModule):
    """Residual add of n inputs rescaled to a common scale (:func:`ops.add`)."""

    def __init__(self, multiplier, shift, zero_point, *, lo: int, hi: int,
                 rounding: str = "half_up"):
        super().__init__()
        self._int_buffer("multiplier", multiplier)
        self._int_buffer("shift", shift)
        self._int_buffer("zero_point", zero_point)
        self.lo, self.hi = int(lo), int(hi)
        self.rounding = _rounding(rounding)

    def forward(self, *xs):
        return ops.add(xs, self.multiplier, self.shift, self.zero_point, self.lo, self.hi,
                       rounding=self.rounding)

    def extra_repr(self):
        return (f"inputs={self.multiplier.numel()}, range=[{self.lo}, {self.hi}], "
                f"rounding={self.rounding}")


class AddConst(_IntModule):
    """Per-element constant add ``x + values`` (:func:`ops.add_const`), e.g. a position term."""

    def __init__(self, values):
        super().__init__()
        self._int_buffer("values", values)

    def forward(self, x):
        return ops.add_const(x, self.values)

    def extra_repr(self):
        return f"values={list(self.values.shape)}"


def _rounding(mode):
    if mode not in ops.ROUNDING_MODES:
        raise ValueError(f"rounding must be one of {', '.join(ops.ROUNDING_MODES)}, not {mode!r}")
    return mode


class MaxPool2d(nn.Module):
    """k x k max pooling, stride k (:func:`ops.maxpool2d`)."""

    def __init__(self, kernel_size: int):
        super().__init__()
        self.kernel_size = int(kernel_size)

    def forward(self, x):
        return ops.maxpool2d(x, self.kernel_size)

    def extra_repr(self):
        return f"kernel_size={self.kernel_size}"


class Flatten(nn.Module):
    """PyTorch-order flatten to ``[N, -1]`` (:func:`ops.flatten`)."""

    def forward(self, x):
        return ops.flatten(x)


class ArgMax(nn.Module):
    """Top-1 index over the last axis, lowest index on ties (:func:`ops.argmax`)."""

    def forward(self, x):
        return ops.argmax(x)


class MatMul(nn.Module):
    """Activation x activation product per head (:func:`ops.matmul`); ``forward(a, b)``."""

    def __init__(self, *, transpose_b: bool = False, heads: int = 1):
        super().__init__()
        self.transpose_b, self.heads = bool(transpose_b), int(heads)

    def forward(self, a, b):
        return ops.matmul(a, b, transpose_b=self.transpose_b, heads=self.heads)

    def extra_repr(self):
        return f"transpose_b={self.transpose_b}, heads={self.heads}"


class Shiftmax(nn.Module):
    """I-ViT Shiftmax over the last axis (:func:`ivit.shiftmax`).

    ``heads > 1`` (an extension of I-ViT's single-head form) splits the last axis into
    ``heads`` equal groups and normalises each on its own, for the
    ``[T, H*T]`` scores a multi-head ``matmul`` produces.
    """

    def __init__(self, *, x0: int, out_bits: int = 8, heads: int = 1):
        super().__init__()
        self.x0, self.out_bits, self.heads = int(x0), int(out_bits), int(heads)
        if self.heads < 1:
            raise ValueError(f"heads must be at least 1, not {heads!r}")

    def forward(self, x):
        if self.heads == 1:
            return ivit.shiftmax(x, self.x0, self.out_bits)
        if x.ndim == 0 or x.shape[-1] % self.heads:
            raise ValueError(f"heads={self.heads} must divide the last axis {list(x.shape)}")
        grouped = x.reshape(*x.shape[:-1], self.heads, x.shape[-1] // self.heads)
        return ivit.shiftmax(grouped, self.x0, self.out_bits).reshape(x.shape)

    def extra_repr(self):
        return f"x0={self.x0}, out_bits={self.out_bits}, heads={self.heads}"


class ShiftGELU(nn.Module):
    """I-ViT ShiftGELU (:func:`ivit.shiftgelu`); ``x0`` from ``1.702 * scale``."""

    def __init__(self, *, x0: int):
        super().__init__()
        self.x0 = int(x0)

    def forward(self, x):
        return ivit.shiftgelu(x, self.x0)

    def extra_repr(self):
        return f"x0={self.x0}"


class LayerNorm(_IntModule):
    """I-ViT integer LayerNorm over the last axis (:func:`ivit.layernorm`)."""

    def __init__(self, bias=None, *, sqrt: str = "exact"):
        super().__init__()
        if sqrt not in ("exact", "ivit"):
            raise TypeError(f"sqrt must be 'exact' or 'ivit', not {sqrt!r}")
        self._int_buffer("bias", bias)
        self.sqrt = sqrt

    def forward(self, x):
        return ivit.layernorm(x, self.bias, sqrt=self.sqrt)

    def extra_repr(self):
        return f"sqrt={self.sqrt}, bias={self.bias is not None}"


class Activated(nn.Module):
    """An op followed by its inline activation: ``forward(*xs) = act(op(*xs))``."""

    def __init__(self, op: nn.Module, act: nn.Module):
        super().__init__()
        self.op, self.act = op, act

    def forward(self, *xs):
        return self.act(self.op(*xs))


# -- LayerSpec -> module ------------------------------------------------------------------------

def _build(layer) -> nn.Module:
    """The golden module the op table names for ``layer`` (``Op.golden``, ``Op.golden_args``)."""
    op = OPS.get(layer.op)
    if op is None:
        raise ValueError(f"layer {layer.name!r}: no golden module for op {layer.op!r}")
    return globals()[op.golden](**op.golden_args(layer))


def module_for(layer) -> nn.Module:
    """The golden module of a resolved :class:`hwgen.spec.LayerSpec` (with its inline activation).

    Which module and how it is built is the layer's op's golden factory in
    the op table (:mod:`hwgen.ops`). Per-channel parameters run along
    ``layer.in_types[0].channel_axis`` (axis 1 of ``[N, C, H, W]``, the last
    axis otherwise); requant/add clamp to ``layer.out_type``'s ``[lo, hi]``;
    a threshold with ``bits == 1`` outputs -1/+1.
    """
    module = _build(layer)
    if layer.activation is not None:
        act = OPS.get(layer.activation.op)
        if act is None or not act.activation:
            allowed = " or ".join(name for name, op in OPS.items() if op.activation)
            raise ValueError(f"layer {layer.name!r}: inline activation must be {allowed}, "
                             f"not {layer.activation.op!r}")
        module = Activated(module, _build(layer.activation))
    return module
