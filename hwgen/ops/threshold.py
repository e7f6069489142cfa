"""``threshold``: multi-threshold activation ``y = sum_j [x >= T[c, j]]`` (FINN: Thresholding).

``2**bits - 1`` thresholds per channel (``<layer>.thresholds`` [channels,
2**bits - 1], or [1, ...] with ``per_channel: false``), sorted ascending per
row. A 1-bit output is binary (1 = +1) and feeds binary layers. May be
written inline as a layer's ``activation``.
"""

import numpy as np

from . import _random as rw
from ._field import Field
from ._op import FoldDims, Op
from ._tensor import TensorType

__all__ = ["OP"]


def infer(ctx, raw, in_types, in_moments):
    t, = in_types
    ctx.need_rank(raw, t, (1, 2, 3), "a tensor (not a scalar)")
    c = t.channels
    bits = raw.attrs.bits
    rows = c if raw.attrs.per_channel else 1
    shape = (rows, (1 << bits) - 1)
    src = ctx.params
    if src.generated:
        rng = rw.rng_for(src.seed, raw.name)
        mom = in_moments[0]
        if raw.attrs.per_channel is False:
            mom = mom.overall()
        thresholds = rw.thresholds(rng, rows, shape[1], t.lo, t.hi, mom)
    else:
        thresholds = src.get(raw, "thresholds", shape,
                             "[channels, 2**bits - 1] (per_channel: true)" if raw.attrs.per_channel
                             else "[1, 2**bits - 1] (per_channel: false)")
    _check_sorted(ctx, raw, thresholds)
    out = TensorType.of_bits(t.shape, bits, False)
    return out, {"thresholds": thresholds}, rw.Moments.uniform(out.lo, out.hi, out.binary)


def _check_sorted(ctx, raw, t):
    if t.shape[1] > 1:
        bad = np.diff(t, axis=1) < 0
        if bad.any():
            row, j = (int(v) for v in np.argwhere(bad)[0])
            raise ctx.param_error(raw, f"{ctx.pdesc(raw, 'thresholds')} row {row} (channel {row}) "
                                  f"is not sorted ascending: T[{row}, {j}] = {int(t[row, j])} > "
                                  f"T[{row}, {j + 1}] = {int(t[row, j + 1])}",
                                  "sort each row (np.sort(T, axis=1)); with BatchNorm folding, "
                                  "negative gamma is handled by negating the weights")


def hardware(layer, source, in_shape, units, flattened_from=None):
    thresholds = layer.params["thresholds"]
    if source.binary:
        # A -1/+1 element x is the bit b = (x + 1) / 2, and x >= T exactly when
        # b >= (T + 1) / 2, i.e. b >= ceil((T + 1) / 2) = (T + 2) // 2 for an integer T.
        thresholds = (thresholds + 2) // 2
    return units.Thresholding(in_shape=in_shape, channels=source.channels, pe=layer.pe,
                              thresholds=thresholds, out_bits=layer.attrs.bits)


OP = Op(
    name="threshold",
    doc="multi-threshold activation, 2**bits - 1 sorted thresholds per channel",
    fields=(
        Field("bits", "int", required=True, lo=1, hi=4, doc="output bits (1 = binary -1/+1)"),
        Field("per_channel", "bool", default=True, doc="one threshold row per channel"),
    ),
    infer=infer,
    fold=lambda attrs, in_types: FoldDims(("the channels", in_types[0].channels)),
    golden="Threshold",
    golden_args=lambda layer: {"thresholds": layer.params["thresholds"],
                               "channel_axis": layer.in_types[0].channel_axis,
                               "binary_out": layer.attrs.bits == 1},
    hardware=hardware,
    cycles=lambda layer, units: layer.in_types[0].size // layer.pe,
    has_params=lambda attrs: True,
    activation=True,
)
