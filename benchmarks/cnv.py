"""CNV-shaped binary convolutional networks: bit-exactness and cycles per sample vs ideal.

For ``cnv_ci`` (CI folding) and ``cnv`` (FINN's CNV shape and cnvW1A1
folding) it cosimulates random samples under Verilator without backpressure
and records hardware-vs-golden mismatches, the ideal cycles per sample (max
over layers of OH*OW*NF*SF for a conv, NF*SF for a dense layer), the measured
steady-state cycles per sample and their ratio. Writes ``results/cnv.json``
and prints a table (``binary_networks.report``).
"""

import argparse
from pathlib import Path

from binary_networks import measure, report

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
    return report(records, Path(args.out))


if __name__ == "__main__":
    raise SystemExit(main())
