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
    if not source.binary:
        raise NotImplementedError(
            f"layer {layer.name!r}: binary weights on integer inputs land with issue #5")
    unit = MVAU(weights=layer.params["weight"], pe=layer.pe, simd=layer.simd,
                pipeline=layer.attrs["pipeline"])
    vectors = source.size // unit.mw
    return unit, vectors * unit.nf * unit.sf


def _rows(layer, source, length):
    """Row-wise ops on ``[T, C]``: T rows of ``length`` per sample; ``pe`` lanes must divide a row."""
    if length % layer.pe:
        raise ValueError(f"layer {layer.name!r}: pe ({layer.pe}) must divide the row length "
                         f"({length}) of {layer.op}")
    return source.size // length


def _shiftmax(layer, source, in_shape):
    from .shiftmax import Shiftmax
    length = source.shape[-1] // layer.attrs["heads"]      # each head's group is its own row
    rows = _rows(layer, source, length)
    unit = Shiftmax(in_shape=in_shape, length=length, simd=layer.pe, x0=layer.attrs["x0"],
                    out_bits=layer.attrs["out_bits"])
    return unit, rows * unit.cycles_per_row


def _layernorm(layer, source, in_shape):
    from .layernorm import LayerNorm
    rows = _rows(layer, source, source.shape[-1])
    bias = layer.params["bias"].tolist() if "bias" in layer.params else None
    unit = LayerNorm(in_shape=in_shape, channels=source.shape[-1], simd=layer.pe,
                     sqrt=layer.attrs["sqrt"], bias=bias, out_shape=element_shape(layer.op_type))
    return unit, rows * unit.cycles_per_row


def _shiftgelu(layer, source, in_shape):
    from .shiftgelu import ShiftGELU
    length = source.shape[-1]
    rows = _rows(layer, source, length)
    unit = ShiftGELU(in_shape=in_shape, length=length, simd=layer.pe, x0=layer.attrs["x0"],
                     out_shape=element_shape(layer.op_type))
    return unit, rows * unit.cycles_per_row


_FACTORIES = {"requant": _requant, "threshold": _threshold, "argmax": _argmax,
              "binary_dense": _binary_dense, "shiftmax": _shiftmax, "layernorm": _layernorm,
              "shiftgelu": _shiftgelu}


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
