"""Constructor argument checks shared by the units (messages say what was given and what is allowed)."""

import numbers

from amaranth.hdl import Shape

__all__ = ["check_int", "check_shape", "channel_params", "shape_range"]


def check_int(name, value, *, minimum=None, maximum=None):
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise TypeError(f"{name} must be an integer, not {value!r}")
    value = int(value)
    if minimum is not None and value < minimum:
        raise ValueError(f"{name} must be at least {minimum}, not {value!r}")
    if maximum is not None and value > maximum:
        raise ValueError(f"{name} must be at most {maximum}, not {value!r}")
    return value


def check_shape(name, value):
    try:
        shape = Shape.cast(value)
    except TypeError:
        raise TypeError(f"{name} must be a shape such as signed(8) or unsigned(4), not {value!r}")
    if shape.width == 0:
        raise ValueError(f"{name} must be at least 1 bit wide, not {value!r}")
    return shape


def channel_params(name, values, channels, lo, hi):
    """Return ``values`` as a list of ``channels`` ints in ``[lo, hi]`` (a length-1 list is broadcast)."""
    try:
        values = [int(v) for v in values]
    except TypeError:
        raise TypeError(f"{name} must be a sequence of integers, not {values!r}")
    if len(values) not in (1, channels):
        raise ValueError(f"{name} must have 1 or {channels} entries (one per channel), "
                         f"not {len(values)}")
    for index, value in enumerate(values):
        if not lo <= value <= hi:
            raise ValueError(f"{name}[{index}] must be in [{lo}, {hi}], not {value}")
    return values * channels if len(values) == 1 else values


def shape_range(shape):
    """``(lo, hi)`` of the integers a Shape holds."""
    if shape.signed:
        return -(1 << (shape.width - 1)), (1 << (shape.width - 1)) - 1
    return 0, (1 << shape.width) - 1
