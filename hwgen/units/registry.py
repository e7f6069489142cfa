"""The unit factory: a layer's units from its op's hardware factory in the op table."""

import hwgen.units as catalog
from hwgen.ops import OPS

from ._checks import element_shape

__all__ = ["element_shape", "units_for"]


def units_for(layer, flattened_from=None):
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
    """
    try:
        return _units_for(layer, flattened_from)
    except (NotImplementedError, ValueError) as error:
        if layer.location is None or str(error).startswith(str(layer.location)):
            raise
        raise type(error)(f"{layer.location}: {error}") from error


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
    cycles = op.cycles(layer, units)
    if layer.activation is not None:
        act = layer.activation
        shape = units[-1].o.payload.shape().elem_shape
        act_op = OPS[act.op]
        act_units = _as_list(act_op.hardware(act, act.in_types[0], shape, catalog))
        units += act_units
        cycles = max(cycles, act_op.cycles(act, act_units))
    return units, cycles


def _as_list(made):
    return list(made) if isinstance(made, (list, tuple)) else [made]
