"""IntegerMVAU (integer / ternary / binary weights on integer inputs): construction checks,
Amaranth simulation under random stalls and Verilator cosim, all against ``sw_reference``.

Every case's weights include a row of the largest and a row of the smallest
weight, and its vectors end with all-max, all-min and alternating inputs, so
the sums reach the exact accumulator bounds the unit sized itself for: an
overflow would show as a mismatch. Expected values come only from
``sw_reference.ops.dense`` / ``binary_dense``.
"""

from dataclasses import dataclass

import numpy as np
import pytest
import torch
from amaranth.hdl import signed, unsigned
from amaranth.lib import data

from hwgen.export import to_verilog
from hwgen.units._lanes import BinaryAddSub, BoothShiftAdd, DspMultiply, ShiftAdd, TernaryAddSub
from hwgen.units.mvau_int import IntegerMVAU
from sim.amaranth_streams import simulate_stream
from sim.packing import unpack
from sw_reference.ops import binary_dense, dense

pytestmark = pytest.mark.filterwarnings("ignore:.*created but never used")

INT32_MIN, INT32_MAX = -(1 << 31), (1 << 31) - 1


@dataclass(frozen=True)
class Case:
    """One configuration: weights [mh, mw] of ``kind`` on ``in_shape`` inputs."""
    kind: str
    in_shape: object
    mh: int
    mw: int
    pe: int
    simd: int
    pipeline: int = 1
    resource: str = "lut"
    weight_bits: int = 8
    bias: str = "none"            # "none", "random" or "extreme" (int32 min/max)
    binary_input: bool = False
    seed: int = 0

    def weights(self):
        rng = np.random.default_rng(self.seed)
        lo, hi = {"int": (-(1 << (self.weight_bits - 1)), (1 << (self.weight_bits - 1)) - 1),
                  "ternary": (-1, 1), "binary": (-1, 1)}[self.kind]
        if self.kind == "binary":
            w = rng.choice(np.array([-1, 1]), size=(self.mh, self.mw))
        else:
            w = rng.integers(lo, hi + 1, size=(self.mh, self.mw))
        w[0], w[-1] = hi, lo                 # all-max and all-min rows reach the bounds
        return w

    def bias_values(self):
        if self.bias == "none":
            return None
        if self.bias == "extreme":
            return np.array([INT32_MAX if c % 2 else INT32_MIN for c in range(self.mh)])
        return np.random.default_rng(self.seed + 1).integers(-5000, 5000, size=self.mh)

    def unit(self, **change):
        args = dict(weights=self.weights(), in_shape=self.in_shape, weight_kind=self.kind,
                    weight_bits=self.weight_bits, bias=self.bias_values(), pe=self.pe,
                    simd=self.simd, pipeline=self.pipeline, resource=self.resource,
                    binary_input=self.binary_input)
        return IntegerMVAU(**{**args, **change})

    def in_range(self):
        if self.binary_input:
            return -1, 1
        n = self.in_shape.width
        return (-(1 << (n - 1)), (1 << (n - 1)) - 1) if self.in_shape.signed else (0, (1 << n) - 1)

    def vectors(self, count, seed):
        """``count`` random vectors, then all-max, all-min and the two alternating ones."""
        lo, hi = self.in_range()
        rng = np.random.default_rng(seed)
        if self.binary_input:
            random = rng.choice(np.array([-1, 1]), size=(count, self.mw))
        else:
            random = rng.integers(lo, hi + 1, size=(count, self.mw))
        alternating = np.where(np.arange(self.mw) % 2, hi, lo)
        edges = np.array([[hi] * self.mw, [lo] * self.mw, alternating, lo + hi - alternating])
        return np.concatenate([random, edges]).astype(np.int64)

    def expected(self, x):
        w, b = torch.from_numpy(self.weights()), self.bias_values()
        if self.kind == "binary":
            return binary_dense(torch.from_numpy(x), w).numpy()
        return dense(torch.from_numpy(x), w, None if b is None else torch.from_numpy(b)).numpy()

    def beats(self, x):
        """[N, MW] -> per-vector lists of SF input words (binary inputs: bit 1 = +1)."""
        n = self.in_shape.width
        codes = (x > 0).astype(np.int64) if self.binary_input else x & ((1 << n) - 1)
        return [[sum(int(v) << (j * n) for j, v in enumerate(row[s:s + self.simd]))
                 for s in range(0, self.mw, self.simd)] for row in codes]


def from_beats(unit, frames):
    shape = unit.out_shape
    return np.array([[v for word in frame for v in unpack(word, unit.pe, shape.width, shape.signed)]
                     for frame in frames], dtype=np.int64)


BASE = Case("int", signed(8), mh=8, mw=12, pe=2, simd=4)
W8 = BASE.weights()


def _with(array, index, value):
    array = array.astype(np.float64 if isinstance(value, float) else np.int64)
    array[index] = value
    return array


@pytest.mark.parametrize("change, error, message", [
    (dict(weight_kind="float"), TypeError,
     "weight_kind must be one of 'int', 'ternary', 'binary', not 'float'"),
    (dict(resource="bram"), TypeError, "resource must be one of 'lut', 'dsp', not 'bram'"),
    (dict(binary_input=1), TypeError, "binary_input must be True or False, not 1"),
    (dict(registered_result=1), TypeError, "registered_result must be True or False, not 1"),
    (dict(weight_bits=1), ValueError, "weight_bits must be at least 2, not 1"),
    (dict(weight_bits=9), ValueError, "weight_bits must be at most 8, not 9"),
    (dict(weight_bits=4), ValueError,
     "must be signed 4-bit integers (weight_kind='int'), not"),
    (dict(weights=_with(W8, (2, 3), 128)), ValueError,
     "weights[2, 3] must be signed 8-bit integers (weight_kind='int'), not 128"),
    (dict(weights=_with(W8, (1, 1), 0.5)), ValueError, "weights[1, 1] must be an integer, not 0.5"),
    (dict(weights=W8 > 0), TypeError, "weights must be an array-like [MH, MW]"),
    (dict(weights=None), TypeError, "weights must be an array-like [MH, MW]"),
    (dict(weights=W8[0]), ValueError, "weights must be 2-D [MH, MW]"),
    (dict(weights=np.ones((0, 4), np.int64)), ValueError, "weights must not be empty"),
    (dict(weight_kind="ternary"), ValueError,
     "weights[0, 0] must be -1, 0 or +1 (weight_kind='ternary'), not 127"),
    (dict(weight_kind="binary", weights=np.zeros((2, 4), np.int64)), ValueError,
     "weights[0, 0] must be -1 or +1 (weight_kind='binary'), not 0 (7 more entries"),
    (dict(pe=3), ValueError, "pe must divide MH (8, the rows of weights), not 3"),
    (dict(simd=5), ValueError, "simd must divide MW (12, the columns of weights), not 5"),
    (dict(in_shape="int8"), TypeError, "in_shape must be a shape such as signed(8)"),
    (dict(in_shape=signed(8), binary_input=True), ValueError,
     "in_shape must be unsigned(1) with binary_input=True, not signed(8)"),
    (dict(in_range=(0, 128)), ValueError,
     "in_range must be an ordered pair inside [-128, 127] (the values of in_shape signed(8)), "
     "not (0, 128)"),
    (dict(in_range=(5, 4)), ValueError, "in_range must be an ordered pair inside"),
    (dict(in_range=7), TypeError, "in_range must be a pair (lo, hi) of integers, not 7"),
    (dict(in_range=(0.0, 4)), TypeError, "in_range must be a pair (lo, hi) of integers"),
    (dict(bias=np.zeros(7, np.int64)), ValueError,
     "bias must have shape (8,) (one per row of weights), not (7,)"),
    (dict(bias=_with(np.zeros(8), 3, INT32_MAX + 1)), ValueError,
     "bias[3] must be an int32 in [-2147483648, 2147483647], not 2147483648"),
    (dict(bias="0"), TypeError, "bias must be an array-like [MH] of int32"),
])
def test_construction_errors(change, error, message):
    with pytest.raises(error) as info:
        BASE.unit(**change)
    assert message in str(info.value)


def test_properties_ports_and_exact_widths():
    unit = Case("int", unsigned(8), mh=4, mw=6, pe=2, simd=3, weight_bits=4).unit(
        weights=np.array([[7] * 6, [-8] * 6, [1, -1] * 3, [0] * 6]), bias=[10, -10, 0, 0])
    assert (unit.nf, unit.sf, unit.cycles_per_vector, unit.latency) == (2, 2, 4, 3)
    assert (unit.weight_kind, unit.weight_bits, unit.resource, unit.in_range) == \
        ("int", 4, "lut", (0, 255))
    # channel 0 reaches 10 + 6*7*255 = 10720, channel 1 -10 - 6*8*255 = -12250: 15 bits signed
    assert unit.out_shape == signed(15) and unit.acc_shape == signed(15) and unit.acc_bits == 15
    assert unit.i.payload.shape() == data.ArrayLayout(unsigned(8), 3)
    assert unit.o.payload.shape() == data.ArrayLayout(signed(15), 2)
    assert unit.bias.tolist() == [10, -10, 0, 0] and unit.bias is not unit.bias
    assert unit.rom_bits == 4 * 6 * 4 + 4 * 15       # weights plus the per-channel bias ROM
    dsp = Case("int", unsigned(8), mh=4, mw=6, pe=2, simd=3, resource="dsp").unit()
    assert dsp.latency == 4                         # the product register


def test_partial_sums_size_the_accumulator_and_final_sums_the_output():
    """A bias far from the sums' range: partial sums start at it, the output is unsigned."""
    unit = IntegerMVAU(weights=[[1, 1], [1, 1]], in_shape=unsigned(4), bias=[-100, -100],
                       simd=1, weight_bits=2)
    # partial sums -100 .. -70 need signed(8); final sums -100 .. -70 too
    assert unit.acc_shape == signed(8) and unit.out_shape == signed(8)
    positive = IntegerMVAU(weights=[[1, 1]], in_shape=unsigned(4), simd=1, weight_bits=2)
    assert positive.out_shape == unsigned(5)
    narrow = IntegerMVAU(weights=[[1, 1]], in_shape=unsigned(4), in_range=(0, 3), weight_bits=2)
    assert narrow.out_shape == unsigned(3)


@pytest.mark.parametrize("kind, resource, datapath, lane_bits", [
    ("int", "lut", BoothShiftAdd, 4), ("int", "dsp", DspMultiply, 4),
    ("ternary", "dsp", TernaryAddSub, 2), ("binary", "lut", BinaryAddSub, 1)])
def test_weight_kind_picks_the_lane_datapath(kind, resource, datapath, lane_bits):
    unit = Case(kind, signed(8), mh=4, mw=8, pe=2, simd=4, weight_bits=4,
                resource=resource).unit()
    assert type(unit.datapath) is datapath and unit.lane_bits == lane_bits
    assert (unit.weight_depth, unit.weight_word_bits) == (4, 4 * lane_bits)
    assert not unit.read_register


def test_ternary_and_binary_weights_build_no_multiplier():
    for kind, bits in (("ternary", 2), ("binary", 1)):
        unit = Case(kind, signed(8), mh=4, mw=8, pe=2, simd=4).unit()
        assert unit.weight_bits == bits and unit.weight_store.rom_bits == 4 * 8 * bits
        assert " * " not in to_verilog(unit, "mvau")
    assert " * " not in to_verilog(Case("int", signed(8), 4, 8, 2, 4).unit(), "mvau")
    assert " * " in to_verilog(Case("int", signed(8), 4, 8, 2, 4, resource="dsp").unit(), "mvau")


def test_booth_terms_halve_the_shift_add_terms_and_the_start_value_takes_their_ones():
    """Integer weights in LUTs: ceil(b / 2) radix-4 Booth terms per lane where shift-add
    had b; a negative digit's term is complemented, and the ones that leaves out
    (``4^i`` per negative digit ``i``) join the channel's start value."""
    from hwgen.units._lanes import booth_offset
    kwargs = dict(simd=4, pipeline=1, in_shape=unsigned(4), in_range=(0, 15),
                  w_shape=signed(4), w_range=(-8, 7))
    assert len(BoothShiftAdd(**kwargs).term_bounds()) == 8
    assert len(ShiftAdd(**kwargs).term_bounds()) == 16
    # -1 = -1 + 0*4; 5 = 1 + 1*4; -8 = 0 - 2*4; 7 = -1 + 2*4
    assert booth_offset(np.array([-1, 5, -8, 7]), 4).tolist() == [1, 0, 4, 1]
    weights = np.array([[-1, 5, -8, 7], [5, 5, 5, 5]])
    assert BoothShiftAdd(**kwargs).base_offset(weights).tolist() == [6, 0]


def test_ternary_terms_are_x_or_its_complement_and_the_bias_counts_the_minus_ones():
    """-x == ~x + 1: the lanes add ~x for a -1 weight and each channel's start value adds
    its count of -1 weights, so the sums (and the output type) are the products'."""
    weights = [[-1, -1, 1, 0], [0, 1, 1, 1], [-1, 0, 0, 0]]
    unit = IntegerMVAU(weights=weights, in_shape=unsigned(4), weight_kind="ternary", simd=2,
                       bias=[5, 0, -3])
    assert unit.out_shape == signed(7)                  # -25 .. 45, as the products give
    assert unit.datapath.base_offset(np.array(weights)).tolist() == [2, 0, 1]
    assert unit.datapath.term_bounds()[0] == (-16, 15)   # x, ~x (-16 .. -1) or 0
    x = np.array([[0, 0, 0, 0], [15, 15, 15, 15], [3, 7, 0, 9], [15, 15, 0, 0]])
    beats = [row[s] | (row[s + 1] << 4) for row in x.tolist() for s in (0, 2)]
    received = simulate_stream(unit, beats, len(x) * unit.nf)
    got = from_beats(unit, [received[n:n + unit.nf] for n in range(0, len(received), unit.nf)])
    np.testing.assert_array_equal(got, x @ np.array(weights).T + [5, 0, -3])


CASES = {
    "int8 signed lut, random bias": Case("int", signed(8), 8, 12, 2, 4, bias="random"),
    "int8 unsigned dsp, extreme bias": Case("int", unsigned(8), 8, 12, 4, 3, resource="dsp",
                                            bias="extreme"),
    "int4 unsigned, unrolled (pe=MH, simd=MW)": Case("int", unsigned(4), 6, 10, 6, 10,
                                                     pipeline=0, weight_bits=4),
    "int2 signed, folded (pe=simd=1), 2 stages": Case("int", signed(3), 4, 6, 1, 1,
                                                      pipeline=2, weight_bits=2, bias="random"),
    "int5 on 1-bit unsigned 0/1": Case("int", unsigned(1), 6, 8, 3, 8, weight_bits=5),
    "int3 dsp on binary -1/+1": Case("int", unsigned(1), 4, 12, 4, 3, resource="dsp",
                                     weight_bits=3, binary_input=True),
    "ternary signed, pe=MH": Case("ternary", signed(8), 8, 16, 8, 4, bias="random"),
    "ternary unsigned, simd=MW, extreme bias": Case("ternary", unsigned(6), 12, 18, 3, 18,
                                                    pipeline=2, bias="extreme"),
    "ternary on 1-bit unsigned 0/1": Case("ternary", unsigned(1), 4, 8, 2, 2, pipeline=0),
    "binary on uint8 pixels (CNV first layer)": Case("binary", unsigned(8), 8, 27, 4, 9),
    "binary on signed, 2 stages": Case("binary", signed(5), 6, 12, 2, 6, pipeline=2),
}


# CI runs these; the others (same datapaths, other foldings/widths) run with -m slow.
FAST = {"int8 signed lut, random bias", "int8 unsigned dsp, extreme bias",
        "int2 signed, folded (pe=simd=1), 2 stages", "int5 on 1-bit unsigned 0/1",
        "ternary unsigned, simd=MW, extreme bias", "binary on uint8 pixels (CNV first layer)"}


@pytest.mark.parametrize("name", [name if name in FAST else pytest.param(name, marks=pytest.mark.slow)
                                  for name in sorted(CASES)])
def test_amaranth_sim_matches_golden(name):
    """Random and edge vectors back to back, 30% random stalls on both streams."""
    case = CASES[name]
    unit = case.unit()
    x = case.vectors(12, seed=case.mw)
    received = simulate_stream(unit, [w for f in case.beats(x) for w in f], len(x) * unit.nf,
                               stall=0.3, seed=len(name))
    got = from_beats(unit, [received[n:n + unit.nf] for n in range(0, len(received), unit.nf)])
    np.testing.assert_array_equal(got, case.expected(x))


def test_amaranth_sim_cadence_and_latency():
    """No stalls: one vector every NF*SF cycles, first output ``latency`` after the last input."""
    for resource in ("lut", "dsp"):
        case = Case("int", signed(8), 8, 12, 2, 4, resource=resource, bias="random")
        unit = case.unit()
        x = case.vectors(2, seed=1)
        stamps = ([], [])
        received = simulate_stream(unit, [w for f in case.beats(x) for w in f],
                                   len(x) * unit.nf, stamps=stamps)
        got = from_beats(unit, [received[n:n + unit.nf] for n in range(0, len(received), unit.nf)])
        np.testing.assert_array_equal(got, case.expected(x))
        ins, outs = stamps
        assert np.diff(ins[::unit.sf]).tolist() == [unit.cycles_per_vector] * (len(x) - 1)
        assert np.diff(outs[::unit.nf]).tolist() == [unit.cycles_per_vector] * (len(x) - 1)
        assert outs[0] - ins[unit.sf - 1] == unit.latency


def test_the_output_queue_counts_a_fold_from_a_register_of_its_last_issue():
    """With SF > 1 the queue's accept is a register of the fold's last issue (its room flag
    then reads no issue logic), on a queue of one stage fewer, where that queue holds as many
    results: the cadence stays one vector per NF*SF cycles, and the sums are exact under
    stalls. Where it would hold fewer (SF 4 after 3 stages: 1 slot, not 2), the accept is
    the issue, as before."""
    for mw, late in ((12, True), (16, False)):
        case = Case("int", signed(8), 8, mw, 2, 4, bias="random")
        unit = case.unit()
        assert unit._engine.registered_accept is late
        assert ("fold_issued" in to_verilog(unit, "mvau")) is late
        x = case.vectors(4, seed=2)
        stamps = ([], [])
        received = simulate_stream(unit, [w for f in case.beats(x) for w in f],
                                   len(x) * unit.nf, stamps=stamps)
        ins, outs = stamps
        assert np.diff(ins[::unit.sf]).tolist() == [unit.cycles_per_vector] * (len(x) - 1)
        assert np.diff(outs[::unit.nf]).tolist() == [unit.cycles_per_vector] * (len(x) - 1)
        received = simulate_stream(unit, [w for f in case.beats(x) for w in f],
                                   len(x) * unit.nf, stall=0.3, seed=mw)
        got = from_beats(unit, [received[n:n + unit.nf] for n in range(0, len(received),
                                                                        unit.nf)])
        np.testing.assert_array_equal(got, case.expected(x))


def test_the_slice_register_takes_the_stream_or_the_buffer():
    """With an input buffer (NF, SF > 1, as in the cases simulated above) the slice's one
    register loads the stream in output fold 0 and the buffer's word in the others: no
    replay select in front of the lanes (``from_buffer``), no stream register (``x_in``);
    the latency is the engine's ``2 + pipeline`` as before."""
    unit = BASE.unit()
    assert unit.nf > 1 and unit.sf > 1 and unit.latency == 2 + unit.pipeline
    verilog = to_verilog(unit, "mvau_int")
    assert "from_buffer" not in verilog and "x_in" not in verilog
    assert "reg [31:0] x_slice = " in verilog


def test_slice_copies_feed_each_pe_from_its_own_register():
    """With ``slice_copies`` each PE's lanes read the slice from a register of their own, in
    place of the one ``x_slice`` register (no cycle added), and the sums are the golden's under
    30% random pauses on both AXI4-Stream sides (Verilator, edge vectors included); a unit
    with one PE, or no register to copy (a single fold), keeps one."""
    from sim.cosim import cosimulate_unit
    case = Case("int", signed(8), 8, 16, 4, 4, bias="random", seed=3)
    unit = case.unit(slice_copies=4)
    plain = case.unit()
    assert (unit.slice_copies, plain.slice_copies) == (4, 1) and unit.latency == plain.latency
    verilog = to_verilog(unit, "mvau_int")
    assert all(f"x_slice_c{c}" in verilog for c in range(4))
    assert "reg [31:0] x_slice =" not in verilog and "reg [31:0] x_slice =" in to_verilog(
        plain, "mvau_int")
    assert Case("int", signed(8), 8, 16, 1, 4).unit(slice_copies=4).slice_copies == 1
    assert Case("int", signed(8), 8, 4, 4, 4).unit(slice_copies=4).slice_copies == 1
    x = case.vectors(120, seed=5)
    result = cosimulate_unit(unit, "mvau_int_copies_top", case.beats(x), out_beats=unit.nf,
                             backpressure=0.3, seed=5)
    np.testing.assert_array_equal(from_beats(unit, result.received), case.expected(x))
    assert result.passed
    for u in (unit, plain):
        u._MustUse__silence = True


COSIM = {
    "int8 lut": CASES["int8 signed lut, random bias"],
    "ternary": CASES["ternary unsigned, simd=MW, extreme bias"],
    "int8 dsp": CASES["int8 unsigned dsp, extreme bias"],
    "binary on uint8": CASES["binary on uint8 pixels (CNV first layer)"],
}


@pytest.mark.parametrize("name", ["ternary"] + [pytest.param(name, marks=pytest.mark.slow)
                                               for name in ("int8 lut", "int8 dsp",
                                                            "binary on uint8")])
def test_verilator_cosim_matches_golden(name):
    """>= 300 vectors (with the edge ones) under 30% random pauses on both AXI4-Stream sides.

    CI runs the ternary unit here and the integer one (LUT products, bias)
    inside int8_mlp in tests/test_networks.py; the rest runs with -m slow.
    """
    from sim.cosim import cosimulate_unit
    case = COSIM[name]
    unit = case.unit()
    x = case.vectors(300, seed=7)
    result = cosimulate_unit(unit, "mvau_int_top", case.beats(x), out_beats=unit.nf,
                             backpressure=0.3, seed=7)
    got, want = from_beats(unit, result.received), case.expected(x)
    assert got.shape == want.shape, f"{len(result.received)} of {len(x)} vectors came out"
    bad = (got != want).any(axis=1)
    assert not bad.any(), f"{int(bad.sum())} of {len(x)} vectors differ; first:\n" \
                          f"x={x[bad][:2]}\ngot={got[bad][:2]}\nwant={want[bad][:2]}"
    assert result.passed


@pytest.mark.parametrize("name", ["int8 lut", "int8 dsp", "ternary"])
def test_verilog_lint_clean(name, tmp_path):
    from sim.verilator import lint
    path = tmp_path / "mvau_int.v"
    path.write_text(to_verilog(COSIM[name].unit(), "mvau_int"))
    result = lint(path, "mvau_int")
    assert result.returncode == 0, result.stderr
    assert "%Warning" not in result.stderr


def test_tree_delays_count_each_stage_as_one_multi_operand_sum():
    """8 lanes of 8-bit weights (int8_mlp's fc1): 64 shift-add terms, 6 adder levels of
    9 .. 17 bits. Yosys merges a stage's adder levels into one sum of their operands: rows
    of full adders (a LUT level each) down to two, then one carry chain; the first stage
    starts with the terms' gating (one LUT level), and DSP products are a stage of their
    own before the tree."""
    from hwgen.timing import delay_model
    from hwgen.units._lanes import merged_sum_ns
    from hwgen.units._pipeline import tree_level_widths
    model = delay_model("ecp5", "8")
    assert [merged_sum_ns(model, n, 12) - model.carry(12) for n in (2, 3, 4, 6, 8, 9, 10)] == \
        pytest.approx([model.luts(k) for k in (0, 1, 2, 3, 4, 4, 5)])
    assert merged_sum_ns(model, 2, 4) == model.luts(2)        # 4-bit sums stay in LUT4s
    lanes = ShiftAdd(simd=8, pipeline=1, in_shape=unsigned(8), in_range=(0, 255),
                     w_shape=signed(8), w_range=(-128, 127))
    bounds = lanes.term_bounds()
    widths = tree_level_widths(bounds)
    assert len(bounds) == 64 and len(widths) == 6 and min(widths) > 4
    # pipeline 2: 7 levels (the accumulator's included) cut at levels 2 and 4, 4 operands
    # (two rows of full adders) per stage
    assert lanes.tree_delays(model, 2) == pytest.approx(
        [model.luts(1) + model.luts(2) + model.carry(widths[1]),
         model.luts(2) + model.carry(widths[3]), model.luts(2) + model.carry(widths[5])])
    assert lanes.stage_ns(model, 2, 5) == pytest.approx(model.luts(4) + model.carry(widths[4]))
    dsp = DspMultiply(simd=8, pipeline=1, in_shape=unsigned(8), in_range=(0, 255),
                      w_shape=signed(8), w_range=(-128, 127))
    assert dsp.tree_delays(model, 1)[0] == model.dsp and len(dsp.term_bounds()) == 8


def test_a_shifted_operand_made_inside_a_stage_ends_its_merged_sum():
    """int8_mlp's fc2 (8 lanes of 8-bit weights, 4 Booth terms each): the tree adds the
    lanes' terms of one digit first, so the digits' partial sums join at levels 4 and 5,
    each shifted onto the one below. Yosys does not merge an adder whose sum enters the next
    shifted, so a stage over levels 4 and 5 is the level-4 chain, a full adder's LUT
    (its inputs each driving two LUTs) and the level-5 chain, not one merged sum; at
    200 MHz the trees then take registers after levels 1, 3 and 4, not the root, whose
    stage placed at 5.68 ns. A stage that starts at a join's operands (registered) is one
    merged sum as before; ternary weights have no shifts."""
    from hwgen.timing import delay_model
    from hwgen.units._lanes import merged_sum_ns
    from hwgen.units._pipeline import tree_level_shifts, tree_level_widths
    model = delay_model("ecp5", "8")
    case = Case("int", unsigned(8), 32, 32, 4, 8, bias="random")
    bounds = case.unit().datapath.term_bounds()
    widths = tree_level_widths(bounds)
    assert tree_level_shifts(bounds) == [False, False, False, True, True]
    lanes = case.unit().datapath
    assert lanes.stage_ns(model, 3, 5) == pytest.approx(
        model.carry(widths[3]) + model.route(2) - model.route()
        + merged_sum_ns(model, 3, widths[4]))
    assert lanes.stage_ns(model, 3, 5) > model.budget(200) > merged_sum_ns(model, 4, widths[4])
    assert lanes.stage_ns(model, 4, 5) == pytest.approx(model.carry(widths[4]))
    assert lanes.stage_ns(model, 1, 3) == pytest.approx(merged_sum_ns(model, 4, widths[2]))
    fast = case.unit().retimed(model, 200)
    assert fast.tree_levels == [1, 3, 4]
    ternary = Case("ternary", signed(8), 64, 128, 8, 16).unit().datapath.term_bounds()
    assert not any(tree_level_shifts(ternary))


@pytest.mark.parametrize("grade", ["8", "6"])
def test_retimed_chooses_the_fewest_tree_stages_that_fit_the_clock(grade):
    """int8_mlp's fc1 (pipeline 1 in its YAML) at 200 MHz: the fewest stages whose tree
    stages all fit the budget; at 50 MHz its one register moves to the root, the narrowest
    level, at speed 8 (at speed 6 to level 4: from the terms to the root the Booth digits'
    sums join twice, three sums in series, :meth:`stage_ns`); a deeper pipeline is never shortened; at 200 MHz each PE reads its weight ROM
    through its own copy of the address (one address to four PEs' 64 x 64-bit ROMs does not
    fit), at 50 MHz one address does; the retimed unit computes the same sums (Amaranth sim
    under stalls)."""
    from hwgen.timing import delay_model
    model = delay_model("ecp5", grade)
    case = Case("int", unsigned(8), 32, 64, 4, 8, bias="random")
    unit = case.unit()
    slow = unit.retimed(model, 50)
    assert (slow.pipeline, slow.tree_levels) == (1, [5] if grade == "8" else [4])
    assert slow.retimed(model, 50) is slow
    fast = unit.retimed(model, 200)
    budget = model.budget(200)
    assert fast.pipeline > 1 and max(fast.stage_delays(model, fast.pipeline)) <= budget
    assert max(unit.stage_delays(model, fast.pipeline - 1)) > budget
    assert fast.retimed(model, 200) is fast
    assert fast.address_copies and not slow.address_copies
    # one slice register reaching 4 PEs x 8-bit lanes (32 LUT4 per input bit) does not fit
    # at 200 MHz: a copy per pair of PEs (the most copies retimed makes); at 50 MHz one
    # register does
    assert (fast.slice_copies, slow.slice_copies) == (2, 1)
    assert fast._slice_net_ns(model, fast.pipeline, fast.tree_levels, 1) > budget
    assert model.budget(50) >= unit._rom_read_ns(model) > budget
    deep = case.unit(pipeline=6)
    assert deep.retimed(model, 200).pipeline == 6
    x = case.vectors(6, seed=2)
    received = simulate_stream(fast, [w for f in case.beats(x) for w in f], len(x) * fast.nf,
                               stall=0.3, seed=3)
    got = from_beats(fast, [received[n:n + fast.nf] for n in range(0, len(received), fast.nf)])
    np.testing.assert_array_equal(got, case.expected(x))
    unit._MustUse__silence = True


def test_retimed_registers_the_tree_levels_that_cost_fewest_flip_flops():
    """ternary_mlp's fc1 at 200 MHz (ECP5 speed 8): a register after the first adder level
    (the terms are x, ~x or 0, one LUT level from the slice's register), where an even split
    needed one at the 16 x 8 terms, and one after the third: the three levels after the
    first with the accumulator do not fit one stage
    (:func:`~hwgen.units._pipeline.counts_accumulator`), nor do they alone (8 operands: four
    rows of full adders and a carry chain); one level and the accumulator are not counted;
    a placement given by hand is built as given."""
    from hwgen.timing import delay_model
    from hwgen.units._pipeline import tree_level_bits
    model = delay_model("ecp5", "8")
    case = Case("ternary", signed(8), 64, 128, 8, 16)
    fast = case.unit().retimed(model, 200)
    assert (fast.pipeline, fast.tree_levels) == (2, [1, 3])
    assert max(fast.stage_delays(model, 2)) <= model.budget(200)
    root = case.unit(pipeline=2, tree_levels=(1, 4))       # fewer flip-flops, too slow
    assert max(root.datapath.tree_delays(model, 2)) > model.budget(200)
    one = case.unit(tree_levels=(1,))
    assert one.stage_delays(model, 1)[-1] == pytest.approx(
        one.datapath.tree_delays(model, 1)[-1] + model.carry(one.acc_bits) + model.luts(1))
    bits = tree_level_bits(fast.datapath.term_bounds())
    assert bits[1] < bits[0] and bits[4] < bits[3] and fast.retimed(model, 200) is fast
    root._MustUse__silence = one._MustUse__silence = True
    small = Case("int", signed(5), 4, 16, 2, 8, weight_bits=3, bias="random")
    placed = small.unit(pipeline=2, tree_levels=(0, 3))
    assert placed.tree_levels == [0, 3] and placed.latency == small.unit(pipeline=2).latency
    x = small.vectors(8, seed=4)
    received = simulate_stream(placed, [w for f in small.beats(x) for w in f],
                               len(x) * placed.nf, stall=0.3, seed=5)
    got = from_beats(placed, [received[n:n + placed.nf] for n in range(0, len(received),
                                                                         placed.nf)])
    np.testing.assert_array_equal(got, small.expected(x))


def test_retimed_sends_the_sums_from_the_accumulator_register_where_it_fills_half_a_stage():
    """ternary_mlp's fc2 at 200 MHz (ECP5 speed 8): the 14-bit accumulator's adder and its net
    to the output queue fill more than half the budget, so the sums leave from the
    accumulator's register (one cycle more of latency, the same cadence), as the binary MVAU's
    do; at 100 MHz they do not. With SF = 1 there is no accumulator to register. The
    registered unit computes the same sums under stalls."""
    from hwgen.timing import delay_model
    model = delay_model("ecp5", "8")
    case = Case("ternary", signed(8), 16, 64, 8, 16, bias="random")
    unit = case.unit(pipeline=2)
    assert model.carry(unit.acc_bits) + model.route(3) > model.budget(200) / 2
    fast, slow = unit.retimed(model, 200), unit.retimed(model, 100)
    assert fast.registered_result and not slow.registered_result
    assert fast.latency == 2 + fast.pipeline + 1 and slow.latency == 2 + slow.pipeline
    assert fast.retimed(model, 200) is fast
    whole = Case("ternary", signed(8), 16, 16, 8, 16).unit(pipeline=2)
    assert not whole.retimed(model, 200).registered_result
    x = case.vectors(6, seed=3)
    stamps = ([], [])
    received = simulate_stream(fast, [w for f in case.beats(x) for w in f], len(x) * fast.nf,
                               stamps=stamps)
    ins, outs = stamps
    assert np.diff(ins[::fast.sf]).tolist() == [fast.cycles_per_vector] * (len(x) - 1)
    assert outs[0] - ins[fast.sf - 1] == fast.latency
    received = simulate_stream(fast, [w for f in case.beats(x) for w in f], len(x) * fast.nf,
                               stall=0.3, seed=4)
    got = from_beats(fast, [received[n:n + fast.nf] for n in range(0, len(received), fast.nf)])
    np.testing.assert_array_equal(got, case.expected(x))
    unit._MustUse__silence = slow._MustUse__silence = True


@pytest.mark.parametrize("change, error, message", [
    (dict(tree_levels=(1,), resource="dsp"), ValueError, "tree_levels must be None with"),
    (dict(tree_levels=(1, 2)), ValueError, r"tree_levels must be 1 \(pipeline\) ascending"),
    (dict(tree_levels=(5,)), ValueError, r"levels in 0..4 \(the tree's depth\), not \(5,\)"),
    (dict(tree_levels=(2, 1), pipeline=2), ValueError, "ascending levels"),
    (dict(tree_levels="1"), TypeError, "tree_levels must be a sequence of int, not '1'"),
])
def test_tree_levels_are_checked(change, error, message):
    with pytest.raises(error, match=message):
        Case("int", signed(8), 4, 8, 2, 8, weight_bits=4).unit(**change)
