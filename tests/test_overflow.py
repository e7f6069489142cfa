"""Overflow safety: inputs that reach the proven bounds come out exact, and the widths are minimal.

For every op with hardware, vectors that drive each output channel to its
largest and smallest possible value (all +max, all -max per channel,
alternating) run through the unit in Amaranth's simulator and must equal
``sw_reference``. Then the minimality half: the accumulator width inferred
from the bounds is exactly the width the bound value needs (one bit less
would wrap that value, and the hardware does produce it), and a composed
network gives every layer exactly the bits of its inferred value range.

To cover a new unit, add a ``*_bound_cases`` generator to ``BOUND_CASES``.
"""

import numpy as np
import pytest
import torch
from amaranth.hdl import Const, Shape, signed, unsigned

from sw_reference import ops

from .fuzz.unit_factories import UnitCase, run_amaranth, shape_range

pytestmark = pytest.mark.filterwarnings("ignore:.*created but never used")


def signed_bits(lo, hi):
    """Fewest two's-complement bits holding every integer in [lo, hi]."""
    return max((lo if lo >= 0 else ~lo).bit_length(), (hi if hi >= 0 else ~hi).bit_length()) + 1


def edge_rows(lo, hi, size):
    return np.array([np.full(size, hi), np.full(size, lo), np.resize([lo, hi], size),
                     np.resize([hi, lo], size)], dtype=np.int64)


def mvau_bound_cases():
    """Per channel c: x = W[c] (y[c] = +MW, the bound), x = -W[c] (-MW); plus all +1/-1/alternating."""
    from hwgen.units.mvau import MVAU
    for mh, mw, pe, simd, pipeline in [(4, 7, 2, 7, 1), (4, 8, 1, 2, 0), (3, 63, 3, 9, 2),
                                       (2, 64, 2, 64, 3), (2, 65, 1, 13, 1), (1, 1, 1, 1, 0)]:
        w = np.random.default_rng(mw).choice(np.array([-1, 1], np.int64), size=(mh, mw))
        x = np.concatenate([w, -w, edge_rows(-1, 1, mw)])
        unit = MVAU(weights=w, pe=pe, simd=simd, pipeline=pipeline)
        want = ops.binary_dense(torch.from_numpy(x), torch.from_numpy(w)).numpy()
        assert want.max() == mw and want.min() == -mw       # the vectors reach both bounds
        yield f"MVAU-{mh}x{mw}-pe{pe}-simd{simd}-p{pipeline}", UnitCase(unit, x, want)


def thresholding_bound_cases():
    """Inputs at the type's limits against thresholds at, just inside and beyond them."""
    from hwgen.units.thresholding import Thresholding
    for shape, out_bits in [(signed(8), 2), (unsigned(6), 4), (signed(16), 1), (unsigned(2), 3)]:
        lo, hi = shape_range(shape)
        count = (1 << out_bits) - 1
        rows = np.sort(np.array([np.resize([lo, hi, hi + 1, lo - 1, lo + 1, hi - 1, 0], count)
                                 for _ in range(4)]), axis=1)
        rows[1] = hi + 1                                     # never met
        rows[2] = lo                                         # always met
        x = edge_rows(lo, hi, 4)
        unit = Thresholding(in_shape=shape, channels=4, pe=2, thresholds=rows, out_bits=out_bits)
        want = ops.threshold(torch.from_numpy(x), torch.from_numpy(rows), channel_axis=-1,
                             binary_out=out_bits == 1).numpy()
        yield f"Thresholding-{shape}-out{out_bits}", UnitCase(unit, x, want,
                                                             binary_out=out_bits == 1)


def requant_bound_cases():
    """The widest product (|x| max times m = 2**31 - 1), with and without rounding, clamped both ways."""
    from hwgen.units.requant import Requant
    for in_shape, out_shape in [(signed(32), signed(8)), (unsigned(32), unsigned(4)),
                                (signed(2), signed(16)), (unsigned(16), signed(2))]:
        lo, hi = shape_range(in_shape)
        olo, ohi = shape_range(out_shape)
        m, s, zp = [2**31 - 1, 2**31 - 1, 1, 2**30], [0, 63, 0, 31], [0, ohi, olo, 0]
        x = edge_rows(lo, hi, 4)
        unit = Requant(in_shape=in_shape, out_shape=out_shape, channels=4, pe=4,
                       multiplier=m, shift=s, zero_point=zp)
        t = lambda v: torch.tensor(v, dtype=torch.int64)
        want = ops.requant(torch.from_numpy(x), t(m), t(s), t(zp), olo, ohi, channel_axis=-1).numpy()
        yield f"Requant-{in_shape}-to-{out_shape}", UnitCase(unit, x, want)


def add_bound_cases():
    """Both inputs at their limits, alike and crossed, through the widest products (m = 2**31 - 1)
    with s = 0 and 63, and once into an output wide enough to carry the exact sum unclamped."""
    from hwgen.units.add import AddStreams
    for a_shape, b_shape, out_shape, m, s in [
            (signed(32), signed(32), signed(8), [2**31 - 1] * 2, [0, 0]),
            (unsigned(31), signed(2), unsigned(4), [2**31 - 1, 1], [0, 63]),
            (signed(32), unsigned(16), signed(16), [2**31 - 1, 2**31 - 1], [63, 31]),
            (signed(8), unsigned(8), signed(32), [2**31 - 1, 2**31 - 1], [16, 16])]:
        (alo, ahi), (blo, bhi) = shape_range(a_shape), shape_range(b_shape)
        olo, ohi = shape_range(out_shape)
        zp = ohi if a_shape.width == 31 else 0
        b_rows = edge_rows(blo, bhi, 4)
        x = np.concatenate([np.tile(edge_rows(alo, ahi, 4), (2, 1)),
                            np.concatenate([b_rows, b_rows[::-1]])], axis=1)
        unit = AddStreams(a_shape=a_shape, b_shape=b_shape, out_shape=out_shape, pe=2,
                          multiplier=m, shift=s, zero_point=zp)
        want = ops.add([torch.from_numpy(x[:, :4]), torch.from_numpy(x[:, 4:])],
                       torch.tensor(m), torch.tensor(s), zp, olo, ohi).numpy()
        yield f"AddStreams-{a_shape}-{b_shape}-to-{out_shape}", UnitCase(unit, x, want)


def label_select_bound_cases():
    """Every element at the maximum (all tie: index 0), the maximum last, the minimum everywhere."""
    from hwgen.units.label_select import LabelSelect
    for shape, channels, pe in [(signed(12), 9, 3), (unsigned(8), 16, 16), (unsigned(1), 5, 1)]:
        lo, hi = shape_range(shape)
        x = edge_rows(lo, hi, channels)
        last = np.full(channels, lo, np.int64)
        last[-1] = hi
        x = np.concatenate([x, last[None]])
        unit = LabelSelect(in_shape=shape, channels=channels, pe=pe)
        want = ops.argmax(torch.from_numpy(x)).numpy().reshape(-1, 1)
        assert want.max() == channels - 1                    # the widest index is produced
        yield f"LabelSelect-{shape}-{channels}", UnitCase(unit, x, want)


BOUND_CASES = dict(case for make in (mvau_bound_cases, thresholding_bound_cases,
                                      requant_bound_cases, add_bound_cases,
                                      label_select_bound_cases)
                   for case in make())


@pytest.mark.parametrize("name", sorted(BOUND_CASES))
def test_bound_vectors_match_golden(name):
    case = BOUND_CASES[name]
    np.testing.assert_array_equal(run_amaranth(case, stall=0.3, seed=1), case.want)


@pytest.mark.parametrize("mw", list(range(1, 70)) + [127, 128, 255, 256, 784, 1024])
def test_mvau_accumulator_is_exactly_as_wide_as_its_bound(mw):
    """MW (and -MW) fit ``acc_shape``, and ``acc_shape`` one bit narrower wraps one of them."""
    from hwgen.units.mvau import MVAU
    width = MVAU(weights=np.ones((1, mw), np.int8)).acc_shape.width
    assert width == signed_bits(-mw, mw)
    assert Const(mw, signed(width)).value == mw and Const(-mw, signed(width)).value == -mw
    narrower = signed(width - 1)
    assert Const(mw, narrower).value != mw or Const(-mw, narrower).value != -mw


def test_mvau_output_bound_needs_the_whole_accumulator():
    """The hardware produces +MW for MW = 8: 5 bits; in 4 bits it would read -8."""
    case = next(c for n, c in mvau_bound_cases() if n.startswith("MVAU-4x8"))
    got = run_amaranth(case, stall=0.0, seed=0)
    assert got.max() == 8 and case.unit.acc_shape == signed(5)
    assert Const(8, signed(4)).value == -8


@pytest.mark.parametrize("example", ["tiny_bnn", "requant"])
def test_every_layer_gets_exactly_the_bits_of_its_range(example):
    """Each unit's output element is the narrowest shape for the layer's inferred value range."""
    from pathlib import Path

    from hwgen.network import build_network, stream_format
    from hwgen.spec import load
    spec = load(Path(__file__).resolve().parent.parent / "examples" / f"{example}.yaml")
    for hw in build_network(spec).layers:
        layer = hw.layer
        stages = [(hw.units[0], layer.op_type)]
        if layer.activation is not None and len(hw.units) == 1:
            # a 1-bit threshold fused into the binary MVAU: its output is the activation's
            stages = [(hw.units[0], layer.activation.out_type)]
        elif layer.activation is not None:
            stages.append((hw.units[1], layer.activation.out_type))
        for unit, tensor in stages:
            shape, _ = stream_format(unit.o)
            if tensor.binary:
                assert shape == unsigned(1)
            elif tensor.lo >= 0 and not shape.signed:
                assert shape.width == max(1, tensor.hi.bit_length()), (layer.name, shape, tensor)
            else:
                assert shape == Shape(signed_bits(tensor.lo, tensor.hi), True), (layer.name,
                                                                                  shape, tensor)
