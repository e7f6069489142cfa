"""hwgen vs NNgen on the same int8 MLP: ECP5 cells from one Yosys flow, cycles per inference.

    python3 -m venv /tmp/venv-nngen-tool && /tmp/venv-nngen-tool/bin/pip install nngen  # once
    apt-get install iverilog        # NNgen's RTL simulation (its testbenches use Icarus)
    nice -n 10 python benchmarks/nngen_compare.py [--net examples/int8_mlp.yaml] [--count 20]
        [--nngen-python /tmp/venv-nngen-tool/bin/python] [--timeout 3600] [--no-dsp-variant]

NNgen (https://github.com/NNgen/nngen) lives in its own venv: it pulls its
own numpy/veriloggen/pyverilog and is not a dependency of hwgen. Without
that venv this script prints how to make it and exits 2.

Steps, all in one run:

1. The network's integers come from hwgen's spec (``hwgen.spec.load``: the
   YAML's ``seed`` weights). ``benchmarks/nngen_side.py`` runs in NNgen's
   venv and builds the same layers with ``ng.matmul`` (int8 weights, int32
   bias, per-channel scale = hwgen's dyadic multiplier, per-channel rounding
   right shift = its shift, ReLU, unsigned 8-bit outputs) and ``ng.argmax``,
   with NNgen's ``par_ich`` = SIMD and ``par_och`` = PE of each hwgen layer,
   and writes NNgen's Verilog (``to_veriloggen``). What NNgen cannot
   express is replaced by the closest thing (``DIFFERENCES`` below, also in
   the JSON).
2. With iverilog on PATH, NNgen's RTL runs one inference in NNgen's own
   testbench style (veriloggen's AXI memory model as DRAM, an AXI4-Lite
   thread that starts the accelerator and polls ``busy``): cycles from
   start to idle with the memory model's defaults (10-cycle read/write
   delay, a 4-cycle stall every 16, as NNgen's tests run) and with a
   zero-delay memory that never stalls, and the hardware's scores and
   label against ``ng.eval``. Without iverilog the cycles are reported as
   not measured (NNgen documents no cycle model).
3. hwgen: the same YAML (and a copy with ``resource: dsp`` on every dense
   layer, unless ``--no-dsp-variant``) through ``hwgen synth --target ecp5``;
   cycles per sample from the Verilator cosimulation that ``hwgen sim NET
   --count N`` runs (``sim.network.cosimulate``, bit-exact vs the golden model).
4. NNgen's Verilog through ``hwgen.synth.synthesize``: the same
   ``synth_ecp5`` script and ``stat`` parsing as hwgen's designs. NNgen's
   design includes its AXI4 master (DRAM access), AXI4-Lite slave (control
   registers), DMA address generators, on-chip activation/weight RAMs and
   its control FSMs; hwgen's includes the AXI4-Stream top, width converters
   and FIFOs. Both are counted whole.

Writes ``benchmarks/results/nngen_compare.json`` and prints the table. Every
yowasp run gets ``--timeout`` seconds and the script lowers its own priority
(``os.nice``) so that the tools it starts inherit it.
"""

import argparse
import contextlib
import json
import os
import platform
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from hwgen.cli import main as hwgen_main
from hwgen.spec import load
from hwgen.synth import synthesize
from sim.network import cosimulate, random_samples
from sw_reference.network import run as golden

NNGEN_VENV = Path("/tmp/venv-nngen-tool")
INSTALL = f"python3 -m venv {NNGEN_VENV} && {NNGEN_VENV}/bin/pip install nngen"
SIDE = ROOT / "benchmarks" / "nngen_side.py"
CELLS = ("LUT4", "CCU2C", "TRELLIS_DPR16X4", "TRELLIS_FF", "DP16KD", "MULT18X18D")

DIFFERENCES = [
    ("Activations: hwgen's are unsigned 8-bit (0..255); NNgen 1.3.4's RTL computed wrong "
     "hidden values with uint8 activations (its ng.eval also clamps them to 127), so NNgen "
     "gets int8 activations at half hwgen's value (input x >> 1, ReLU output 0..127): "
     "7 bits of magnitude instead of 8, 8x8-bit signed products instead of 8-bit unsigned "
     "x 8-bit signed."),
    ("Requant zero point: NNgen's matmul has none, so hwgen's per-channel zero point zp is "
     "folded into NNgen's (halved) bias as round(zp * 2**(s-1) / m)."),
    ("Rounding: NNgen's rounding right shift rounds half away from zero, hwgen's requant "
     "rounds half up (differs on negative ties only, which ReLU then clamps to 0 anyway)."),
    ("Accumulator width: NNgen's sum_dtype is set to the signed width that holds the "
     "layer's bounds with NNgen's bias (hwgen derives its accumulator from the same bounds)."),
    ("Requant multiplier: NNgen's scale is a signed int32 variable (hwgen: 31-bit unsigned "
     "constant per channel), so NNgen's product is sum_bits + 32 bits wide."),
    ("Weights, bias, scale and shift are NNgen variables loaded from DRAM at run time; "
     "hwgen's are constants in on-chip ROMs."),
    ("Output: NNgen writes the 10 int32 scores and the int32 argmax index to DRAM; hwgen "
     "streams the 4-bit index only."),
]


def check_nngen(python):
    """NNgen's version in ``python``'s venv, or None."""
    if not Path(python).exists():
        return None
    done = subprocess.run([python, "-c", "import nngen; print(nngen.__version__)"],
                          check=False, capture_output=True, text=True)
    return done.stdout.strip() if done.returncode == 0 else None


def signed_bits(lo, hi):
    """Bits of the smallest signed type holding ``lo..hi``."""
    return max(int(max(hi, 0)).bit_length(), int(max(-lo - 1, 0)).bit_length()) + 1


def nngen_network(spec, inputs, axi_bits):
    """(config, params) of ``spec`` for ``nngen_side.py``; NotImplementedError otherwise.

    NNgen's matmul computes ``relu(clip(((x @ w.T + bias) * scale) >>r shift))``
    on signed types: its RTL gave wrong hidden values with uint8 activations
    (disagreeing with its own ``ng.eval``), while int8 matches. So every
    unsigned 8-bit activation of hwgen's network (0..255) becomes an int8 one
    at half the value (0..127, ``x >> 1``): the accumulators are then about
    half of hwgen's, each layer's bias is halved, its zero point folded into
    the bias at the same scale (``round(zp * 2**(s - 1) / m)``), and the
    multiplier and shift stay hwgen's, so every NNgen activation is about
    half of hwgen's and the argmax about the same (measured: ``agreement``).
    """
    ops = [layer.op for layer in spec.layers]
    if ops[-1] != "argmax" or any(op != "dense" for op in ops[:-1]):
        raise NotImplementedError(f"nngen_compare builds dense layers and a final argmax, "
                                  f"not {ops}")
    t = spec.input
    if t.signed or t.bits != 8:
        raise NotImplementedError(f"nngen_compare maps unsigned 8-bit inputs, not {t}")
    config = {"top": f"nngen_{spec.name}", "axi_datawidth": axi_bits, "argmax": True,
              "argmax_bits": 32, "layers": [],
              "input": {"features": int(np.prod(t.shape)), "bits": 8, "signed": True}}
    params = {"inputs": np.asarray(inputs, dtype=np.int64).reshape(len(inputs), -1) >> 1}
    lo, hi = 0, 127
    for layer in spec.layers[:-1]:
        weight = np.asarray(layer.params["weight"], dtype=np.int64)
        bias = np.asarray(layer.params.get("bias", np.zeros(len(weight))), dtype=np.int64)
        bias = (bias + 1) >> 1                                  # half scale, rounded
        act = layer.activation
        entry = {"name": layer.name, "out_features": len(weight), "par_ich": layer.simd,
                 "par_och": layer.pe, "weight_bits": layer.attrs.weight_bits,
                 "bias_bits": 32, "requant": act is not None}
        if act is not None:
            if act.op != "requant" or act.attrs.signed or act.attrs.bits != 8:
                raise NotImplementedError(f"{layer.name}: only an unsigned 8-bit requant maps "
                                          f"to NNgen's scale + shift + ReLU here")
            m = np.broadcast_to(np.asarray(act.params["multiplier"], np.int64), bias.shape)
            s = np.broadcast_to(np.asarray(act.params["shift"], np.int64), bias.shape)
            zp = np.broadcast_to(np.asarray(act.params.get("zero_point", 0), np.int64),
                                 bias.shape)
            bias = bias + np.array([(2 * int(z) * (1 << (int(k) - 1)) + int(mm)) // (2 * int(mm))
                                    for z, k, mm in zip(zp, s, m)], dtype=np.int64)
            params[f"{layer.name}.scale"] = m.copy()
            params[f"{layer.name}.shift"] = s.copy()
            entry.update(scale_bits=32, out_bits=8, out_signed=True)
        else:
            entry.update(out_bits=32, out_signed=True)
        sums_lo = np.minimum(weight * lo, weight * hi).sum(axis=1) + bias
        sums_hi = np.maximum(weight * lo, weight * hi).sum(axis=1) + bias
        entry["sum_bits"] = signed_bits(sums_lo.min(), sums_hi.max())
        params[f"{layer.name}.weight"] = weight
        params[f"{layer.name}.bias"] = bias
        config["layers"].append(entry)
    return config, params


def run_nngen(python, spec, inputs, work, timeout, sim):
    """Build NNgen's design in its venv; the side script's JSON record."""
    config, params = nngen_network(spec, inputs, spec.target.io_bits)
    work.mkdir(parents=True, exist_ok=True)
    (work / "config.json").write_text(json.dumps(config, indent=2) + "\n")
    np.savez(work / "params.npz", **params)
    command = [python, str(SIDE), str(work / "config.json"), str(work / "params.npz"),
               str(work)] + (["--sim"] if sim else [])
    started = time.monotonic()
    done = subprocess.run(command, check=False, capture_output=True, text=True,
                          timeout=timeout)
    if done.returncode != 0:
        raise RuntimeError(f"{' '.join(command)} failed:\n{done.stderr[-3000:]}")
    record = json.loads((work / "nngen_side.json").read_text())
    record["seconds"] = round(time.monotonic() - started, 1)
    record["config"] = config
    return record


@contextlib.contextmanager
def time_limit(seconds, what):
    """TimeoutError after ``seconds`` (synthesize() kills its yowasp child on any exception)."""
    def expire(signum, frame):
        raise TimeoutError(f"{what} took more than {seconds} s")
    previous = signal.signal(signal.SIGALRM, expire)
    signal.alarm(int(seconds))
    try:
        yield
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)


def cells(report):
    """ECP5 cell counts of a ``synthesize`` report."""
    found = report["total"]["cells"]
    return {name: int(found.get(name, 0)) for name in CELLS}


def reused(synth_dir, verilog, resynth):
    """The report in ``synth_dir`` if it was made from the same Verilog (and not ``resynth``)."""
    report, copy = synth_dir / "report.json", synth_dir / Path(verilog).name
    if resynth or not report.exists() or not copy.exists():
        return None
    if copy.read_bytes() != Path(verilog).read_bytes():
        return None
    print(f"  reusing {report} (same Verilog; --resynth runs yosys again)", flush=True)
    return json.loads(report.read_text())


def synth_nngen(record, work, timeout, spec, resynth):
    report = reused(work / "synth", record["verilog"], resynth)
    if report is None:
        with time_limit(timeout, "yosys on NNgen's design"):
            report = synthesize(record["verilog"], record["top"], "ecp5", work / "synth",
                                device=spec.target.device, clock_mhz=spec.target.clock_mhz,
                                progress=lambda text: print(f"nngen: {text.strip()}",
                                                            flush=True))
    return report


def synth_hwgen(yaml_path, work, timeout, resynth):
    name = load(yaml_path).name
    generated = work.with_name(work.name + "_generated")   # `hwgen synth -o` replaces work
    if hwgen_main(["generate", str(yaml_path), "-o", str(generated)]) != 0:
        raise RuntimeError(f"hwgen generate {yaml_path} failed")
    report = reused(work / "synth", generated / f"{name}.v", resynth)
    if report is None:
        with time_limit(timeout, f"hwgen synth {yaml_path}"):
            code = hwgen_main(["synth", str(yaml_path), "--target", "ecp5", "-o", str(work)])
        if code != 0:
            raise RuntimeError(f"hwgen synth {yaml_path} exited {code}")
        report = json.loads((work / "synth" / "report.json").read_text())
    return report


def memory_cells(synth_dir, prefix="ram_"):
    """ECP5 cells of the modules named ``prefix*`` (NNgen's on-chip RAMs) from Yosys's stat.

    Every such module of NNgen's Verilog is instantiated once (checked), so
    the per-module counts add up to their share of the design.
    """
    stat = json.loads((synth_dir / "stat_ecp5.json").read_text())
    modules = {name.lstrip("\\"): entry.get("num_cells_by_type", {})
               for name, entry in stat["modules"].items()}
    total = {name: 0 for name in CELLS}
    count = 0
    for name, found in modules.items():
        if name.startswith(prefix):
            count += 1
            for cell in CELLS:
                total[cell] += int(found.get(cell, 0))
    summed = {cell: sum(int(f.get(cell, 0)) for f in modules.values()) for cell in CELLS}
    design = stat.get("design", {}).get("num_cells_by_type", {})
    once = all(summed[cell] == int(design.get(cell, 0)) for cell in CELLS)
    return {"modules": count, "cells": total, "each_instantiated_once": once}


def dsp_variant(yaml_path, work):
    """A copy of the YAML with ``resource: dsp`` on every dense layer (same seed, same weights)."""
    import yaml
    data = yaml.safe_load(Path(yaml_path).read_text())
    for layer in data["layers"]:
        if layer.get("op") == "dense":
            layer["resource"] = "dsp"
    data["name"] = f"{data['name']}_dsp"
    base = Path(yaml_path).resolve().parent
    if "weights" in data:
        data["weights"] = str(base / data["weights"])
    path = work / f"{data['name']}.yaml"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path


def hwgen_cycles(spec, count):
    """Steady-state cycles per sample, latency and mismatches of ``hwgen sim NET --count N``."""
    x = random_samples(spec, count, seed=0)
    run = cosimulate(spec, x, log=lambda *a: None)
    return {"cycles": round(float(run.steady_cycles), 2), "latency": int(run.latency),
            "ideal": int(run.ideal_cycles), "mismatches": int(run.mismatches),
            "samples": len(x), "source": f"Verilator cosim of {count} random samples "
                                         f"(hwgen sim --count {count}), steady state"}


def macs(spec):
    return int(sum(np.asarray(layer.params["weight"]).size for layer in spec.layers
                   if layer.op == "dense"))


def agreement(spec, record, inputs):
    """How close NNgen's network is to hwgen's golden model on the same inputs."""
    want = np.asarray(golden(spec, inputs)).reshape(len(inputs))
    got = np.asarray(record["eval"][1]).reshape(len(inputs))
    return {"top1_equal": int((want == got).sum()), "samples": len(inputs)}


def row(name, counts, cycles, latency, total_macs, note):
    return {"design": name, **counts, "cycles": cycles, "latency": latency,
            "macs_per_cycle": round(total_macs / cycles, 2) if cycles else None, "note": note}


def _cell(value):
    if value is None:
        return "-"
    return f"{value:,}" if isinstance(value, int) else f"{value:g}"


def table(rows):
    header = ("design", "LUT4", "CCU2C", "DPR16X4", "FF", "DP16KD", "MULT18X18D",
              "cycles/inference", "latency", "MACs/cycle")
    keys = CELLS + ("cycles", "latency", "macs_per_cycle")
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for r in rows:
        lines.append(f"| {r['design']} | " + " | ".join(_cell(r[k]) for k in keys) + " |")
    return "\n".join(lines)


def ratios(nngen, hwgen):
    """NNgen / hwgen for every cell count and the cycles."""
    out = {}
    for key in CELLS + ("cycles",):
        a, b = nngen.get(key), hwgen.get(key)
        out[key] = round(a / b, 2) if a is not None and b else None
    return out


def check_sim(record):
    """{memory model: cycles, hardware == ng.eval} of NNgen's RTL simulations."""
    checked = {}
    for memory, sim in (record.get("sim") or {}).items():
        outputs = sim.get("outputs")
        checked[memory] = {
            "cycles": sim.get("cycles"),
            "scores_equal_eval": bool(outputs) and outputs[0] == record["eval"][0][0],
            "label_equal_eval": bool(outputs) and outputs[1] == record["eval"][1][0]}
    return checked


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--net", default=str(ROOT / "examples" / "int8_mlp.yaml"))
    parser.add_argument("--count", type=int, default=20, help="samples of the hwgen cosim")
    parser.add_argument("--nngen-python", default=str(NNGEN_VENV / "bin" / "python"))
    parser.add_argument("--timeout", type=int, default=3600, help="seconds per tool run")
    parser.add_argument("--no-dsp-variant", action="store_true",
                        help="skip hwgen with resource: dsp")
    parser.add_argument("--no-sim", action="store_true", help="skip NNgen's RTL simulation")
    parser.add_argument("--resynth", action="store_true",
                        help="run yosys even where a report of the same Verilog exists")
    parser.add_argument("--work", default=str(ROOT / "rtl_out" / "nngen_compare"))
    parser.add_argument("--out", default=str(ROOT / "benchmarks" / "results" /
                                             "nngen_compare.json"))
    args = parser.parse_args(argv)
    version = check_nngen(args.nngen_python)
    if version is None:
        print(f"error: NNgen is not importable by {args.nngen_python}; make its venv with\n"
              f"  {INSTALL}\nor pass --nngen-python", file=sys.stderr)
        return 2
    os.nice(10)
    work = Path(args.work)
    spec = load(args.net)
    inputs = random_samples(spec, args.count, seed=0)
    total_macs = macs(spec)
    print(f"[1/4] NNgen {version}: building {spec.name} ({total_macs} MACs per inference)",
          flush=True)
    record = run_nngen(args.nngen_python, spec, inputs, work / "nngen", args.timeout,
                       sim=not args.no_sim)
    sims = check_sim(record)
    for memory, sim in sims.items():
        print(f"  NNgen RTL, {memory} memory: {sim['cycles']} cycles; hardware == ng.eval: "
              f"scores {sim['scores_equal_eval']}, label {sim['label_equal_eval']}", flush=True)
    print("[2/4] hwgen cycles (Verilator cosim)", flush=True)
    variants = [("hwgen", Path(args.net))]
    if not args.no_dsp_variant:
        variants.append(("hwgen resource: dsp", dsp_variant(args.net, work / "hwgen_dsp")))
    measured = {}
    for name, path in variants:
        variant = load(path)
        for a, b in zip(variant.layers, spec.layers):
            assert all(np.array_equal(a.params[k], b.params[k]) for k in b.params), name
        measured[name] = {"cycles": hwgen_cycles(variant, args.count)}
        print(f"  {name}: {measured[name]['cycles']}", flush=True)
    print("[3/4] yosys synth_ecp5 of each design", flush=True)
    for name, path in variants:
        measured[name]["synth"] = synth_hwgen(path, work / name.replace(" ", "_").replace(
            ":", ""), args.timeout, args.resynth)
    nngen_report = synth_nngen(record, work / "nngen", args.timeout, spec, args.resynth)
    rams = memory_cells(work / "nngen" / "synth")
    print("[4/4] table", flush=True)
    rows = [row(f"{name} (PE/SIMD of the YAML)", cells(m["synth"]), m["cycles"]["cycles"],
                m["cycles"]["latency"], total_macs, m["cycles"]["source"])
            for name, m in measured.items()]
    for memory, sim in sims.items() or [("not simulated", {"cycles": None})]:
        rows.append(row(f"NNgen {version} (par_och/par_ich = PE/SIMD), {memory} memory",
                        cells(nngen_report), sim["cycles"], sim["cycles"], total_macs,
                        f"iverilog RTL simulation of one inference, start to idle, {memory} "
                        f"AXI memory model ({record['sim'][memory]['memory_model']})"
                        if sim["cycles"] else "not simulated"))
    nngen_rows = [r for r in rows if r["design"].startswith("NNgen")]
    rows.append(row(f"of which NNgen's {rams['modules']} on-chip RAM modules", rams["cells"],
                    None, None, total_macs, "Yosys maps NNgen's true dual-port RAMs (two "
                    "write ports) to FFs and LUT muxes, not DP16KD"))
    result = {"machine": platform.platform(), "network": spec.name, "net": args.net,
              "macs_per_inference": total_macs, "differences": DIFFERENCES,
              "nngen": {k: v for k, v in record.items() if k != "eval"},
              "nngen_synth": nngen_report, "nngen_ram_modules": rams, "agreement_with_hwgen_golden":
                  agreement(spec, record, inputs),
              "hwgen": measured, "rows": rows,
              "nngen_sim_checks": sims,
              "ratio_nngen_over": {r["design"]: ratios(nngen_rows[0], r)
                                   for r in rows if r["design"].startswith("hwgen")}}
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2, default=str) + "\n")
    print(table(rows))
    for name, ratio in result["ratio_nngen_over"].items():
        print(f"{nngen_rows[0]['design']} / {name}: "
              + ", ".join(f"{k} {v}" for k, v in ratio.items()))
    print(f"NNgen's network vs hwgen's golden model: {result['agreement_with_hwgen_golden']}")
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
