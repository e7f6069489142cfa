"""Property tests: random valid binary networks, composed hardware vs the golden model.

Each drawn network (:mod:`tests.fuzz.network_specs`) is loaded from its
YAML + npz like a user's, composed by ``build_network`` (width converters,
FIFOs, AXI words) and fed edge-case then random samples. Under Amaranth's
simulator the composed core runs with random stalls on both sides; under
Verilator the exported Verilog of the AXI4-Stream top runs with random
backpressure (``sim.network.cosimulate``, 2000 samples: on the fast path the
build, not the run, is what costs). CI runs a few networks in
Amaranth and one under Verilator (each Verilator build costs tens of
seconds); ``pytest -m slow`` runs many more, and ``benchmarks/fuzz_campaign.py``
runs a campaign and counts cases and failures.
"""

import tempfile

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from .network_specs import networks, write_network

pytestmark = pytest.mark.filterwarnings("ignore:.*created but never used")
SETTINGS = {"deadline": None, "suppress_health_check": list(HealthCheck)}


def samples(spec, case, count):
    from sim.network import edge_samples, random_samples
    return np.concatenate([edge_samples(spec), random_samples(spec, count, case.sample_seed)])


def amaranth_check(case, stall, seed):
    """Run the composed core of ``case`` in Amaranth's simulator; assert it equals the golden."""
    from hwgen.layout import from_beats, to_beats
    from hwgen.network import build_network
    from hwgen.spec import load
    from sim.amaranth_streams import simulate_stream
    from sw_reference.network import run

    with tempfile.TemporaryDirectory() as folder:
        spec = load(write_network(case, folder))
    design = build_network(spec)
    x = samples(spec, case, 4)
    words = [w for frame in to_beats(x, spec.input.shape, design.in_per_beat, design.in_bits)
             for w in frame]
    got = simulate_stream(design.top.core, words, design.out_beats * len(x), stall=stall,
                          seed=seed)
    frames = [got[n:n + design.out_beats] for n in range(0, len(got), design.out_beats)]
    hw = from_beats(frames, spec.output.shape, design.out_per_beat, design.out_bits,
                    design.out_signed)
    want = run(spec, x)
    assert hw.tolist() == want.tolist(), f"{case!r}\nhardware {hw.tolist()}\ngolden {want.tolist()}"


def verilator_check(case, backpressure, seed):
    from hwgen.spec import load
    from sim.network import cosimulate
    with tempfile.TemporaryDirectory() as folder:
        spec = load(write_network(case, folder))
        run = cosimulate(spec, samples(spec, case, 2000), backpressure=backpressure, seed=seed,
                         work_dir=f"{folder}/sim", log=lambda *a: None)
    assert run.mismatches == 0, f"{case!r}\n{run.mismatches} samples differ: hardware " \
                                f"{run.got[run.mismatched_samples[:2]].tolist()} golden " \
                                f"{run.want[run.mismatched_samples[:2]].tolist()}"
    assert len(run.got) == len(run.want)


@settings(max_examples=6, **SETTINGS)
@given(case=networks(), stall=st.sampled_from([0.0, 0.4]), seed=st.integers(0, 99))
def test_network_amaranth_matches_golden(case, stall, seed):
    amaranth_check(case, stall, seed)


@settings(max_examples=1, **SETTINGS)
@given(case=networks(max_layers=2, max_features=16))
def test_network_verilator_matches_golden(case):
    verilator_check(case, backpressure=0.3, seed=1)


@pytest.mark.slow
@settings(max_examples=60, **SETTINGS)
@given(case=networks(), stall=st.sampled_from([0.0, 0.4]), seed=st.integers(0, 99))
def test_network_amaranth_matches_golden_many(case, stall, seed):
    amaranth_check(case, stall, seed)


@pytest.mark.slow
@settings(max_examples=15, **SETTINGS)
@given(case=networks(), backpressure=st.sampled_from([0.0, 0.3]))
def test_network_verilator_matches_golden_many(case, backpressure):
    verilator_check(case, backpressure, seed=2)


# --- regressions found by fuzzing ---------------------------------------------------------------

@pytest.mark.parametrize("classes", [1, 2])
def test_regression_argmax_over_one_or_two_classes(classes):
    """benchmarks/fuzz_campaign.py (seed 1) found: argmax over 2 classes came out as -1 for 0.

    LabelSelect emitted a 1-bit index, which the AXI output decoding (rightly)
    read as a binary -1/+1 element; the index is now at least 2 bits, like
    the spec's type for it. Shrunk from fc0 11->8 (simd 11) -> fc1 8->2 -> argmax.
    """
    from .network_specs import NetworkCase
    rng = np.random.default_rng(5)
    params = {"fc0.weight": rng.choice(np.array([-1, 1], np.int8), (8, 11)),
              "fc0.act.thresholds": np.zeros((8, 1), np.int64),
              "fc1.weight": rng.choice(np.array([-1, 1], np.int8), (classes, 8))}
    yaml = ("name: fuzz_net\ninput: {shape: [11], bits: 1}\nweights: fuzz_net.npz\n"
            "target: {io_bits: 8}\nlayers:\n"
            "  - {name: fc0, op: binary_dense, out_features: 8, pe: 1, simd: 11, pipeline: 0,"
            " activation: {op: threshold, bits: 1}}\n"
            f"  - {{name: fc1, op: binary_dense, out_features: {classes}, pe: 1, simd: 1}}\n"
            f"  - {{name: top1, op: argmax, pe: {classes}}}\n")
    amaranth_check(NetworkCase(yaml, params, sample_seed=61104), stall=0.3, seed=1)
