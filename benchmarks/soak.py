"""Soak: many samples through one small network under Verilator with random backpressure.

    python benchmarks/soak.py [--network tiny_bnn] [--samples 100000] [--chunk 10000]
                              [--backpressure 0.3] [--out benchmarks/results/soak.json]

The network is built once (the Verilator build is cached); the samples go
through in chunks of ``--chunk`` (each chunk a fresh simulation with its own
seed for the inputs and the pause generators, edge-case samples first in the
first chunk), each compared with the golden model. Prints progress per chunk
and a summary; writes one JSON record. Exit 0 only with 0 mismatches.
"""

import argparse
import json
import platform
import time
from pathlib import Path

import numpy as np

from hwgen.export import to_verilog
from hwgen.network import build_network
from hwgen.spec import load
from sim.network import cosimulate, edge_samples, random_samples

ROOT = Path(__file__).resolve().parent.parent


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--network", default="tiny_bnn", help="example name or YAML path")
    parser.add_argument("--samples", type=int, default=100_000)
    parser.add_argument("--chunk", type=int, default=10_000)
    parser.add_argument("--backpressure", type=float, default=0.3)
    parser.add_argument("--out", default=str(ROOT / "benchmarks" / "results" / "soak.json"))
    args = parser.parse_args()

    path = Path(args.network)
    if not path.suffix:
        path = ROOT / "examples" / f"{args.network}.yaml"
    spec = load(path)
    design = build_network(spec)
    verilog = to_verilog(design.top, spec.name)
    started = time.perf_counter()
    done = mismatches = 0
    chunks = []
    while done < args.samples:
        count = min(args.chunk, args.samples - done)
        seed = len(chunks)
        x = random_samples(spec, count, seed=1000 + seed)
        if seed == 0:
            edges = edge_samples(spec)[:count]
            x[:len(edges)] = edges
        run = cosimulate(spec, x, design=design, verilog=verilog, backpressure=args.backpressure,
                         seed=seed, log=lambda *a: None)
        bad = int(run.mismatches)
        if len(run.got) != count:
            bad = count                      # samples lost count as mismatches
        done += count
        mismatches += bad
        chunks.append({"seed": seed, "samples": count, "mismatches": bad,
                       "steady_cycles": round(run.steady_cycles, 3),
                       "sim_seconds": round(run.seconds, 1)})
        print(f"chunk {seed}: {count} samples, {bad} mismatches, "
              f"{run.steady_cycles:.2f} cycles/sample, {run.seconds:.0f} s "
              f"({done}/{args.samples})", flush=True)
    seconds = time.perf_counter() - started
    record = {"network": spec.name, "source": str(path.relative_to(ROOT) if path.is_relative_to(ROOT)
                                                   else path),
              "samples": done, "mismatches": mismatches, "backpressure": args.backpressure,
              "ideal_cycles": design.ideal_cycles,
              "mean_steady_cycles": round(float(np.mean([c["steady_cycles"] for c in chunks])), 3),
              "seconds": round(seconds, 1), "chunks": chunks,
              "machine": platform.platform()}
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(record, indent=2) + "\n")
    print("| network | samples | mismatches | backpressure | cycles/sample (ideal) | seconds |")
    print("|---|---|---|---|---|---|")
    print(f"| {spec.name} | {done} | {mismatches} | {args.backpressure} | "
          f"{record['mean_steady_cycles']} ({design.ideal_cycles}) | {seconds:.0f} |")
    print(f"wrote {out}")
    return 0 if mismatches == 0 else 1


if __name__ == "__main__":
    raise SystemExit(main())
