"""Which unit implements each operator, and which issue brings the ones still missing."""

from amaranth.hdl import signed, unsigned

__all__ = ["units_for", "element_shape", "mvau_for", "MISSING"]

# Operators whose hardware has not landed yet, and the work item that adds it.
MISSING = {
    "binary_conv2d": "issue #5 (ConvolutionInputGenerator + MVAU)",
    "conv2d": "issue #5 (ConvolutionInputGenerator + MVAU)",
    "maxpool2d": "issue #5 (StreamingMaxPool)",
    "flatten": "issue #5 (flatten with column permutation)",
    "add": "issue #6 (residual Add)",
    "matmul": "issue #6 (MatMul)",
    "shiftmax": "issue #6 (Shiftmax)",
    "shiftgelu": "issue #6 (ShiftGELU)",
    "layernorm": "issue #6 (LayerNorm)",
}


def element_shape(tensor):
    """Amaranth shape of one element of a TensorType (binary: 1 bit, 1 = +1)."""
    if tensor.binary:
        return unsigned(1)
    return signed(tensor.bits) if tensor.signed else unsigned(tensor.bits)


def _requant(layer, source, in_shape):
    from .requant import Requant
    unit = Requant(in_shape=in_shape, out_shape=element_shape(layer.out_type),
                   channels=source.channels, pe=layer.pe,
                   multiplier=layer.params["multiplier"].tolist(),
                   shift=layer.params["shift"].tolist(),
                   zero_point=layer.params["zero_point"].tolist())
    return unit, source.size // layer.pe


def _threshold(layer, source, in_shape):
    from .thresholding import Thresholding
    unit = Thresholding(in_shape=in_shape, channels=source.channels, pe=layer.pe,
                        thresholds=layer.params["thresholds"], out_bits=layer.attrs["bits"])
    return unit, source.size // layer.pe


def _argmax(layer, source, in_shape):
    from .label_select import LabelSelect
    unit = LabelSelect(in_shape=in_shape, channels=source.shape[-1], pe=layer.pe)
    return unit, source.size // layer.pe


def mvau_for(layer, weights, source, *, in_range=None):
    """The MVAU computing ``layer`` from a weight matrix [MH, MW] on ``source``'s elements.

    Shared by the dense and convolution factories (a convolution passes its
    kernels as [OC, k*k*C] in window order and an ``in_range`` that includes
    its padding value). Binary weights on binary inputs make the
    XNOR-popcount :class:`~.mvau.MVAU`; every other combination an
    :class:`~.mvau_int.IntegerMVAU` whose output element shape equals
    ``element_shape(layer.op_type)`` (both come from the same exact bounds).
    """
    from .mvau import MVAU
    from .mvau_int import IntegerMVAU
    attrs = layer.attrs
    kind = "binary" if layer.op.startswith("binary_") else attrs["weight_type"]
    if kind == "binary" and source.binary:
        return MVAU(weights=weights, pe=layer.pe, simd=layer.simd, pipeline=attrs["pipeline"])
    if in_range is None and not source.binary:
        in_range = (source.lo, source.hi)
    return IntegerMVAU(weights=weights, in_shape=element_shape(source), weight_kind=kind,
                       weight_bits=attrs.get("weight_bits", 8), bias=layer.params.get("bias"),
                       in_range=in_range, binary_input=source.binary, pe=layer.pe,
                       simd=layer.simd, pipeline=attrs["pipeline"],
                       resource=attrs.get("resource", "lut"))


def _dense(layer, source, in_shape):
    """``dense`` / ``binary_dense`` on [K] or [T, K] inputs: T vectors of K per sample."""
    unit = mvau_for(layer, layer.params["weight"], source)
    vectors = source.size // unit.mw
    return unit, vectors * unit.nf * unit.sf


_FACTORIES = {"requant": _requant, "threshold": _threshold, "argmax": _argmax,
              "binary_dense": _dense, "dense": _dense}


def units_for(layer):
    """``([units], cycles per sample)`` for ``layer``: its op, then its inline activation.

    Raises NotImplementedError naming the issue that brings a missing unit.
    """
    if layer.op not in _FACTORIES:
        waits = MISSING.get(layer.op, "a future issue")
        raise NotImplementedError(
            f"layer {layer.name!r}: op {layer.op!r} has no hardware unit yet; it lands with "
            f"{waits}. `hwgen reference` runs it in the golden model today.")
    source = layer.in_types[0]
    unit, cycles = _FACTORIES[layer.op](layer, source, element_shape(source))
    units = [unit]
    if layer.activation is not None:
        act = layer.activation
        shape = unit.o.payload.shape().elem_shape
        act_unit, act_cycles = _FACTORIES[act.op](act, act.in_types[0], shape)
        units.append(act_unit)
        cycles = max(cycles, act_cycles)
    return units, cycles
