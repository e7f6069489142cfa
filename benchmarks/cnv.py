"""CNV-shaped binary convolutional networks: bit-exactness and cycles per sample vs ideal.

For ``cnv_ci`` (CI folding) and ``cnv`` (FINN's CNV shape and cnvW1A1
folding) it cosimulates random samples under Verilator without backpressure
and records hardware-vs-golden mismatches, the ideal cycles per sample (max
over layers of OH*OW*NF*SF for a conv, NF*SF for a dense layer), the measured
steady-state cycles per sample and their ratio. Writes ``results/cnv.json``
and prints a table (the same columns as ``binary_networks.py``).
"""

import argparse
import json
import platform
from pathlib import Path

from binary_networks import measure

ROOT = Path(__file__).resolve().parent.parent


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=10, help="samples per network")
    parser.add_argument("--networks", nargs="*", default=["cnv_ci", "cnv"])
    parser.add_argument("--out", default=str(ROOT / "benchmarks" / "results" / "cnv.json"))
    args = parser.parse_args()

    records = []
    for name in args.networks:
        print(f"... {name}", flush=True)
        records.append(measure(name, args.count, amaranth_count=0))
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps({"machine": platform.platform(), "cpus": __import__("os").cpu_count(),
                               "records": records}, indent=2) + "\n")
    print("| network | N | mism. | ideal | measured | ratio | latency | build s | sim/s |")
    print("|---|---|---|---|---|---|---|---|---|")
    for r in records:
        print(f"| {r['network']} | {r['samples']} | {r['mismatches']} | {r['ideal_cycles']} | "
              f"{r['measured_cycles']} | {r['throughput_vs_ideal']} | {r['latency_cycles']} | "
              f"{r['verilator_build_s']} | {r['verilator_samples_per_s']} |")
    print(f"wrote {out}")
    return 0 if all(r["mismatches"] == 0 for r in records) else 1


if __name__ == "__main__":
    raise SystemExit(main())
