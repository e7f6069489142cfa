"""AddStreams: construction checks, Amaranth simulation and Verilator cosim against ``sw_reference.ops.add``.

Each case exercises corners of the two rescales: m = 2**31 - 1, s = 0 and
s = 63, nonzero zero points, signed and unsigned inputs of different widths,
pe 1 and 4, outputs that clamp at both ends, and each rounding mode. The vectors add all-max,
all-min, mixed extremes and, for each input, values that land exactly on a
rounding half-way point (``x*m mod 2**s == 2**(s-1)``).
"""

import numpy as np
import pytest
import torch
from amaranth.hdl import signed, unsigned

from hwgen.export import to_verilog
from hwgen.top import AxiStreamTop
from hwgen.units.add import AddStreams
from sim.amaranth_streams import simulate_stream
from sim.packing import pack, unpack
from sw_reference.ops import add as golden_add

from .requant_cases import halfway_inputs

pytestmark = pytest.mark.filterwarnings("ignore:.*created but never used")

BASE = dict(a_shape=signed(8), b_shape=signed(8), out_shape=signed(8), pe=2,
            multiplier=[1 << 30, 1 << 30], shift=[31, 31], zero_point=0)

CASES = {
    # a uint8 (a softmax-like output) and b int8 at different scales, four lanes
    "u8_s8_pe4": dict(a_shape=unsigned(8), b_shape=signed(8), out_shape=signed(8), pe=4,
                      multiplier=[3 << 29, 3 << 29], shift=[31, 30], zero_point=-3),
    # a 32-bit accumulator with m = 2**31 - 1 plus an int16 with an odd multiplier
    "s32_s16_wide": dict(a_shape=signed(32), b_shape=signed(16), out_shape=signed(16), pe=1,
                         multiplier=[2**31 - 1, 12345], shift=[40, 10], zero_point=1000),
    # s = 63 (a vanishes to 0) and s = 0 (b * 5 exactly, no rounding term; zp still added)
    "shift_63_and_0": dict(a_shape=signed(8), b_shape=signed(4), out_shape=signed(6), pe=1,
                           multiplier=[2**31 - 1, 5], shift=[63, 0], zero_point=3),
    # halves of both (every odd input is a half-way point), unsigned 7-bit output
    "halves_to_u7": dict(a_shape=signed(8), b_shape=signed(8), out_shape=unsigned(7), pe=4,
                         multiplier=[1, 1], shift=[1, 1], zero_point=100),
    # the same halves rounded to even (ONNX ROUND), and floored (QONNX FLOOR) with odd multipliers
    "halves_even": dict(a_shape=signed(8), b_shape=signed(8), out_shape=signed(8), pe=2,
                        multiplier=[1, 3], shift=[1, 2], zero_point=-1, rounding="half_even"),
    "floor_wide": dict(a_shape=signed(16), b_shape=unsigned(8), out_shape=signed(12), pe=2,
                       multiplier=[2**31 - 1, 12345], shift=[33, 5], zero_point=7,
                       rounding="floor"),
}


@pytest.mark.parametrize("change, error, message", [
    (dict(pe=0), ValueError, "pe must be at least 1, not 0"),
    (dict(pe=True), TypeError, "pe must be an integer, not True"),
    (dict(a_shape="int8"), TypeError, "a_shape must be a shape such as signed(8)"),
    (dict(b_shape=unsigned(0)), ValueError, "b_shape must be at least 1 bit wide"),
    (dict(out_shape=None), TypeError, "out_shape must be a shape such as signed(8)"),
    (dict(multiplier=[0, 1]), ValueError, "multiplier[0] must be at least 1, not 0"),
    (dict(multiplier=[1, 2**31]), ValueError, "multiplier[1] must be at most 2147483647"),
    (dict(multiplier=[1]), ValueError, "multiplier must have 2 entries (one per input), not 1"),
    (dict(multiplier=7), TypeError, "multiplier must be a sequence of 2 integers"),
    (dict(shift=[64, 0]), ValueError, "shift[0] must be at most 63, not 64"),
    (dict(shift=[0, -1]), ValueError, "shift[1] must be at least 0, not -1"),
    (dict(shift=[1.5, 0]), TypeError, "shift[0] must be an integer, not 1.5"),
    (dict(zero_point=128), ValueError, "zero_point must be at most 127, not 128"),
    (dict(zero_point=[0]), TypeError, "zero_point must be an integer, not [0]"),
    (dict(rounding="up"), TypeError, "rounding must be one of 'half_up', 'half_even', 'floor'"),
])
def test_construction_errors(change, error, message):
    with pytest.raises(error) as info:
        AddStreams(**{**BASE, **change})
    assert message in str(info.value)


def test_ports_and_parameters():
    unit = AddStreams(**CASES["u8_s8_pe4"])
    assert unit.latency == 7 and unit.pe == 4 and unit.zero_point == -3
    assert unit.multiplier == (3 << 29, 3 << 29) and unit.shift == (31, 30)
    assert unit.a.payload.shape().elem_shape == unsigned(8)
    assert unit.b.payload.shape().elem_shape == signed(8)
    assert unit.o.payload.shape().elem_shape == signed(8)


def _range(shape):
    return (-(1 << (shape.width - 1)), (1 << (shape.width - 1)) - 1) if shape.signed \
        else (0, (1 << shape.width) - 1)


def case_vectors(case, count, seed):
    """``(a, b)`` element arrays: ``count`` random pairs, then the edge cases, a multiple of pe."""
    rng = np.random.default_rng(seed)
    ranges = [_range(case["a_shape"]), _range(case["b_shape"])]
    cols = [list(rng.integers(lo, hi, size=count, endpoint=True)) for lo, hi in ranges]
    (alo, ahi), (blo, bhi) = ranges
    edges = [(ahi, bhi), (alo, blo), (ahi, blo), (alo, bhi), (0, 0)]
    for k, (lo, hi) in enumerate(ranges):
        for x in halfway_inputs(case["multiplier"][k], case["shift"][k], lo, hi):
            other = ranges[1 - k]
            for y in rng.integers(other[0], other[1], size=3, endpoint=True):
                edges.append((x, y) if k == 0 else (y, x))
    cols[0] += [a for a, _ in edges]
    cols[1] += [b for _, b in edges]
    pad = -len(cols[0]) % case["pe"]
    return tuple(np.array(col + col[:pad], dtype=np.int64) for col in cols)


def case_expected(case, a, b):
    lo, hi = _range(case["out_shape"])
    return golden_add([torch.from_numpy(a), torch.from_numpy(b)],
                      torch.tensor(case["multiplier"]), torch.tensor(case["shift"]),
                      case["zero_point"], lo, hi, rounding=case.get("rounding", "half_up")).numpy()


def beats(x, pe, shape):
    return [pack(x[k:k + pe], shape.width) for k in range(0, len(x), pe)]


def elements(words, pe, shape):
    return np.array([v for word in words for v in unpack(word, pe, shape.width, shape.signed)],
                    dtype=np.int64)


def test_cases_reach_every_corner():
    """The vectors clamp at both ends in every case and hit half-way points where they exist."""
    for case in CASES.values():
        a, b = case_vectors(case, count=50, seed=1)
        lo, hi = _range(case["out_shape"])
        want = case_expected(case, a, b)
        assert (want == lo).any() and (want == hi).any()
    halves = CASES["halves_to_u7"]
    a, b = case_vectors(halves, count=0, seed=1)
    assert (a % 2 == 1).any() and (a < 0).any() and (b % 2 == 1).any()
    # half_even differs from half_up exactly on the ties whose lower neighbour is even
    even = CASES["halves_even"]
    a, b = case_vectors(even, count=50, seed=1)
    up = case_expected({**even, "rounding": "half_up"}, a, b)
    assert (case_expected(even, a, b) != up).any()


@pytest.mark.parametrize("name", sorted(CASES))
def test_amaranth_sim_matches_golden(name):
    """30 % random stalls on a, b and o, each from its own generator."""
    case = CASES[name]
    a, b = case_vectors(case, count=120 * case["pe"], seed=11)
    pe = case["pe"]
    words = {"a": beats(a, pe, case["a_shape"]), "b": beats(b, pe, case["b_shape"])}
    stats = {}
    received = simulate_stream(AddStreams(**case), words, len(words["a"]), stall=0.3, seed=5,
                               stats=stats)
    np.testing.assert_array_equal(elements(received, pe, case["out_shape"]),
                                  case_expected(case, a, b))
    assert stats["stalled_beats"] > 10


def test_full_rate_without_stalls():
    """One beat per cycle: N beats leave within N + latency cycles of the first one taken."""
    case = CASES["u8_s8_pe4"]
    a, b = case_vectors(case, count=400, seed=2)
    words = {"a": beats(a, 4, case["a_shape"]), "b": beats(b, 4, case["b_shape"])}
    stamps = ([], [])
    simulate_stream(AddStreams(**case), words, len(words["a"]), stamps=stamps)
    assert stamps[1][-1] - stamps[0][0] == len(words["a"]) - 1 + AddStreams.latency


@pytest.mark.parametrize("name", ["u8_s8_pe4", "s32_s16_wide", "halves_even", "floor_wide",
                                  pytest.param("shift_63_and_0", marks=pytest.mark.slow)])
def test_verilator_cosim_matches_golden(name):
    """Thousands of vectors through the exported Verilog, 30 % pauses on both slaves and the master."""
    from sim.cosim import cosimulate_unit
    case = CASES[name]
    pe, per_sample = case["pe"], 3
    a, b = case_vectors(case, count=4000, seed=23)
    keep = len(a) - len(a) % (pe * per_sample)
    a, b = a[:keep], b[:keep]
    frames = {port: [words[k:k + per_sample] for k in range(0, len(words), per_sample)]
              for port, words in (("a", beats(a, pe, case["a_shape"])),
                                  ("b", beats(b, pe, case["b_shape"])))}
    result = cosimulate_unit(AddStreams(**case), "add_top", frames, out_beats=per_sample,
                             backpressure=0.3, seed=7)
    got = elements([w for sample in result.received for w in sample], pe, case["out_shape"])
    want = case_expected(case, a, b)
    bad = np.flatnonzero(got != want)
    assert not bad.size, f"{bad.size} of {len(want)} differ; first a={a[bad[:3]]} " \
                         f"b={b[bad[:3]]} got={got[bad[:3]]} want={want[bad[:3]]}"
    assert len(got) >= 3000 and result.passed


@pytest.mark.parametrize("name", ["s32_s16_wide", "halves_even"])
def test_verilog_is_deterministic_and_lint_clean(tmp_path, name):
    from .mvau_cases import check_lint
    case = CASES[name]
    text = to_verilog(AxiStreamTop(AddStreams(**case), out_beats=2), "add_top")
    assert text == to_verilog(AxiStreamTop(AddStreams(**case), out_beats=2), "add_top")
    check_lint(text, "add_top", tmp_path)
