"""Fully unrolled binary MVAU / chain (latency mode): construction, MST plans, fused
thresholds, register placement, Amaranth sim and Verilator cosim against ``sw_reference``."""

import numpy as np
import pytest
import torch
from amaranth.hdl import signed, unsigned
from amaranth.lib import data

from hwgen.export import to_verilog
from hwgen.top import AxiStreamTop
from hwgen.units._mst import direct_plan, hamming, mst_plan
from hwgen.units._unrolled import levels_for_clock, unrolled_layer
from hwgen.units.unrolled_chain import UnrolledChain
from hwgen.units.unrolled_mvau import UnrolledMVAU
from sim.amaranth_streams import simulate_stream
from sim.packing import unpack
from sw_reference.ops import threshold

from .mvau_cases import (
    check_cosim,
    check_lint,
    expected,
    from_beats,
    make_correlated_weights,
    make_vectors,
    make_weights,
    to_beats,
)

pytestmark = pytest.mark.filterwarnings("ignore:.*created but never used")

W = make_weights(8, 16, seed=0)


@pytest.mark.parametrize("change, error, message", [
    ({"share": "tree"}, TypeError, "share must be one of 'none', 'mst', not 'tree'"),
    ({"share": None}, TypeError, "share must be one of 'none', 'mst', not None"),
    ({"share_depth": 0}, ValueError, "share_depth must be at least 1, not 0"),
    ({"share_depth": True}, TypeError, "share_depth must be an integer, not True"),
    ({"link_cost": -1}, ValueError, "link_cost must be at least 0, not -1"),
    ({"levels_per_stage": 0}, ValueError, "levels_per_stage must be at least 1, not 0"),
    ({"levels_per_stage": 2.5}, TypeError, "levels_per_stage must be an integer, not 2.5"),
    ({"levels_per_stage": 2, "period_ns": 5.0}, ValueError,
     "give levels_per_stage (2) or period_ns (5.0), not both"),
    ({"period_ns": 0.4}, ValueError, "period_ns must be a number of ns above 0.45, not 0.4"),
    ({"period_ns": "5"}, ValueError, "period_ns must be a number of ns above 0.45, not '5'"),
    ({"weights": W[0]}, ValueError, "weights must be 2-D [MH, MW], not of shape (16,)"),
    ({"weights": np.where(W > 0, 1, 0)}, ValueError, "must be -1 or +1, not 0"),
    ({"in_shape": signed(8)}, ValueError, "integer inputs take hwgen.units.mvau_int.IntegerMVAU"),
    ({"thresholds": np.zeros((3, 1))}, ValueError, "thresholds must be [8, 2**out_bits - 1]"),
    ({"thresholds": np.zeros((8, 2))}, ValueError, "(1, 3, 7 or 15), not 2"),
    ({"thresholds": [[2, 1, 3]]}, ValueError, "thresholds row 0 must be sorted ascending"),
    ({"thresholds": [[0.5]]}, TypeError, "thresholds must be integers"),
])
def test_construction_errors(change, error, message):
    with pytest.raises(error) as info:
        UnrolledMVAU(**{"weights": W, "share": "mst", **change})
    assert message in str(info.value)


def test_chain_errors():
    a = unrolled_layer(make_weights(8, 16, seed=1), [[0]])
    dense = unrolled_layer(make_weights(8, 16, seed=1))
    b = unrolled_layer(make_weights(4, 8, seed=2))
    with pytest.raises(TypeError, match="layers must be a non-empty sequence of UnrolledLayer"):
        UnrolledChain(layers=[])
    with pytest.raises(ValueError, match="layer 0 has 8 outputs but layer 1 reads 16 inputs"):
        UnrolledChain(layers=[a, a])
    with pytest.raises(ValueError, match="must end in 1-bit thresholds .* not none"):
        UnrolledChain(layers=[dense, b])
    assert UnrolledChain(layers=[a, b]).out_shape == signed(5)


def test_levels_for_clock():
    assert levels_for_clock(1000) == 1                    # never below one level
    assert levels_for_clock(100) > levels_for_clock(200) >= levels_for_clock(250) >= 1
    with pytest.raises(ValueError, match="clock_mhz must be a positive number, not 0"):
        levels_for_clock(0)


def test_properties_and_ports():
    weights = make_correlated_weights(12, 20, seed=1)
    unit = UnrolledMVAU(weights=weights, levels_per_stage=2, share="mst", share_depth=3)
    assert (unit.mh, unit.mw, unit.pe, unit.simd, unit.nf, unit.sf) == (12, 20, 12, 20, 1, 1)
    assert unit.cycles_per_vector == 1 and unit.rom_bits == 0 and unit.share == "mst"
    assert 1 <= unit.share_levels <= 3 and unit.queue_depth == unit.latency + 1
    assert unit.synapse_ops_unshared == 240 and unit.synapse_ops < 240
    assert unit.built_synapses == unit.synapse_ops
    assert unit.acc_shape == signed(6)
    assert unit.i.payload.shape() == data.ArrayLayout(unsigned(1), 20)
    assert unit.o.payload.shape() == data.ArrayLayout(signed(6), 12)
    # The input is registered (its fan-out copies), then 20 inputs: 4-bit counters, two
    # adder levels, then the root adder (which also doubles and offsets the count): 4 levels
    assert [UnrolledMVAU(weights=weights, levels_per_stage=n).latency for n in (1, 2, 3, 4)] \
        == [5, 3, 3, 2]
    assert UnrolledMVAU(weights=weights).latency == 1          # combinational to the queue
    fused = UnrolledMVAU(weights=weights, thresholds=np.zeros((12, 3), int), levels_per_stage=2)
    assert fused.o.payload.shape() == data.ArrayLayout(unsigned(2), 12)


def test_constant_thresholds_build_no_count():
    """A channel whose threshold every input meets (or none does) is a constant bit."""
    weights = make_weights(6, 16, seed=3)
    rows = [[-16], [-100], [17], [16], [0], [100]]         # -16 and below: always; above 16: never
    unit = UnrolledMVAU(weights=weights, thresholds=rows, levels_per_stage=2)
    assert unit.built_synapses == 2 * 16                    # channels 3 (y >= 16) and 4 only
    x = make_vectors(weights, count=10, seed=1)
    got = simulate_bits(unit, x, bits=1, stall=0.2, seed=1)
    np.testing.assert_array_equal(got, golden(x, weights, np.array(rows)))


# --- the sharing plan ----------------------------------------------------------------------------

PLAN_WEIGHTS = {
    "random": make_weights(24, 32, seed=3),
    "correlated": make_correlated_weights(24, 32, seed=4),
    "few-columns": make_correlated_weights(16, 3, seed=5),
    "one-channel": make_weights(1, 9, seed=6),
}


def check_tree(plan, weights, max_depth):
    mh, mw = weights.shape
    dist = hamming(weights)
    assert sorted(plan.order) == list(range(mh))              # spans every channel once
    position = {c: k for k, c in enumerate(plan.order)}
    for c in range(mh):
        p = plan.parent[c]
        if p < 0:
            assert plan.level[c] == 0 and plan.cost[c] == mw
        else:
            assert position[p] < position[c]                  # parents first: no cycles
            assert plan.level[c] == plan.level[p] + 1
            assert plan.cost[c] == dist[c, p] == len(plan.differing(weights, c))
        assert 0 <= plan.level[c] <= max_depth
    assert plan.synapse_ops == sum(plan.cost) <= plan.synapse_ops_unshared == mh * mw


def kruskal_weight(weights):
    """Weight of an exact minimum spanning tree of the channels + root (cost MW to each)."""
    mh, mw = weights.shape
    dist = hamming(weights)
    edges = sorted([(mw, -1, c) for c in range(mh)]
                   + [(int(dist[a, b]), a, b) for a in range(mh) for b in range(a + 1, mh)])
    root = {v: v for v in range(-1, mh)}

    def find(v):
        while root[v] != v:
            v = root[v]
        return v
    total = 0
    for cost, a, b in edges:
        if find(a) != find(b):
            root[find(a)] = find(b)
            total += cost
    return total


@pytest.mark.parametrize("name", sorted(PLAN_WEIGHTS))
@pytest.mark.parametrize("max_depth", [1, 2, 3, 100])
def test_plan_is_a_depth_limited_spanning_tree(name, max_depth):
    weights = PLAN_WEIGHTS[name]
    plan = mst_plan(weights, max_depth)
    check_tree(plan, weights, max_depth)
    if max_depth >= len(weights):
        assert plan.synapse_ops == kruskal_weight(weights)    # no limit: an exact MST


def test_plan_shares_where_it_pays():
    correlated = mst_plan(PLAN_WEIGHTS["correlated"], 2)
    assert correlated.synapse_ops < 0.5 * correlated.synapse_ops_unshared
    assert correlated.cost[-1] == 0 or correlated.cost[0] == 0   # the identical pair: free
    assert mst_plan(PLAN_WEIGHTS["random"], 2).synapse_ops < 24 * 32
    assert mst_plan(PLAN_WEIGHTS["one-channel"], 2) == direct_plan(PLAN_WEIGHTS["one-channel"])
    # a deeper limit never needs more ops on these weights, and sharing is deterministic
    ops = [mst_plan(PLAN_WEIGHTS["correlated"], d).synapse_ops for d in (1, 2, 3)]
    assert ops == sorted(ops, reverse=True)
    assert mst_plan(PLAN_WEIGHTS["random"], 2) == mst_plan(PLAN_WEIGHTS["random"].copy(), 2)


def test_link_cost_skips_links_that_do_not_pay():
    weights = PLAN_WEIGHTS["correlated"]
    links = [sum(p >= 0 for p in mst_plan(weights, 2, link_cost=cost).parent)
             for cost in (0, 4, 16, 32)]
    assert links == sorted(links, reverse=True) and links[0] > links[-1]
    # at a cost of MW no link pays but an identical row's (no adder at all)
    free = mst_plan(weights, 2, link_cost=32)
    assert all(free.cost[c] == 0 for c in range(len(weights)) if free.parent[c] >= 0)
    check_tree(mst_plan(weights, 2, link_cost=8), weights, 2)


def test_hardware_counts_exactly_the_planned_synapse_ops():
    weights = make_correlated_weights(10, 16, seed=7)
    for share in ("none", "mst"):
        unit = UnrolledMVAU(weights=weights, levels_per_stage=2, share=share)
        assert unit.built_synapses == unit.synapse_ops


# --- simulation ----------------------------------------------------------------------------------

def simulate(unit, x, *, stall, seed):
    """``x`` [N, MW] through ``unit`` in Amaranth's simulator: outputs [N, MH] and beat stamps."""
    beats = [frame[0] for frame in to_beats(x, unit.simd)]
    in_stamps, out_stamps = [], []
    received = simulate_stream(unit, beats, len(x), stall=stall, seed=seed,
                               stamps=(in_stamps, out_stamps))
    return from_beats([[w] for w in received], unit.pe, unit.acc_shape.width), in_stamps, \
        out_stamps


def simulate_bits(unit, x, *, bits, stall, seed):
    """Like :func:`simulate` for a unit with thresholds: unsigned ``bits``-bit outputs."""
    beats = [frame[0] for frame in to_beats(x, unit.simd)]
    received = simulate_stream(unit, beats, len(x), stall=stall, seed=seed)
    return unpack_bits(received, unit.mh, bits)


def unpack_bits(words, mh, bits):
    got = np.array([unpack(w, mh, bits, False) for w in words], dtype=np.int64)
    return (got > 0).astype(np.int64) if bits == 1 else got     # unpack gives 1 bit as -1/+1


def golden(x, weights, rows):
    """``threshold(binary_dense(x, W), T)`` from ``sw_reference``."""
    return threshold(torch.from_numpy(expected(x, weights)),
                     torch.from_numpy(np.asarray(rows, dtype=np.int64))).numpy()


def tie_thresholds(x, weights, bits, seed):
    """Sorted [MH, 2**bits - 1] thresholds drawn from the outputs ``y`` the vectors reach (ties
    exactly at a threshold), ``y + 1`` (between two reachable values) and both ends."""
    y = expected(x, weights)
    mw = weights.shape[1]
    rng = np.random.default_rng(seed)
    rows = []
    for c in range(weights.shape[0]):
        pool = np.concatenate([y[:, c], y[:, c] + 1, [-mw, mw, mw + 1, -mw - 5]])
        rows.append(np.sort(rng.choice(pool, size=2 ** bits - 1)))
    return np.array(rows, dtype=np.int64)


def weights_for(kind, mh, mw, seed):
    return (make_correlated_weights if kind == "correlated" else make_weights)(mh, mw, seed=seed)


SIM = [(kind, share, levels, depth) for kind in ("random", "correlated")
       for share, levels, depth in (("none", 2, 2), ("mst", None, 1), ("mst", 1, 2),
                                    ("mst", 3, 3))]


@pytest.mark.parametrize("kind, share, levels, depth", SIM)
def test_amaranth_sim_matches_golden(kind, share, levels, depth):
    """Random and edge vectors back to back, 30% random stalls on both streams."""
    weights = weights_for(kind, 12, 20, seed=(levels or 0) + depth)
    unit = UnrolledMVAU(weights=weights, levels_per_stage=levels, share=share, share_depth=depth)
    x = make_vectors(weights, count=24, seed=levels or 0)
    got, _, _ = simulate(unit, x, stall=0.3, seed=3 + (levels or 0))
    np.testing.assert_array_equal(got, expected(x, weights))


@pytest.mark.parametrize("bits", [1, 2])
@pytest.mark.parametrize("share, levels", [("none", None), ("none", 2), ("mst", 1), ("mst", 3)])
def test_fused_thresholds_match_golden_with_ties(bits, share, levels):
    """Thresholds exactly at reachable outputs, between them and beyond both ends; 30% stalls."""
    weights = make_correlated_weights(12, 21, seed=bits)       # odd MW: y is odd
    x = make_vectors(weights, count=40, seed=bits)
    rows = tie_thresholds(x, weights, bits, seed=levels or 0)
    unit = UnrolledMVAU(weights=weights, thresholds=rows, share=share, levels_per_stage=levels)
    got = simulate_bits(unit, x, bits=bits, stall=0.3, seed=bits)
    np.testing.assert_array_equal(got, golden(x, weights, rows))


def chain_layers(seed, share="mst"):
    """Three layers 24 -> 16 -> 12 -> 5: 1-bit thresholds (ties included), then a dense output."""
    shapes = [(16, 24), (12, 16), (5, 12)]
    weights = [make_correlated_weights(mh, mw, seed=seed + k) for k, (mh, mw) in enumerate(shapes)]
    x = make_vectors(weights[0], count=40, seed=seed)
    rows, h = [], x
    for w in weights[:-1]:
        rows.append(tie_thresholds(h, w, 1, seed=seed))
        h = golden(h, w, rows[-1]) * 2 - 1                 # -1/+1 inputs of the next layer
    want = expected(h, weights[-1])
    layers = [unrolled_layer(w, r, share=share) for w, r in zip(weights, rows)]
    layers.append(unrolled_layer(weights[-1], share=share))
    return layers, x, want


def _chain_runs(unit, x, want):
    """``x`` through ``unit`` under 30 % stalls and without: both equal to ``want``; the
    stall-free run's (input, output) cycle stamps."""
    beats = [frame[0] for frame in to_beats(x, unit.simd)]
    received = simulate_stream(unit, beats, len(x), stall=0.3, seed=4)
    np.testing.assert_array_equal(from_beats([[w] for w in received], 5, 5), want)
    stamps = ([], [])
    received = simulate_stream(unit, beats, len(x), stamps=stamps)
    np.testing.assert_array_equal(from_beats([[w] for w in received], 5, 5), want)
    return stamps


@pytest.mark.parametrize("levels", [None, 1, 3])
def test_chain_matches_golden_one_vector_per_cycle(levels):
    layers, x, want = chain_layers(seed=levels or 0)
    unit = UnrolledChain(layers=layers, levels_per_stage=levels)
    stamps = _chain_runs(unit, x, want)
    assert np.diff(stamps[0]).tolist() == [1] * (len(x) - 1)
    assert np.diff(stamps[1]).tolist() == [1] * (len(x) - 1)
    assert stamps[1][0] - stamps[0][0] == unit.latency


@pytest.mark.parametrize("period_ns, share", [(1.0, "none"), (4.0, "mst"), (6.0, "none"),
                                              (30.0, "mst")])
def test_chain_in_ns_matches_golden_one_vector_per_cycle(period_ns, share):
    """Registers placed by the ECP5 delay estimate: bit-exact, one vector per cycle, the
    latency the plan says, and fewer stages for a longer period."""
    layers, x, want = chain_layers(seed=7, share=share)
    unit = UnrolledChain(layers=layers, period_ns=period_ns)
    assert unit.period_ns == period_ns and unit.pipelined and unit.registered_input
    stamps = _chain_runs(unit, x, want)
    assert np.diff(stamps[1]).tolist() == [1] * (len(x) - 1)
    assert stamps[1][0] - stamps[0][0] == unit.latency
    shorter = UnrolledChain(layers=layers, period_ns=period_ns / 2 + 0.3)
    assert shorter.latency >= unit.latency


def test_layer_outputs_reach_the_next_leaves_directly_where_the_stage_has_room():
    """With the ns model a layer's outputs feed the next layer's leaves in the same stage when
    the estimated wire across fits (no register copies at that boundary), else in copies."""
    from hwgen.units._unrolled import ECP5_NS
    layers, _, _ = chain_layers(seed=7)
    roomy = UnrolledChain(layers=layers, period_ns=40.0)
    assert len(roomy.fan_out_copies) == 1                  # the unit's input only
    assert roomy.latency == 2                              # input copies, queue write
    tight = UnrolledChain(layers=layers, period_ns=ECP5_NS.fixed + ECP5_NS.crossing)
    assert len(tight.fan_out_copies) == len(layers)        # every layer starts at copies


def test_mst_link_costs_no_cycle_where_the_stage_has_slack():
    """20 inputs: 4 levels; with 8 levels per stage the links fit in the stage, with 4 not."""
    weights = make_correlated_weights(12, 20, seed=8)
    plain = UnrolledMVAU(weights=weights, levels_per_stage=8)
    shared = UnrolledMVAU(weights=weights, levels_per_stage=8, share="mst", share_depth=2)
    assert shared.share_levels >= 1 and shared.latency == plain.latency == 2   # input register
    assert UnrolledMVAU(weights=weights, levels_per_stage=4).latency == 2
    tight = UnrolledMVAU(weights=weights, levels_per_stage=4, share="mst", share_depth=2)
    assert tight.latency == 3


@pytest.mark.parametrize("share, levels", [("none", 2), ("mst", None), ("mst", 1)])
def test_amaranth_sim_one_vector_per_cycle_and_latency(share, levels):
    weights = make_correlated_weights(12, 20, seed=8)
    unit = UnrolledMVAU(weights=weights, levels_per_stage=levels, share=share, share_depth=3)
    x = make_vectors(weights, count=6, seed=2)
    got, in_stamps, out_stamps = simulate(unit, x, stall=0.0, seed=0)
    np.testing.assert_array_equal(got, expected(x, weights))
    assert np.diff(in_stamps).tolist() == [1] * (len(x) - 1)
    assert np.diff(out_stamps).tolist() == [1] * (len(x) - 1)
    assert out_stamps[0] - in_stamps[0] == unit.latency


def test_credit_keeps_ready_registered_and_queue_bounded():
    """With the output never taken, the unit accepts exactly ``queue_depth`` vectors."""
    from amaranth.sim import Simulator
    weights = make_weights(4, 8, seed=1)
    unit = UnrolledMVAU(weights=weights, levels_per_stage=1)
    taken = []

    async def tb(ctx):
        ctx.set(unit.i.valid, 1)
        ctx.set(unit.o.ready, 0)
        for _ in range(3 * unit.queue_depth):
            if ctx.get(unit.i.ready):
                taken.append(1)
            await ctx.tick()
        ctx.set(unit.o.ready, 1)
        for _ in range(unit.queue_depth):
            assert ctx.get(unit.o.valid)
            await ctx.tick()
        assert not ctx.get(unit.o.valid) or ctx.get(unit.i.ready)

    sim = Simulator(unit)
    sim.add_clock(1e-6)
    sim.add_testbench(tb)
    sim.run()
    assert len(taken) == unit.queue_depth


# Verilator: thresholds fused into an MST unit, a dense MST unit, a chain.
COSIM = {
    "mst_thresholds": ("correlated", 16, 32, "mst", 2, 2, 1),
    "mst": ("correlated", 16, 32, "mst", 2, 2, None),
    "plain": ("random", 12, 24, "none", None, 2, 2),
}


def cosim(name, *, count, backpressure, seed):
    from sim.cosim import cosimulate_unit
    kind, mh, mw, share, levels, depth, bits = COSIM[name]
    weights = weights_for(kind, mh, mw, seed=21)
    x = make_vectors(weights, count=count, seed=seed)
    rows = None if bits is None else tie_thresholds(x, weights, bits, seed=seed)
    unit = UnrolledMVAU(weights=weights, thresholds=rows, levels_per_stage=levels, share=share,
                        share_depth=depth)
    result = cosimulate_unit(unit, f"unrolled_{name}", to_beats(x, mw), out_beats=1,
                             backpressure=backpressure, seed=seed)
    if bits is None:
        return unit, x, from_beats(result.received, unit.pe, unit.acc_shape.width), \
            expected(x, weights), result
    return unit, x, unpack_bits([w for frame in result.received for w in frame], mh, bits), \
        golden(x, weights, rows), result


@pytest.mark.parametrize("name", ["mst_thresholds", pytest.param("mst", marks=pytest.mark.slow),
                                  pytest.param("plain", marks=pytest.mark.slow)])
def test_verilator_cosim_matches_golden(name):
    """>= 300 vectors under 30% random pauses on both AXI4-Stream sides."""
    _unit, x, got, want, result = cosim(name, count=300, backpressure=0.3, seed=5)
    check_cosim(x, got, want, result)


def test_verilator_one_vector_per_cycle():
    unit, _x, got, want, result = cosim("mst_thresholds", count=100, backpressure=0.0, seed=9)
    np.testing.assert_array_equal(got, want)
    assert result.steady_cycles_per_sample(1) == pytest.approx(1.0, rel=0.02)


@pytest.mark.parametrize("wrap", [pytest.param(True, marks=pytest.mark.slow), False])
def test_verilog_is_deterministic_and_lint_clean(wrap, tmp_path):
    """The bare unit (and, under -m slow, its AXI top; the network test lints one in CI)."""

    def design():
        weights = make_correlated_weights(10, 24, seed=2)
        unit = UnrolledMVAU(weights=weights, thresholds=np.zeros((10, 1), int),
                            levels_per_stage=2, share="mst", share_depth=2)
        return AxiStreamTop(unit, out_beats=1) if wrap else unit

    text = to_verilog(design(), "unrolled_top")
    assert text == to_verilog(design(), "unrolled_top")
    assert "weights_" not in text and "input_buffer" not in text      # no ROM, no buffer
    check_lint(text, "unrolled_top", tmp_path)


@pytest.mark.slow    # elaborating the 256x64 unrolled layer takes ~25 s
def test_amaranth_sim_trained_digits_mst_layers_match_golden():
    """The digits demo's trained binary MLP (``examples/digits/bnn_digits_mst.yaml``, weights
    ``bnn_digits.npz``): fc1 and fc2 MST-shared as there, on 60 images of the test split (fc2
    on the golden fc1 activations of the same images), under 30% random stalls."""
    import torch

    from hwgen.demo import EXAMPLES as DIGITS
    from hwgen.demo import MODELS, load_split
    from hwgen.spec import load
    from sw_reference.network import build

    spec = load(DIGITS / "bnn_digits_mst.yaml")
    _, x_test, _, _ = load_split()
    x = MODELS["binary"].encode(x_test[:60])[1]
    hidden = build(spec).forward_all(torch.from_numpy(x))["fc1"].numpy().astype(np.int64)
    for layer, inputs in zip(spec.layers, (x, hidden)):
        weights = layer.params["weight"]
        unit = UnrolledMVAU(weights=weights, levels_per_stage=3, share="mst",
                            share_depth=layer.attrs.share_depth)
        assert unit.synapse_ops < unit.synapse_ops_unshared
        got, _, _ = simulate(unit, inputs, stall=0.3, seed=11)
        np.testing.assert_array_equal(got, expected(inputs, weights), err_msg=layer.name)


def test_layer_inputs_are_registered_in_copies_of_bounded_fanout():
    """Each layer starts at a register per input bit and copy, each copy in a submodule of
    its own (so Yosys, synthesising without flattening, cannot merge them); the leaves
    reading a bit are spread over its copies."""
    from amaranth.hdl import Fragment

    from hwgen.units._unrolled import LEAF_BLOCKS, MAX_LOADS, Timed, Timeline
    weights = make_weights(64, 16, seed=4)
    layers = [unrolled_layer(weights, np.zeros((64, 1), int)),
              unrolled_layer(make_weights(5, 64, seed=5))]
    unit = UnrolledChain(layers=layers, levels_per_stage=3)
    first, second = unit.fan_out_copies
    assert first >= 3 > second                       # 64 channels read each input, 5 not
    assert unit.pipeline_bits >= 16 * first + 64
    fragment = Fragment.get(unit, None)
    banks = sorted(name for _, name, _ in fragment.subfragments if "_fan" in name)
    assert banks == sorted([f"dp_fan1_{j}" for j in range(first)]
                           + [f"dp_fan2_{j}" for j in range(second)])
    # what each copy then drives: within MAX_LOADS but for the rounding of one leaf
    timeline = Timeline(None, 3, copies=unit.fan_out_copies)
    unit._datapath(timeline, [Timed(None, 0, 1) for _ in range(16)])
    worst = max(max(load) for bit, load in timeline._reads.items() if bit.boundary == 0)
    assert worst <= MAX_LOADS + 8
    # 16 inputs in groups of 4, 64 channels: at most 16 shared leaves per group and block of
    # channels, plus one biased leaf per channel
    assert unit.leaf_counters <= 4 * 16 * LEAF_BLOCKS + 64 + 16 * 5 + 5


@pytest.mark.parametrize("blocks", [1, 2])
def test_channels_with_equal_weights_on_a_group_share_its_leaf_counter(blocks, monkeypatch):
    import hwgen.units._unrolled as unrolled
    monkeypatch.setattr(unrolled, "LEAF_BLOCKS", blocks)
    weights = np.ones((10, 12), dtype=np.int8)
    weights[5:, 8:] = -1                       # channels 5..9 differ on the last group only
    unit = UnrolledMVAU(weights=weights, levels_per_stage=2)
    if blocks == 1:
        # groups 0, 1: one leaf for all channels; group 2: two (the two weight patterns);
        # and the output offset rides in one leaf per channel, taken in turn from groups
        # 0, 1, 2: again shared where the weights agree (3 for channels 0..4, one more for
        # 5..9)
        assert unit.leaf_counters == (2 + 2) + (3 + 1)
    else:
        # blocks of channels 0..4 and 5..9 share nothing: per block one leaf per group,
        # and three with the offset (groups 0, 1, 2 in turn)
        assert unit.leaf_counters == 2 * (3 + 3)
    x = make_vectors(weights, count=40, seed=3)
    got, _, _ = simulate(unit, x, stall=0.3, seed=1)
    np.testing.assert_array_equal(got, expected(x, weights))


def test_root_adders_have_no_constant_operand(tmp_path):
    """Thresholds and output offsets ride in a leaf's LUTs, not in the root adder: Yosys
    then maps every sum to one carry chain (a constant made it a three-operand $macc with a
    level of LUT full adders in front)."""
    from hwgen.synth import synthesize
    weights = make_weights(12, 24, seed=6)
    rows = np.random.default_rng(6).integers(-20, 21, size=(12, 1))
    unit = UnrolledChain(layers=[unrolled_layer(weights, rows),
                                 unrolled_layer(make_weights(4, 12, seed=7))],
                         levels_per_stage=3)
    verilog = tmp_path / "chain.v"
    verilog.write_text(to_verilog(unit, "chain"))
    synthesize(verilog, "chain", "ecp5", tmp_path / "synth", device="ecp5-85k",
               clock_mhz=200, progress=lambda *a: None)
    log = (tmp_path / "synth" / "yosys_ecp5.log").read_text()
    # (the two credit counters, count + in - out, are the only three-operand sums)
    assert "creating $alu cell" in log and "creating $macc cell for $add" not in log
    assert log.count("creating $macc cell") == 2


def test_sums_are_carry_chains_after_one_level_of_leaf_luts(tmp_path):
    """Sums of two 3-bit leaf counts are marked ``hwgen_carry`` and the ECP5 flow maps them
    to CCU2C cells (Yosys alone leaves sums of up to 4 bits to LUTs, three levels deep);
    each leaf is one LUT4 per count bit, no inverter LUT behind it."""
    import json
    import re

    from hwgen.synth import synthesize
    unit = UnrolledMVAU(weights=make_weights(6, 24, seed=8), levels_per_stage=2)
    verilog = tmp_path / "chain.v"
    verilog.write_text(to_verilog(unit, "chain"))
    synthesize(verilog, "chain", "ecp5", tmp_path / "synth", device="ecp5-85k",
               clock_mhz=200, progress=lambda *a: None)
    module = json.loads((tmp_path / "synth" / "chain_ecp5.json").read_text())["modules"]["chain"]
    driver = {bit: cell["type"] for cell in module["cells"].values()
              for port, bits in cell["connections"].items()
              if cell["port_directions"][port] == "output" for bit in bits}
    marked = [net["bits"] for net in module["netnames"].values()
              if "hwgen_carry" in net["attributes"]]
    assert len(marked) >= 6          # (equal sums of two channels are one net)
    assert {driver[bit] for bits in marked for bit in bits} == {"CCU2C"}
    # each leaf count bit is one LUT4 of the (registered) inputs, not a LUT behind another:
    # ABC had shared one parity LUT between the leaves of a group, with an inverter LUT after
    # it for the leaves of the other polarity
    luts = {bit: cell for cell in module["cells"].values() if cell["type"] == "LUT4"
            for bit in cell["connections"]["Z"]}
    leaves = [bit for name, net in module["netnames"].items()
              if re.search(r"c\d+n_\d+$", name) for bit in net["bits"] if bit in luts]
    assert len(leaves) > 6 * 6
    assert not [bit for bit in leaves
                if any(luts[bit]["connections"][k][0] in luts for k in "ABCD")]
