"""Which unit implements each operator, and which issue brings the ones still missing."""

from amaranth.hdl import signed, unsigned

__all__ = ["MISSING", "element_shape", "flatten_columns", "mvau_for", "units_for",
           "unrolled_runs", "unrolled_units"]

# Operators whose hardware has not landed yet, and the work item that adds it.
MISSING = {
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
                   zero_point=layer.params["zero_point"].tolist(),
                   rounding=layer.attrs.get("rounding", "half_up"))
    return unit, source.size // layer.pe


def _add(layer, source, in_shape):
    """``add``: an :class:`~.add.AddStreams` joining ``a`` (``inputs[0]``) and ``b`` (``inputs[1]``)."""
    from .add import AddStreams
    a, b = layer.in_types
    if a.binary or b.binary:
        raise NotImplementedError(
            f"layer {layer.name!r}: add of binary (-1/+1) inputs ({a.describe()}, {b.describe()}) "
            f"has no hardware yet (issue #6 covers integer inputs); add a requant or threshold "
            f"with bits >= 2 before it")
    if a.size % layer.pe:
        raise ValueError(f"layer {layer.name!r}: pe ({layer.pe}) must divide the {a.size} "
                         f"elements of each add input")
    params = layer.params
    unit = AddStreams(a_shape=element_shape(a), b_shape=element_shape(b),
                      out_shape=element_shape(layer.op_type), pe=layer.pe,
                      multiplier=params["multiplier"].tolist(), shift=params["shift"].tolist(),
                      zero_point=int(params["zero_point"].reshape(-1)[0]),
                      rounding=layer.attrs.get("rounding", "half_up"))
    return unit, a.size // layer.pe


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
    unrolled = attrs.get("unroll", "none") == "full"
    if kind == "binary" and source.binary and unrolled:
        raise AssertionError(f"layer {layer.name!r}: unrolled layers are built by unrolled_units")
    if kind == "binary" and source.binary:
        return MVAU(weights=weights, pe=layer.pe, simd=layer.simd, pipeline=attrs["pipeline"])
    if unrolled:
        raise NotImplementedError(
            f"layer {layer.name!r}: unroll: full with weights in logic covers binary inputs "
            f"only (issue #10); this layer reads {source.describe()}")
    if in_range is None and not source.binary:
        in_range = (source.lo, source.hi)
    return IntegerMVAU(weights=weights, in_shape=element_shape(source), weight_kind=kind,
                       weight_bits=attrs.get("weight_bits", 8), bias=layer.params.get("bias"),
                       in_range=in_range, binary_input=source.binary, pe=layer.pe,
                       simd=layer.simd, pipeline=attrs["pipeline"],
                       resource=attrs.get("resource", "lut"))


def _dense(layer, source, in_shape, flattened_from=None):
    """``dense`` / ``binary_dense`` on [K] or [T, K] inputs: T vectors of K per sample."""
    weights = layer.params["weight"]
    if flattened_from is not None:
        weights = flatten_columns(weights, flattened_from)
    unit = mvau_for(layer, weights, source)
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


def _swg(layer, source, in_shape, pad_value, simd=None):
    """The sliding-window generator feeding a conv layer's MVAU (``simd`` channels per beat,
    default the layer's)."""
    from .swg import ConvolutionInputGenerator
    c, h, w = source.shape
    return ConvolutionInputGenerator(
        in_shape=in_shape, channels=c, height=h, width=w, kernel=layer.attrs["kernel_size"],
        stride=layer.attrs["stride"], padding=layer.attrs["padding"], pad_value=pad_value,
        simd=layer.simd if simd is None else simd)


def _conv_units(swg, mvau):
    """[SWG, MVAU] and cycles per sample: OH*OW*NF*SF, or the input beats if more."""
    cycles = swg.out_height * swg.out_width * mvau.nf * mvau.sf
    return [swg, mvau], max(cycles, swg.in_beats)


def _conv2d(layer, source, in_shape):
    """``conv2d`` / ``binary_conv2d``: SWG + MVAU on the kernels in window order."""
    from .swg import window_weights
    binary = layer.op == "binary_conv2d"
    padded = layer.attrs["padding"] > 0
    in_range = None
    if binary and source.binary:
        pad_value = 0                                   # bit 0 = -1, the binary pad
    elif binary:
        # binary_conv2d pads with -1 (sw_reference.ops.binary_conv2d); an unsigned pixel
        # stream cannot carry it.
        if padded and not in_shape.signed:
            raise NotImplementedError(
                f"layer {layer.name!r}: binary_conv2d pads with -1, which unsigned "
                f"{in_shape.width}-bit inputs cannot carry; use padding: 0 (as FINN's CNV "
                f"does) or signed inputs")
        pad_value = -1 if padded else 0
        in_range = (min(source.lo, -1), source.hi) if padded else None
    else:
        pad_value = 0
        in_range = (min(source.lo, 0), max(source.hi, 0)) if padded else None
    swg = _swg(layer, source, in_shape, pad_value=pad_value)
    mvau = mvau_for(layer, window_weights(layer.params["weight"]), source, in_range=in_range)
    return _conv_units(swg, mvau)


def _maxpool2d(layer, source, in_shape):
    from .maxpool import StreamingMaxPool
    c, h, w = source.shape
    unit = StreamingMaxPool(in_shape=in_shape, channels=c, height=h, width=w,
                            kernel=layer.attrs["kernel_size"], pe=layer.pe)
    return unit, unit.in_beats


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


def _matmul(layer, source, in_shape):
    """``matmul`` of ``inputs: [a, b]``: :class:`~.matmul.MatMul`, ``a`` <- input 0, ``b`` <- input 1."""
    from .matmul import MatMul
    a, b = layer.in_types
    if a.binary or b.binary:
        raise NotImplementedError(
            f"layer {layer.name!r}: matmul on binary (-1/+1) operands has no hardware yet "
            f"(issue #6 covers integer attention); threshold them to 2+ bits first")
    heads, transpose_b = layer.attrs["heads"], layer.attrs["transpose_b"]
    mh = b.shape[0] if transpose_b else b.shape[1] // heads
    mw = a.shape[1] // heads
    for key, value, dim, what in (("pe", layer.pe, mh, "the output columns per head"),
                                  ("simd", layer.simd, mw, "the contraction length per head")):
        if dim % value:
            raise ValueError(f"layer {layer.name!r}: {key} ({value}) must divide {what} "
                             f"({dim}) of matmul")
    # The spec has no pipeline/resource keys for matmul (yet): 2 tree stages, LUT products
    # (122 MHz on an LFE5U-25F-6 for the ivit_block scores layer, README).
    unit = MatMul(a_shape=in_shape, b_shape=element_shape(b), a_range=(a.lo, a.hi),
                  b_range=(b.lo, b.hi), rows_a=a.shape[0], rows_b=b.shape[0], heads=heads,
                  ka=mw, kb=b.shape[1] // heads, transpose_b=transpose_b, pe=layer.pe,
                  simd=layer.simd, pipeline=layer.attrs.get("pipeline", 2),
                  resource=layer.attrs.get("resource", "lut"),
                  out_shape=element_shape(layer.op_type))
    return unit, unit.cycles_per_sample


_FACTORIES = {"requant": _requant, "threshold": _threshold, "argmax": _argmax, "add": _add,
              "binary_dense": _dense, "dense": _dense, "binary_conv2d": _conv2d,
              "conv2d": _conv2d, "maxpool2d": _maxpool2d, "shiftmax": _shiftmax,
              "layernorm": _layernorm, "shiftgelu": _shiftgelu, "matmul": _matmul}
# Ops whose factory takes the [C, H, W] shape a flattened input had (to permute columns).
_READS_FLATTENED = ("binary_dense", "dense")


def units_for(layer, flattened_from=None):
    """``([units], cycles per sample)`` for ``layer``: its op, then its inline activation.

    ``flattened_from`` is the [C, H, W] shape of the feature map that a
    ``flatten`` turned into this layer's input (the stream still carries it
    in HWC order), or None. ``flatten`` itself has no unit: ``([], 0)``.

    Raises NotImplementedError naming the issue that brings a missing unit.
    """
    if layer.attrs.get("unroll", "none") != "none":
        return unrolled_units([layer], flattened_from=flattened_from)
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


# --- latency mode: unrolled binary layers (issue #24) ---------------------------------------

def _unrolled_fusable(layer):
    """An unrolled binary_dense on binary inputs whose 1-bit threshold can feed the next one."""
    act = layer.activation
    return (layer.op == "binary_dense" and layer.attrs.get("unroll", "none") == "full"
            and layer.in_types[0].binary and act is not None and act.op == "threshold"
            and act.attrs["bits"] == 1)


def unrolled_runs(layers):
    """Consecutive unrolled ``binary_dense`` layers built as one pipeline: a list of runs
    (lists of layers, in order). A layer joins the run before it when it reads only that
    run's last layer, which nothing else reads, and which ends in a 1-bit threshold."""
    readers = {}
    for layer in layers:
        for name in layer.inputs:
            readers[name] = readers.get(name, 0) + 1
    runs = []
    for layer in layers:
        if layer.attrs.get("unroll", "none") != "full" or layer.op != "binary_dense":
            continue
        last = runs[-1][-1] if runs else None
        if (last is not None and layer.inputs == (last.name,) and readers[last.name] == 1
                and _unrolled_fusable(last) and layer.in_types[0].binary):
            runs[-1].append(layer)
        else:
            runs.append([layer])
    return runs


def unrolled_units(layers, *, clock_mhz=100.0, flattened_from=None):
    """``([units], cycles per sample)`` for ``layers`` with ``unroll: full`` (one run of
    :func:`unrolled_runs`, or one ``binary_conv2d``): an
    :class:`~.unrolled_chain.UnrolledChain` (:class:`~.unrolled_mvau.UnrolledMVAU` for one
    layer) whose registers sit every :func:`~._unrolled.levels_for_clock` levels, inline
    thresholds fused into it; a convolution puts a sliding-window generator in front.
    """
    from ._unrolled import levels_for_clock, unrolled_layer
    from .unrolled_chain import UnrolledChain
    from .unrolled_mvau import UnrolledMVAU
    levels = levels_for_clock(clock_mhz)
    built = []
    for index, layer in enumerate(layers):
        source = layer.in_types[0]
        if not layer.op.startswith("binary_") or not source.binary:
            raise NotImplementedError(
                f"layer {layer.name!r}: unroll: full with weights in logic covers binary layers "
                f"on binary inputs only; this {layer.op} reads {source.describe()}")
        weights = layer.params["weight"]
        if layer.op == "binary_conv2d":
            from .swg import window_weights
            weights = window_weights(weights)
        elif index == 0 and flattened_from is not None:
            weights = flatten_columns(weights, flattened_from)
        act = layer.activation
        fused = act is not None and act.op == "threshold"
        built.append(unrolled_layer(weights, act.params["thresholds"] if fused else None,
                                    share=layer.attrs["share"],
                                    share_depth=layer.attrs["share_depth"]))
    first, last = layers[0], layers[-1]
    if len(built) == 1:
        unit = UnrolledMVAU(weights=built[0].weights, thresholds=built[0].thresholds,
                            share=first.attrs["share"], share_depth=first.attrs["share_depth"],
                            levels_per_stage=levels)
    else:
        unit = UnrolledChain(layers=built, levels_per_stage=levels)
    units = [unit]
    if first.op == "binary_conv2d":
        if len(layers) > 1:
            raise AssertionError("a convolution is a run of its own")
        c = first.in_types[0].shape[0]
        swg = _swg(first, first.in_types[0], unsigned(1), pad_value=0, simd=c)
        units = [swg, unit]          # C channels per beat: k*k beats per window
        cycles = max(swg.out_beats, swg.in_beats)
    else:
        cycles = first.in_types[0].size // unit.mw
    act = last.activation
    if act is not None and act.op != "threshold":
        shape = units[-1].o.payload.shape().elem_shape
        act_unit, act_cycles = _FACTORIES[act.op](act, act.in_types[0], shape)
        units.append(act_unit)
        cycles = max(cycles, act_cycles)
    return units, cycles
