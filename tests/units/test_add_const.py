"""AddConst: construction checks, Amaranth simulation, Verilator cosim and lint against
``sw_reference.ops.add_const``.

Cases: one lane and four, signed and unsigned inputs, constants at int32's ends (so the
output is 33 bits), a constant that is the same for every element (no ROM), and a [T, C]
position term. Vectors add all-max, all-min and zero samples.
"""

import numpy as np
import pytest
import torch
from amaranth.hdl import signed, unsigned

from hwgen.export import to_verilog
from hwgen.top import AxiStreamTop
from hwgen.units.add_const import AddConst
from sim.amaranth_streams import simulate_stream
from sim.packing import unpack
from sw_reference.ops import add_const as golden_add_const

from .requant_cases import to_beats

pytestmark = pytest.mark.filterwarnings("ignore:.*created but never used")

BASE = dict(in_shape=signed(8), out_shape=signed(10), values=[1, -2, 3, 100], pe=2)

CASES = {
    # a [4 tokens, 4 channels] position term on int12 accumulators, four lanes
    "tokens_pe4": dict(in_shape=signed(12), out_shape=signed(13), pe=4,
                       values=list(range(-400, 400, 50))),
    # unsigned input, one lane, constants of both signs
    "unsigned_pe1": dict(in_shape=unsigned(5), out_shape=signed(9), pe=1,
                         values=[-100, 0, 7, 110, -1, 3]),
    # int32 constants at both ends: a 33-bit sum
    "int32_ends": dict(in_shape=signed(16), out_shape=signed(33), pe=2,
                       values=[2**31 - 1, -2**31, 0, 12345, -2**31, 2**31 - 1]),
    # every constant equal: no ROM at all
    "constant": dict(in_shape=signed(6), out_shape=signed(8), pe=3, values=[-50] * 6),
}


@pytest.mark.parametrize("change, error, message", [
    (dict(pe=3), ValueError, "pe must divide the 4 values, not 3"),
    (dict(pe=0), ValueError, "pe must be at least 1, not 0"),
    (dict(in_shape="int8"), TypeError, "in_shape must be a shape such as signed(8)"),
    (dict(values=[]), TypeError, "values must be a non-empty sequence of integers"),
    (dict(values=[[1, 2]]), TypeError, "values must be a non-empty sequence of integers"),
    (dict(values=[0.5, 1.0]), TypeError, "values must be a non-empty sequence of integers"),
    (dict(values=None), TypeError, "values must be an array-like"),
    (dict(out_shape=signed(8)), ValueError,
     "out_shape signed(8) ([-128, 127]) cannot hold x + values, which spans [-130, 227]"),
    (dict(in_range=(0, 300)), ValueError, "in_range must be an ordered pair inside [-128, 127]"),
])
def test_construction_errors(change, error, message):
    with pytest.raises(error) as info:
        AddConst(**{**BASE, **change})
    assert message in str(info.value)


def test_in_range_narrows_the_output_check():
    with pytest.raises(ValueError, match="cannot hold"):
        AddConst(in_shape=signed(8), out_shape=signed(8), values=[10, -10])
    unit = AddConst(in_shape=signed(8), out_shape=signed(8), values=[10, -10], in_range=(-50, 50))
    assert unit.folds == 2 and unit.latency == 2 and unit.values == (10, -10)


def test_equal_constants_need_no_rom():
    assert "value_rom" not in to_verilog(AddConst(**CASES["constant"]), "ac")
    assert "value_rom" in to_verilog(AddConst(**CASES["tokens_pe4"]), "ac")


def _range(shape):
    return (-(1 << (shape.width - 1)), (1 << (shape.width - 1)) - 1) if shape.signed \
        else (0, (1 << shape.width) - 1)


def case_vectors(case, count, seed):
    """``count`` random samples, then all-max, all-min and zero samples."""
    n = len(case["values"])
    lo, hi = _range(case["in_shape"])
    rng = np.random.default_rng(seed)
    random = rng.integers(lo, hi, size=(count, n), endpoint=True, dtype=np.int64)
    edges = [np.full(n, hi), np.full(n, lo), np.zeros(n, np.int64), np.resize([lo, hi], n)]
    return np.concatenate([random, np.array(edges, dtype=np.int64)])


def case_expected(case, x):
    return golden_add_const(torch.from_numpy(x), torch.tensor(case["values"])).numpy()


def simulate(case, x, *, stall, seed):
    dut = AddConst(**case)
    pe, out = case["pe"], case["out_shape"]
    beats = [word for sample in to_beats(x, pe, case["in_shape"].width) for word in sample]
    received = simulate_stream(dut, beats, len(beats), stall=stall, seed=seed)
    lanes = [unpack(word, pe, out.width, out.signed) for word in received]
    return np.array(lanes, dtype=np.int64).reshape(x.shape)


@pytest.mark.parametrize("name", sorted(CASES))
def test_amaranth_sim_matches_golden(name):
    case = CASES[name]
    x = case_vectors(case, count=60, seed=3)
    np.testing.assert_array_equal(simulate(case, x, stall=0.3, seed=5), case_expected(case, x))


@pytest.mark.parametrize("name", ["tokens_pe4", "int32_ends"])
def test_verilator_cosim_matches_golden(name):
    """>= 5,000 samples under 30 % random pauses on both AXI4-Stream sides."""
    from sim.cosim import cosimulate_unit
    case = CASES[name]
    x = case_vectors(case, count=5_000, seed=23)
    want = case_expected(case, x)
    out, pe = case["out_shape"], case["pe"]
    result = cosimulate_unit(AddConst(**case), "add_const_top",
                             to_beats(x, pe, case["in_shape"].width),
                             out_beats=len(case["values"]) // pe, backpressure=0.3, seed=7)
    got = np.array([[v for word in sample for v in unpack(word, pe, out.width, out.signed)]
                    for sample in result.received], dtype=np.int64)
    assert got.shape == want.shape
    assert int((got != want).any(axis=1).sum()) == 0
    assert result.passed


def test_verilog_is_deterministic_and_lint_clean(tmp_path):
    from sim.verilator import lint
    case = CASES["tokens_pe4"]
    beats = len(case["values"]) // case["pe"]
    text = to_verilog(AxiStreamTop(AddConst(**case), out_beats=beats), "add_const_top")
    assert text == to_verilog(AxiStreamTop(AddConst(**case), out_beats=beats), "add_const_top")
    path = tmp_path / "add_const_top.v"
    path.write_text(text)
    result = lint(path, "add_const_top")
    assert result.returncode == 0, result.stderr
    assert "%Warning" not in result.stderr
