"""Thresholding: construction checks, Amaranth simulation, Verilator cosim and lint.

Cases cover pe = 1, pe = channels and in between; out_bits 1, 2, 3 and 4;
signed and unsigned inputs; per-tensor and per-channel thresholds; rows with
equal thresholds and thresholds beyond the input range (clamped at
generation). Beside random vectors, every case gets all-max, all-min, and for
each threshold column ``j`` a vector with ``x[c] == T[c, j]`` (the tie counts)
and one with ``x[c] == T[c, j] - 1``. Expected outputs come only from
``sw_reference.ops.threshold``.
"""


import numpy as np
import pytest
import torch
from amaranth.hdl import signed, unsigned

from hwgen.export import to_verilog
from hwgen.top import AxiStreamTop
from hwgen.units.thresholding import Thresholding
from sim.amaranth_streams import simulate_stream
from sim.packing import unpack
from sw_reference.ops import threshold as golden_threshold

from .requant_cases import to_beats


def _range(shape):
    if shape.signed:
        return -(1 << (shape.width - 1)), (1 << (shape.width - 1)) - 1
    return 0, (1 << shape.width) - 1


def _thresholds(shape, rows, out_bits, seed):
    """Sorted rows with equal neighbours and values far outside the input range."""
    lo, hi = _range(shape)
    count = (1 << out_bits) - 1
    rng = np.random.default_rng(seed)
    t = np.sort(rng.integers(lo - 3, hi + 4, size=(rows, count)), axis=1)
    if rows > 1:
        t[0, :] = rng.integers(lo, hi + 1)                      # all equal
    if rows > 2:
        t[1, :] = np.sort([lo - 1000] * (count // 2) + [hi + 1000] * (count - count // 2))
    if rows > 3 and count > 1:
        t[2, 1] = t[2, 0]                                       # one duplicate pair
    if count == 1 and rows > 4:
        t[3:5, 0] = [lo, hi]                                    # always / only at max
    return t.astype(np.int64)


CASES = {
    # per-channel, middle pe, ROMs (4 folds), out-of-range thresholds clamp to [-128, 128]
    "s8_per_channel_out2_pe2": dict(in_shape=signed(8), channels=8, pe=2, out_bits=2,
                                    thresholds=_thresholds(signed(8), 8, 2, seed=1)),
    # binary output (1 = +1), fully folded
    "s12_per_channel_out1_pe1": dict(in_shape=signed(12), channels=6, pe=1, out_bits=1,
                                     thresholds=_thresholds(signed(12), 6, 1, seed=2)),
    # pe = channels: one fold, so constants instead of ROMs; 15 thresholds per row
    "u6_per_channel_out4_pe6": dict(in_shape=unsigned(6), channels=6, pe=6, out_bits=4,
                                    thresholds=_thresholds(unsigned(6), 6, 4, seed=3)),
    # the two optional stages (a register after each ROM read, encode on its own): latency 4
    "s8_per_channel_out2_pe2_staged": dict(in_shape=signed(8), channels=8, pe=2, out_bits=2,
                                           thresholds=_thresholds(signed(8), 8, 2, seed=1),
                                           read_register=True, encode_stage=True),
    # per-tensor, with a duplicate
    "s10_per_tensor_out3_pe4": dict(in_shape=signed(10), channels=8, pe=4, out_bits=3,
                                    thresholds=np.array([[-300, -7, 0, 0, 5, 200, 511]])),
    # per-tensor binary output from an unsigned input
    "u8_per_tensor_out1_pe4": dict(in_shape=unsigned(8), channels=16, pe=4, out_bits=1,
                                   thresholds=np.array([[100]])),
}


def case_vectors(case, count, seed):
    """``count`` random vectors [count, C], then the edge vectors."""
    channels = case["channels"]
    lo, hi = _range(case["in_shape"])
    rng = np.random.default_rng(seed)
    t = np.broadcast_to(case["thresholds"], (channels, case["thresholds"].shape[1]))
    edges = [np.full(channels, hi), np.full(channels, lo)]
    for j in range(t.shape[1]):
        edges += [np.clip(t[:, j], lo, hi), np.clip(t[:, j] - 1, lo, hi)]
    x = rng.integers(lo, hi, size=(count, channels), endpoint=True)
    return np.concatenate([x, np.array(edges)]).astype(np.int64)


def case_expected(case, x):
    """Golden outputs [N, C]: counts, or -1/+1 for one output bit."""
    return golden_threshold(torch.from_numpy(x), torch.from_numpy(case["thresholds"]),
                            channel_axis=-1, binary_out=case["out_bits"] == 1).numpy()


def from_words(case, words):
    """Output beats -> elements; ``unpack`` maps a 1-bit element b to 2*b - 1 (-1/+1)."""
    return [v for word in words for v in unpack(word, case["pe"], case["out_bits"], False)]


BASE = dict(in_shape=signed(8), channels=8, pe=2, out_bits=2,
            thresholds=[[-1, 0, 1]] * 8)


@pytest.mark.parametrize("change, error, message", [
    (dict(pe=3), ValueError, "pe must divide channels (8), not 3"),
    (dict(pe=0), ValueError, "pe must be at least 1, not 0"),
    (dict(pe=2.0), TypeError, "pe must be an integer, not 2.0"),
    (dict(channels=True), TypeError, "channels must be an integer, not True"),
    (dict(out_bits=0), ValueError, "out_bits must be at least 1, not 0"),
    (dict(out_bits=5), ValueError, "out_bits must be at most 4, not 5"),
    (dict(out_bits=True), TypeError, "out_bits must be an integer, not True"),
    (dict(in_shape="int8"), TypeError, "in_shape must be a shape such as signed(8)"),
    (dict(in_shape=0), ValueError, "in_shape must be at least 1 bit wide, not 0"),
    (dict(thresholds=[[-1, 0, 1, 2]] * 8), ValueError,
     "thresholds must have shape [8, 3] or [1, 3] (2**out_bits - 1 = 3 per channel), not [8, 4]"),
    (dict(thresholds=[[-1, 0, 1]] * 4), ValueError, "or [1, 3] (2**out_bits - 1 = 3 per "
                                                    "channel), not [4, 3]"),
    (dict(thresholds=[-1, 0, 1]), ValueError, "not [3]"),
    (dict(thresholds=[[-1, 0, 1]] * 5 + [[3, 1, 2]] + [[0, 0, 0]] * 2), ValueError,
     "thresholds row 5 must be sorted ascending, not [3, 1, 2]"),
    (dict(thresholds=[[0.5, 1, 2]]), TypeError, "thresholds must hold integers, not float64"),
    (dict(thresholds=[[False, True, True]]), TypeError, "thresholds must hold integers, not bool"),
    (dict(thresholds=[[1, 2, 3], [1, 2]]), TypeError, "thresholds must be a 2-D array of integers"),
    (dict(thresholds=None), TypeError, "thresholds must hold integers, not None"),
])
def test_construction_errors(change, error, message):
    with pytest.raises(error) as info:
        Thresholding(**{**BASE, **change})
    assert message in str(info.value)


def test_properties_and_clamping():
    unit = Thresholding(in_shape=unsigned(4), channels=6, pe=3, out_bits=2,
                        thresholds=[[-100, 3, 2**70]])
    assert (unit.channels, unit.pe, unit.folds, unit.out_bits, unit.latency) == (6, 3, 2, 2, 2)
    assert unit.thresholds == [[0, 3, 16]] * 6                  # [in_lo, in_hi + 1]
    assert unit.o.payload.shape().elem_shape == unsigned(2)


def test_roms_only_for_thresholds_that_change_across_folds():
    per_tensor = to_verilog(Thresholding(**CASES["s10_per_tensor_out3_pe4"]), "t")
    one_fold = to_verilog(Thresholding(**CASES["u6_per_channel_out4_pe6"]), "t")
    per_channel = to_verilog(Thresholding(**CASES["s8_per_channel_out2_pe2"]), "t")
    assert "threshold_rom_" not in per_tensor and "threshold_rom_" not in one_fold
    assert "threshold_rom_0" in per_channel and "threshold_rom_1" in per_channel


def simulate(case, x, *, stall, seed):
    """Run ``x`` [N, C] through the unit in Amaranth's simulator; return [N, C] outputs."""
    dut = Thresholding(**case)
    beats = [w for sample in to_beats(x, case["pe"], case["in_shape"].width) for w in sample]
    received = simulate_stream(dut, beats, len(beats), stall=stall, seed=seed)
    return np.array(from_words(case, received), dtype=np.int64).reshape(x.shape)


@pytest.mark.parametrize("name", sorted(CASES))
def test_amaranth_sim_matches_golden(name):
    case = CASES[name]
    x = case_vectors(case, count=200, seed=11)
    np.testing.assert_array_equal(simulate(case, x, stall=0.3, seed=5), case_expected(case, x))


COSIM = ["s8_per_channel_out2_pe2", "s12_per_channel_out1_pe1", "s8_per_channel_out2_pe2_staged"]


def cosim(name, *, count, backpressure):
    from sim.cosim import cosimulate_unit
    case = CASES[name]
    unit = Thresholding(**case)
    x = case_vectors(case, count=count, seed=23)
    result = cosimulate_unit(unit, "thresholding_top",
                             to_beats(x, case["pe"], case["in_shape"].width),
                             out_beats=unit.folds, backpressure=backpressure, seed=7)
    got = np.array([from_words(case, words) for words in result.received], dtype=np.int64)
    want = case_expected(case, x)
    bad = (got != want).any(axis=1)
    assert not bad.any(), f"{bad.sum()} of {len(x)} vectors differ; first rows:\n" \
                          f"x={x[bad][:3]}\ngot={got[bad][:3]}\nwant={want[bad][:3]}"
    assert result.passed
    return unit, x, result


@pytest.mark.parametrize("name", COSIM)
def test_verilator_cosim_matches_golden(name):
    """>= 500 vectors under 30% random pauses on both AXI4-Stream sides."""
    _, x, _ = cosim(name, count=500, backpressure=0.3)
    assert len(x) >= 500


def test_verilator_no_bubbles():
    """Without backpressure a vector takes ``folds`` cycles; the first result after ``latency``."""
    unit, x, result = cosim(COSIM[0], count=500, backpressure=0.0)
    per_vector = result.cycles_per_sample(len(x))
    assert abs(per_vector - unit.folds) <= 0.02 * unit.folds, per_vector
    assert result.out_stamps[0] - result.in_stamps[0] == unit.latency


@pytest.mark.parametrize("name", ["s8_per_channel_out2_pe2", "s10_per_tensor_out3_pe4",
                                  "u6_per_channel_out4_pe6"])
def test_verilog_is_deterministic_and_lint_clean(tmp_path, name):
    """AXI tops around ROM lanes, constant lanes, and one fold (one output beat)."""
    from sim.verilator import lint
    make = lambda: to_verilog(AxiStreamTop(Thresholding(**CASES[name]),
                                           out_beats=Thresholding(**CASES[name]).folds),
                              "thresholding_top")
    text = make()
    assert text == make()
    path = tmp_path / "thresholding_top.v"
    path.write_text(text)
    result = lint(path, "thresholding_top")
    assert result.returncode == 0, result.stderr
    assert "%Warning" not in result.stderr


def test_retimed_adds_stages_only_where_the_delay_model_needs_them():
    from hwgen.timing import delay_model
    model = delay_model("ecp5", "8")
    wide = Thresholding(in_shape=signed(20), channels=256, pe=2, out_bits=4,
                        thresholds=_thresholds(signed(20), 256, 4, seed=4))
    slow = wide.retimed(model, 100)
    fast = wide.retimed(model, 250)
    assert (fast.read_register, fast.encode_stage) == (True, True) and fast.latency == 4
    assert slow.latency <= fast.latency
    assert fast.retimed(model, 250) is fast                   # nothing left to change
    assert fast.thresholds == wide.thresholds
    ns, what, fix = wide.stage_delay(model)
    assert ns > fast.stage_delay(model)[0] and "read_register" in fix
    with pytest.raises(TypeError, match="encode_stage must be True or False, not 1"):
        Thresholding(**{**CASES["s8_per_channel_out2_pe2"], "encode_stage": 1})
