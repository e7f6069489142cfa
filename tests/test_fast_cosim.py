"""The fast cosimulation path (sim/harness.py, sim/fast.py, sim/tb_fast.py) against the cocotbext one.

Packing and sample drawing first (no simulator), then Verilator runs: the
two drivers agree on the same design and samples (same outputs; without
backpressure the same cycle of every sample's last beat), a run with tiny
memory halves streams samples across many reloads, the pause generators
honour the requested probability, and a wrong output, a one-token bug in a
unit (caught by both drivers alike), a hung design and a wrong beat count
are reported.
"""

import numpy as np
import pytest

import sim.fast
from hwgen.export import to_verilog
from hwgen.network import build_network
from hwgen.spec import load, loads
from sim.harness import harness_verilog
from sim.network import RandomSamples, cosimulate, edge_samples, random_samples
from sim.packing import (beats_to_bits, bits_to_beats, bits_to_hex, hex_to_nibbles,
                         nibbles_to_bits, nibbles_to_uint64, pack, unpack)

from .test_networks import EXAMPLES

# 64 signed 16-bit values, 4 per beat in, 8 per beat out: 16 input and 8 output beats per sample, so with
# memory halves of 8 beats every sample spans two halves on each side.
REQUANT = EXAMPLES / "requant.yaml"


@pytest.mark.parametrize("bits, signed, per_beat, size", [
    (1, False, 7, 20), (4, True, 3, 10), (8, False, 4, 8), (13, True, 5, 11), (32, True, 2, 3)])
def test_array_packing_equals_pack_and_unpack(bits, signed, per_beat, size):
    rng = np.random.default_rng(bits)
    if bits == 1:
        x = rng.choice([-1, 1], (6, size))
    else:
        lo, hi = (-(1 << (bits - 1)), 1 << (bits - 1)) if signed else (0, 1 << bits)
        x = rng.integers(lo, hi, (6, size))
    x[0] = lo if bits > 1 else -1                      # all-min and all-max rows
    x[1] = hi - 1 if bits > 1 else 1
    words = [pack(row[i:i + per_beat], bits) for row in x for i in range(0, size, per_beat)]
    digits = (per_beat * bits + 3) // 4
    text = bits_to_hex(beats_to_bits(x, per_beat, bits), digits)
    assert [int(line, 16) for line in text.split()] == words
    assert all(len(line) == digits for line in text.split())
    back = bits_to_beats(nibbles_to_bits(hex_to_nibbles(text, digits)), per_beat, bits, signed,
                         size)
    np.testing.assert_array_equal(back, x)
    flat = [v for w in words[:-(-size // per_beat)] for v in unpack(w, per_beat, bits, signed)]
    assert flat[:size] == back[0].tolist()


def test_hex_reading_rejects_what_is_not_a_word():
    assert nibbles_to_uint64(hex_to_nibbles(b"ffffffffffffffff\n0000000000000010\n", 16)).tolist() \
        == [2**64 - 1, 16]
    with pytest.raises(ValueError, match="expected lines of 4 hex digits"):
        hex_to_nibbles(b"123\n", 4)
    with pytest.raises(ValueError, match="not a hex word"):
        hex_to_nibbles(b"12x4\n", 4)
    with pytest.raises(ValueError, match=r"binary elements must be -1 or \+1"):
        beats_to_bits(np.array([[0, 1]]), 2, 1)


def test_random_samples_in_chunks_are_random_samples():
    spec = load(EXAMPLES / "int4_cnn.yaml")
    source = RandomSamples(100, 3)
    chunks = list(source.chunks(spec, 7))
    assert [len(c) for c in chunks] == [7] * 14 + [2]
    np.testing.assert_array_equal(np.concatenate(chunks), random_samples(spec, 100, 3))
    with_edges = RandomSamples(10, 3, edges=True)
    assert [len(c) for c in with_edges.chunks(spec, 3)] == [3, 3, 3, 1]
    np.testing.assert_array_equal(with_edges.materialize(spec)[:4], edge_samples(spec))
    np.testing.assert_array_equal(with_edges.materialize(spec)[4:], random_samples(spec, 6, 3))
    assert RandomSamples.from_json(with_edges.to_json()) == with_edges


def test_harness_parameters_are_checked():
    with pytest.raises(ValueError, match="in_beats must be a positive integer, not 0"):
        harness_verilog("top", in_width=8, out_width=8, in_beats=0, out_beats=1)
    with pytest.raises(ValueError, match=r"half_bits must be an integer in \[1, 24\], not 30"):
        harness_verilog("top", in_width=8, out_width=8, in_beats=1, out_beats=1, half_bits=30)
    text = harness_verilog("top", in_width=8, out_width=5, in_beats=3, out_beats=2)
    assert "top dut (" in text and "$readmemh" in text and "$writememh" in text


def test_pause_threshold_and_seeds():
    assert sim.fast.pause_threshold(0.0) == 0
    assert sim.fast.pause_threshold(0.5) == 2**31
    assert sim.fast.pause_threshold(0.3) == round(0.3 * 2**32)
    for bad in (1.0, -0.1):
        with pytest.raises(ValueError, match="backpressure must be in"):
            sim.fast.pause_threshold(bad)
    seeds = {s for seed in range(50) for s in sim.fast.pause_seeds(seed)}
    assert len(seeds) == 100 and 0 not in seeds


@pytest.fixture(scope="module")
def requant():
    spec = load(REQUANT)
    design = build_network(spec)
    return spec, design, to_verilog(design.top, spec.name)


@pytest.fixture
def small_halves(monkeypatch):
    """Memory halves of 8 beats: a few samples reload both memories many times."""
    monkeypatch.setattr(sim.fast, "HALF_BITS", 3)


def test_samples_stream_across_many_memory_halves(requant, small_halves, tmp_path):
    spec, design, verilog = requant
    assert (design.in_beats, design.out_beats) == (16, 8)
    x = RandomSamples(40, 2, edges=True).materialize(spec)
    run = cosimulate(spec, x, design=design, verilog=verilog, backpressure=0.3, seed=4,
                     work_dir=tmp_path, log=lambda *a: None)
    assert run.driver == "fast" and run.mismatches == 0 and len(run.got) == 40
    report = run.report
    assert report["mismatches"] == report["tlast_errors"] == report["extra_beats"] == 0
    # Each side draws a pause every cycle with probability 0.3.
    cycles = report["cycles"]
    for side in ("in_pauses", "out_pauses"):
        assert abs(report[side] / cycles - 0.3) < 0.03, (side, report[side], cycles)


def test_fast_and_cocotbext_drivers_agree(requant, tmp_path):
    """Same outputs; without backpressure every sample ends on the same cycle: the harness
    adds no latency to the cocotbext source and sink it replaces."""
    spec, design, verilog = requant
    x = np.concatenate([edge_samples(spec), random_samples(spec, 26, 5)])
    for backpressure in (0.0, 0.3):
        runs = [cosimulate(spec, x, design=design, verilog=verilog, backpressure=backpressure,
                           seed=1, driver=driver, work_dir=tmp_path / f"{driver}{backpressure}",
                           log=lambda *a: None) for driver in ("fast", "cocotbext")]
        fast, cocotbext = runs
        assert fast.mismatches == cocotbext.mismatches == 0
        np.testing.assert_array_equal(fast.got, cocotbext.got)
        if backpressure == 0:
            np.testing.assert_array_equal(fast.sample_ends, cocotbext.sample_ends)
            assert fast.latency == cocotbext.latency and fast.cycles == cocotbext.cycles


def test_golden_model_runs_in_the_simulator_for_large_counts(requant, small_halves,
                                                              monkeypatch, tmp_path):
    """Above HOST_GOLDEN input elements the samples are drawn and the golden outputs computed
    in the simulator process, chunk by chunk; here forced for a small count."""
    from sw_reference.network import run as golden
    spec, design, verilog = requant
    monkeypatch.setattr(sim.fast, "HOST_GOLDEN", 0)
    source = RandomSamples(12, 7, edges=True)
    run = cosimulate(spec, source, design=design, verilog=verilog, backpressure=0.3,
                     work_dir=tmp_path, log=lambda *a: None)
    assert run.mismatches == 0 and run.report["golden_seconds"] > 0
    np.testing.assert_array_equal(run.want, golden(spec, source.materialize(spec)))


def test_a_wrong_output_is_reported(requant, monkeypatch, tmp_path):
    import sw_reference.network
    spec, design, verilog = requant
    real = sw_reference.network.run

    def off_by_one_in_sample_3(spec, x):
        want = real(spec, x)
        want[3, 5] += 1
        return want
    monkeypatch.setattr(sw_reference.network, "run", off_by_one_in_sample_3)
    run = cosimulate(spec, random_samples(spec, 6, 1), design=design, verilog=verilog,
                     work_dir=tmp_path, log=lambda *a: None)
    assert run.mismatched_samples.tolist() == [3]
    assert run.report["mismatches"] == 1 and run.report["first_mismatches"] == [3]
    assert "1 of 6 samples differ" in (tmp_path / "sim.log").read_text()


def test_a_one_token_bug_in_a_unit_is_caught_by_both_drivers(requant, tmp_path):
    """One token of the requant unit's Verilog planted wrong (lane 3's rounding adder drops
    its increment: it floors where it should round): both drivers report the same samples
    wrong, with the same hardware outputs, and only lane 3's channels differ from the
    golden model."""
    spec, design, verilog = requant
    site = "$signed(half_3) + $signed(2'h1)"
    assert verilog.count(site) == 1, "the requant unit's Verilog changed: plant the bug elsewhere"
    buggy = verilog.replace(site, site.replace("2'h1", "2'h0"))
    x = np.concatenate([edge_samples(spec), random_samples(spec, 16, 9)])
    fast, cocotbext = (cosimulate(spec, x, design=design, verilog=buggy, backpressure=0.3,
                                  seed=2, driver=driver, work_dir=tmp_path / driver,
                                  log=lambda *a: None) for driver in ("fast", "cocotbext"))
    assert fast.mismatches > 0
    np.testing.assert_array_equal(fast.mismatched_samples, cocotbext.mismatched_samples)
    np.testing.assert_array_equal(fast.got, cocotbext.got)
    assert (fast.got != fast.want)[:, 3::4].any() and not (fast.got != fast.want)[:, 0::4].any()


def test_a_missing_output_beat_is_a_hang(requant, tmp_path):
    """A harness told to expect one beat more per sample than the design makes waits for
    the last beat until idle_limit cycles pass, then reports the hang."""
    import dataclasses
    spec, design, verilog = requant
    wrong = dataclasses.replace(design, out_beats=design.out_beats + 1)
    with pytest.raises(RuntimeError, match=r"the design hung: no output beat for \d+ cycles"):
        cosimulate(spec, random_samples(spec, 3, 1), design=wrong, verilog=verilog,
                   work_dir=tmp_path, log=lambda *a: None)


TWO_BEAT_OUTPUT = """name: two_beats
input: {shape: [6], bits: 4, signed: false}
seed: 3
target: {io_bits: 8}
layers:
  - {name: rq, op: requant, bits: 3, signed: true, per_channel: true, pe: 2}
"""


def test_tlast_and_partial_beats(tmp_path):
    """Elements narrower than the word, a last beat that is partly empty: 6 x 4 bits in
    words of 8 bits (3 beats), 6 x 3 bits out (3 beats, 2 elements each)."""
    spec = loads(TWO_BEAT_OUTPUT)
    design = build_network(spec)
    x = np.concatenate([edge_samples(spec), random_samples(spec, 50, 2)])
    run = cosimulate(spec, x, design=design, backpressure=0.5, seed=9, work_dir=tmp_path,
                     log=lambda *a: None)
    assert run.mismatches == 0 and run.report["tlast_errors"] == 0
