"""The fast cosimulation path: a network under Verilator with the memory-backed harness.

:func:`run_fast` runs the Verilator build of :func:`harness_for` (the design
wrapped in :mod:`sim.harness`): it writes a job file and runs the cocotb test
:mod:`sim.tb_fast`, which streams the samples through in memory halves and
compares every sample with the golden model as it comes out.

Golden outputs come from ``sw_reference``: computed here, before the
simulation, for up to ``HOST_GOLDEN`` input elements (an array, or random
samples drawn here), else in the simulator process chunk by chunk, in a
thread beside the simulator. In the simulator process:

- :class:`Feeder` takes the next samples (from ``x.npy`` or the seeded
  random source, :class:`sim.network.RandomSamples`; in the second case it
  runs ``sw_reference`` on them), packs them into beats and hands out one
  memory half of hex lines at a time;
- :class:`Collector` unpacks each dumped half of output beats into samples,
  checks ``tlast``, records each sample's last-beat cycle and compares with the
  golden outputs.

Drawn samples, golden outputs and hex lines never sit in memory whole: only
one chunk of samples does, so a run of ten million samples needs no more
memory than one of ten thousand. The hardware and golden outputs are written
to ``got.npy``/``want.npy`` (memory-mapped) in the work folder.
"""

import copyreg
import io
import json
import pickle
import tempfile
import threading
import time
import types
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from hwgen.progress import bar

from .harness import HARNESS_TOP, harness_verilog, hex_digits
from .packing import (beats_to_bits, bits_to_beats, bits_to_hex, nibbles_to_bits,
                      nibbles_to_uint64)

__all__ = ["FastResult", "HARNESS_TOP", "harness_for", "run_fast", "pause_threshold", "pause_seeds",
           "idle_limit"]

HALF_BITS = 15      # memory halves of 32768 beats on each side
HOST_GOLDEN = 2**25  # input elements up to which samples and golden outputs are made up front


@dataclass
class FastResult:
    """What :func:`run_fast` measured; ``got``/``want`` are memory-mapped ``[N, *shape]`` int64."""
    got: np.ndarray
    want: np.ndarray
    ends: np.ndarray          # cycle of each sample's last output beat
    in_first: int             # cycle of the first accepted input beat
    cycles: int               # clock cycles from reset to the last output beat
    mismatches: int
    report: dict              # everything the test wrote (timings, pause counts, ...)
    seconds: float            # wall clock of the simulator process
    log_path: Path


def pause_threshold(probability: float) -> int:
    """32-bit threshold: a side pauses when its generator's top 32 bits are below it."""
    if not 0 <= probability < 1:
        raise ValueError(f"backpressure must be in [0, 1), not {probability!r}")
    return min(round(probability * 2**32), 2**32 - 1)


def _splitmix64(value: int) -> int:
    value = (value + 0x9E3779B97F4A7C15) & (2**64 - 1)
    value = ((value ^ (value >> 30)) * 0xBF58476D1CE4E5B9) & (2**64 - 1)
    value = ((value ^ (value >> 27)) * 0x94D049BB133111EB) & (2**64 - 1)
    return value ^ (value >> 31)


def pause_seeds(seed: int) -> tuple:
    """Nonzero, unrelated xorshift64 seeds of the source and sink pause generators."""
    return tuple(_splitmix64(2 * int(seed) + side) or 1 for side in (0, 1))


def idle_limit(latency_bound: int, cycles_per_sample: int, beats: int, backpressure: float) -> int:
    """Cycles without an output beat after which a design is hung (as sim.tb_axis's timeout)."""
    cycles = (latency_bound + 2 * cycles_per_sample + 4 * beats) / max(1e-3, 1 - backpressure) ** 2
    return 2000 + 2 * int(cycles)


def _dump_spec(spec, path):
    """Pickle a NetworkSpec; its read-only mappings are rebuilt with hwgen's own constructor,
    its layers' typed attributes (dataclasses the op table makes at import, which pickle
    cannot find by name) with the op's ``make_attrs``."""
    import dataclasses

    from hwgen.ops import OPS
    from hwgen.spec.types import frozen_mapping
    buffer = io.BytesIO()
    pickler = pickle.Pickler(buffer, protocol=pickle.HIGHEST_PROTOCOL)
    pickler.dispatch_table = copyreg.dispatch_table.copy()
    pickler.dispatch_table[types.MappingProxyType] = lambda m: (frozen_mapping, (dict(m),))
    for name, op in OPS.items():
        pickler.dispatch_table[op.attrs] = lambda a, name=name: (_make_attrs, (name, {
            f.name: getattr(a, f.name) for f in dataclasses.fields(a)}))
    pickler.dump(spec)
    Path(path).write_bytes(buffer.getvalue())


def _make_attrs(op, values):
    from hwgen.ops import make_attrs
    return make_attrs(op, **values)


def _save_golden(spec, x, work, chunk=65536):
    """``x.npy`` (in the narrowest integer type that holds the input range) and the golden
    outputs ``want.npy``, computed ``chunk`` samples at a time."""
    from numpy.lib.format import open_memmap
    from sw_reference.network import run
    t = spec.input
    dtype = next(d for d in (np.int8, np.int16, np.int32, np.int64)
                 if np.iinfo(d).min <= t.lo and t.hi <= np.iinfo(d).max)
    np.save(work / "x.npy", np.asarray(x).astype(dtype))
    want = open_memmap(work / "want.npy", "w+", np.int64, (len(x), *spec.output.shape))
    for start in range(0, len(x), chunk):
        want[start:start + chunk] = run(spec, np.asarray(x[start:start + chunk], np.int64))
    want.flush()
    del want


def harness_for(design, verilog, name):
    """The design's Verilog followed by the harness around its top ``name`` (1 ns units)."""
    top = design.top
    return "`timescale 1ns/1ps\n" + verilog + "\n" + harness_verilog(
        name, in_width=len(top.s_axis_tdata), out_width=len(top.m_axis_tdata),
        in_beats=design.in_beats, out_beats=design.out_beats, half_bits=HALF_BITS)


def run_fast(spec, design, build_dir, samples, *, backpressure=0.0, seed=0, work_dir=None,
             latency_bound=0) -> FastResult:
    """Stream ``samples`` (an array ``[N, *input.shape]`` or a :class:`~sim.network.RandomSamples`)
    through ``build_dir``, the Verilator build of :func:`harness_for` ``design`` (top ``spec.name``).

    Returns once the simulator process ended; raises RuntimeError if the
    design hung (no output for :func:`idle_limit` cycles) or the test crashed.
    """
    from cocotb_tools.runner import get_runner
    from .verilator import verilator_env

    threshold = pause_threshold(backpressure)
    verilator_env()
    work = (Path(work_dir) if work_dir else Path(tempfile.mkdtemp(prefix="hwgen-sim-"))).resolve()
    work.mkdir(parents=True, exist_ok=True)
    for stale in ("result.json", "got.npy", "want.npy", "ends.npy", "x.npy", PROGRESS_FILE):
        (work / stale).unlink(missing_ok=True)
    _dump_spec(spec, work / "spec.pickle")
    if not isinstance(samples, np.ndarray) and len(samples) * spec.input.size <= HOST_GOLDEN:
        samples = samples.materialize(spec)
    source, count = {"npy": str(work / "x.npy")}, len(samples)
    if count < 1:
        raise ValueError("nothing to simulate: no samples")
    golden_seconds = 0.0
    if isinstance(samples, np.ndarray):
        # Golden outputs from this process, before the simulation (which then measures the
        # simulator alone); it has usually imported torch already, the simulator process
        # then needs neither (importing torch costs it seconds).
        started = time.perf_counter()
        _save_golden(spec, samples, work)
        golden_seconds = time.perf_counter() - started
    else:
        source = samples.to_json()
    in_seed, out_seed = pause_seeds(seed)
    job = {
        "spec": str(work / "spec.pickle"), "source": source, "count": count,
        "layout": {"in_per_beat": design.in_per_beat, "in_bits": design.in_bits,
                   "in_beats": design.in_beats, "in_digits": hex_digits(len(design.top.s_axis_tdata)),
                   "out_per_beat": design.out_per_beat, "out_bits": design.out_bits,
                   "out_signed": bool(design.out_signed), "out_beats": design.out_beats,
                   "out_digits": hex_digits(len(design.top.m_axis_tdata))},
        "half": 1 << HALF_BITS, "in_seed": in_seed, "out_seed": out_seed,
        "in_threshold": threshold, "out_threshold": threshold,
        "idle_limit": idle_limit(latency_bound, design.ideal_cycles,
                                 design.in_beats + design.out_beats, backpressure),
        "folder": str(work),
    }
    (work / "job.json").write_text(json.dumps(job))
    log_path = work / "sim.log"
    started = time.perf_counter()
    try:
        with bar(count, desc="  cosimulating", unit="sample") as shown, \
                _following(work / PROGRESS_FILE, shown):
            get_runner("verilator").test(
                test_module="sim.tb_fast", hdl_toplevel=HARNESS_TOP, hdl_toplevel_lang="verilog",
                build_dir=build_dir, test_dir=work, results_xml=str(work / "results.xml"),
                extra_env={"HWGEN_FAST_JOB": str(work / "job.json"), "OMP_NUM_THREADS": "1"},
                log_file=log_path, seed=seed)
    except SystemExit:
        pass        # under pytest the runner exits when the test failed: result.json says why
    seconds = time.perf_counter() - started
    if not (work / "result.json").exists():
        raise RuntimeError(f"the cocotb test ended without results (crash); see {log_path}")
    report = json.loads((work / "result.json").read_text())
    report["golden_seconds"] += round(golden_seconds, 3)
    if report["hung"]:
        raise RuntimeError(f"the design hung: no output beat for {job['idle_limit']} cycles after "
                           f"{report['samples_out']} of {count} samples came out (cycle "
                           f"{report['cycles']}); see {log_path}")
    return FastResult(np.load(work / "got.npy", mmap_mode="r"),
                      np.load(work / "want.npy", mmap_mode="r"),
                      np.load(work / "ends.npy", mmap_mode="r"), report["in_first"],
                      report["cycles"], report["mismatches"], report, seconds, log_path)


#: the simulator process writes "<samples compared> <mismatches>" here after each output half
PROGRESS_FILE = "progress"


@contextmanager
def _following(path, shown, every=0.5):
    """While the body runs, move the bar ``shown`` to the sample count in ``path`` (nothing
    when the bar is not drawn)."""
    if shown.disable:
        yield
        return
    stop = threading.Event()

    def follow():
        while not stop.wait(every):
            try:
                done, bad = map(int, path.read_text().split())
            except (OSError, ValueError):        # not written yet, or caught mid-write
                continue
            shown.set_postfix(mismatches=bad, refresh=False)
            shown.update(done - shown.n)

    thread = threading.Thread(target=follow, daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join()


# --- the simulator side (run by sim.tb_fast) ---------------------------------------------------

class Job:
    """A job file read back in the simulator process."""

    def __init__(self, path):
        self.__dict__.update(json.loads(Path(path).read_text()))
        self.folder = Path(self.folder)
        with open(self.spec, "rb") as file:
            self.spec = pickle.load(file)
        from .samples import RandomSamples
        if "npy" in self.source:        # golden outputs in want.npy, from the host
            self.samples = np.load(self.source["npy"], mmap_mode="r")
        else:                           # drawn and run through the golden model here
            import torch
            torch.set_num_threads(1)    # the golden model's thread runs beside the simulator's
            self.samples = RandomSamples.from_json(self.source)

    def outputs(self):
        """Memory-mapped got/want ``[N, *output.shape]`` and ends ``[N]``, in the work folder.

        ``want`` is the host's when it computed it, else filled by :class:`Feeder`.
        """
        from numpy.lib.format import open_memmap
        shape = (self.count, *self.spec.output.shape)
        want = (np.load(self.folder / "want.npy", mmap_mode="r") if self.golden_given
                else open_memmap(self.folder / "want.npy", "w+", np.int64, shape))
        return (open_memmap(self.folder / "got.npy", "w+", np.int64, shape), want,
                open_memmap(self.folder / "ends.npy", "w+", np.int64, (self.count,)))

    @property
    def golden_given(self) -> bool:
        return "npy" in self.source


class Feeder:
    """Samples -> golden outputs (into ``want``) and memory halves of input hex lines.

    Each half is prepared in a worker thread while the simulator consumes the
    one before (the simulator runs without Python's lock between callbacks),
    so on two cores the golden model costs no simulation time.
    """

    def __init__(self, job, want):
        from hwgen.layout import to_stream_order
        self._to_stream_order = to_stream_order
        self._job, self._want = job, want
        layout = job.layout
        self._per_beat, self._bits, self._digits = (layout["in_per_beat"], layout["in_bits"],
                                                    layout["in_digits"])
        self._chunk = max(1, job.half // layout["in_beats"])
        self._chunks = self._sample_chunks()
        self._pending = np.zeros((0, self._per_beat * self._bits), np.uint8)
        self._done = 0                  # samples drawn (and their golden outputs computed)
        self.golden_seconds = self.pack_seconds = 0.0
        self._worker = ThreadPoolExecutor(1, thread_name_prefix="hwgen-feeder")
        self._next = self._worker.submit(self._make_half)

    def _sample_chunks(self):
        samples = self._job.samples
        if isinstance(samples, np.ndarray):
            for start in range(0, len(samples), self._chunk):
                yield np.asarray(samples[start:start + self._chunk], dtype=np.int64)
        else:
            yield from samples.chunks(self._job.spec, self._chunk)

    def _more(self):
        spec = self._job.spec
        x = next(self._chunks)
        if not self._job.golden_given:
            from sw_reference.network import run
            started = time.perf_counter()
            self._want[self._done:self._done + len(x)] = run(spec, x)
            self.golden_seconds += time.perf_counter() - started
        self._done += len(x)
        started = time.perf_counter()
        bits = beats_to_bits(self._to_stream_order(x, spec.input.shape), self._per_beat,
                             self._bits)
        self._pending = np.concatenate([self._pending, bits])
        self.pack_seconds += time.perf_counter() - started

    def next_half(self) -> bytes:
        """The next ``half`` input words as hex lines (zero words past the last sample)."""
        text = self._next.result()
        self._next = self._worker.submit(self._make_half)
        return text

    def close(self):
        self._worker.shutdown(cancel_futures=True)

    def _make_half(self) -> bytes:
        half = self._job.half
        while len(self._pending) < half and self._done < self._job.count:
            self._more()
        words, self._pending = self._pending[:half], self._pending[half:]
        started = time.perf_counter()
        if len(words) < half:
            words = np.concatenate([words, np.zeros((half - len(words), words.shape[1]),
                                                    np.uint8)])
        text = bits_to_hex(words, self._digits)
        self.pack_seconds += time.perf_counter() - started
        return text


class Collector:
    """Dumped output halves -> samples into ``got``, last-beat cycles into ``ends``, compared."""

    def __init__(self, job, got, want, ends):
        from hwgen.layout import from_stream_order
        self._from_stream_order = from_stream_order
        self._job, self._got, self._want, self._ends = job, got, want, ends
        layout = job.layout
        self._beats = layout["out_beats"]
        self._shape = job.spec.output.shape
        self._size = int(np.prod(self._shape, dtype=np.int64))
        self._pending = None
        self.samples = self.mismatches = self.tlast_errors = 0
        self.first_mismatches = []
        self.unpack_seconds = 0.0

    def add(self, nibbles):
        """Take ``[M, digits]`` nibbles of M output words (stamp, tlast, data) in order."""
        started = time.perf_counter()
        self._pending = nibbles if self._pending is None else np.concatenate([self._pending,
                                                                               nibbles])
        complete = len(self._pending) // self._beats
        words, self._pending = (self._pending[:complete * self._beats],
                                self._pending[complete * self._beats:])
        if complete:
            self._take(words, complete)
        self.unpack_seconds += time.perf_counter() - started

    def _take(self, words, count):
        layout, start = self._job.layout, self.samples
        stamps = nibbles_to_uint64(words[:, :16]).astype(np.int64)
        tlast = words[:, 16] & 1
        want_tlast = (np.arange(len(words)) % self._beats) == self._beats - 1
        self.tlast_errors += int((tlast != want_tlast).sum())
        data = bits_to_beats(nibbles_to_bits(words[:, 17:]), layout["out_per_beat"],
                             layout["out_bits"], layout["out_signed"], self._size)
        got = self._from_stream_order(data, self._shape)
        self._got[start:start + count] = got
        self._ends[start:start + count] = stamps[self._beats - 1::self._beats]
        want = self._want[start:start + count]
        bad = np.flatnonzero((got != want).reshape(count, -1).any(axis=1))
        self.mismatches += len(bad)
        self.first_mismatches += [int(start + index) for index in bad[:10 - len(self.first_mismatches)]]
        self.samples += count
        (self._job.folder / PROGRESS_FILE).write_text(f"{self.samples} {self.mismatches}")
