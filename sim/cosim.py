"""Run a stream job on a Verilator build of an AXI4-Stream top and read back the results."""

import json
import tempfile
from dataclasses import dataclass
from pathlib import Path

__all__ = ["StreamResult", "run_stream", "cosimulate_unit"]


@dataclass
class StreamResult:
    """What the hardware produced for a stream job.

    ``received[k]`` is the list of output words of sample ``k``; the stamps
    are cycle numbers (after reset) of every accepted input/output beat.
    """
    received: list
    in_stamps: list
    out_stamps: list
    passed: bool
    log_path: Path

    def cycles_per_sample(self, samples: int) -> float:
        """Average cycles between consecutive samples, first input to last output."""
        if not self.out_stamps or not self.in_stamps:
            return float("nan")
        return (self.out_stamps[-1] - self.in_stamps[0] + 1) / samples

    def steady_cycles_per_sample(self, out_beats: int) -> float:
        """Cycles between the last output beats of consecutive samples, averaged.

        Pipeline fill and drain drop out, so this is the initiation interval
        to compare with a design's ideal cycles per sample.
        """
        ends = self.out_stamps[out_beats - 1::out_beats]
        if len(ends) < 2:
            return float("nan")
        return (ends[-1] - ends[0]) / (len(ends) - 1)

    def latency(self, out_beats: int, in_beats: int) -> int:
        """Cycles from the first input beat to the last output beat of sample 0 (-1: no data)."""
        if len(self.out_stamps) < out_beats or not self.in_stamps:
            return -1
        return self.out_stamps[out_beats - 1] - self.in_stamps[0]


def run_stream(build_dir, toplevel, frames, *, expected=None, backpressure=0.0, seed=0,
               waves=False, work_dir=None, cycles_per_sample=0, latency_bound=0) -> StreamResult:
    """Stream ``frames`` (a list of per-sample word lists) through the design.

    A design with several AXI4-Stream slaves (a two-input unit's ``s_axis_a``,
    ``s_axis_b``) takes a dict ``{port: frames}`` keyed by the unit's input
    stream names (``{"a": [...], "b": [...]}``), the same number of samples
    on each; every port gets its own source with its own random pauses.

    ``expected`` (same structure) makes the cocotb test fail on any
    difference; the caller compares ``received`` itself for a detailed report.
    ``cycles_per_sample`` and ``latency_bound`` (the design's ideal interval
    and a bound on one sample's latency) size the testbench's timeout, so a
    slow design is not mistaken for a hung one.
    """
    from cocotb_tools.runner import get_results, get_runner
    from hwgen.top import slave_prefix
    from .verilator import verilator_env

    if not 0 <= backpressure < 1:
        raise ValueError(f"backpressure must be in [0, 1), not {backpressure!r}")
    inputs = frames if isinstance(frames, dict) else {"i": frames}
    samples = {port: len(port_frames) for port, port_frames in inputs.items()}
    if len(set(samples.values())) != 1:
        raise ValueError(f"every input port needs the same number of samples, not {samples}")
    verilator_env()
    work = (Path(work_dir) if work_dir else Path(tempfile.mkdtemp(prefix="hwgen-sim-"))).resolve()
    work.mkdir(parents=True, exist_ok=True)
    job_path, result_path = work / "job.json", work / "result.json"
    result_path.unlink(missing_ok=True)
    job_path.write_text(json.dumps({
        "frames": {slave_prefix(port): [[int(w) for w in f] for f in port_frames]
                   for port, port_frames in inputs.items()},
        "expected": None if expected is None else [[int(w) for w in f] for f in expected],
        "backpressure": float(backpressure), "seed": int(seed),
        "cycles_per_sample": int(cycles_per_sample), "latency_bound": int(latency_bound),
        "result_path": str(result_path),
    }))
    runner = get_runner("verilator")
    log_path = work / "sim.log"
    results_xml = runner.test(
        test_module="sim.tb_axis", hdl_toplevel=toplevel, hdl_toplevel_lang="verilog",
        build_dir=build_dir,
        test_dir=work, extra_env={"HWGEN_SIM_JOB": str(job_path)}, waves=waves,
        results_xml=str(work / "results.xml"), log_file=log_path, seed=seed,
    )
    _, failed = get_results(results_xml)
    if not result_path.exists():
        raise RuntimeError(f"the cocotb test ended without results (timeout or crash); "
                           f"see {log_path}")
    result = json.loads(result_path.read_text())
    return StreamResult(result["received"], result["in_stamps"], result["out_stamps"],
                        passed=failed == 0, log_path=log_path)


def cosimulate_unit(unit, name, frames, *, out_beats, backpressure=0.0, seed=0):
    """Wrap one unit in an :class:`~hwgen.top.AxiStreamTop`, build it (cached) and stream ``frames``.

    The unit tests' path to Verilator: ``name`` is the Verilog top module,
    ``out_beats`` the unit's output beats per sample (for ``tlast``). A unit
    with input streams ``a``, ``b`` takes ``frames`` as a dict
    ``{"a": [...], "b": [...]}`` (see :func:`run_stream`).
    """
    from hwgen.export import to_verilog
    from hwgen.top import AxiStreamTop
    from .verilator import build

    verilog = to_verilog(AxiStreamTop(unit, out_beats=out_beats), name)
    # A unit's cosim runs at cocotb's pace, a few thousand cycles: the quick build pays.
    build_dir = build(verilog, name, quick=True, log=lambda *args: None)
    return run_stream(build_dir, name, frames, backpressure=backpressure, seed=seed)
