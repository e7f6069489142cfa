"""Property tests: random valid networks, composed hardware vs the golden model.

Two generators: random networks over the whole op table
(:mod:`tests.fuzz.op_specs`: every op, keys drawn from its fields, foldings
from its fold rule), and deeper binary MLPs with real weights and edge-case
thresholds (:mod:`tests.fuzz.network_specs`). Each drawn network is loaded from its
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


def simulate_spec(spec, x, stall, seed):
    """Hardware output of the composed core of ``spec`` on ``x`` (Amaranth simulator)."""
    from hwgen.layout import from_beats, to_beats
    from hwgen.network import build_network
    from sim.amaranth_streams import simulate_stream

    design = build_network(spec)
    words = [w for frame in to_beats(x, spec.input.shape, design.in_per_beat, design.in_bits)
             for w in frame]
    got = simulate_stream(design.top.core, words, design.out_beats * len(x), stall=stall,
                          seed=seed)
    frames = [got[n:n + design.out_beats] for n in range(0, len(got), design.out_beats)]
    return from_beats(frames, spec.output.shape, design.out_per_beat, design.out_bits,
                      design.out_signed)


def samples(spec, case, count):
    from sim.network import edge_samples, random_samples
    return np.concatenate([edge_samples(spec), random_samples(spec, count, case.sample_seed)])


def amaranth_check(case, stall, seed):
    """Run the composed core of ``case`` in Amaranth's simulator; assert it equals the golden."""
    from hwgen.spec import load
    from sw_reference.network import run

    with tempfile.TemporaryDirectory() as folder:
        spec = load(write_network(case, folder))
    x = samples(spec, case, 4)
    hw = simulate_spec(spec, x, stall, seed)
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


# --- every op of the table ---------------------------------------------------------------------

def op_table_check(data, text):
    """A random spec over the op table (tests/fuzz/op_specs.py), if it loads and has hardware:
    its composed core under random stalls against the golden model."""
    from hypothesis import assume

    from hwgen.network import build_network
    from sim.network import edge_samples, random_samples
    from sw_reference.network import run

    from .op_specs import load_folded
    spec = load_folded(data, text)
    assume(spec is not None)
    try:
        build_network(spec)
    except NotImplementedError:
        assume(False)
    x = np.concatenate([edge_samples(spec), random_samples(spec, 3, data.draw(
        st.integers(0, 2**16), label="sample seed"))])
    stall = data.draw(st.sampled_from([0.0, 0.4]), label="stall")
    hw = simulate_spec(spec, x, stall, data.draw(st.integers(0, 99), label="stall seed"))
    want = run(spec, x)
    assert hw.tolist() == want.tolist(), f"{text}\nhardware {hw.tolist()}\ngolden {want.tolist()}"


@settings(max_examples=8, **SETTINGS)
@given(data=st.data())
def test_op_table_network_amaranth_matches_golden(data):
    from .op_specs import specs
    op_table_check(data, data.draw(specs(max_layers=2)))


@pytest.mark.slow
@settings(max_examples=200, **SETTINGS)
@given(data=st.data())
def test_op_table_network_amaranth_matches_golden_many(data):
    from .op_specs import specs
    op_table_check(data, data.draw(specs()))


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


def test_regression_threshold_of_binary_inputs():
    """The op-table fuzzing found: a threshold reading -1/+1 elements compared the raw bit
    (0 for -1) with thresholds meant for -1/+1; the op now hands its unit (T + 2) // 2."""
    from hwgen.spec import loads
    from sim.network import edge_samples, random_samples
    from sw_reference.network import run
    for bits in (1, 2):
        spec = loads("name: t\ninput: {shape: [6], bits: 1}\nseed: 0\nlayers:\n"
                     f"  - {{name: l0, op: threshold, bits: {bits}, pe: 2}}\n")
        x = np.concatenate([edge_samples(spec), random_samples(spec, 8, 1)])
        assert simulate_spec(spec, x, 0.3, 1).tolist() == run(spec, x).tolist()


def test_regression_add_with_an_inline_activation():
    """The op-table fuzzing found the golden add clamping to its inline activation's range
    (uint3 of a 3-bit threshold) instead of its own (int8)."""
    from hwgen.spec import loads
    from sim.network import edge_samples, random_samples
    from sw_reference.network import run
    spec = loads("name: t\ninput: {shape: [1, 3], bits: 2}\nseed: 0\nlayers:\n"
                 "  - {name: l0, op: add, bits: 8, inputs: [input, input],"
                 " activation: {op: threshold, bits: 3}}\n")
    x = np.concatenate([edge_samples(spec), random_samples(spec, 6, 1)])
    assert simulate_spec(spec, x, 0.3, 1).tolist() == run(spec, x).tolist()


@pytest.mark.parametrize("layer", [
    "{name: l0, op: conv2d, out_channels: 1, kernel_size: 3, padding: 4}",
    "{name: l0, op: conv2d, out_channels: 2, kernel_size: 1, padding: 2, pe: 2}",
    "{name: l0, op: conv2d, out_channels: 1, kernel_size: 2, padding: 3, stride: 2}"])
def test_regression_padding_beyond_the_kernel(layer):
    """The op-table fuzzing found a conv of a 2x2 map with kernel 1, padding 2 wrong from the
    second sample on: with output rows starting below the image, the sliding-window
    generator counted more rows as freed than the image has, and the writer overwrote a row
    of the next image before it was read."""
    from hwgen.spec import loads
    from sim.network import edge_samples, random_samples
    from sw_reference.network import run
    spec = loads(f"name: t\ninput: {{shape: [1, 2, 2], bits: 4}}\nseed: 0\nlayers:\n  - {layer}\n")
    x = np.concatenate([edge_samples(spec), random_samples(spec, 4, 1)])
    assert simulate_spec(spec, x, 0.0, 1).tolist() == run(spec, x).tolist()


@pytest.mark.parametrize("layer", [
    "{name: l1, op: conv2d, out_channels: 3, kernel_size: 2, stride: 3, padding: 6,"
    " weight_type: ternary}",
    "{name: l1, op: conv2d, out_channels: 2, kernel_size: 3, padding: 1, simd: 3, pe: 2}"])
def test_regression_conv2d_of_a_binary_map_pads_with_zero(layer):
    """The fuzz campaign (seed 0) found conv2d on a binary feature map (a 1-bit threshold's
    output) padding with -1: the window generator put the pad bit 0 on the stream, which a
    binary element reads as -1, where conv2d pads with 0. The windows are now signed(2)
    elements (-1/+1, 0 for padding). Shrunk from add -> threshold 1 bit -> ternary conv2d ->
    threshold on a [3, 1, 1] input."""
    from hwgen.spec import loads
    from sim.network import edge_samples, random_samples
    from sw_reference.network import run
    spec = loads("name: t\ninput: {shape: [3, 2, 2], bits: 4}\nseed: 0\nlayers:\n"
                 "  - {name: l0, op: threshold, bits: 1}\n"
                 f"  - {layer}\n")
    x = np.concatenate([edge_samples(spec), random_samples(spec, 6, 1)])
    assert simulate_spec(spec, x, 0.3, 1).tolist() == run(spec, x).tolist()


@pytest.mark.parametrize("layer", ["{name: l0, op: requant, bits: 7}",
                                   "{name: l0, op: shiftmax, x0: -1}",
                                   "{name: l0, op: shiftgelu, x0: -5}",
                                   "{name: l0, op: layernorm}"])
def test_regression_integer_units_refuse_binary_inputs(layer):
    """The same fuzzing found these units reading -1 as 0; they now have no hardware for
    binary inputs (the golden model still runs them), and say where."""
    from hwgen.network import build_network
    from hwgen.spec import loads
    spec = loads(f"name: t\ninput: {{shape: [6], bits: 1}}\nseed: 0\nlayers:\n  - {layer}\n",
                 source="t.yaml")
    with pytest.raises(NotImplementedError, match=r"t.yaml:5: layers\[0\]: .* of binary "
                                                  r"\(-1/\+1\) elements"):
        build_network(spec)
