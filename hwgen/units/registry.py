"""Which unit implements each operator, and which issue brings the ones still missing."""

from amaranth.hdl import signed, unsigned

__all__ = ["units_for", "element_shape", "MISSING"]

# Operators whose hardware has not landed yet, and the work item that adds it.
MISSING = {
    "dense": "issue #5 (integer/ternary MVAU)",
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


def _binary_dense(layer, source, in_shape):
    from .mvau import MVAU
    from .unrolled_mvau import UnrolledMVAU
    if not source.binary:
        raise NotImplementedError(
            f"layer {layer.name!r}: binary weights on integer inputs land with issue #5")
    if layer.attrs["unroll"] == "full":
        unit = UnrolledMVAU(weights=layer.params["weight"], pipeline=layer.attrs["pipeline"],
                            share=layer.attrs["share"], share_depth=layer.attrs["share_depth"])
    else:
        unit = MVAU(weights=layer.params["weight"], pe=layer.pe, simd=layer.simd,
                    pipeline=layer.attrs["pipeline"])
    vectors = source.size // unit.mw
    return unit, vectors * unit.nf * unit.sf


_FACTORIES = {"requant": _requant, "threshold": _threshold, "argmax": _argmax,
              "binary_dense": _binary_dense}


def units_for(layer):
    """``([units], cycles per sample)`` for ``layer``: its op, then its inline activation.

    Raises NotImplementedError naming the issue that brings a missing unit.
    """
    if layer.attrs.get("unroll", "none") != "none" and layer.op != "binary_dense":
        raise NotImplementedError(
            f"layer {layer.name!r}: unroll: full on {layer.op} (one output pixel per cycle, "
            f"weights in logic) lands with issue #10 once the conv path (issue #5) exists; "
            f"today only binary_dense unrolls")
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
