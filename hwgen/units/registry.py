"""Which unit implements each operator, and which issue brings the ones still missing."""

from amaranth.hdl import signed, unsigned

__all__ = ["MISSING", "element_shape", "flatten_columns", "units_for"]

# Operators whose hardware has not landed yet, and the work item that adds it.
MISSING = {
    "dense": "issue #5 (integer/ternary MVAU)",
    "conv2d": "issue #5 (integer MVAU behind the ConvolutionInputGenerator)",
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


def _binary_dense(layer, source, in_shape, flattened_from=None):
    from .mvau import MVAU
    if not source.binary:
        raise NotImplementedError(
            f"layer {layer.name!r}: binary weights on integer inputs land with issue #5")
    weights = layer.params["weight"]
    if flattened_from is not None:
        weights = flatten_columns(weights, flattened_from)
    unit = MVAU(weights=weights, pe=layer.pe, simd=layer.simd, pipeline=layer.attrs["pipeline"])
    vectors = source.size // unit.mw
    return unit, vectors * unit.nf * unit.sf


def flatten_columns(weight, shape):
    """Dense weight [M, C*H*W] reading torch's ``flatten`` of [C, H, W] -> columns in HWC order.

    The stream carries element ``(h*W + w)*C + c`` where torch's flatten has
    ``c*H*W + h*W + w`` (DESIGN.md section 2), so column ``(h*W + w)*C + c``
    of the result is column ``c*H*W + h*W + w`` of ``weight``.
    """
    c, h, w = shape
    return weight.reshape(weight.shape[0], c, h, w).transpose(0, 2, 3, 1).reshape(
        weight.shape[0], -1)


def _swg(layer, source, in_shape, pad_value):
    """The sliding-window generator feeding a conv layer's MVAU (``simd`` channels per beat)."""
    from .swg import ConvolutionInputGenerator
    c, h, w = source.shape
    return ConvolutionInputGenerator(
        in_shape=in_shape, channels=c, height=h, width=w, kernel=layer.attrs["kernel_size"],
        stride=layer.attrs["stride"], padding=layer.attrs["padding"], pad_value=pad_value,
        simd=layer.simd)


def _conv_units(swg, mvau):
    """[SWG, MVAU] and cycles per sample: OH*OW*NF*SF, or the input beats if more."""
    cycles = swg.out_height * swg.out_width * mvau.nf * mvau.sf
    return [swg, mvau], max(cycles, swg.in_beats)


def _binary_conv2d(layer, source, in_shape):
    from .mvau import MVAU
    from .swg import window_weights
    if not source.binary:
        raise NotImplementedError(
            f"layer {layer.name!r}: binary weights on integer inputs (e.g. 8-bit pixels into "
            f"a first binary_conv2d) land with issue #5 (integer MVAU)")
    swg = _swg(layer, source, in_shape, pad_value=0)      # bit 0 = -1, the binary pad
    mvau = MVAU(weights=window_weights(layer.params["weight"]), pe=layer.pe, simd=layer.simd,
                pipeline=layer.attrs["pipeline"])
    return _conv_units(swg, mvau)


def _conv2d(layer, source, in_shape):
    # The SWG is ready (pad value 0); the MVAU for integer weights is not. When it lands:
    # MVAU(weights=window_weights(weight), ..., in_shape=in_shape) + bias, then _conv_units.
    _swg(layer, source, in_shape, pad_value=0)
    raise NotImplementedError(
        f"layer {layer.name!r}: op 'conv2d' has no hardware unit yet; it lands with "
        f"{MISSING['conv2d']}. `hwgen reference` runs it in the golden model today.")


def _maxpool2d(layer, source, in_shape):
    from .maxpool import StreamingMaxPool
    c, h, w = source.shape
    unit = StreamingMaxPool(in_shape=in_shape, channels=c, height=h, width=w,
                            kernel=layer.attrs["kernel_size"], pe=layer.pe)
    return unit, unit.in_beats


_FACTORIES = {"requant": _requant, "threshold": _threshold, "argmax": _argmax,
              "binary_dense": _binary_dense, "binary_conv2d": _binary_conv2d,
              "conv2d": _conv2d, "maxpool2d": _maxpool2d}
# Ops whose factory takes the [C, H, W] shape a flattened input had (to permute columns);
# the integer `dense` joins when its MVAU lands (issue #5).
_READS_FLATTENED = ("binary_dense",)


def units_for(layer, flattened_from=None):
    """``([units], cycles per sample)`` for ``layer``: its op, then its inline activation.

    ``flattened_from`` is the [C, H, W] shape of the feature map that a
    ``flatten`` turned into this layer's input (the stream still carries it
    in HWC order), or None. ``flatten`` itself has no unit: ``([], 0)``.

    Raises NotImplementedError naming the issue that brings a missing unit.
    """
    if layer.op == "flatten":
        return [], 0
    if layer.op not in _FACTORIES:
        waits = MISSING.get(layer.op, "a future issue")
        raise NotImplementedError(
            f"layer {layer.name!r}: op {layer.op!r} has no hardware unit yet; it lands with "
            f"{waits}. `hwgen reference` runs it in the golden model today.")
    source = layer.in_types[0]
    if flattened_from is not None:
        if layer.op not in _READS_FLATTENED:
            raise NotImplementedError(
                f"layer {layer.name!r}: op {layer.op!r} after a flatten of a feature map "
                f"{list(flattened_from)} would see HWC order; only a dense layer (its columns "
                f"permuted) may follow flatten in hardware so far (issue #5)")
        unit, cycles = _FACTORIES[layer.op](layer, source, element_shape(source),
                                            flattened_from=flattened_from)
    else:
        unit, cycles = _FACTORIES[layer.op](layer, source, element_shape(source))
    units = unit if isinstance(unit, list) else [unit]
    if layer.activation is not None:
        act = layer.activation
        shape = units[-1].o.payload.shape().elem_shape
        act_unit, act_cycles = _FACTORIES[act.op](act, act.in_types[0], shape)
        units.append(act_unit)
        cycles = max(cycles, act_cycles)
    return units, cycles
