"""The one rule that maps an integer value range to the Amaranth shape holding it.

The spec's tensor types (``TensorType.of_range``), the units' output and
accumulator shapes and every adder-tree node are sized by
:func:`range_shape`, so a network's next unit always sees the type the spec
inferred. This module imports nothing from hwgen: every layer may use it.
"""

from amaranth.hdl import Shape, signed, unsigned

__all__ = ["range_shape"]


def range_shape(lo, hi, *, min_width=1) -> Shape:
    """The narrowest shape holding every integer in ``[lo, hi]``, at least ``min_width`` bits.

    Unsigned when ``lo >= 0``, else signed (two's complement). An element
    type passes ``min_width=2``: one bit means binary (-1/+1) throughout
    hwgen, so an integer tensor is never one bit wide. Internal nodes (adder
    trees, products) take the default, the true narrowest shape.
    """
    lo, hi = int(lo), int(hi)
    if lo > hi:
        raise ValueError(f"empty range [{lo}, {hi}]")
    if lo >= 0:
        return unsigned(max(hi.bit_length(), min_width))
    return signed(max(_signed_width(lo), _signed_width(hi), min_width))


def _signed_width(value):
    """Two's-complement width that holds ``value``."""
    return (value if value >= 0 else ~value).bit_length() + 1
