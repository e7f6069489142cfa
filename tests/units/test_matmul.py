"""MatMul (activation x activation per head, QK^T and AV): construction checks, Amaranth
simulation of several samples back to back under random stalls, and Verilator cosim.

Every case streams random samples, then an all-max, an all-min and a mixed
(a all-max, b all-min) sample, so the sums reach the exact bounds the unit
sized its accumulator and output for: an overflow would show as a mismatch.
Expected values come only from ``sw_reference.ops.matmul``.
"""

from dataclasses import dataclass

import numpy as np
import pytest
import torch
from amaranth.hdl import signed, unsigned
from amaranth.lib import data

from hwgen.export import to_verilog
from hwgen.units._lanes import DspMultiply, ShiftAdd
from hwgen.units._weight_store import StreamedWeights
from hwgen.units.matmul import MatMul
from sim.amaranth_streams import simulate_stream
from sim.cosim import cosimulate_unit
from sim.packing import pack, unpack
from sw_reference.ops import matmul

pytestmark = pytest.mark.filterwarnings("ignore:.*created but never used")


def _range(shape):
    n = shape.width
    return (-(1 << (n - 1)), (1 << (n - 1)) - 1) if shape.signed else (0, (1 << n) - 1)


@dataclass(frozen=True)
class Case:
    """a [rows_a, heads*ka] of a_shape times b [rows_b, heads*kb] of b_shape, per head."""
    a_shape: object
    b_shape: object
    rows_a: int
    rows_b: int
    heads: int
    ka: int
    kb: int
    transpose_b: bool
    pe: int
    simd: int
    pipeline: int = 1
    resource: str = "lut"

    def unit(self, **change):
        args = dict(a_shape=self.a_shape, b_shape=self.b_shape, rows_a=self.rows_a,
                    rows_b=self.rows_b, heads=self.heads, ka=self.ka, kb=self.kb,
                    transpose_b=self.transpose_b, pe=self.pe, simd=self.simd,
                    pipeline=self.pipeline, resource=self.resource)
        return MatMul(**{**args, **change})

    def samples(self, count, seed):
        """``count`` random (a, b) samples, then all-max, all-min and a-max x b-min."""
        rng = np.random.default_rng(seed)
        (alo, ahi), (blo, bhi) = _range(self.a_shape), _range(self.b_shape)
        a_dims, b_dims = (self.rows_a, self.heads * self.ka), (self.rows_b, self.heads * self.kb)
        a = [rng.integers(alo, ahi + 1, size=a_dims) for _ in range(count)]
        b = [rng.integers(blo, bhi + 1, size=b_dims) for _ in range(count)]
        for av, bv in ((ahi, bhi), (alo, blo), (ahi, blo), (alo, bhi)):
            a.append(np.full(a_dims, av))
            b.append(np.full(b_dims, bv))
        return np.stack(a).astype(np.int64), np.stack(b).astype(np.int64)

    def expected(self, a, b):
        return matmul(torch.from_numpy(a), torch.from_numpy(b), transpose_b=self.transpose_b,
                      heads=self.heads).numpy()


def frames(x, lanes, shape):
    """[N, rows, cols] -> per-sample lists of words of ``lanes`` elements, row-major."""
    return [[pack([int(v) for v in flat[k:k + lanes]], shape.width)
             for k in range(0, flat.size, lanes)] for flat in x.reshape(len(x), -1)]


def from_words(unit, words, samples):
    shape = unit.out_shape
    values = [v for w in words for v in unpack(w, unit.pe, shape.width, shape.signed)]
    return np.array(values, dtype=np.int64).reshape(samples, unit.rows_a, -1)


QK = Case(signed(8), signed(8), rows_a=4, rows_b=6, heads=2, ka=4, kb=4, transpose_b=True,
          pe=2, simd=2)
AV = Case(unsigned(8), signed(8), rows_a=4, rows_b=6, heads=2, ka=6, kb=4, transpose_b=False,
          pe=2, simd=3)
#: one row of a, 4 rows of b: loading b (16 beats) takes longer than the product (4 cycles)
LOAD_BOUND = Case(signed(8), signed(8), rows_a=1, rows_b=4, heads=2, ka=4, kb=4,
                  transpose_b=True, pe=4, simd=2)


# --- construction ------------------------------------------------------------------------------

@pytest.mark.parametrize("case, change, error, message", [
    (QK, dict(transpose_b=1), TypeError, "transpose_b must be True or False, not 1"),
    (QK, dict(resource="bram"), TypeError, "resource must be one of 'lut', 'dsp', not 'bram'"),
    (QK, dict(heads=0), ValueError, "heads must be at least 1, not 0"),
    (QK, dict(rows_a=2.0), TypeError, "rows_a must be an integer, not 2.0"),
    (QK, dict(kb=5), ValueError,
     "ka must equal kb with transpose_b (a @ b.T per head), not 4 and 5"),
    (AV, dict(rows_b=5), ValueError,
     "ka must equal rows_b without transpose_b (a @ b per head), not 6 and 5"),
    (QK, dict(pe=4), ValueError, "pe must divide MH (6, rows_b, outputs per head), not 4"),
    (QK, dict(simd=3), ValueError, "simd must divide MW (4, kb, the contraction length), not 3"),
    (AV, dict(pe=3), ValueError, "pe must divide MH (4, kb, outputs per head), not 3"),
    (AV, dict(simd=4), ValueError,
     "simd must divide MW (6, rows_b, the contraction length), not 4"),
    (QK, dict(a_shape="int8"), TypeError, "a_shape must be a shape such as signed(8)"),
    (QK, dict(b_shape=None), TypeError, "b_shape must be a shape such as signed(8)"),
    (QK, dict(a_range=(0, 128)), ValueError,
     "a_range must be an ordered pair inside [-128, 127] (the values of a_shape signed(8)), "
     "not (0, 128)"),
    (QK, dict(b_range=(3, 2)), ValueError, "b_range must be an ordered pair inside"),
    (QK, dict(b_range=5), TypeError, "b_range must be a pair (lo, hi) of integers, not 5"),
    (QK, dict(out_shape=signed(16)), ValueError,
     "out_shape must hold the sums' range [-65024, 65536], not signed(16)"),
])
def test_construction_errors(case, change, error, message):
    with pytest.raises(error) as info:
        case.unit(**change)
    assert message in str(info.value)


def test_properties_ports_and_exact_widths():
    qk = QK.unit()
    # 4 products of int8 x int8: [-127*128*4, 128*128*4] = [-65024, 65536] per head... of ka=4
    assert (qk.mh, qk.mw, qk.nf, qk.sf, qk.b_lanes) == (6, 4, 3, 2, 2)
    assert qk.out_shape == signed(18) and qk.acc_shape == signed(18)
    assert qk.a.payload.shape() == data.ArrayLayout(signed(8), 2)
    assert qk.b.payload.shape() == data.ArrayLayout(signed(8), 2)
    assert qk.o.payload.shape() == data.ArrayLayout(signed(18), 2)
    # load R*H*Kb/simd = 24 beats, compute M*H*NF*SF = 4*2*3*2 = 48 cycles: the load of the
    # next sample overlaps the product, so a sample takes the longer of the two
    assert (qk.b_beats, qk.a_beats, qk.out_beats) == (24, 16, 24)
    assert (qk.compute_cycles, qk.cycles_per_sample) == (48, 48)
    # two banks of R*H*Kb int8 elements; latency: slice, two read registers (the block
    # RAM's output register, then the fabric), one tree stage, the accumulator
    assert qk.latency == 5 and qk.ram_bits == 2 * 6 * 2 * 4 * 8
    av = AV.unit()
    # uint8 x int8 over 6 terms: [6*255*-128, 6*255*127] = [-195840, 194310]
    assert (av.mh, av.mw, av.nf, av.sf, av.b_lanes) == (4, 6, 2, 2, 2)
    assert av.out_shape == signed(19)
    # load R*H*Kb/pe = 24 beats, compute 4*2*2*2 = 32 cycles
    assert (av.b_beats, av.compute_cycles, av.cycles_per_sample) == (24, 32, 32)
    # M < PE with transpose_b: the load (R*H*Kb/simd = 16 beats) sets the rate, not 4 cycles
    assert (LOAD_BOUND.unit().compute_cycles, LOAD_BOUND.unit().cycles_per_sample) == (4, 16)
    assert av.b.payload.shape() == data.ArrayLayout(signed(8), 2)
    # the ivit_block ctx bound: attn in [0, 127] x int8 over 16 rows
    ctx = MatMul(a_shape=unsigned(8), b_shape=signed(8), a_range=(0, 127), rows_a=16,
                 rows_b=16, heads=4, ka=16, kb=16, transpose_b=False, pe=4, simd=4)
    assert ctx.out_shape == signed(19)
    assert MatMul(a_shape=unsigned(8), b_shape=signed(8), a_range=(0, 127), rows_a=16,
                  rows_b=16, heads=4, ka=16, kb=16, transpose_b=False, pe=4, simd=4,
                  out_shape=signed(20)).out_shape == signed(20)
    with pytest.raises(AttributeError, match="b stream"):
        _ = qk.weights


def test_engine_parts_weights_from_b():
    """The MVAU engine with integer products and RAMs written from ``b`` (registered reads)."""
    qk = QK.unit()
    assert type(qk.datapath) is ShiftAdd and type(QK.unit(resource="dsp").datapath) is DspMultiply
    assert isinstance(qk.weight_store, StreamedWeights) and qk.read_register
    # one block of NF*SF = 3*2 words per head, SIMD = 2 int8 elements per word, per bank
    assert (qk.weight_depth, qk.lane_bits, qk.weight_word_bits) == (12, 8, 16)
    assert qk.rom_bits == 0 and qk.ram_bits == 2 * qk.pe * 12 * 16


@pytest.mark.parametrize("case, shift, depth", [(QK, 4, 16 + 12), (AV, 3, 8 + 8)])
def test_double_buffer_banks_at_a_power_of_two(case, shift, depth):
    """Bank 1 starts at the power of two at or above a bank's words: the bank bit is the top
    address bit, so neither address has an adder in front of the RAM."""
    unit = case.unit()
    assert unit.weight_store.banks == 2 and unit.weight_store.bank_shift == shift
    verilog = to_verilog(unit, "matmul")
    assert f"[{depth - 1}:0]" in verilog


def test_input_buffer_written_from_registers():
    """The input buffer (NF > 1, SF > 1) is written a cycle after the accept from flip-flops
    (``buffer_wen``), not from the handshake; with SF == 1 there is no buffer."""
    assert QK.unit().sf > 1 and "buffer_wen" in to_verilog(QK.unit(), "matmul")
    whole = CASES["av heads 1, int4 x uint6, simd=MW"].unit()
    assert whole.sf == 1 and "buffer_wen" not in to_verilog(whole, "matmul")


def test_lut_products_build_no_multiplier():
    small = dict(rows_a=1, rows_b=2, heads=1, ka=2, kb=2, pe=1, simd=2)
    assert " * " not in to_verilog(QK.unit(**small), "matmul")
    assert " * " in to_verilog(QK.unit(resource="dsp", **small), "matmul")


# --- Amaranth simulation -----------------------------------------------------------------------

CASES = {
    "qk int8, heads 2, pe 2 simd 2": QK,
    "av uint8 x int8, heads 2, pe 2 simd 3": AV,
    "qk heads 4, pe=simd=1, 2 stages": Case(signed(4), signed(4), 3, 4, 4, 2, 2, True, 1, 1,
                                             pipeline=2),
    "av heads 1, int4 x uint6, simd=MW": Case(signed(4), unsigned(6), 3, 4, 1, 4, 6, False, 3, 4),
    "qk dsp, int8 x uint8, pe=MH": Case(signed(8), unsigned(8), 2, 4, 2, 6, 6, True, 4, 3,
                                        resource="dsp"),
    "av heads 4, pe=simd=1, one fold per head": Case(unsigned(3), signed(5), 2, 1, 4, 1, 1, False,
                                                     1, 1, pipeline=0),
    "qk heads 1, one word per bank": Case(signed(8), signed(8), 3, 2, 1, 4, 4, True, 2, 4),
    "qk load-bound, pe > rows_a": LOAD_BOUND,
    "av load-bound, simd > rows_a": Case(signed(6), unsigned(7), 2, 4, 2, 4, 2, False, 1, 4),
}


def run(case, samples, seed, stall=0.3, stamps=None):
    unit = case.unit()
    a, b = case.samples(samples, seed)
    words = {"a": [w for f in frames(a, unit.simd, case.a_shape) for w in f],
             "b": [w for f in frames(b, unit.b_lanes, case.b_shape) for w in f]}
    received = simulate_stream(unit, words, len(a) * unit.out_beats, stall=stall, seed=seed,
                               stamps=stamps)
    return unit, from_words(unit, received, len(a)), case.expected(a, b)


@pytest.mark.parametrize("name", sorted(CASES))
def test_amaranth_sim_matches_golden(name):
    """Random and edge samples back to back, 30% random stalls on a, b and o."""
    _, got, expected = run(CASES[name], 3, seed=len(name))
    np.testing.assert_array_equal(got, expected)


@pytest.mark.parametrize("case", [QK, AV, LOAD_BOUND], ids=["qk", "av", "load-bound"])
def test_amaranth_sim_cadence(case):
    """No stalls: after the first sample's b, one vector every NF*SF cycles and one sample
    every ``max(b_beats, M*H*NF*SF)`` cycles: the next sample's b loads while this one is
    computed (without the second bank a sample would take b_beats + M*H*NF*SF)."""
    stamps = ([], [])
    unit, got, expected = run(case, 3, seed=3, stall=0.0, stamps=stamps)
    np.testing.assert_array_equal(got, expected)
    ins, outs = stamps                      # a's accepted beats, o's beats
    per_sample = unit.a_beats
    starts = ins[::per_sample]
    mh, mw = (case.rows_b, case.ka) if case.transpose_b else (case.kb, case.rows_b)
    compute = case.rows_a * case.heads * (mh // case.pe) * (mw // case.simd)
    load = case.rows_b * case.heads * case.kb // (case.simd if case.transpose_b else case.pe)
    period = max(load, compute)
    assert (unit.b_beats, unit.cycles_per_sample) == (load, period)
    assert np.diff(starts).tolist() == [period] * (len(starts) - 1)
    assert starts[0] == load                # a waits for the first sample's whole b (cycles 0..)
    first_row = ins[:per_sample]
    assert np.diff(first_row[::unit.sf]).tolist() == [unit.cycles_per_vector] * \
        (unit.rows_a * unit.heads - 1)
    assert outs[0] - ins[unit.sf - 1] == unit.latency


# --- Verilator cosim ---------------------------------------------------------------------------

@pytest.mark.parametrize("name", ["qk int8, heads 2, pe 2 simd 2",
                                  "av uint8 x int8, heads 2, pe 2 simd 3",
                                  "qk heads 4, pe=simd=1, 2 stages",
                                  "av heads 1, int4 x uint6, simd=MW",
                                  "av load-bound, simd > rows_a"])
def test_verilator_cosim_matches_golden(name):
    """The exported Verilog, 30% random pauses on a, b and o: samples overlap in the two banks
    (heads 1, 2 and 4; with and without transpose_b; pe and simd 1 and > 1; load-bound)."""
    case = CASES[name]
    unit = case.unit()
    a, b = case.samples(3, seed=7)
    expected = case.expected(a, b)
    result = cosimulate_unit(unit, f"matmul_{'qk' if case.transpose_b else 'av'}",
                             {"a": frames(a, unit.simd, case.a_shape),
                              "b": frames(b, unit.b_lanes, case.b_shape)},
                             out_beats=unit.out_beats, backpressure=0.3, seed=1)
    got = from_words(unit, [w for f in result.received for w in f], len(a))
    np.testing.assert_array_equal(got, expected)
    assert result.passed
