"""One point of a sweep, as a task: generate, synthesise (cached), place and route,
cosimulate; the record of its figures (:func:`run_point`).

This is the part of the sweep that calls the cosimulation harness
(``sim.network.cosimulate``, for ``--sim N``), so it sits with the command
line above ``sim``. Synthesis reports are cached under ``$HWGEN_CACHE/synth``
(default ``~/.cache/hwgen/synth``, next to the Verilator builds), keyed by
the Verilog, family, device, tool versions and, for place and route, the
clock and router, so workers of one machine (or of a shared home) never
synthesise the same design twice.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import shutil
import socket
import tempfile
import time
from pathlib import Path

import yaml

from sim.verilator import cache_root      # the synthesis cache sits next to the Verilator builds

__all__ = ["run_point", "cache_root"]

#: a point's error text is cut to this many characters in the record
_ERROR_CHARS = 2000


def run_point(task):
    """Generate, synthesise (and place, route, cosimulate) one point; return its record.

    ``task`` comes from :meth:`Sweep.task`. Never raises for a point that fails:
    the record's ``status`` is ``"failed"`` and ``error`` says why, so a sweep
    goes on. A cosimulation with mismatches gives ``status == "mismatch"``.
    The point's folder (YAML, Verilog, synthesis logs) is written under a
    temporary name and renamed when the task ends, so a task that a killed
    worker left behind never mixes its files with those of its retry.
    """
    started = time.monotonic()
    record = {"key": task["key"], "params": task["params"], "status": "ok", "error": None,
              "worker": f"{socket.gethostname()}:{os.getpid()}"}
    keep = task["work_dir"]
    if keep:
        Path(keep).parent.mkdir(parents=True, exist_ok=True)
        staging = Path(tempfile.mkdtemp(prefix=f".{Path(keep).name}.", dir=Path(keep).parent))
        os.chmod(staging, 0o755)            # mkdtemp makes it private; the results are not
    else:
        staging = Path(tempfile.mkdtemp(prefix="hwgen-sweep-"))
    record["seconds"] = {}
    try:
        _run_point(task, staging, record)
    except Exception as error:              # the point failed; the sweep goes on
        record["status"] = "failed"
        text = f"{type(error).__name__}: {error}"
        record["error"] = text if len(text) <= _ERROR_CHARS else "..." + text[-_ERROR_CHARS:]
    record["seconds"]["total"] = round(time.monotonic() - started, 1)
    record["finished"] = time.strftime("%Y-%m-%dT%H:%M:%S%z")
    if keep:
        (staging / "record.json").write_text(json.dumps(record, indent=2) + "\n")
        if Path(keep).exists():
            shutil.rmtree(keep)
        os.replace(staging, keep)
        record["dir"] = keep
    else:
        shutil.rmtree(staging, ignore_errors=True)
        record["dir"] = None
    return record


def _run_point(task, work, record):
    from ..export import to_verilog
    from ..network import build_network
    from ..plan import auto_fold
    from ..spec import load
    from ..synth import parse_device

    seconds = record["seconds"]
    log = open(work / "log.txt", "a")

    def progress(message):
        log.write(message + "\n")
        log.flush()

    try:
        tick = time.monotonic()
        text = task["text"]
        if task["weights"] is not None:          # a remote worker: the npz came with the task
            text = _with_local_weights(text, task["weights"])
        (work / "net.yaml").write_text(text)
        family = task["family"]
        if task["max_lut"] is not None:
            spec, design, summary = auto_fold(work / "net.yaml", task["max_lut"],
                                              {"ice40": "ecp5"}.get(family, family))
            record["fold"] = {"max_lut": task["max_lut"], "lut_estimate": summary["lut"],
                              "stop": summary["stop"]}
        else:
            spec = load(work / "net.yaml")
            design = build_network(spec)
        record["network"] = spec.name
        record["folding"] = {layer.name: [layer.pe, layer.simd] for layer in spec.layers}
        verilog = to_verilog(design.top, spec.name)
        (work / f"{spec.name}.v").write_text(verilog)
        seconds["generate"] = round(time.monotonic() - tick, 1)
        device = parse_device(family, task["device"])
        if device.note:
            record["note"] = device.note
        record.update(family=family, device=device.name, clock_mhz=spec.target.clock_mhz,
                      ideal_cycles=design.ideal_cycles)
        report, cached = _synthesize_cached(work, spec, design, verilog, device, task, progress)
        seconds.update({k: v for k, v in report["seconds"].items() if k != "total"})
        record["synth_cached"] = cached
        total = report["total"]
        record.update({k: total[k] for k in ("lut", "lutram", "lut_total", "ff", "bram", "dsp")})
        record["fmax_mhz"] = report["pnr"]["fmax_mhz"] if report.get("pnr") else None
        if report.get("pnr") and report["pnr"].get("critical_path"):
            path = report["pnr"]["critical_path"]
            record["critical_path"] = f"{path['from_layer']} -> {path['to_layer']}"
        record["latency_cycles"] = sum(hw.cycles_per_sample for hw in design.layers)
        record["latency_source"] = "estimate: sum of the layers' cycles per sample"
        record["cycles_per_sample"] = design.ideal_cycles
        record["cycles_source"] = "ideal: the slowest layer's cycles per sample"
        record["mismatches"] = record["samples"] = None
        if task["sim"]:
            tick = time.monotonic()
            _cosimulate(spec, design, verilog, task["sim"], work, record, progress)
            seconds["sim"] = round(time.monotonic() - tick, 1)
        _figures(record)
    finally:
        log.close()


def _with_local_weights(text, weights):
    """``text`` with its weights pointing at a copy of ``weights`` (bytes) in the cache."""
    digest = hashlib.sha256(weights).hexdigest()
    path = cache_root() / "sweep-weights" / f"{digest}.npz"
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, temp = tempfile.mkstemp(dir=path.parent, suffix=".npz")
        with os.fdopen(fd, "wb") as file:
            file.write(weights)
        os.replace(temp, path)
    tree = yaml.safe_load(text)
    tree["weights"] = str(path)
    return text.split("\n", 1)[0] + "\n" + yaml.safe_dump(tree, sort_keys=False,
                                                          default_flow_style=None, width=100)


def _owners(design):
    """Layer name of each unit of the core's chain, "(glue)" for what the composition adds."""
    names = {id(unit): hw.layer.name for hw in design.layers for unit in hw.units}
    return [names.get(id(unit), "(glue)") for unit in design.top.core.units]


def _synthesize_cached(work, spec, design, verilog, device, task, progress):
    """(report, from the cache?) of ``hwgen.synth.synthesize`` for this Verilog and device."""
    from ..synth import check_tools, synthesize

    pnr = task["pnr"]
    owners = _owners(design)
    key = hashlib.sha256(json.dumps({
        "verilog": hashlib.sha256(verilog.encode()).hexdigest(), "top": spec.name,
        "family": device.family, "device": [device.name, *device.nextpnr_args],
        "owners": owners, "tools": check_tools(device.family, pnr), "pnr": pnr,
        "clock_mhz": spec.target.clock_mhz if pnr else None,
        "router": task["router"] if pnr else None}, sort_keys=True).encode()).hexdigest()
    cached = cache_root() / "synth" / key[:32] / "report.json"
    if cached.is_file():
        report = json.loads(cached.read_text())
        (work / "synth").mkdir(exist_ok=True)
        (work / "synth" / "report.json").write_text(json.dumps(report, indent=2) + "\n")
        progress(f"synthesis report from the cache: {cached}")
        return report, True
    report = synthesize(work / f"{spec.name}.v", spec.name, device.family, work / "synth",
                        device=device, clock_mhz=spec.target.clock_mhz, pnr=pnr,
                        owners=owners, progress=progress, router=task["router"])
    cached.parent.mkdir(parents=True, exist_ok=True)
    fd, temp = tempfile.mkstemp(dir=cached.parent, suffix=".json")
    with os.fdopen(fd, "w") as file:
        file.write(json.dumps(report, indent=2) + "\n")
    os.replace(temp, cached)                   # concurrent workers write the same content
    return report, False


def _cosimulate(spec, design, verilog, count, work, record, progress):
    """Cosimulate ``count`` random samples (seed 0) and put the measured figures in ``record``."""
    from sim.network import cosimulate, random_samples

    x = random_samples(spec, count, 0)
    run = cosimulate(spec, x, design=design, verilog=verilog, work_dir=work / "sim",
                     log=progress)
    record["samples"] = int(len(x))
    record["mismatches"] = int(run.mismatches)
    if not math.isnan(run.steady_cycles):     # NaN below two samples
        record["cycles_per_sample"] = round(float(run.steady_cycles), 2)
        record["cycles_source"] = "cosim: measured interval between samples"
    if run.latency >= 0:
        record["latency_cycles"] = int(run.latency)
        record["latency_source"] = "cosim: first input beat to last output beat of sample 0"
    if run.mismatches:
        record["status"] = "mismatch"
        record["error"] = (f"{run.mismatches} of {len(x)} samples differ from the golden "
                           f"model (samples {run.mismatched_samples[:5].tolist()})")


def _figures(record):
    """images/s (at Fmax after place and route, else at the target clock), per kLUT, latency."""
    mhz = record["fmax_mhz"] or record["clock_mhz"]
    record["throughput_clock_mhz"] = mhz
    record["images_per_s"] = round(mhz * 1e6 / record["cycles_per_sample"], 1)
    record["images_per_s_per_klut"] = round(
        record["images_per_s"] / (record["lut_total"] / 1000), 2) if record["lut_total"] else None
    record["latency_us"] = round(record["latency_cycles"] / mhz, 3)


