"""Cosimulation speed: the fast harness path vs the cocotbext-axi path, per example, in one run.

    python benchmarks/cosim_speed.py [--networks tiny_bnn,sfc_balanced] [--backpressure 0.3]
                                     [--fast-cycles 10000000] [--cocotbext-cycles 20000]
                                     [--reuse-cache] [--out benchmarks/results/cosim_speed.json]

Per network: the seconds Amaranth takes to compose it and write its Verilog,
the Verilator build seconds of each path (in an empty build cache unless
``--reuse-cache``), and for each path the simulated clock cycles per second
of wall clock (the simulator process, after the build) and per CPU second of
that process, over enough samples for about ``--*-cycles`` cycles (random
samples, edge cases first, and their golden outputs made before the run, up to
2**25 input elements); for the fast path also per CPU second of the
simulator's own thread (the packing thread runs beside it). Both runs must
end with 0 mismatches. Writes one JSON
record and prints a table.
"""

import argparse
import json
import os
import platform
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def measure(name, args):
    from hwgen.export import to_verilog
    from hwgen.network import build_network
    from hwgen.spec import load
    from sim.network import RandomSamples, cosimulate

    path = Path(name) if Path(name).suffix else ROOT / "examples" / f"{name}.yaml"
    spec = load(path)
    started = time.perf_counter()
    design = build_network(spec)
    verilog = to_verilog(design.top, spec.name)
    record = {"network": spec.name, "source": path.stem, "ideal_cycles": design.ideal_cycles,
              "compose_s": round(time.perf_counter() - started, 1),
              "backpressure": args.backpressure}
    for driver, cycles in (("fast", args.fast_cycles), ("cocotbext", args.cocotbext_cycles)):
        count = max(8, -(-cycles // design.ideal_cycles))
        with tempfile.TemporaryDirectory() as work:
            run = cosimulate(spec, RandomSamples(count, 1, edges=True), design=design,
                             verilog=verilog, backpressure=args.backpressure, seed=1,
                             driver=driver, work_dir=work, log=lambda *a: None)
            mismatches = run.mismatches
        record[driver] = {
            "samples": count, "mismatches": int(mismatches), "cycles": run.cycles,
            "build_s": round(run.build_seconds, 1), "run_s": round(run.seconds, 2),
            "cpu_s": round(run.cpu_seconds, 2),
            "cycles_per_s": round(run.cycles_per_second), "cycles_per_cpu_s":
            round(run.cycles_per_cpu_second), "steady_cycles": round(run.steady_cycles, 3),
            "latency": run.latency}
        if run.report:      # fast path: CPU of the simulator's own thread during the run
            thread = run.report["run_thread_cpu_seconds"]
            record[driver].update(thread_cpu_s=thread,
                                  cycles_per_thread_cpu_s=round(run.cycles / thread))
        print(f"{spec.name} {driver}: {count} samples, {mismatches} mismatches, "
              f"{run.cycles_per_second / 1e6:.3f} M cycles/s wall, "
              f"{run.cycles_per_cpu_second / 1e6:.3f} M cycles/CPU s, build {run.build_seconds:.0f} s",
              flush=True)
    record["speedup"] = round(record["fast"]["cycles_per_s"] / record["cocotbext"]["cycles_per_s"])
    return record


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--networks", default="tiny_bnn,sfc_balanced",
                        help="comma-separated example names or YAML paths")
    parser.add_argument("--backpressure", type=float, default=0.3)
    parser.add_argument("--fast-cycles", type=int, default=10_000_000)
    parser.add_argument("--cocotbext-cycles", type=int, default=20_000)
    parser.add_argument("--reuse-cache", action="store_true",
                        help="keep cached Verilator builds (build seconds are then ~0)")
    parser.add_argument("--out", default=str(ROOT / "benchmarks" / "results" / "cosim_speed.json"))
    args = parser.parse_args()

    cache = None
    if not args.reuse_cache:
        cache = tempfile.TemporaryDirectory(prefix="hwgen-cache-")
        os.environ["HWGEN_CACHE"] = cache.name
    try:
        records = [measure(name, args) for name in args.networks.split(",")]
    finally:
        if cache:
            cache.cleanup()
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps({"machine": platform.platform(), "cpus": os.cpu_count(),
                               "load_average": os.getloadavg(), "records": records},
                              indent=2) + "\n")
    print("| network | compose s | path | build s | samples | cycles | run s | M cycles/s | "
          "M cycles/CPU s | M cycles/simulator-thread CPU s | mismatches |")
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    for r in records:
        for driver in ("fast", "cocotbext"):
            d = r[driver]
            thread = d.get("cycles_per_thread_cpu_s")
            print(f"| {r['network']} | {r['compose_s']} | {driver} | {d['build_s']} | "
                  f"{d['samples']} | {d['cycles']} | {d['run_s']} | {d['cycles_per_s'] / 1e6:.3f} | "
                  f"{d['cycles_per_cpu_s'] / 1e6:.3f} | "
                  f"{f'{thread / 1e6:.3f}' if thread else '-'} | {d['mismatches']} |")
    print(f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs; wrote {out}")
    bad = sum(r[d]["mismatches"] for r in records for d in ("fast", "cocotbext"))
    return 0 if bad == 0 else 1


if __name__ == "__main__":
    raise SystemExit(main())
