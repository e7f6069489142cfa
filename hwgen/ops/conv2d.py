"""``conv2d``: integer 2-D convolution, zero padding (FINN: SWG + MVAU).

Weights ``<layer>.weight`` [out_channels, in_channels, k, k] as for ``dense``
(int or ternary), optional int32 ``<layer>.bias`` [out_channels].
"""

from ._mvu import (KERNEL, WEIGHTS, conv_cycles, conv_fold, conv_hardware, conv_like, golden_bias,
                   integer_weight_bits, resolve_weights, size)
from ._op import Op

__all__ = ["OP"]

OP = Op(
    name="conv2d",
    doc="integer 2-D convolution, int or ternary weights, optional bias, zero padding",
    fields=(size("out_channels", "output channels"),) + KERNEL + WEIGHTS,
    infer=conv_like,
    resolve_attrs=resolve_weights,
    fold=conv_fold,
    golden="Conv2d",
    golden_args=lambda layer: {"weight": layer.params["weight"], "bias": golden_bias(layer),
                               "stride": layer.attrs.stride, "padding": layer.attrs.padding,
                               "weight_type": layer.attrs.weight_type},
    hardware=conv_hardware,
    cycles=conv_cycles,
    has_params=lambda attrs: True,
    weight_bits=integer_weight_bits,
    accumulator=True,
)
