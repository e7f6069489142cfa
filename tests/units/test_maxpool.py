"""StreamingMaxPool: construction checks, Amaranth simulation and Verilator cosim vs sw_reference.

Cases: binary (the OR), signed and unsigned integers, pe < channels and
pe == channels, k = 1, 2 and 3, non-square maps. Beside random maps, all-max,
all-min, maps drawn from few values (ties) and a map whose maximum sits in the
last element of every window.
"""

import pytest
import torch
from amaranth.hdl import signed, unsigned

from hwgen.export import to_verilog
from hwgen.top import AxiStreamTop
from hwgen.units.maxpool import StreamingMaxPool
from sim.amaranth_streams import simulate_stream
from sw_reference.ops import maxpool2d

from .feature_map_cases import element_range, feature_maps, hwc_beats

pytestmark = pytest.mark.filterwarnings("ignore:.*created but never used")

CASES = {
    "bin_c8_k2_pe4": dict(in_shape=unsigned(1), channels=8, height=4, width=6, kernel=2, pe=4),
    "s4_c3_k3_pe1": dict(in_shape=signed(4), channels=3, height=6, width=3, kernel=3, pe=1),
    "u8_c4_k2_pe4": dict(in_shape=unsigned(8), channels=4, height=2, width=4, kernel=2, pe=4),
    "s8_c2_k1_pe1": dict(in_shape=signed(8), channels=2, height=2, width=3, kernel=1, pe=1),
    # one channel fold and one output column: every beat reads the partial maximum the
    # beat before it wrote (the forwarded write)
    "s4_c4_k2_pe4_w1": dict(in_shape=signed(4), channels=4, height=4, width=2, kernel=2, pe=4),
}


def maps(case, count, seed):
    """Shared feature maps; sample 2 has the maximum in each window's last element."""
    x = feature_maps(case, count, seed)
    lo, hi = element_range(case["in_shape"])
    k = case["kernel"]
    x[2] = lo
    x[2, :, k - 1::k, k - 1::k] = hi
    return x


def beats(case, x, lanes):
    return hwc_beats(x, lanes, case["in_shape"].width)


def expected(case, x):
    y = maxpool2d(torch.from_numpy(x), case["kernel"]).numpy()
    return beats(case, y, case["pe"])


BASE = dict(in_shape=signed(4), channels=6, height=4, width=4, kernel=2, pe=3)


@pytest.mark.parametrize("change, error, message", [
    (dict(pe=4), ValueError, "pe must divide channels (6), not 4"),
    (dict(kernel=3), ValueError, "kernel must divide height and width (4x4), not 3"),
    (dict(width=6, kernel=4, height=8), ValueError,
     "kernel must divide height and width (8x6), not 4"),
    (dict(kernel=0), ValueError, "kernel must be at least 1, not 0"),
    (dict(pe=0), ValueError, "pe must be at least 1, not 0"),
    (dict(height=2.0), TypeError, "height must be an integer, not 2.0"),
    (dict(in_shape=None), TypeError, "in_shape must be a shape such as signed(8)"),
])
def test_construction_errors(change, error, message):
    with pytest.raises(error) as info:
        StreamingMaxPool(**{**BASE, **change})
    assert message in str(info.value)


@pytest.mark.parametrize("name", sorted(CASES))
def test_amaranth_sim_matches_golden(name):
    case = CASES[name]
    x = maps(case, 12, seed=2)
    dut = StreamingMaxPool(**case)
    words = [w for frame in beats(case, x, case["pe"]) for w in frame]
    want = [w for frame in expected(case, x) for w in frame]
    assert dut.out_beats * len(x) == len(want)
    assert simulate_stream(dut, words, len(want), stall=0.3, seed=4) == want


def test_one_beat_per_cycle():
    case = CASES["bin_c8_k2_pe4"]
    dut = StreamingMaxPool(**case)
    x = maps(case, 6, seed=1)
    words = [w for frame in beats(case, x, case["pe"]) for w in frame]
    stamps = ([], [])
    simulate_stream(dut, words, dut.out_beats * len(x), stamps=stamps)
    assert stamps[0] == list(range(stamps[0][0], stamps[0][0] + len(words)))


@pytest.mark.parametrize("name", ["bin_c8_k2_pe4", "s4_c4_k2_pe4_w1",
                                  pytest.param("s4_c3_k3_pe1", marks=pytest.mark.slow)])
def test_verilator_cosim_matches_golden(name, tmp_path):
    from sim.cosim import cosimulate_unit
    from sim.verilator import lint
    case = CASES[name]
    unit = StreamingMaxPool(**case)
    path = tmp_path / "maxpool_top.v"
    path.write_text(to_verilog(AxiStreamTop(StreamingMaxPool(**case), out_beats=unit.out_beats),
                               "maxpool_top"))
    linted = lint(path, "maxpool_top")
    assert linted.returncode == 0 and "%Warning" not in linted.stderr, linted.stderr[:3000]
    x = maps(case, 100, seed=6)
    result = cosimulate_unit(unit, "maxpool_top", beats(case, x, case["pe"]),
                             out_beats=unit.out_beats, backpressure=0.3, seed=2)
    want = expected(case, x)
    bad = [n for n in range(len(x)) if result.received[n] != want[n]]
    assert not bad, f"{len(bad)} of {len(x)} samples differ, first {bad[0]}"
    assert result.passed
