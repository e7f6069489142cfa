"""Constructor argument checks shared by the units (messages say what was given and what is allowed)."""

import numbers
import reprlib

import numpy as np
from amaranth.hdl import Shape, signed, unsigned

__all__ = ["as_array", "channel_params", "check_feature_map", "check_int", "check_range", "check_shape",
           "element_shape", "shape_range"]


def as_array(name, value, what):
    """``(numpy array, repr of value)`` of an array-like (lists, numpy, torch tensors/Parameters).

    ``what`` describes the expected value in the messages, e.g. ``"[MH, MW] of -1/+1"``.
    """
    given = reprlib.repr(value)
    if isinstance(value, (str, bytes)) or value is None:
        raise TypeError(f"{name} must be an array-like {what}, not {given}")
    if hasattr(value, "detach"):                 # a torch tensor, maybe a trained Parameter
        value = value.detach().cpu()
    try:
        return np.asarray(value), given
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be a rectangular array-like {what}; "
                         f"{given} is not rectangular") from None


def check_int(name, value, *, minimum=None, maximum=None):
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise TypeError(f"{name} must be an integer, not {value!r}")
    value = int(value)
    if minimum is not None and value < minimum:
        raise ValueError(f"{name} must be at least {minimum}, not {value!r}")
    if maximum is not None and value > maximum:
        raise ValueError(f"{name} must be at most {maximum}, not {value!r}")
    return value


def check_range(name, value, full, what):
    """``value`` as an ordered pair ``(lo, hi)`` of ints inside ``full`` (None: all of ``full``);
    ``what`` names where ``full`` comes from in the message, e.g. ``"in_shape signed(8)"``."""
    if value is None:
        return tuple(full)
    try:
        lo, hi = value
    except (TypeError, ValueError):
        raise TypeError(f"{name} must be a pair (lo, hi) of integers, not {value!r}") from None
    if not all(isinstance(v, numbers.Integral) and not isinstance(v, bool) for v in (lo, hi)):
        raise TypeError(f"{name} must be a pair (lo, hi) of integers, not {value!r}")
    if not full[0] <= lo <= hi <= full[1]:
        raise ValueError(f"{name} must be an ordered pair inside {list(full)} (the values of "
                         f"{what}), not {value!r}")
    return int(lo), int(hi)


def check_shape(name, value):
    try:
        shape = Shape.cast(value)
    except TypeError:
        raise TypeError(f"{name} must be a shape such as signed(8) or unsigned(4), not {value!r}") from None
    if shape.width == 0:
        raise ValueError(f"{name} must be at least 1 bit wide, not {value!r}")
    return shape


def check_payload_shape(value, example="ArrayLayout(unsigned(1), 16)"):
    """A stream payload shape or layout (a glue unit's only parameter), returned as given."""
    try:
        Shape.cast(value)
    except TypeError:
        raise TypeError(f"payload_shape must be a shape or layout such as {example}, "
                        f"not {value!r}") from None
    return value


def channel_params(name, values, channels, lo, hi):
    """Return ``values`` as a list of ``channels`` ints in ``[lo, hi]`` (a length-1 list is broadcast)."""
    try:
        values = [int(v) for v in values]
    except TypeError:
        raise TypeError(f"{name} must be a sequence of integers, not {values!r}") from None
    if len(values) not in (1, channels):
        raise ValueError(f"{name} must have 1 or {channels} entries (one per channel), "
                         f"not {len(values)}")
    for index, value in enumerate(values):
        if not lo <= value <= hi:
            raise ValueError(f"{name}[{index}] must be in [{lo}, {hi}], not {value}")
    return values * channels if len(values) == 1 else values


def check_feature_map(*, in_shape, channels, height, width, kernel, lanes_name, lanes):
    """Checked ``(in_shape, channels, height, width, kernel, lanes)`` of a unit reading an HWC
    stream of [C, H, W] feature maps with ``lanes`` channels per beat (its ``pe``/``simd``)."""
    checked = (check_shape("in_shape", in_shape), check_int("channels", channels, minimum=1),
               check_int("height", height, minimum=1), check_int("width", width, minimum=1),
               check_int("kernel", kernel, minimum=1), check_int(lanes_name, lanes, minimum=1))
    if checked[1] % checked[5]:
        raise ValueError(f"{lanes_name} must divide channels ({channels}), not {lanes!r}")
    return checked


def shape_range(shape):
    """``(lo, hi)`` of the integers an element of ``shape`` holds (raw bits for binary)."""
    if shape.signed:
        return -(1 << (shape.width - 1)), (1 << (shape.width - 1)) - 1
    return 0, (1 << shape.width) - 1


def element_shape(tensor):
    """Amaranth shape of one element of a ``TensorType`` (binary: 1 bit, 1 = +1)."""
    if tensor.binary:
        return unsigned(1)
    return signed(tensor.bits) if tensor.signed else unsigned(tensor.bits)
