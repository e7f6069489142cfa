"""Binary MVAU with a fused 1-bit threshold: ``b[c] = [y[c] >= T[c]]`` from the accumulator's sign.

Thresholds are chosen to hit ties (``T`` equal to a ``y`` the vectors produce), both
parities (``y`` always has the parity of MW), the range's limits and values beyond them.
Expected bits come only from ``sw_reference`` (``binary_dense`` then ``threshold``).
"""

import numpy as np
import pytest
import torch

from hwgen.export import to_verilog
from hwgen.units._ccu2c import simulation_twins
from hwgen.units.mvau import MVAU
from sim.amaranth_streams import simulate_stream
from sim.packing import unpack
from sw_reference.ops import threshold as golden_threshold

from .mvau_cases import check_cosim, check_lint, expected, make_vectors, make_weights, to_beats

pytestmark = pytest.mark.filterwarnings("ignore:.*created but never used")


@pytest.fixture(autouse=True)
def _carry_cell_twins():
    """``popcount="ecp5_carry"``'s CCU2C cells as Amaranth logic for Amaranth's simulator."""
    with simulation_twins():
        yield


def make_thresholds(x, weights, seed):
    """Per channel: a y of the vectors (a tie), that y + 1 (the other parity), or a limit
    (-MW, MW, MW + 1) or beyond (-MW - 3, MW + 5): every kind for some channel."""
    mh, mw = weights.shape
    y = expected(x, weights)
    rng = np.random.default_rng(seed)
    kinds = [lambda c: int(rng.choice(y[:, c])), lambda c: int(rng.choice(y[:, c])) + 1,
             lambda c: -mw, lambda c: mw, lambda c: mw + 1, lambda c: -mw - 3,
             lambda c: mw + 5, lambda c: int(rng.choice(y[:, c])) - 1]
    return np.array([kinds[c % len(kinds)](c) if c < len(kinds) else
                     kinds[rng.integers(0, 2)](c) for c in range(mh)], dtype=np.int64)


def want_bits(x, weights, thresholds):
    """Golden [N, MH] of -1/+1: ``sw_reference.ops.threshold`` (binary_out) of the
    binary_dense."""
    y = torch.from_numpy(expected(x, weights))
    t = torch.from_numpy(thresholds.astype(np.int64)[:, None])
    return golden_threshold(y, t, binary_out=True).numpy()


def from_bit_beats(words, pe, nf):
    """Output words (PE bits each, NF per vector) -> [N, MH] of -1/+1 (bit 1 = +1)."""
    bits = [v for word in words for v in unpack(word, pe, 1, False)]
    return np.array(bits, dtype=np.int64).reshape(-1, pe * nf)


# (MH, MW, PE, SIMD, pipeline, popcount, registered_result)
CASES = [(8, 16, 1, 1, 0, "adder", False), (8, 16, 8, 16, 1, "adder", False),
         (8, 16, 2, 4, 1, "adder", True), (16, 32, 4, 8, 2, "adder", False),
         (10, 36, 5, 12, 2, "adder", True), (8, 15, 4, 5, 0, "adder", False),
         (8, 16, 2, 4, 1, "compressor", False), (16, 32, 4, 8, 1, "compressor", False),
         (10, 36, 5, 12, 0, "compressor", False), (8, 15, 8, 15, 1, "compressor", False),
         (8, 16, 2, 4, 1, "ecp5_carry", False), (16, 32, 4, 8, 2, "ecp5_carry", False),
         (10, 36, 5, 12, 0, "ecp5_carry", False), (8, 15, 8, 15, 1, "ecp5_carry", False)]


def build(mh, mw, pe, simd, pipeline, popcount, registered, *, seed, start_copies=False):
    weights = make_weights(mh, mw, seed=seed)
    x = make_vectors(weights, count=16, seed=seed + 1)
    thresholds = make_thresholds(x, weights, seed)
    unit = MVAU(weights=weights, pe=pe, simd=simd, pipeline=pipeline, popcount=popcount,
                registered_result=registered, start_copies=start_copies, threshold=thresholds)
    return unit, x, want_bits(x, weights, thresholds)


@pytest.mark.parametrize("mh, mw, pe, simd, pipeline, popcount, registered", CASES)
def test_amaranth_sim_matches_golden(mh, mw, pe, simd, pipeline, popcount, registered):
    """Random and edge vectors, ties and limits, 30% random stalls on both streams."""
    unit, x, want = build(mh, mw, pe, simd, pipeline, popcount, registered, seed=mh + mw)
    assert want.min() == -1 and want.max() == 1
    beats = [word for frame in to_beats(x, simd) for word in frame]
    received = simulate_stream(unit, beats, len(x) * unit.nf, stall=0.3, seed=pipeline)
    np.testing.assert_array_equal(from_bit_beats(received, pe, unit.nf), want)


# each PE's start-value ROM reading its own copy of the output fold (what MVAU.retimed picks
# for block-RAM weights at 200 MHz): ROMs in logic, block RAM (144 words: read register), and
# no datapath stage (no copies: nothing to end the fold's delay in)
START_COPIES = [(16, 32, 4, 8, 1, "adder", True), (48, 96, 4, 8, 2, "adder", True),
                (16, 32, 4, 8, 0, "adder", False), (8, 16, 2, 4, 1, "compressor", False)]


@pytest.mark.parametrize("mh, mw, pe, simd, pipeline, popcount, registered", START_COPIES)
def test_start_copies_give_the_same_bits_latency_and_throughput(mh, mw, pe, simd, pipeline,
                                                                 popcount, registered):
    """One copy of the output fold per PE: the same bits under 30% stalls, the same latency
    and cycles per vector as one shared fold register; no copies without a datapath stage."""
    unit, x, want = build(mh, mw, pe, simd, pipeline, popcount, registered, seed=mh + 1,
                          start_copies=True)
    shared, _, _ = build(mh, mw, pe, simd, pipeline, popcount, registered, seed=mh + 1)
    shared._MustUse__silence = True
    assert unit.start_copies == (pipeline + int(unit.read_register) > 0)
    assert (unit.latency, unit.cycles_per_vector) == (shared.latency, shared.cycles_per_vector)
    beats = [word for frame in to_beats(x, simd) for word in frame]
    received = simulate_stream(unit, beats, len(x) * unit.nf, stall=0.3, seed=pipeline)
    np.testing.assert_array_equal(from_bit_beats(received, pe, unit.nf), want)


@pytest.mark.parametrize("popcount", ["adder", "compressor", "ecp5_carry"])
def test_latency_and_throughput_as_without_the_threshold(popcount):
    """A vector every NF * SF cycles, first output ``latency`` after the last input, as the
    MVAU without the threshold: the threshold costs no cycle."""
    from sim.amaranth_streams import simulate_stream as run
    unit, x, want = build(16, 32, 4, 8, 1, popcount, False, seed=3)
    plain = MVAU(weights=unit.weights, pe=4, simd=8, pipeline=1, popcount=popcount)
    assert unit.latency == plain.latency and unit.cycles_per_vector == plain.cycles_per_vector
    x = x[:4]
    in_stamps, out_stamps = [], []
    beats = [word for frame in to_beats(x, unit.simd) for word in frame]
    received = run(unit, beats, len(x) * unit.nf, stall=0.0, seed=0,
                   stamps=(in_stamps, out_stamps))
    np.testing.assert_array_equal(from_bit_beats(received, unit.pe, unit.nf), want[:4])
    sf, nf = unit.sf, unit.nf
    assert np.diff(in_stamps[::sf]).tolist() == [unit.cycles_per_vector] * (len(x) - 1)
    assert np.diff(out_stamps[::nf]).tolist() == [unit.cycles_per_vector] * (len(x) - 1)
    assert out_stamps[0] - in_stamps[sf - 1] == unit.latency


def test_ports_start_values_and_clamping():
    """One output bit per channel; start values -MW - T' (T clamped, then MW's parity)."""
    weights = make_weights(4, 6, seed=0)
    unit = MVAU(weights=weights, pe=2, simd=3, threshold=[-9, -3, 2, 40])
    assert unit.o.payload.shape().elem_shape.width == 1 and not unit.out_shape.signed
    assert unit.threshold.tolist() == [-6, -3, 2, 7]             # clamped to [-MW, MW + 1]
    # y is even (MW = 6): -3 -> -2, 7 -> 8; the accumulator starts at -MW - T'
    assert [int(v) for v in unit._engine._base] == [0, -4, -8, -14]
    assert MVAU(weights=weights, pe=2, simd=3).with_threshold(5).threshold.tolist() == [5] * 4
    from hwgen.timing import delay_model
    fast = unit.retimed(delay_model("ecp5", "8"), 400)
    assert fast.threshold.tolist() == unit.threshold.tolist() and fast.out_shape == unit.out_shape


@pytest.mark.parametrize("threshold, error, message", [
    ([1.5] * 4, TypeError, "threshold must hold integers, not [1.5, 1.5, 1.5, 1.5]"),
    ([True] * 4, TypeError, "threshold must hold integers"),
    ([1, 2, 3], ValueError, "threshold must be one integer or 4 (one per channel, MH), not an "
                            "array of shape [3]"),
    ([[1], [2], [3], [4]], ValueError, "not an array of shape [4, 1]"),
    ("3", TypeError, "threshold must be an array-like"),
])
def test_threshold_errors(threshold, error, message):
    with pytest.raises(error) as info:
        MVAU(weights=make_weights(4, 6, seed=0), pe=2, simd=3, threshold=threshold)
    assert message in str(info.value)


COSIM = {"folded_adder": (8, 16, 2, 4, 1, "adder", False),
         "registered_adder": (10, 36, 5, 12, 2, "adder", True),
         "compressor": (16, 32, 4, 8, 1, "compressor", False),
         # block-RAM weights (144 words) with a start-value ROM copy per PE (sfc_balanced's
         # fc0 at 200 MHz)
         "start_copies": (48, 96, 4, 8, 2, "adder", True, True)}


@pytest.mark.parametrize("name", sorted(COSIM))
def test_verilator_cosim_matches_golden(name):
    """The exported Verilog, >= 300 vectors under 30% random pauses on both AXI sides."""
    from sim.cosim import cosimulate_unit
    mh, mw, pe, simd, pipeline, popcount, registered, *copies = COSIM[name]
    weights = make_weights(mh, mw, seed=11)
    x = make_vectors(weights, count=300, seed=12)
    thresholds = make_thresholds(x, weights, seed=13)
    unit = MVAU(weights=weights, pe=pe, simd=simd, pipeline=pipeline, popcount=popcount,
                registered_result=registered, start_copies=bool(copies),
                threshold=thresholds)
    result = cosimulate_unit(unit, "mvau_threshold_top", to_beats(x, simd), out_beats=unit.nf,
                             backpressure=0.3, seed=5)
    got = from_bit_beats([w for frame in result.received for w in frame], pe, unit.nf)
    check_cosim(x, got, want_bits(x, weights, thresholds), result)


def test_verilog_lint_clean(tmp_path):
    unit, _, _ = build(8, 16, 2, 4, 1, "compressor", False, seed=2)
    check_lint(to_verilog(unit, "mvau_threshold"), "mvau_threshold", tmp_path)
