"""The one value-range -> shape rule (hwgen.ranges.range_shape) and the places that use it."""

import numpy as np
import pytest

from hwgen.network import build_network
from hwgen.ranges import range_shape
from hwgen.spec import load
from hwgen.spec.types import TensorType
from sim.network import cosimulate, edge_samples, random_samples

RANGES = [(lo, hi) for lo in range(-40, 41) for hi in range(lo, 41)] + [
    (-(1 << 31), (1 << 31) - 1), (0, (1 << 40)), (-(1 << 40), -(1 << 40))]


def holds(width, signed, value):
    """Independent of the code under test: does a ``width``-bit container hold ``value``?"""
    if signed:
        return -(1 << (width - 1)) <= value < (1 << (width - 1))
    return 0 <= value < (1 << width)


@pytest.mark.parametrize("min_width", [1, 2])
def test_range_shape_is_the_narrowest_shape_holding_the_range(min_width):
    for lo, hi in RANGES:
        shape = range_shape(lo, hi, min_width=min_width)
        assert shape.signed == (lo < 0), (lo, hi, shape)
        assert holds(shape.width, shape.signed, lo) and holds(shape.width, shape.signed, hi)
        narrower = shape.width - 1
        assert shape.width == min_width or not (holds(narrower, shape.signed, lo)
                                                and holds(narrower, shape.signed, hi))


def test_range_shape_takes_numpy_integers_and_rejects_empty_ranges():
    assert range_shape(np.int64(-3), np.int64(4)).width == 4
    with pytest.raises(ValueError, match=r"empty range \[3, 2\]"):
        range_shape(3, 2)


def test_tensor_types_follow_the_same_rule():
    """The spec's inferred types and the units' output shapes cannot disagree."""
    for lo, hi in RANGES:
        t = TensorType.of_range((4,), lo, hi)
        shape = range_shape(lo, hi, min_width=2)
        assert (t.bits, t.signed, t.lo, t.hi) == (shape.width, shape.signed, lo, hi)


NEGATIVE = """name: negative_constant
input: {shape: [4], bits: 4, signed: true}
weights: negative_constant.npz
layers:
  - {name: fc1, op: dense, out_features: 2, weight_bits: 2, bias: true}
  - {name: fc2, op: dense, out_features: 2, weight_bits: 2}
"""


def test_a_single_negative_power_of_two_range_composes_and_is_bit_exact(tmp_path):
    """fc1's outputs are all -4: the spec once typed them int4 while the MVAU built int3,
    and composing stopped with "IntegerMVAU.i expects signed(4) elements after signed(3)"."""
    (tmp_path / "negative_constant.yaml").write_text(NEGATIVE)
    np.savez(tmp_path / "negative_constant.npz", **{
        "fc1.weight": np.zeros((2, 4), np.int64), "fc1.bias": np.array([-4, -4]),
        "fc2.weight": np.array([[1, -1], [1, 1]])})
    spec = load(tmp_path / "negative_constant.yaml")
    assert spec.layers[0].out_type.bits == 3
    design = build_network(spec)
    assert design.layers[0].units[0].out_shape.width == 3
    x = np.concatenate([edge_samples(spec), random_samples(spec, 12, seed=3)])
    run = cosimulate(spec, x, design=design, backpressure=0.3, seed=2,
                     work_dir=tmp_path / "sim", log=lambda *a: None)
    assert len(run.mismatched_samples) == 0 and len(run.got) == len(x)
