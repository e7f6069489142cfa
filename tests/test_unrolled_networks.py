"""Networks with fully unrolled (``unroll: full``) and MST-shared (``share: mst``) binary layers.

CI generates a small network mixing unrolled, MST-shared and folded layers,
checks its manifest and cosimulates it, and cosimulates the JSC-M-shaped
examples (MST sharing on correlated and on random weights, unshared; 500
samples each, as ``hwgen sim examples/jsc_m_mst.yaml --count 500 --backpressure 0.3``).
"""

import json

import pytest

from hwgen.spec import load

from .test_networks import EXAMPLES, lint_and_cosimulate

MIXED = """\
name: mixed_unrolled
input: {shape: [32], bits: 1}
seed: 4
target: {io_bits: 16}
layers:
  - {name: fc0, op: binary_dense, out_features: 16, unroll: full, share: mst, pipeline: 1,
     activation: {op: threshold, bits: 1}}
  - {name: fc1, op: binary_dense, out_features: 8, pe: 2, simd: 4,
     activation: {op: threshold, bits: 1}}
  - {name: fc2, op: binary_dense, out_features: 4, unroll: full, share: mst, share_depth: 1,
     pipeline: 0}
  - {name: top1, op: argmax, pe: 4}
"""


@pytest.fixture
def mixed(tmp_path):
    path = tmp_path / "mixed_unrolled.yaml"
    path.write_text(MIXED)
    return path


def test_mixed_network_bit_exact_under_backpressure(mixed, tmp_path, monkeypatch):
    import tests.test_networks as networks
    monkeypatch.setattr(networks, "EXAMPLES", mixed.parent)
    lint_and_cosimulate("mixed_unrolled", 200, tmp_path, backpressure=0.3, seed=7)


CHAIN = """\
name: chain_unrolled
input: {shape: [32], bits: 1}
seed: 5
target: {clock_mhz: 250, io_bits: 32}
layers:
  - {name: fc0, op: binary_dense, out_features: 24, unroll: full, share: mst,
     activation: {op: threshold, bits: 1}}
  - {name: fc1, op: binary_dense, out_features: 16, unroll: full,
     activation: {op: threshold, bits: 1}}
  - {name: fc2, op: binary_dense, out_features: 6, unroll: full, share: mst}
  - {name: top1, op: argmax, pe: 6}
"""


def test_consecutive_unrolled_layers_are_one_pipeline(tmp_path):
    """fc0..fc2 become one UnrolledChain owned by fc2: no skid, converter or Thresholding
    between them; it registers its input itself, so it takes the AXI4-Stream input port
    (one whole vector per word) with no skid or converter in front."""
    from hwgen.network import build_network
    from hwgen.units.unrolled_chain import UnrolledChain
    path = tmp_path / "chain_unrolled.yaml"
    path.write_text(CHAIN)
    design = build_network(load(path))
    units = [hw.units for hw in design.layers]
    assert units[0] == [] and units[1] == [] and len(units[2]) == 1
    chain = units[2][0]
    assert isinstance(chain, UnrolledChain) and [l.mh for l in chain.layers] == [24, 16, 6]
    assert chain.period_ns == 4.0 and chain.levels_per_stage is None   # 250 MHz
    core = [type(u).__name__ for u in design.top.core.units]
    assert core[0] == "UnrolledChain" and chain.registered_input


def test_chain_network_bit_exact_under_backpressure(tmp_path, monkeypatch):
    import tests.test_networks as networks
    (tmp_path / "chain_unrolled.yaml").write_text(CHAIN)
    monkeypatch.setattr(networks, "EXAMPLES", tmp_path)
    (tmp_path / "out").mkdir()
    lint_and_cosimulate("chain_unrolled", 300, tmp_path / "out", backpressure=0.3, seed=3)


def test_manifest_reports_synapse_ops_before_and_after_sharing(mixed, tmp_path):
    from hwgen.cli import main
    assert main(["generate", str(mixed), "-o", str(tmp_path / "out")]) == 0
    layers = json.loads((tmp_path / "out" / "manifest.json").read_text())["layers"]
    fc0, fc1, fc2 = (layer["units"][0] for layer in layers[:3])
    assert fc0["unit"] == "UnrolledMVAU" and fc0["share"] == "mst"
    assert fc0["synapse_ops_unshared"] == 16 * 32 > fc0["synapse_ops"] > 0
    assert layers[0]["cycles_per_sample"] == 1
    assert [u["unit"] for u in layers[0]["units"]] == ["UnrolledMVAU"]   # threshold fused
    assert fc0["out"] == {"lanes": 16, "bits": 1, "signed": False}
    assert fc2["share_levels"] <= fc2["share_depth"] == 1
    assert fc1["unit"] == "MVAU" and "synapse_ops" not in fc1


@pytest.mark.parametrize("name, share", [
    ("jsc_m_correlated", "mst"), ("jsc_m_mst", "mst"), ("jsc_m_unrolled", "none")])
def test_jsc_m_examples_500_samples_under_backpressure(name, share, tmp_path):
    spec = load(EXAMPLES / f"{name}.yaml")
    assert all(layer.attrs.unroll == "full" and layer.attrs.share == share
               for layer in spec.layers)
    lint_and_cosimulate(name, 500, tmp_path, backpressure=0.3, seed=5)


CNN = """\
name: cnn_unrolled
input: {shape: [2, 6, 6], bits: 1}
seed: 7
target: {clock_mhz: 200, io_bits: 16}
layers:
  - {name: conv0, op: binary_conv2d, out_channels: 8, kernel_size: 3, padding: 1, unroll: full,
     share: mst, activation: {op: threshold, bits: 1}}
  - {name: pool, op: maxpool2d, kernel_size: 2}
  - {name: conv1, op: binary_conv2d, out_channels: 6, kernel_size: 3, unroll: full,
     activation: {op: threshold, bits: 1}}
  - {name: flat, op: flatten}
  - {name: fc, op: binary_dense, out_features: 4, unroll: full}
"""


def test_unrolled_cnn_in_amaranth_sim():
    """unroll: full on binary_conv2d: the window generator (C channels a beat) feeds an
    UnrolledMVAU over k*k*C, thresholds fused; edge and random samples, 30% stalls."""
    from hwgen.network import build_network
    from hwgen.spec import loads

    from .test_networks import core_matches_golden, samples
    spec = loads(CNN)
    design = build_network(spec)
    units = {hw.layer.name: [type(u).__name__ for u in hw.units] for hw in design.layers}
    assert units["conv0"] == units["conv1"] == ["ConvolutionInputGenerator", "UnrolledMVAU"]
    assert design.layers[0].cycles_per_sample == 6 * 6 * 9      # k*k beats per window
    core_matches_golden(spec, design, samples(spec, 12, seed=3))


def test_unrolled_cnn_cosim_bit_exact_under_backpressure(tmp_path, monkeypatch):
    import tests.test_networks as networks
    (tmp_path / "cnn_unrolled.yaml").write_text(CNN)
    monkeypatch.setattr(networks, "EXAMPLES", tmp_path)
    (tmp_path / "out").mkdir()
    lint_and_cosimulate("cnn_unrolled", 100, tmp_path / "out", backpressure=0.3, seed=5)


def test_sim_latency_in_ns_at_measured_fmax_or_target_clock(tmp_path):
    """``hwgen sim`` prints the cycle latency in ns: at the Fmax of ``<bundle>/synth/report.json``
    when ``hwgen synth --pnr`` wrote one, else at the target clock, saying which."""
    from types import SimpleNamespace

    from hwgen.cli import _latency_ns
    spec = load(EXAMPLES / "jsc_m_unrolled.yaml")
    run = SimpleNamespace(latency=7, work_dir=tmp_path / "sim")
    clock = spec.target.clock_mhz
    assert _latency_ns(spec, run) == (f"latency {7e3 / clock:.1f} ns (7 cycles at the target "
                                      f"clock {clock:g} MHz)")
    (tmp_path / "synth").mkdir()
    report = tmp_path / "synth" / "report.json"
    report.write_text(json.dumps({"device": "LFE5U-85F-8", "pnr": None}))
    assert f"at the target clock {clock:g} MHz" in _latency_ns(spec, run)   # synthesis only
    report.write_text(json.dumps({"device": "LFE5U-85F-8", "pnr": {"fmax_mhz": 250.0}}))
    assert _latency_ns(spec, run).startswith(
        "latency 28.0 ns (7 cycles at the Fmax 250 MHz nextpnr measured on LFE5U-85F-8")
