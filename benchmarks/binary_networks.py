"""Binary networks: measured vs ideal cycles, latency, and simulation speed.

    python benchmarks/binary_networks.py [--count N] [--out benchmarks/results/binary_networks.json]

For each example it generates the Verilog (timed), builds it under Verilator,
streams N random samples with no backpressure and reports: mismatches against
the golden model (must be 0), the slowest layer's ideal cycles per sample
(max over layers of NF*SF), the measured steady-state cycles per sample and
their ratio, the latency of one sample, and simulated samples/s under
Verilator and under Amaranth's Python simulator (same core, same samples, so
the ratio is taken in one run). Writes one JSON record and prints a table.
"""

import argparse
import json
import platform
import time
from pathlib import Path


from hwgen.export import to_verilog
from hwgen.layout import to_beats
from hwgen.network import build_network
from hwgen.spec import load
from sim.network import cosimulate, random_samples

ROOT = Path(__file__).resolve().parent.parent
NETWORKS = ["tiny_bnn", "sfc_balanced", "sfc_fast", "sfc_mixed", "sfc_comb",
            "sfc_unrolled_tail", "lfc"]


def amaranth_samples_per_second(design, spec, x):
    """Samples/s of Amaranth's Python simulator on the same core, no stalls."""
    from sim.amaranth_streams import simulate_stream
    core = design.top.core
    words = [w for frame in to_beats(x, spec.input.shape, design.in_per_beat, design.in_bits)
             for w in frame]

    started = time.perf_counter()
    simulate_stream(core, words, design.out_beats * len(x))
    return len(x) / (time.perf_counter() - started)


def measure(name, count, amaranth_count):
    spec = load(ROOT / "examples" / f"{name}.yaml")
    started = time.perf_counter()
    design = build_network(spec)
    verilog = to_verilog(design.top, spec.name)
    generate_seconds = time.perf_counter() - started
    x = random_samples(spec, count, seed=0)
    run = cosimulate(spec, x, design=design, verilog=verilog, log=lambda *a: None)
    record = {
        "network": name, "samples": count, "mismatches": run.mismatches,
        "ideal_cycles": run.ideal_cycles, "measured_cycles": round(run.steady_cycles, 3),
        "throughput_vs_ideal": round(run.throughput, 4), "latency_cycles": run.latency,
        "clock_mhz": spec.target.clock_mhz,
        "samples_per_s_at_clock": round(spec.target.clock_mhz * 1e6 / run.steady_cycles),
        "yaml_to_verilog_s": round(generate_seconds, 2),
        "verilator_build_s": round(run.build_seconds, 1),   # ~0 when the build was cached
        "verilator_samples_per_s": round(run.samples_per_second, 1),
    }
    if amaranth_count:
        pysim = amaranth_samples_per_second(design, spec, x[:amaranth_count])
        record["amaranth_sim_samples_per_s"] = round(pysim, 2)
        record["verilator_vs_amaranth"] = round(run.samples_per_second / pysim, 1)
    return record


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=100, help="samples per network (LFC: 20)")
    parser.add_argument("--networks", nargs="*", default=NETWORKS)
    parser.add_argument("--out", default=str(ROOT / "benchmarks" / "results" / "binary_networks.json"))
    args = parser.parse_args()

    records = []
    for name in args.networks:
        print(f"... {name}", flush=True)
        count = min(args.count, 20) if name == "lfc" else args.count
        records.append(measure(name, count, amaranth_count=10 if name == "sfc_balanced" else 0))
    return report(records, Path(args.out))


def report(records, out):
    """Write ``records`` to ``out`` (JSON) and print the table; exit code 0 if all bit-exact."""
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps({"machine": platform.platform(), "cpus": __import__("os").cpu_count(),
                               "records": records}, indent=2) + "\n")

    header = ("network", "N", "mism.", "ideal", "measured", "ratio", "latency",
              "img/s @clk", "gen s", "build s", "sim/s")
    print("| " + " | ".join(header) + " |")
    print("|" + "---|" * len(header))
    for r in records:
        print(f"| {r['network']} | {r['samples']} | {r['mismatches']} | {r['ideal_cycles']} | "
              f"{r['measured_cycles']} | {r['throughput_vs_ideal']} | {r['latency_cycles']} | "
              f"{r['samples_per_s_at_clock']} | {r['yaml_to_verilog_s']} | "
              f"{r['verilator_build_s']} | {r['verilator_samples_per_s']} |")
    for r in records:
        if "amaranth_sim_samples_per_s" in r:
            print(f"{r['network']}: Verilator {r['verilator_samples_per_s']} samples/s vs "
                  f"Amaranth Python simulator {r['amaranth_sim_samples_per_s']} samples/s "
                  f"({r['verilator_vs_amaranth']}x)")
    print(f"wrote {out}")
    return 0 if all(r["mismatches"] == 0 for r in records) else 1


if __name__ == "__main__":
    raise SystemExit(main())
