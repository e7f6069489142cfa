"""Soak: millions of samples through one network under Verilator with random backpressure.

    python benchmarks/soak.py [--network tiny_bnn] [--samples 10000000] [--backpressure 0.3]
                              [--seed 0] [--out benchmarks/results/soak.json]

One continuous stream on the fast path (sim/fast.py): the edge-case samples
first, then random ones, drawn chunk by chunk in the simulator process, each
chunk run through the golden model (in a thread beside the simulator) and
compared sample by sample with what the hardware produced, so memory does
not grow with ``--samples``. Writes one JSON record and prints a table; exit
0 only with 0 mismatches and every sample out.
"""

import argparse
import json
import platform
import tempfile
import time
from pathlib import Path

from hwgen.export import to_verilog
from hwgen.network import build_network
from hwgen.spec import load
from sim.network import RandomSamples, cosimulate

ROOT = Path(__file__).resolve().parent.parent


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--network", default="tiny_bnn", help="example name or YAML path")
    parser.add_argument("--samples", type=int, default=10_000_000)
    parser.add_argument("--backpressure", type=float, default=0.3)
    parser.add_argument("--seed", type=int, default=0,
                        help="seed of the random samples (1000 + seed) and of the pauses")
    parser.add_argument("--out", default=str(ROOT / "benchmarks" / "results" / "soak.json"))
    args = parser.parse_args()

    path = Path(args.network)
    if not path.suffix:
        path = ROOT / "examples" / f"{args.network}.yaml"
    spec = load(path)
    started = time.perf_counter()
    design = build_network(spec)
    verilog = to_verilog(design.top, spec.name)
    compose_seconds = time.perf_counter() - started
    with tempfile.TemporaryDirectory(prefix="hwgen-soak-") as work:
        run = cosimulate(spec, RandomSamples(args.samples, 1000 + args.seed, edges=True),
                         design=design, verilog=verilog, backpressure=args.backpressure,
                         seed=args.seed, work_dir=work, log=print)
        mismatches = run.mismatches
        first = run.mismatched_samples[:10].tolist()
        out_samples = run.report["samples_out"]
    seconds = time.perf_counter() - started
    report = run.report
    record = {
        "network": spec.name,
        "source": str(path.relative_to(ROOT) if path.is_relative_to(ROOT) else path),
        "samples": args.samples, "samples_out": out_samples, "mismatches": int(mismatches),
        "first_mismatches": first, "backpressure": args.backpressure, "seed": args.seed,
        "ideal_cycles": design.ideal_cycles, "steady_cycles": round(run.steady_cycles, 4),
        "latency": run.latency, "cycles": run.cycles,
        "pause_fraction": [round(report["in_pauses"] / report["cycles"], 5),
                           round(report["out_pauses"] / report["cycles"], 5)],
        "compose_s": round(compose_seconds, 1), "build_s": round(run.build_seconds, 1),
        "run_s": round(run.seconds, 1), "run_cpu_s": round(run.cpu_seconds, 1),
        "golden_s": report["golden_seconds"], "seconds": round(seconds, 1),
        "cycles_per_s": round(run.cycles_per_second), "machine": platform.platform(),
    }
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(record, indent=2) + "\n")
    print("| network | samples | mismatches | backpressure | cycles/sample (ideal) | "
          "M cycles/s | run s | total s |")
    print("|---|---|---|---|---|---|---|---|")
    print(f"| {spec.name} | {out_samples} | {mismatches} | {args.backpressure} | "
          f"{record['steady_cycles']} ({design.ideal_cycles}) | "
          f"{run.cycles_per_second / 1e6:.2f} | {run.seconds:.0f} | {seconds:.0f} |")
    print(f"wrote {out}")
    return 0 if mismatches == 0 and out_samples == args.samples else 1


if __name__ == "__main__":
    raise SystemExit(main())
