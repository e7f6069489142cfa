"""Fully unrolled binary MVAU with MST sharing: construction, plan properties, Amaranth sim, Verilator cosim."""

import re

import numpy as np
import pytest
from amaranth.hdl import signed, unsigned
from amaranth.lib import data

from hwgen.export import to_verilog
from hwgen.top import AxiStreamTop
from hwgen.units._mst import direct_plan, hamming, mst_plan
from hwgen.units.unrolled_mvau import UnrolledMVAU
from sim.amaranth_streams import simulate_stream

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
    ({"pipeline": -1}, ValueError, "pipeline must be at least 0, not -1"),
    ({"weights": W[0]}, ValueError, "weights must be 2-D [MH, MW], not of shape (16,)"),
    ({"weights": np.where(W > 0, 1, 0)}, ValueError, "must be -1 or +1, not 0"),
    ({"in_shape": signed(8)}, ValueError, "integer inputs take hwgen.units.mvau_int.IntegerMVAU"),
])
def test_construction_errors(change, error, message):
    with pytest.raises(error) as info:
        UnrolledMVAU(**{"weights": W, "share": "mst", **change})
    assert message in str(info.value)


def test_properties_and_ports():
    weights = make_correlated_weights(12, 20, seed=1)
    unit = UnrolledMVAU(weights=weights, pipeline=2, share="mst", share_depth=3)
    assert (unit.mh, unit.mw, unit.pe, unit.simd, unit.nf, unit.sf) == (12, 20, 12, 20, 1, 1)
    assert unit.cycles_per_vector == 1 and unit.rom_bits == 0 and unit.share == "mst"
    assert 1 <= unit.share_levels <= 3 and unit.latency == 2 + 2 + unit.share_levels
    assert unit.synapse_ops_unshared == 240 and unit.synapse_ops < 240
    assert unit.acc_shape == signed(6)
    assert unit.i.payload.shape() == data.ArrayLayout(unsigned(1), 20)
    assert unit.o.payload.shape() == data.ArrayLayout(signed(6), 12)
    plain = UnrolledMVAU(weights=weights, pipeline=2)
    assert (plain.synapse_ops, plain.share_levels, plain.latency) == (240, 0, 4)
    assert UnrolledMVAU(weights=weights, share="mst").latency == 2   # combinational links


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


def test_hardware_counts_exactly_the_planned_synapse_ops():
    """The XNOR bits in the Verilog (``agree_*`` wires) add up to the plan's op count."""
    weights = make_correlated_weights(10, 16, seed=7)
    for share in ("none", "mst"):
        unit = UnrolledMVAU(weights=weights, pipeline=1, share=share)
        text = to_verilog(unit, "u")
        widths = {name: int(msb) + 1 if msb else 1 for msb, name in
                  re.findall(r"wire (?:\[(\d+):0\] )?(\\?agree_\d+(?:_vs_\d+)?) ?;", text)}
        assert sum(widths.values()) == unit.synapse_ops, (share, widths)
        assert "weights_" not in text and "input_buffer" not in text      # no ROM, no buffer


# --- simulation ----------------------------------------------------------------------------------

def simulate(unit, x, *, stall, seed):
    """``x`` [N, MW] through ``unit`` in Amaranth's simulator: outputs [N, MH] and beat stamps."""
    beats = [frame[0] for frame in to_beats(x, unit.simd)]
    in_stamps, out_stamps = [], []
    received = simulate_stream(unit, beats, len(x), stall=stall, seed=seed,
                               stamps=(in_stamps, out_stamps))
    return from_beats([[w] for w in received], unit.pe, unit.acc_shape.width), in_stamps, \
        out_stamps


def weights_for(kind, mh, mw, seed):
    return (make_correlated_weights if kind == "correlated" else make_weights)(mh, mw, seed=seed)


SIM = [(kind, share, pipeline, depth) for kind in ("random", "correlated")
       for share, pipeline, depth in (("none", 1, 2), ("mst", 0, 1), ("mst", 1, 2), ("mst", 2, 3))]


@pytest.mark.parametrize("kind, share, pipeline, depth", SIM)
def test_amaranth_sim_matches_golden(kind, share, pipeline, depth):
    """Random and edge vectors back to back, 30% random stalls on both streams."""
    weights = weights_for(kind, 12, 20, seed=pipeline + depth)
    unit = UnrolledMVAU(weights=weights, pipeline=pipeline, share=share, share_depth=depth)
    x = make_vectors(weights, count=24, seed=pipeline)
    got, _, _ = simulate(unit, x, stall=0.3, seed=3 + pipeline)
    np.testing.assert_array_equal(got, expected(x, weights))


@pytest.mark.parametrize("share, pipeline", [("none", 1), ("mst", 0), ("mst", 2)])
def test_amaranth_sim_one_vector_per_cycle_and_latency(share, pipeline):
    weights = make_correlated_weights(12, 20, seed=8)
    unit = UnrolledMVAU(weights=weights, pipeline=pipeline, share=share, share_depth=3)
    x = make_vectors(weights, count=6, seed=2)
    got, in_stamps, out_stamps = simulate(unit, x, stall=0.0, seed=0)
    np.testing.assert_array_equal(got, expected(x, weights))
    assert np.diff(in_stamps).tolist() == [1] * (len(x) - 1)
    assert np.diff(out_stamps).tolist() == [1] * (len(x) - 1)
    assert out_stamps[0] - in_stamps[0] == unit.latency


# Verilator: plain, MST on correlated weights (pipelined links), MST chained combinationally.
# CI builds the MST one (tests/test_unrolled_networks.py cosimulates a network with pipelined
# and combinational MST layers too); the others take minutes to compile on a busy machine.
COSIM = {
    "plain": ("random", 16, 32, "none", 1, 2),
    "mst": ("correlated", 16, 32, "mst", 2, 2),
    "mst_comb": ("random", 12, 24, "mst", 0, 3),
}


def cosim(name, *, count, backpressure, seed):
    from sim.cosim import cosimulate_unit
    kind, mh, mw, share, pipeline, depth = COSIM[name]
    weights = weights_for(kind, mh, mw, seed=21)
    unit = UnrolledMVAU(weights=weights, pipeline=pipeline, share=share, share_depth=depth)
    x = make_vectors(weights, count=count, seed=seed)
    result = cosimulate_unit(unit, f"unrolled_{name}", to_beats(x, mw), out_beats=1,
                             backpressure=backpressure, seed=seed)
    got = from_beats(result.received, unit.pe, unit.acc_shape.width)
    return unit, x, got, expected(x, weights), result


@pytest.mark.parametrize("name", ["mst", pytest.param("plain", marks=pytest.mark.slow),
                                  pytest.param("mst_comb", marks=pytest.mark.slow)])
def test_verilator_cosim_matches_golden(name):
    """>= 300 vectors under 30% random pauses on both AXI4-Stream sides."""
    _unit, x, got, want, result = cosim(name, count=300, backpressure=0.3, seed=5)
    check_cosim(x, got, want, result)


def test_verilator_one_vector_per_cycle():
    _unit, _x, got, want, result = cosim("mst", count=100, backpressure=0.0, seed=9)
    np.testing.assert_array_equal(got, want)
    assert result.steady_cycles_per_sample(1) == pytest.approx(1.0, rel=0.02)


@pytest.mark.parametrize("wrap", [pytest.param(True, marks=pytest.mark.slow), False])
def test_verilog_is_deterministic_and_lint_clean(wrap, tmp_path):
    """The bare unit (and, under -m slow, its AXI top; the network test lints one in CI)."""

    def design():
        unit = UnrolledMVAU(weights=make_correlated_weights(10, 24, seed=2), pipeline=1,
                            share="mst", share_depth=2)
        return AxiStreamTop(unit, out_beats=1) if wrap else unit

    text = to_verilog(design(), "unrolled_top")
    assert text == to_verilog(design(), "unrolled_top")
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
        unit = UnrolledMVAU(weights=weights, pipeline=layer.attrs.pipeline, share="mst",
                            share_depth=layer.attrs.share_depth)
        assert unit.synapse_ops < unit.synapse_ops_unshared
        got, _, _ = simulate(unit, inputs, stall=0.3, seed=11)
        np.testing.assert_array_equal(got, expected(inputs, weights), err_msg=layer.name)
