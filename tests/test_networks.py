"""Whole networks under Verilator: bit-exact against the golden model, no bubbles, lint clean.

Each network is elaborated once; its Verilog is linted, then cosimulated on
the fast path (sim/fast.py: the Verilog harness streams the samples, with 30 %
random pauses on both AXI4-Stream sides); the cocotbext-axi path is checked
against the fast one in tests/test_fast_cosim.py. CI runs every example
network: these runs are a few hundred thousand cycles at most, so they take
Verilator's quick build (sim.verilator.quick_build_pays).
"""

from pathlib import Path

import numpy as np
import pytest
import yaml

from hwgen.export import to_verilog
from hwgen.network import build_network
from hwgen.spec import load
from sim.network import cosimulate, edge_samples, random_samples

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"
#: not an example (benchmarks/fmax.py measures it): three binary layers with odd foldings
ODD_MLP = EXAMPLES.parent / "benchmarks" / "odd_mlp.yaml"
SFC = ["sfc_balanced", "sfc_mixed", "sfc_comb", "sfc_narrow", "sfc_deep", "sfc_fast",
       "sfc_unrolled_tail"]


def samples(spec, count, seed):
    """Edge-case samples first, then random ones."""
    return np.concatenate([edge_samples(spec), random_samples(spec, count, seed)])[:count]


def lint_and_cosimulate(name, count, tmp_path, *, spec=None, **kwargs):
    """Lint (``-Wall`` with hwgen's waivers, in the Verilator build) and cosimulate an example
    (or ``spec``)."""
    spec = spec or load(EXAMPLES / f"{name}.yaml")
    design = build_network(spec)
    verilog = to_verilog(design.top, spec.name)
    run = cosimulate(spec, samples(spec, count, seed=1), design=design, verilog=verilog,
                     work_dir=tmp_path / "sim", log=lambda *a: None, lint=True, **kwargs)
    assert run.lint_warnings == "", run.lint_warnings[:3000]
    bad = run.mismatched_samples
    assert len(bad) == 0, (f"{len(bad)} of {len(run.got)} samples differ; first {bad[0]}: "
                           f"hardware {run.got[bad[0]].ravel()[:16]} "
                           f"golden {run.want[bad[0]].ravel()[:16]}")
    assert len(run.got) == count
    run.design, run.verilog = design, verilog      # for a second run without re-elaborating
    return run


@pytest.mark.parametrize("name", SFC)
def test_sfc_folding_bit_exact_under_backpressure(name, tmp_path):
    lint_and_cosimulate(name, 200, tmp_path, backpressure=0.3, seed=5)


def test_lfc_bit_exact_under_backpressure(tmp_path):
    lint_and_cosimulate("lfc", 20, tmp_path, backpressure=0.3, seed=6)


@pytest.mark.parametrize("name", ["int8_mlp", "ternary_mlp"])
def test_integer_mlp_bit_exact_under_backpressure(name, tmp_path):
    """Integer (8-bit weights, int32 bias, per-channel requant) and ternary MVAUs end to end."""
    lint_and_cosimulate(name, 200, tmp_path, backpressure=0.3, seed=7)


def test_int4_cnn_bit_exact_under_backpressure(tmp_path):
    """conv2d on 4-bit pixels with padding, max pool, flatten into an integer dense layer."""
    lint_and_cosimulate("int4_cnn", 20, tmp_path, backpressure=0.3, seed=8)


TOKENS = """name: tokens
input: {shape: [3, 12], bits: 8, signed: true}
seed: 4
layers:
  - {name: fc1, op: dense, out_features: 6, weight_bits: 5, bias: true, pe: 2, simd: 4,
     activation: {op: requant, bits: 4, signed: false, per_channel: true}}
  - {name: fc2, op: dense, out_features: 5, weight_type: ternary, pe: 5, simd: 3, pipeline: 0}
  - {name: bn, op: binary_dense, out_features: 4, pe: 2, simd: 5}
"""


def test_dense_on_token_rows_in_amaranth_sim():
    """[T, K] inputs: each of T rows is one MVAU vector (integer, ternary, binary on integers)."""
    from hwgen.spec import loads
    spec = loads(TOKENS)
    core_matches_golden(spec, build_network(spec), samples(spec, 4, seed=2))


def core_matches_golden(spec, design, x, stall=0.3, seed=1):
    """Stream ``x`` through the design's core in Amaranth's simulator, both sides stalling at
    random ``stall`` of the cycles, and compare every output with the golden model."""
    from hwgen.layout import from_beats, to_beats
    from sim.amaranth_streams import simulate_stream
    from sw_reference.network import run
    words = [w for f in to_beats(x, spec.input.shape, design.in_per_beat, design.in_bits)
             for w in f]
    got = simulate_stream(design.top.core, words, design.out_beats * len(x), stall=stall,
                          seed=seed)
    frames = [got[n:n + design.out_beats] for n in range(0, len(got), design.out_beats)]
    np.testing.assert_array_equal(
        from_beats(frames, spec.output.shape, design.out_per_beat, design.out_bits,
                   design.out_signed), run(spec, x))


def test_tiny_bnn_streams_without_bubbles(tmp_path):
    """No backpressure: the measured initiation interval is the slowest layer's NF*SF."""
    run = lint_and_cosimulate("tiny_bnn", 300, tmp_path)
    assert run.steady_cycles <= run.ideal_cycles * 1.02, (run.steady_cycles, run.ideal_cycles)


@pytest.mark.parametrize("path", [EXAMPLES / "tiny_bnn.yaml", ODD_MLP, EXAMPLES / "int4_cnn.yaml",
                                  EXAMPLES / "int8_mlp.yaml", EXAMPLES / "residual_mlp.yaml",
                                  EXAMPLES / "attention_mini.yaml"],
                         ids=lambda p: p.stem)
def test_networks_as_placed_at_200_mhz_bit_exact(path, tmp_path):
    """The designs benchmarks/fmax.py places: ``clock_mhz: 200`` (and an example's device the
    LFE5U-85F speed 8), whose delay model picks other pipeline depths than the YAML's own
    target. odd_mlp is not an example: three binary layers with foldings sharing no factor.
    int4_cnn's requants take their product in one registered MULT18X18D tile there, with
    narrowed multipliers and a barrel shift over the lane's spread of shifts only;
    int8_mlp's in 2 x 2 tiles, three operands (two tiles' products concatenated) summed in
    one stage, cut in two carry chains; residual_mlp's 4-PE layers read the input slice from a
    register per pair of PEs (``slice_copies``). attention_mini's join FIFOs of two samples
    are block RAM read behind a credit queue (StreamFIFO ``block_ram``)."""
    raw = yaml.safe_load(path.read_text())
    raw.setdefault("target", {})["clock_mhz"] = 200
    if path != ODD_MLP:
        raw["target"]["device"] = "ecp5-85k-8"
    (tmp_path / path.name).write_text(yaml.safe_dump(raw))
    lint_and_cosimulate(path.stem, 100, tmp_path, spec=load(tmp_path / path.name),
                        backpressure=0.3, seed=9)


def test_sfc_balanced_as_placed_at_200_mhz_bit_exact_and_keeps_its_rate(tmp_path):
    """sfc_balanced as benchmarks/fmax.py places it: its 64 -> 49-lane input converter goes
    through narrow rings (fc0 reads a vector in one of its 16 folds, from a FIFO), bit-exact
    under 30 % pauses and, without pauses, still one sample per fc0's NF * SF = 256 cycles."""
    raw = yaml.safe_load((EXAMPLES / "sfc_balanced.yaml").read_text())
    raw["target"].update(clock_mhz=200, device="ecp5-85k-8")
    (tmp_path / "sfc_balanced.yaml").write_text(yaml.safe_dump(raw))
    spec = load(tmp_path / "sfc_balanced.yaml")
    run = lint_and_cosimulate("sfc_balanced", 40, tmp_path, spec=spec, backpressure=0.3,
                              seed=4)
    assert isinstance(run.design.glue[1].via, tuple)       # the narrow chain is under test
    free = cosimulate(spec, samples(spec, 12, seed=3), design=run.design, verilog=run.verilog,
                      work_dir=tmp_path / "free", log=lambda *a: None)
    assert free.mismatches == 0
    assert free.steady_cycles <= free.ideal_cycles * 1.02, (free.steady_cycles,
                                                            free.ideal_cycles)


def test_same_network_gives_same_verilog():
    first = build_network(load(EXAMPLES / "tiny_bnn.yaml"))
    second = build_network(load(EXAMPLES / "tiny_bnn.yaml"))
    assert to_verilog(first.top, "n") == to_verilog(second.top, "n")


def test_io_bits_narrower_than_an_element_is_bad_input(tmp_path, capsys):
    from hwgen.cli import main
    net = tmp_path / "wide.yaml"
    net.write_text("name: wide\ninput: {shape: [4], bits: 16, signed: true}\nseed: 0\n"
                   "target: {io_bits: 8}\nlayers:\n  - {name: rq, op: requant, bits: 8}\n")
    assert main(["generate", str(net), "-o", str(tmp_path / "out")]) == 2
    assert "target.io_bits (8) is narrower than one input element (16 bits)" in capsys.readouterr().err
    assert not (tmp_path / "out").exists()


def test_verilog_does_not_depend_on_the_hash_seed(tmp_path):
    """Byte-identical Verilog from separate processes with different PYTHONHASHSEEDs."""
    import os
    import subprocess
    import sys
    script = ("import sys, hashlib; from hwgen.spec import load; from hwgen.network import "
              "build_network; from hwgen.export import to_verilog; s = load(sys.argv[1]); "
              "print(hashlib.sha256(to_verilog(build_network(s).top, s.name).encode()).hexdigest())")
    digests = set()
    for seed in ("1", "2"):
        env = dict(os.environ, PYTHONHASHSEED=seed)
        out = subprocess.run([sys.executable, "-c", script, str(EXAMPLES / "sfc_mixed.yaml")],
                             env=env, capture_output=True, text=True, check=True).stdout
        digests.add(out.strip())
    assert len(digests) == 1 and all(len(digest) == 64 for digest in digests), digests


def test_cnv_ci_bit_exact_and_keeps_up(tmp_path):
    """CNV-shaped binary convolutions, pooling and flatten: bit-exact under 30 % pauses on
    both sides; then, without pauses, the SWGs keep their MVAUs busy (>= 0.95 of ideal)."""
    run = lint_and_cosimulate("cnv_ci", 12, tmp_path, backpressure=0.3, seed=7)
    spec = load(EXAMPLES / "cnv_ci.yaml")
    free = cosimulate(spec, random_samples(spec, 4, seed=8), design=run.design,
                      verilog=run.verilog, work_dir=tmp_path / "free", log=lambda *a: None)
    assert free.mismatches == 0
    assert free.throughput >= 0.95, (free.steady_cycles, free.ideal_cycles)


def test_cnv_bit_exact_under_backpressure(tmp_path):
    """FINN's CNV shape and cnvW1A1 folding, 8-bit pixels into conv0."""
    lint_and_cosimulate("cnv", 10, tmp_path, backpressure=0.3, seed=9)


def test_residual_mlp_bit_exact_under_backpressure(tmp_path):
    """A fork (the input read by fc1 and by the add) and a join (AddStreams) in one network."""
    lint_and_cosimulate("residual_mlp", 200, tmp_path, backpressure=0.3, seed=10)


def test_attention_bit_exact_under_backpressure(tmp_path):
    """Q, K, V from one forked input, QK^T and AV MatMuls per head, Shiftmax, residual add."""
    lint_and_cosimulate("attention_mini", 20, tmp_path, backpressure=0.3, seed=11)


def test_ivit_block_bit_exact_under_backpressure(tmp_path):
    """The whole integer encoder block of examples/ivit_block.yaml (issue #6): 20 samples."""
    lint_and_cosimulate("ivit_block", 20, tmp_path, backpressure=0.3, seed=12)
