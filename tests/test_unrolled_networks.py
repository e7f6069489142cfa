"""Networks with fully unrolled (``unroll: full``) and MST-shared (``share: mst``) binary layers.

CI generates a small network mixing unrolled, MST-shared and folded layers,
checks its manifest and cosimulates it, and cosimulates the JSC-M-shaped
examples (MST-shared on random and correlated weights, and, under ``-m slow``,
unshared: its build takes the longest; 500 samples each, as ``hwgen sim
examples/jsc_m_mst.yaml --count 500 --backpressure 0.3``).
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


def test_manifest_reports_synapse_ops_before_and_after_sharing(mixed, tmp_path):
    from hwgen.cli import main
    assert main(["generate", str(mixed), "-o", str(tmp_path / "out")]) == 0
    layers = json.loads((tmp_path / "out" / "manifest.json").read_text())["layers"]
    fc0, fc1, fc2 = (layer["units"][0] for layer in layers[:3])
    assert fc0["unit"] == "UnrolledMVAU" and fc0["share"] == "mst"
    assert fc0["synapse_ops_unshared"] == 16 * 32 > fc0["synapse_ops"] > 0
    assert fc0["latency"] == 3 + fc0["share_levels"] and layers[0]["cycles_per_sample"] == 1
    assert fc2["share_levels"] <= fc2["share_depth"] == 1 and fc2["latency"] == 2
    assert fc1["unit"] == "MVAU" and "synapse_ops" not in fc1


@pytest.mark.parametrize("name, share", [
    ("jsc_m_mst", "mst"), ("jsc_m_correlated", "mst"),
    pytest.param("jsc_m_unrolled", "none", marks=pytest.mark.slow)])   # 120 s: the unshared build
def test_jsc_m_examples_500_samples_under_backpressure(name, share, tmp_path):
    spec = load(EXAMPLES / f"{name}.yaml")
    assert all(layer.attrs.unroll == "full" and layer.attrs.share == share
               for layer in spec.layers)
    lint_and_cosimulate(name, 500, tmp_path, backpressure=0.3, seed=5)
