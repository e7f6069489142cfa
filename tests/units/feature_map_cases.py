"""Feature maps [N, C, H, W] and their HWC beats, shared by the SWG and max-pool tests."""

import numpy as np
from amaranth.hdl import unsigned

from sim.packing import pack


def element_range(shape):
    """Golden-model values of an element: -1/+1 for binary, else the shape's integers."""
    if shape == unsigned(1):
        return -1, 1
    if shape.signed:
        return -(1 << (shape.width - 1)), (1 << (shape.width - 1)) - 1
    return 0, (1 << shape.width) - 1


def feature_maps(case, count, seed):
    """[count, C, H, W]: all-max, all-min, then random maps (the second half of the
    integer ones drawn from a few values, so ties are common)."""
    shape = (case["channels"], case["height"], case["width"])
    lo, hi = element_range(case["in_shape"])
    rng = np.random.default_rng(seed)
    if (lo, hi) == (-1, 1):
        x = rng.choice([-1, 1], size=(count, *shape))
    else:
        x = rng.integers(lo, hi, size=(count, *shape), endpoint=True)
        few = [lo, lo + 1, -1 if lo < 0 else 1, hi - 1, hi]
        x[count // 2:] = rng.choice(few, size=(count - count // 2, *shape))
    x[0], x[1] = hi, lo
    return x.astype(np.int64)


def hwc_beats(x, lanes, bits):
    """[N, C, H, W] -> per-sample lists of words of ``lanes`` channels, pixels in HWC order."""
    flat = x.transpose(0, 2, 3, 1).reshape(len(x), -1)
    return [[pack(row[i:i + lanes], bits) for i in range(0, len(row), lanes)] for row in flat]
