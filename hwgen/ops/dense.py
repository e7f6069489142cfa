"""``dense``: integer fully connected layer ``y = x @ W.T + bias`` (FINN: MVAU).

Weights ``<layer>.weight`` [out_features, in_features] of signed
``weight_bits`` integers, or {-1, 0, +1} with ``weight_type: ternary``
(BitNet b1.58: add/sub logic, no multipliers); optional int32
``<layer>.bias`` [out_features]. Products are shift-add LUT logic or, with
``resource: dsp``, registered multipliers.
"""

from ._mvu import (WEIGHTS, dense_cycles, dense_fold, dense_hardware, dense_like, golden_bias,
                   integer_weight_bits, resolve_weights, size)
from ._op import Op

__all__ = ["OP"]

OP = Op(
    name="dense",
    doc="integer fully connected layer, int or ternary weights, optional bias",
    fields=(size("out_features", "output features"),) + WEIGHTS,
    infer=dense_like,
    resolve_attrs=resolve_weights,
    fold=dense_fold,
    golden="Dense",
    golden_args=lambda layer: {"weight": layer.params["weight"], "bias": golden_bias(layer),
                               "weight_type": layer.attrs.weight_type},
    hardware=dense_hardware,
    cycles=dense_cycles,
    has_params=lambda attrs: True,
    weight_bits=integer_weight_bits,
    accumulator=True,
    reads_flattened=True,
)
