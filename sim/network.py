"""Cosimulate a whole network: golden model vs the Verilator build of its generated Verilog.

Shared by ``hwgen sim``, the network tests and the benchmarks, so all three
drive the hardware the same way and report the same figures.
"""

import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .samples import RandomSamples, edge_samples, random_samples

__all__ = ["DRIVERS", "NetworkCosim", "RandomSamples", "cosimulate", "edge_samples",
           "random_samples"]


@dataclass
class NetworkCosim:
    """Outputs and figures of one cosimulation run.

    ``got``/``want`` are ``[N, *output.shape]`` int64 (hardware / golden;
    memory-mapped files in ``work_dir`` on the fast path). ``sample_ends[k]``
    is the cycle, counted from the first accepted input beat, of sample
    ``k``'s last output beat; the figures below derive from it:
    ``steady_cycles`` is the measured initiation interval (cycles between
    consecutive samples' last output beats), ``latency`` the cycles from the
    first input beat of sample 0 to its last output beat, ``cycles`` the
    cycles from the first input beat to the last output beat.
    ``ideal_cycles`` is the slowest layer's cycles per sample. ``seconds`` is
    the wall clock of the simulator process (after the build), ``driver``
    ``"fast"`` (:mod:`sim.fast`) or ``"cocotbext"`` (:mod:`sim.tb_axis`).
    """
    got: np.ndarray
    want: np.ndarray
    sample_ends: np.ndarray
    ideal_cycles: int
    seconds: float
    work_dir: Path
    build_seconds: float
    driver: str = "fast"
    report: dict = None          # the fast path's own figures (timings, pause counts)
    cpu_seconds: float = float("nan")   # CPU time of the simulator process
    lint_warnings: str | None = None     # with ``lint=True``: Verilator -Wall's warnings

    @property
    def cycles_per_cpu_second(self) -> float:
        """Simulated cycles per second of the simulator process's CPU time (on a loaded
        machine the wall clock measures the other processes as much as this one)."""
        return self.cycles / self.cpu_seconds

    @property
    def mismatched_samples(self) -> np.ndarray:
        return np.flatnonzero((self.got != self.want).reshape(len(self.got), -1).any(axis=1))

    @property
    def mismatches(self) -> int:
        return len(self.mismatched_samples)

    @property
    def steady_cycles(self) -> float:
        ends = self.sample_ends
        return float("nan") if len(ends) < 2 else float(ends[-1] - ends[0]) / (len(ends) - 1)

    @property
    def latency(self) -> int:
        return int(self.sample_ends[0]) if len(self.sample_ends) else -1

    @property
    def cycles(self) -> int:
        return int(self.sample_ends[-1]) + 1 if len(self.sample_ends) else 0

    @property
    def throughput(self) -> float:
        """Ideal / measured cycles per sample (1.0 = no bubbles)."""
        return self.ideal_cycles / self.steady_cycles

    @property
    def samples_per_second(self) -> float:
        return len(self.got) / self.seconds

    @property
    def cycles_per_second(self) -> float:
        """Simulated clock cycles per second of wall clock (after the build)."""
        return self.cycles / self.seconds


DRIVERS = ("fast", "cocotbext")


def cosimulate(spec, x, *, design=None, verilog=None, backpressure=0.0, seed=0, waves=False,
               work_dir=None, log=print, driver=None, lint=False) -> NetworkCosim:
    """Run ``x`` through golden and hardware; return both outputs and the cycle figures.

    ``x`` is ``[N, *input.shape]`` or a :class:`RandomSamples` (drawn chunk by
    chunk on the fast path, so ``N`` is not bounded by memory). ``design``
    and its ``verilog`` may be passed in when the caller already elaborated
    them (elaborating a large network takes tens of seconds).

    ``driver``: ``"fast"`` (default; :mod:`sim.fast`, the memory-backed
    harness, pauses from Verilog generators) or ``"cocotbext"``
    (:mod:`sim.tb_axis`, cocotbext-axi source and sink; the default with
    ``waves``, which only it writes). ``lint``: Verilator builds the design
    with ``-Wall`` and hwgen's waivers (:func:`sim.verilator.lint`'s check, in
    the build's own parse); the result's ``lint_warnings`` holds what it said.
    """
    import dataclasses

    from hwgen.export import to_verilog
    from hwgen.network import build_network
    from .verilator import build, quick_build_pays

    driver = driver or ("cocotbext" if waves else "fast")
    if driver not in DRIVERS:
        raise ValueError(f"driver must be one of {DRIVERS}, not {driver!r}")
    if waves and driver != "cocotbext":
        raise ValueError("waves are written by the cocotbext driver only")
    if not 0 <= backpressure < 1:
        raise ValueError(f"backpressure must be in [0, 1), not {backpressure!r}")
    design = design or build_network(spec)
    started = time.perf_counter()
    verilog = verilog or to_verilog(design.top, spec.name)
    # Each side pauses with probability ``backpressure``: a run takes about this many cycles.
    quick = quick_build_pays(len(x) * max(design.ideal_cycles, 1) / (1 - backpressure))
    latency_bound = sum(hw.cycles_per_sample + 8 * len(hw.units) for hw in design.layers) \
        + 4 * (design.in_beats + design.out_beats) + 64
    if driver == "fast":
        from .fast import HARNESS_TOP, harness_for, run_fast
        build_dir = build(harness_for(design, verilog, spec.name), HARNESS_TOP, harness=True,
                          quick=quick, lint=lint, log=log)
        build_seconds = time.perf_counter() - started
        cpu = _children_cpu()
        result = run_fast(spec, design, build_dir, x, backpressure=backpressure, seed=seed,
                          work_dir=work_dir, latency_bound=latency_bound)
        run = NetworkCosim(result.got, result.want, np.asarray(result.ends) - result.in_first,
                           design.ideal_cycles, result.seconds, result.log_path.parent,
                           build_seconds, "fast", result.report, _children_cpu() - cpu)
    else:
        build_dir = build(verilog, spec.name, waves=waves, quick=quick, lint=lint, log=log)
        build_seconds = time.perf_counter() - started
        run = _cosimulate_cocotbext(spec, design, build_dir, x, backpressure, seed, waves,
                                    work_dir, latency_bound, build_seconds)
    if lint:
        run = dataclasses.replace(run, lint_warnings=(build_dir / "lint.log").read_text())
    return run


def _cosimulate_cocotbext(spec, design, build_dir, x, backpressure, seed, waves, work_dir,
                          latency_bound, build_seconds):
    from hwgen.layout import from_beats, to_beats
    from sw_reference.network import run
    from .cosim import run_stream

    if isinstance(x, RandomSamples):
        x = x.materialize(spec)
    want = run(spec, x)
    frames = to_beats(x, spec.input.shape, design.in_per_beat, design.in_bits)
    started, cpu = time.perf_counter(), _children_cpu()
    result = run_stream(build_dir, spec.name, frames, backpressure=backpressure, seed=seed,
                        waves=waves, work_dir=work_dir, cycles_per_sample=design.ideal_cycles,
                        latency_bound=latency_bound)
    seconds, cpu = time.perf_counter() - started, _children_cpu() - cpu
    got = from_beats(result.received, spec.output.shape, design.out_per_beat,
                     design.out_bits, design.out_signed)
    first = result.in_stamps[0] if result.in_stamps else 0
    ends = np.array(result.out_stamps[design.out_beats - 1::design.out_beats], np.int64) - first
    return NetworkCosim(got, want, ends, design.ideal_cycles, seconds, result.log_path.parent,
                        build_seconds, "cocotbext", cpu_seconds=cpu)


def _children_cpu() -> float:
    """CPU seconds used by this process's finished children (the simulator runs as one)."""
    import resource
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime
