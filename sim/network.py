"""Cosimulate a whole network: golden model vs the Verilator build of its generated Verilog.

Shared by ``hwgen sim``, the network tests and the benchmarks, so all three
drive the hardware the same way and report the same figures.
"""

import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

__all__ = ["NetworkCosim", "cosimulate", "edge_samples", "random_samples"]


@dataclass
class NetworkCosim:
    """Outputs and figures of one cosimulation run.

    ``got``/``want`` are ``[N, *output.shape]`` int64 (hardware / golden);
    ``steady_cycles`` is the measured initiation interval (cycles between
    consecutive samples' last output beats) and ``ideal_cycles`` the slowest
    layer's cycles per sample; ``latency`` counts cycles from the first input
    beat of sample 0 to its last output beat.
    """
    got: np.ndarray
    want: np.ndarray
    steady_cycles: float
    ideal_cycles: int
    latency: int
    seconds: float
    work_dir: Path
    build_seconds: float

    @property
    def mismatched_samples(self) -> np.ndarray:
        return np.flatnonzero((self.got != self.want).reshape(len(self.got), -1).any(axis=1))

    @property
    def mismatches(self) -> int:
        return len(self.mismatched_samples)

    @property
    def throughput(self) -> float:
        """Ideal / measured cycles per sample (1.0 = no bubbles)."""
        return self.ideal_cycles / self.steady_cycles

    @property
    def samples_per_second(self) -> float:
        return len(self.got) / self.seconds


def random_samples(spec, count, seed=0) -> np.ndarray:
    """``count`` uniform random inputs ``[count, *input.shape]`` (binary: -1/+1), int64."""
    t = spec.input
    rng = np.random.default_rng(seed)
    if t.binary:
        return rng.choice(np.array([-1, 1], dtype=np.int64), size=(count, *t.shape))
    return rng.integers(t.lo, t.hi, size=(count, *t.shape), endpoint=True, dtype=np.int64)


def edge_samples(spec) -> np.ndarray:
    """All-max, all-min and alternating inputs (binary: all +1, all -1, +-1)."""
    t = spec.input
    lo, hi = (-1, 1) if t.binary else (t.lo, t.hi)
    alternating = np.resize(np.array([lo, hi], dtype=np.int64), t.size).reshape(t.shape)
    return np.stack([np.full(t.shape, hi, np.int64), np.full(t.shape, lo, np.int64),
                     alternating, -alternating if t.binary else alternating[..., ::-1]])


def cosimulate(spec, x, *, design=None, verilog=None, backpressure=0.0, seed=0, waves=False,
               work_dir=None, log=print) -> NetworkCosim:
    """Run ``x`` ``[N, *input.shape]`` through golden and hardware; return both outputs.

    ``design`` and its ``verilog`` may be passed in when the caller already
    elaborated them (elaborating a large network takes tens of seconds).
    """
    from hwgen.export import to_verilog
    from hwgen.layout import from_beats, to_beats
    from hwgen.network import build_network
    from sw_reference.network import run
    from .cosim import run_stream
    from .verilator import build

    want = run(spec, x)
    design = design or build_network(spec)
    started = time.perf_counter()
    verilog = verilog or to_verilog(design.top, spec.name)
    build_dir = build(verilog, spec.name, waves=waves, log=log)
    build_seconds = time.perf_counter() - started
    frames = to_beats(x, spec.input.shape, design.in_per_beat, design.in_bits)
    started = time.perf_counter()
    latency_bound = sum(hw.cycles_per_sample + 8 * len(hw.units) for hw in design.layers) \
        + 4 * (design.in_beats + design.out_beats) + 64
    result = run_stream(build_dir, spec.name, frames, backpressure=backpressure, seed=seed,
                        waves=waves, work_dir=work_dir, cycles_per_sample=design.ideal_cycles,
                        latency_bound=latency_bound)
    seconds = time.perf_counter() - started
    got = from_beats(result.received, spec.output.shape, design.out_per_beat,
                     design.out_bits, design.out_signed)
    return NetworkCosim(got, want, result.steady_cycles_per_sample(design.out_beats),
                        design.ideal_cycles, result.latency(design.out_beats, design.in_beats),
                        seconds, result.log_path.parent, build_seconds)
