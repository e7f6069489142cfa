"""What the four matrix-vector ops share: ``dense``, ``binary_dense``, ``conv2d``, ``binary_conv2d``.

Their keys, the exact accumulator range from the actual weights, their
parameters (``weight``, optional ``bias``), folding (``pe`` divides the
outputs, ``simd`` the fan-in), golden modules and hardware (an MVAU, behind
a sliding-window generator for a convolution).
"""

from __future__ import annotations

import numpy as np

from . import _random as rw
from ._field import MAX_PARAM_ELEMENTS, Field, shape_text
from ._op import FoldDims
from ._tensor import TensorType

__all__ = ["KERNEL", "WEIGHTS", "PIPELINE", "POPCOUNT", "UNROLL", "check_popcount", "size", "weight_kind", "integer_weight_bits",
           "resolve_weights", "dense_like", "conv_like", "acc_bounds", "check_weights",
           "dense_fold", "conv_fold", "golden_bias", "mvau_for", "flatten_columns",
           "dense_hardware", "dense_cycles", "conv_hardware", "conv_cycles"]


def size(name, doc, required=True, default=None):
    return Field(name, "int", required=required, default=default, lo=1, doc=doc)


KERNEL = (
    size("kernel_size", "square kernel side k"),
    Field("stride", "int", default=1, lo=1, doc="stride in both directions"),
    Field("padding", "int", default=0, lo=0, doc="zero padding (binary: -1) on each side"),
)
WEIGHTS = (
    Field("weight_bits", "int", default=8, lo=2, hi=8, doc="signed weight width (ternary: 2)"),
    Field("weight_type", "choice", default="int", choices=("int", "ternary"),
          doc="'ternary': weights in {-1, 0, +1} (BitNet b1.58), no multipliers"),
    Field("bias", "bool", default=False, doc="add an int32 bias per output channel"),
    Field("resource", "choice", default="lut", choices=("lut", "dsp"),
          doc="integer products as 'lut' shift-add logic or 'dsp' registered multipliers "
              "(PE*SIMD DSP blocks); ternary weights never use multipliers, so only 'lut'"),
    Field("pipeline", "int", default=1, lo=0, hi=8,
          doc="register stages inside the product adder tree (0: combinational)"),
)
PIPELINE = Field("pipeline", "int", default=1, lo=0, hi=8,
                 doc="register stages inside the popcount adder tree (0: combinational)")
#: the XNOR-popcount tree of a folded binary MVAU (hwgen.units.popcount)
POPCOUNT = Field("popcount", "choice", default="adder",
                 choices=("adder", "compressor", "ecp5_carry"),
                 doc="binary inputs: 'adder' (XNORs, two-input adders), 'compressor' (XNORs "
                     "fused into 3-synapse counters, GPC stages, one carry-chain adder; "
                     "fewest LUT6 on Xilinx) or 'ecp5_carry' (ECP5 only: the mismatches "
                     "counted on CCU2C carry cells with the XORs in their LUT4s; fewest "
                     "LUT4). Same cycles")
#: fully unrolled binary layers (issue #10): weights folded into logic, MST-shared popcounts
UNROLL = (
    Field("unroll", "choice", default="none", choices=("none", "full"),
          doc="'full': weights become constants in logic, one vector per cycle; "
              "sets pe to the outputs and simd to the fan-in"),
    Field("share", "choice", default="none", choices=("none", "mst"),
          doc="'mst' (needs unroll: full): a channel reuses the result of a channel with "
              "similar weights (minimum spanning tree over Hamming distances)"),
    Field("share_depth", "int", default=2, lo=1, hi=8,
          doc="share: mst only; longest chain of reuse (each link adds one adder stage)"),
)


def check_popcount(ctx, m, attrs, path, what):
    """``popcount`` picks the tree of a folded MVAU: an unrolled layer has none of its own."""
    if attrs["popcount"] != "adder" and attrs["unroll"] == "full":
        raise ctx.error(m.key_lines["popcount"], f"{path}.popcount",
                        f"{what}: popcount: {attrs['popcount']} chooses the tree of a folded "
                        f"MVAU; with unroll: full the weights are constants in logic",
                        "remove 'popcount' or 'unroll: full'")


def weight_kind(op_name, attrs):
    """``"binary"`` (-1/+1 weights of the binary ops), else the layer's ``weight_type``."""
    return "binary" if op_name.startswith("binary_") else attrs.weight_type


def integer_weight_bits(attrs):
    """Bits of one weight of ``dense``/``conv2d`` (ternary weights are 2-bit)."""
    return attrs.weight_bits


def resolve_weights(ctx, m, attrs, path, what):
    """Ternary weights are 2-bit (an explicit ``weight_bits`` is ignored) and never multiplied."""
    if attrs["weight_type"] == "ternary":
        attrs["weight_bits"] = 2
        if attrs["resource"] == "dsp":
            raise ctx.error(m.key_lines["resource"], f"{path}.resource",
                            f"{what}: resource 'dsp' needs integer weights; ternary weights "
                            f"are added, subtracted or skipped, never multiplied",
                            "remove 'resource: dsp' (ternary layers always use LUT logic)")


# -- inference -----------------------------------------------------------------------------------

def dense_like(ctx, raw, in_types, in_moments):
    t, = in_types
    hint = "insert {op: flatten} before it" if len(t.shape) == 3 else None
    ctx.need_rank(raw, t, (1, 2), "a 1-D input [K] (or rows [T, C])" if len(t.shape) == 3
                  else "a 1-D input [K] or rows [T, C]", hint)
    k = t.shape[-1]
    out = raw.attrs.out_features
    shape = t.shape[:-1] + (out,)
    params = _params(ctx, raw, (out, k), "[out_features, in_features]", t, in_moments[0])
    return _range(raw, shape, params, t, in_moments[0], pad=False)


def conv_like(ctx, raw, in_types, in_moments):
    t, = in_types
    ctx.need_rank(raw, t, (3,), "a [C, H, W] input",
                  "a conv needs a feature map; set input.shape to [C, H, W]"
                  if raw.inputs == ("input",) else None)
    c, h, w = t.shape
    k, s, p = raw.attrs.kernel_size, raw.attrs.stride, raw.attrs.padding
    if k > h + 2 * p or k > w + 2 * p:
        raise ctx.shape_error(raw, f"kernel_size {k} is larger than the padded input "
                              f"{h + 2 * p}x{w + 2 * p} ({ctx.its_input(raw)} is "
                              f"{t.describe()}, padding {p})", key="kernel_size")
    oh, ow = (h + 2 * p - k) // s + 1, (w + 2 * p - k) // s + 1
    m = raw.attrs.out_channels
    params = _params(ctx, raw, (m, c, k, k), "[out_channels, in_channels, k, k]",
                     t, in_moments[0])
    return _range(raw, (m, oh, ow), params, t, in_moments[0], pad=p > 0)


def _params(ctx, raw, wshape, wdesc, t, moments):
    wkind = weight_kind(raw.op, raw.attrs)
    bits = 1 if wkind == "binary" else raw.attrs.weight_bits
    n = int(np.prod(wshape))
    if n > MAX_PARAM_ELEMENTS:
        raise ctx.shape_error(raw, f"{ctx.who(raw)} would have {n} weights {shape_text(wshape)}; "
                              f"hwgen supports at most {MAX_PARAM_ELEMENTS}")
    has_bias = wkind != "binary" and raw.attrs.bias
    src = ctx.params
    if src.generated:
        rng = rw.rng_for(src.seed, raw.name)
        weight = rw.weights(rng, wshape, kind=wkind, bits=bits)
        params = {"weight": weight}
        if has_bias:
            lo, hi = acc_bounds(weight, t, pad=False, binary_op=wkind == "binary")
            params["bias"] = rw.bias(rng, lo, hi, _moments(weight, t, moments, None))
    else:
        params = {"weight": src.get(raw, "weight", wshape, wdesc)}
        if has_bias:
            params["bias"] = src.get(raw, "bias", wshape[:1], "[out]")
    check_weights(ctx, raw, params["weight"], wkind, bits)
    if has_bias:
        ctx.check_int32(raw, "bias", params["bias"])
    return params


def acc_bounds(weight, t, pad, binary_op, bias=None):
    """Per-output-channel exact accumulator bounds from actual weights and the input range."""
    xlo, xhi = t.lo, t.hi
    if pad and not t.binary:
        # zero padding (and -1 for binary convs, to be safe) may lie outside the input range
        xlo, xhi = min(xlo, -1 if binary_op else 0), max(xhi, 0)
    w = weight.reshape(weight.shape[0], -1)
    worst = max(abs(xlo), abs(xhi)) * int(np.abs(w).max(initial=0)) * w.shape[1]
    w = w.astype(object if worst > 1 << 62 else np.int64)   # exact Python ints when int64 could overflow
    a, b = w * xlo, w * xhi
    lo = np.minimum(a, b).sum(axis=1)
    hi = np.maximum(a, b).sum(axis=1)
    if bias is not None:
        lo, hi = lo + bias, hi + bias
    return lo, hi


def _moments(weight, t, moments, bias):
    w = weight.reshape(weight.shape[0], -1).astype(np.float64)
    mu, sd = float(moments.overall().mean), float(moments.overall().std)
    mean = mu * w.sum(axis=1) + (0 if bias is None else bias)
    std = np.sqrt((w * w).sum(axis=1)) * sd
    return rw.Moments(mean, std)


def _range(raw, shape, params, t, moments, pad):
    lo, hi = acc_bounds(params["weight"], t, pad, raw.op.startswith("binary_"),
                        params.get("bias"))
    out = TensorType.of_range(shape, int(min(lo)), int(max(hi)))
    return out, params, _moments(params["weight"], t, moments, params.get("bias"))


def check_weights(ctx, raw, w, kind, bits):
    if kind == "binary":
        bad = (w != 1) & (w != -1)
        if bad.any():
            idx = tuple(int(i) for i in np.argwhere(bad)[0])
            raise ctx.param_error(raw, f"{ctx.pdesc(raw, 'weight')} must be binary -1/+1 "
                                  f"(int8), but {int(bad.sum())} values are not, e.g. "
                                  f"{int(w[idx])} at {list(idx)}",
                                  "store binary weights as -1/+1, not 0/1")
    elif kind == "ternary":
        bad = (w < -1) | (w > 1)
        if bad.any():
            idx = tuple(int(i) for i in np.argwhere(bad)[0])
            raise ctx.param_error(raw, f"{ctx.pdesc(raw, 'weight')} must be ternary "
                                  f"{{-1, 0, +1}} (weight_type: ternary), but {int(bad.sum())} values "
                                  f"are not, e.g. {int(w[idx])} at {list(idx)}")
    else:
        lo, hi = -(1 << (bits - 1)), (1 << (bits - 1)) - 1
        bad = (w < lo) | (w > hi)
        if bad.any():
            idx = tuple(int(i) for i in np.argwhere(bad)[0])
            need = max(int(-w.min() - 1).bit_length(), int(w.max()).bit_length()) + 1
            raise ctx.param_error(raw, f"{ctx.pdesc(raw, 'weight')} has {int(bad.sum())} values "
                                  f"outside int{bits} [{lo}, {hi}] (weight_bits: {bits}), e.g. "
                                  f"{int(w[idx])} at {list(idx)}",
                                  f"re-quantize to {bits} bits, or set weight_bits: {need}"
                                  if need <= 8 else f"re-quantize to {bits} bits")


# -- folding -------------------------------------------------------------------------------------

def dense_fold(attrs, in_types):
    """``pe`` divides out_features, ``simd`` the fan-in (in_features)."""
    return FoldDims(("out_features", attrs.out_features), ("in_features", in_types[0].shape[-1]))


def conv_fold(attrs, in_types):
    """``pe`` divides out_channels, ``simd`` the input channels (FINN's SWG constraint)."""
    return FoldDims(("out_channels", attrs.out_channels),
                    ("the input channels", in_types[0].shape[0]))


# -- golden --------------------------------------------------------------------------------------

def golden_bias(layer):
    return layer.params["bias"] if layer.attrs.bias else None


# -- hardware ------------------------------------------------------------------------------------

def mvau_for(layer, weights, source, units, *, in_range=None):
    """The MVAU computing ``layer`` from a weight matrix [MH, MW] on ``source``'s elements.

    Shared by the dense and convolution factories (a convolution passes its
    kernels as [OC, k*k*C] in window order and an ``in_range`` that includes
    its padding value). Binary weights on binary inputs make the
    XNOR-popcount :class:`~hwgen.units.mvau.MVAU`; every other combination an
    :class:`~hwgen.units.mvau_int.IntegerMVAU` whose output element shape equals
    ``element_shape(layer.op_type)`` (both come from the same exact bounds).
    Layers with ``unroll: full`` on binary inputs never get here: the unit
    factory builds them (``hwgen.units.registry.unrolled_units``: runs of layers
    as one pipeline, thresholds fused).
    """
    attrs = layer.attrs
    kind = weight_kind(layer.op, attrs)
    unrolled = kind == "binary" and attrs.unroll == "full"
    if kind == "binary" and source.binary and unrolled:
        raise AssertionError(f"layer {layer.name!r}: unrolled layers are built by "
                             f"hwgen.units.registry.unrolled_units")
    if kind == "binary" and source.binary:
        # stages spread over the tree: the compressor tree's levels are submodules, so its
        # LUTs do not depend on where they sit, and the accumulator keeps a stage of its own
        return units.MVAU(weights=weights, pe=layer.pe, simd=layer.simd,
                          pipeline=attrs.pipeline, popcount=attrs.popcount)
    if kind == "binary" and attrs.popcount != "adder":
        raise NotImplementedError(
            f"layer {layer.name!r}: popcount: {attrs.popcount} is the XNOR-popcount tree of "
            f"binary inputs; this layer reads {source.describe()}, whose -1/+1 weights add "
            f"or subtract each input (remove the popcount key)")
    if unrolled:
        raise NotImplementedError(
            f"layer {layer.name!r}: unroll: full with weights in logic covers binary inputs "
            f"only (issue #10); this layer reads {source.describe()}")
    if in_range is None and not source.binary:
        in_range = (source.lo, source.hi)
    integer = kind != "binary"
    return units.IntegerMVAU(
        weights=weights, in_shape=units.element_shape(source), weight_kind=kind,
        weight_bits=attrs.weight_bits if integer else 1, bias=layer.params.get("bias"),
        in_range=in_range, binary_input=source.binary, pe=layer.pe, simd=layer.simd,
        pipeline=attrs.pipeline, resource=attrs.resource if integer else "lut")


def flatten_columns(weight, shape):
    """Dense weight [M, C*H*W] reading torch's ``flatten`` of [C, H, W] -> columns in HWC order.

    The stream carries element ``(h*W + w)*C + c`` where torch's flatten has
    ``c*H*W + h*W + w`` (docs/design/numbers.md), so column ``(h*W + w)*C + c``
    of the result is column ``c*H*W + h*W + w`` of ``weight``.
    """
    c, h, w = shape
    return weight.reshape(weight.shape[0], c, h, w).transpose(0, 2, 3, 1).reshape(
        weight.shape[0], -1)


def dense_hardware(layer, source, in_shape, units, flattened_from=None):
    """``dense`` / ``binary_dense`` on [K] or [T, K] inputs: T vectors of K per sample."""
    weights = layer.params["weight"]
    if flattened_from is not None:
        weights = flatten_columns(weights, flattened_from)
    return mvau_for(layer, weights, source, units)


def dense_cycles(layer, units):
    """``NF * SF`` per vector, T vectors of a [T, K] input per sample."""
    unit, = units
    vectors = layer.in_types[0].size // unit.mw
    return vectors * unit.nf * unit.sf


def conv_hardware(layer, source, in_shape, units, flattened_from=None):
    """``conv2d`` / ``binary_conv2d``: a sliding-window generator feeding an MVAU on the
    kernels in window order."""
    binary = layer.op.startswith("binary_")
    padded = layer.attrs.padding > 0
    # binary on binary: pad bit 0 = -1, the binary pad, and no range to widen
    in_range, pad_value, zero_pad_binary, mvau_source = None, 0, False, source
    if binary and not source.binary:
        # binary_conv2d pads with -1 (sw_reference.ops.binary_conv2d); an unsigned pixel
        # stream cannot carry it.
        if padded and not in_shape.signed:
            raise NotImplementedError(
                f"layer {layer.name!r}: binary_conv2d pads with -1, which unsigned "
                f"{in_shape.width}-bit inputs cannot carry; use padding: 0 (as FINN's CNV "
                f"does) or signed inputs")
        pad_value = -1 if padded else 0
        in_range = (min(source.lo, -1), source.hi) if padded else None
    elif not binary and source.binary and padded:
        # conv2d pads with 0, which a binary stream's one bit cannot carry: the window
        # generator widens its output to signed(2) (-1/+1, and 0 for padding)
        zero_pad_binary = True
        mvau_source = TensorType(source.shape, 2, True, -1, 1)
    elif not binary and padded:
        in_range = (min(source.lo, 0), max(source.hi, 0))
    c, h, w = source.shape
    swg = units.ConvolutionInputGenerator(
        in_shape=in_shape, channels=c, height=h, width=w, kernel=layer.attrs.kernel_size,
        stride=layer.attrs.stride, padding=layer.attrs.padding, pad_value=pad_value,
        simd=layer.simd, zero_pad_binary=zero_pad_binary)
    mvau = mvau_for(layer, units.window_weights(layer.params["weight"]), mvau_source, units,
                    in_range=in_range)
    return [swg, mvau]


def conv_cycles(layer, units):
    """OH*OW*NF*SF, or the input beats if more."""
    swg, mvau = units
    cycles = swg.out_height * swg.out_width * mvau.nf * mvau.sf
    return max(cycles, swg.in_beats)
