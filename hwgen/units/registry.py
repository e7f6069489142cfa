"""The unit factory: a layer's units from its op's hardware factory in the op table."""

import hwgen.units as catalog
from hwgen.ops import OPS
from hwgen.ops._mvu import flatten_columns

from ._checks import element_shape

__all__ = ["element_shape", "units_for", "unrolled_runs", "unrolled_units"]


def units_for(layer, flattened_from=None, *, clock_mhz=100.0):
    """``([units], cycles per sample)`` for ``layer``: its op, then its inline activation.

    Each op's ``hardware`` factory (:mod:`hwgen.ops`) builds the units from
    the unit catalog :mod:`hwgen.units`, and its ``cycles`` gives their
    steady-state cycles per sample. ``flattened_from`` is the [C, H, W] shape
    of the feature map that a ``flatten`` turned into this layer's input (the
    stream still carries it in HWC order), or None. An op that only rewires
    the stream (``flatten``) has no unit: ``([], 0)``.

    Raises NotImplementedError naming what is missing when an op (or this
    combination of its attributes and inputs) has no hardware yet, and
    ValueError when a unit rejects the layer; either message starts with
    the layer's ``file:line: layers[i]`` like the spec loader's errors.

    A layer with ``unroll: full`` is built by :func:`unrolled_units` (registers
    placed for ``clock_mhz``).
    """
    with _located(layer):
        if _unrolled(layer):
            return unrolled_units([layer], clock_mhz=clock_mhz, flattened_from=flattened_from)
        return _units_for(layer, flattened_from)


class _located:
    """Prefix a NotImplementedError or ValueError raised inside with ``layer``'s location."""

    def __init__(self, layer):
        self.layer = layer

    def __enter__(self):
        return self

    def __exit__(self, kind, error, traceback):
        where = self.layer.location
        if (kind is None or not issubclass(kind, (NotImplementedError, ValueError))
                or where is None or str(error).startswith(str(where))):
            return False
        raise kind(f"{where}: {error}") from error


def _units_for(layer, flattened_from):
    op = OPS[layer.op]
    if op.rewires:
        return [], 0
    if op.hardware is None:
        raise NotImplementedError(
            f"layer {layer.name!r}: op {layer.op!r} has no hardware unit yet. "
            f"`hwgen reference` runs it in the golden model today.")
    source = layer.in_types[0]
    if flattened_from is not None and not op.reads_flattened:
        readers = ", ".join(name for name, o in OPS.items() if o.reads_flattened)
        raise NotImplementedError(
            f"layer {layer.name!r}: op {layer.op!r} after a flatten of a feature map "
            f"{list(flattened_from)} would see HWC order; only {readers} (its columns "
            f"permuted) may follow flatten in hardware so far (issue #5)")
    units = _as_list(op.hardware(layer, source, element_shape(source), catalog,
                                 flattened_from=flattened_from))
    return _with_activation(layer.activation, units, op.cycles(layer, units))


def _with_activation(act, units, cycles):
    """``units`` followed by the inline activation ``act``'s units (None: nothing); a 1-bit
    threshold after a binary MVAU is fused into it instead (:meth:`MVAU.with_threshold`:
    its accumulator starts below zero by the threshold and the sign is the output bit, so
    no Thresholding unit, comparator or second output queue follows)."""
    if act is None:
        return units, cycles
    if (act.op == "threshold" and act.attrs.bits == 1
            and isinstance(units[-1], catalog.MVAU) and units[-1].threshold is None):
        thresholds = act.params["thresholds"][:, 0]         # [C] or [1] (per_channel: false)
        return units[:-1] + [units[-1].with_threshold(thresholds)], cycles
    shape = units[-1].o.payload.shape().elem_shape
    act_op = OPS[act.op]
    act_units = _as_list(act_op.hardware(act, act.in_types[0], shape, catalog))
    return units + act_units, max(cycles, act_op.cycles(act, act_units))


def _as_list(made):
    return list(made) if isinstance(made, (list, tuple)) else [made]


# --- latency mode: unrolled binary layers (issue #24) ---------------------------------------

def _unrolled(layer):
    return OPS[layer.op].unrolls and layer.attrs.unroll == "full"


def _fusable(layer):
    """An unrolled dense layer on binary inputs whose 1-bit threshold can feed the next one."""
    act = layer.activation
    return (OPS[layer.op].chains and _unrolled(layer) and layer.in_types[0].binary
            and act is not None and act.op == "threshold" and act.attrs.bits == 1)


def unrolled_runs(layers):
    """The layers with ``unroll: full`` grouped into units: a list of runs (lists of layers,
    in order). A layer whose op ``chains`` (``binary_dense``) joins the run before it when it
    reads only that run's last layer, which nothing else reads and which ends in a 1-bit
    threshold; a convolution is a run of its own."""
    readers = {}
    for layer in layers:
        for name in layer.inputs:
            readers[name] = readers.get(name, 0) + 1
    runs = []
    for layer in layers:
        if not _unrolled(layer):
            continue
        last = runs[-1][-1] if runs else None
        if (OPS[layer.op].chains and last is not None and layer.inputs == (last.name,)
                and readers[last.name] == 1 and _fusable(last) and layer.in_types[0].binary):
            runs[-1].append(layer)
        else:
            runs.append([layer])
    return runs


def unrolled_units(layers, *, clock_mhz=100.0, flattened_from=None):
    """``([units], cycles per sample)`` for ``layers`` with ``unroll: full`` (one run of
    :func:`unrolled_runs`): an :class:`~.unrolled_chain.UnrolledChain`
    (:class:`~.unrolled_mvau.UnrolledMVAU` for one layer) whose registers sit where the ECP5
    delay estimate (:data:`~._unrolled.ECP5_NS`) fills a period of ``clock_mhz``, inline
    thresholds fused into it; a convolution puts a sliding-window generator in front.
    """
    with _located(layers[-1]):
        return _unrolled_units(layers, clock_mhz, flattened_from)


def unrolled_timing(clock_mhz):
    """How an unrolled unit places its registers for ``clock_mhz``: by the ECP5 delay
    estimate filling the period (``benchmarks/unrolled.py --calibrate`` swaps in fixed
    levels per stage)."""
    return {"period_ns": 1e3 / clock_mhz}


def _unrolled_units(layers, clock_mhz, flattened_from):
    from ._unrolled import unrolled_layer
    from .unrolled_chain import UnrolledChain
    timing = unrolled_timing(clock_mhz)
    built = []
    for index, layer in enumerate(layers):
        source = layer.in_types[0]
        if not layer.op.startswith("binary_") or not source.binary:
            raise NotImplementedError(
                f"layer {layer.name!r}: unroll: full with weights in logic covers binary layers "
                f"on binary inputs only; this {layer.op} reads {source.describe()}")
        weights = layer.params["weight"]
        if layer.op == "binary_conv2d":
            weights = catalog.window_weights(weights)
        elif index == 0 and flattened_from is not None:
            weights = flatten_columns(weights, flattened_from)
        act = layer.activation
        fused = act is not None and act.op == "threshold"
        built.append(unrolled_layer(weights, act.params["thresholds"] if fused else None,
                                    share=layer.attrs.share, share_depth=layer.attrs.share_depth))
    first, last = layers[0], layers[-1]
    if len(built) == 1:
        unit = catalog.UnrolledMVAU(weights=built[0].weights, thresholds=built[0].thresholds,
                                    share=first.attrs.share, share_depth=first.attrs.share_depth,
                                    **timing)
    else:
        unit = UnrolledChain(layers=built, **timing)
    units = [unit]
    if first.op == "binary_conv2d":
        if len(layers) > 1:
            raise AssertionError("a convolution is a run of its own")
        c, h, w = first.in_types[0].shape
        swg = catalog.ConvolutionInputGenerator(
            in_shape=element_shape(first.in_types[0]), channels=c, height=h, width=w,
            kernel=first.attrs.kernel_size, stride=first.attrs.stride,
            padding=first.attrs.padding, pad_value=0, simd=c)   # bit 0 = -1, the binary pad
        units = [swg, unit]          # C channels per beat: k*k beats per window
        cycles = max(swg.out_beats, swg.in_beats)
    else:
        cycles = first.in_types[0].size // unit.mw
    act = last.activation
    return _with_activation(None if act is None or act.op == "threshold" else act, units, cycles)
