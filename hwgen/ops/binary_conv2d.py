"""``binary_conv2d``: XNOR-popcount 2-D convolution, padding with -1 (FINN: SWG + MVAU).

Each output pixel is a ``binary_dense`` over its k x k x C window. Weights
``<layer>.weight`` [out_channels, in_channels, k, k] of -1/+1.
"""

from ._mvu import (KERNEL, PIPELINE, POPCOUNT, UNROLL, check_popcount, conv_cycles, conv_fold,
                   conv_hardware, conv_like, size)
from ._op import Op

__all__ = ["OP"]

OP = Op(
    name="binary_conv2d",
    doc="XNOR-popcount 2-D convolution, -1/+1 weights, pads with -1",
    fields=(size("out_channels", "output channels"),) + KERNEL + (PIPELINE, POPCOUNT) + UNROLL,
    resolve_attrs=check_popcount,
    infer=conv_like,
    fold=conv_fold,
    golden="BinaryConv2d",
    golden_args=lambda layer: {"weight": layer.params["weight"], "stride": layer.attrs.stride,
                               "padding": layer.attrs.padding},
    hardware=conv_hardware,
    cycles=conv_cycles,
    has_params=lambda attrs: True,
    weight_bits=lambda attrs: 1,
    accumulator=True,
    unrolls=True,
)
