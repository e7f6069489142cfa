"""``binary_dense``: XNOR-popcount fully connected layer (FINN: MVAU with 1-bit weights).

``s = 2 * popcount(xnor(x, w)) - K`` for -1/+1 inputs and weights; on integer
inputs the same -1/+1 weights add or subtract each input. Weights
``<layer>.weight`` [out_features, in_features] of -1/+1. ``unroll: full``
folds the weights into logic (one vector per cycle), ``share: mst`` lets a
channel reuse a similar channel's result.
"""

from ._mvu import (PIPELINE, POPCOUNT, UNROLL, check_popcount, dense_cycles, dense_fold,
                   dense_hardware, dense_like, size)
from ._op import Op

__all__ = ["OP"]

OP = Op(
    name="binary_dense",
    doc="XNOR-popcount fully connected layer, -1/+1 weights",
    fields=(size("out_features", "output features"), PIPELINE, POPCOUNT) + UNROLL,
    resolve_attrs=check_popcount,
    infer=dense_like,
    fold=dense_fold,
    golden="BinaryDense",
    golden_args=lambda layer: {"weight": layer.params["weight"]},
    hardware=dense_hardware,
    cycles=dense_cycles,
    has_params=lambda attrs: True,
    weight_bits=lambda attrs: 1,
    accumulator=True,
    unrolls=True,
    chains=True,
    reads_flattened=True,
)
