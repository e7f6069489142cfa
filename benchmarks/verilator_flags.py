"""Verilator build options, measured: build seconds and simulated cycles per CPU second.

    python benchmarks/verilator_flags.py [--networks tiny_bnn,sfc_balanced] [--cycles 5000000]
                                         [--recipes old,O2,O2-builtin,O3-builtin,quick]
                                         [--out benchmarks/results/verilator_flags.json]

Builds each network's fast-path harness (sim/fast.py) once per recipe, in an
empty build cache, and runs the same random samples under 30 % backpressure
through each build. A recipe is the C++ optimisation of the per-cycle code
(``OPT_FAST``) and whether Verilator's ``VL_COUNTONES_I`` helper is replaced by
``__builtin_popcount`` with ``-mpopcnt`` (what ``sim.verilator`` does now);
``old`` is the recipe before (-O1, helper); ``quick`` is ``build(quick=True)``
(-O0, the whole design one compile unit: what short runs use). Reports the Verilator and C++
compile CPU seconds (the machine is shared: CPU time, not wall clock, is what
a recipe costs) and the simulator's CPU nanoseconds per simulated cycle.
Writes one JSON record and prints a table.
"""

import argparse
import json
import os
import platform
import resource
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
RECIPES = {     # name: (OPT_FAST, popcount builtin, quick)
    "old": ("-O1", False, False),
    "O2": ("-O2", False, False),
    "O2-builtin": ("-O2", True, False),
    "O3-builtin": ("-O3", True, False),
    "quick": ("-O0", True, True),
}


def children_cpu():
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def measure(name, recipes, cycles):
    import sim.verilator as verilator
    from hwgen.export import to_verilog
    from hwgen.network import build_network
    from hwgen.spec import load
    from sim import fast
    from sim.network import RandomSamples

    spec = load(ROOT / "examples" / f"{name}.yaml")
    design = build_network(spec)
    text = fast.harness_for(design, to_verilog(design.top, spec.name), spec.name)
    count = max(8, -(-cycles // design.ideal_cycles))
    popcount_builtin, popcnt = verilator._use_popcount_builtin, verilator._POPCNT
    records = []
    for recipe in recipes:
        opt_fast, builtin, quick = RECIPES[recipe]
        verilator._OPT_FAST = verilator._OPT_FAST_LARGE = opt_fast
        verilator._use_popcount_builtin = popcount_builtin if builtin else (lambda folder: None)
        verilator._POPCNT = popcnt if builtin else ""
        verilator._BUILD_RECIPE = f"{recipe} {opt_fast} {builtin}"     # its own cache key
        started, cpu = time.perf_counter(), children_cpu()
        build_dir = verilator.build(text, fast.HARNESS_TOP, harness=True, quick=quick,
                                    log=lambda *a: None)
        build = (time.perf_counter() - started, children_cpu() - cpu)
        cpp = sum(p.stat().st_size for p in build_dir.glob("Vtop*.cpp"))
        with tempfile.TemporaryDirectory() as work:
            result = fast.run_fast(spec, design, build_dir, RandomSamples(count, 1, edges=True),
                                   backpressure=0.3, seed=1, work_dir=work,
                                   latency_bound=100 * design.ideal_cycles)
            mismatches = int((result.got != result.want).reshape(count, -1).any(axis=1).sum())
        report = result.report
        record = {"network": spec.name, "recipe": recipe, "opt_fast": opt_fast,
                  "popcount_builtin": builtin, "cpp_mb": round(cpp / 1e6, 2),
                  "build_s": round(build[0], 1), "build_cpu_s": round(build[1], 1),
                  "samples": count, "cycles": report["cycles"], "mismatches": mismatches,
                  "run_cpu_s": report["run_cpu_seconds"],
                  "ns_per_cycle": round(1e9 * report["run_cpu_seconds"] / report["cycles"])}
        records.append(record)
        print(json.dumps(record), flush=True)
    verilator._use_popcount_builtin, verilator._POPCNT = popcount_builtin, popcnt
    return records


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--networks", default="tiny_bnn,sfc_balanced")
    parser.add_argument("--cycles", type=int, default=5_000_000)
    parser.add_argument("--recipes", default=",".join(RECIPES))
    parser.add_argument("--out", default=str(ROOT / "benchmarks" / "results" /
                                             "verilator_flags.json"))
    args = parser.parse_args()
    import shutil
    from sim.verilator import cache_root
    with tempfile.TemporaryDirectory(prefix="hwgen-cache-") as cache:
        # Verilator's runtime objects are compiled once per cache; copied in, so that no
        # recipe's build seconds include them.
        for runtime in (cache_root() / "verilator").glob("runtime-*"):
            shutil.copytree(runtime, Path(cache) / "verilator" / runtime.name)
        os.environ["HWGEN_CACHE"] = cache
        records = [r for name in args.networks.split(",")
                   for r in measure(name, args.recipes.split(","), args.cycles)]
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps({"machine": platform.platform(), "load_average": os.getloadavg(),
                               "records": records}, indent=2) + "\n")
    print("| network | recipe | C++ MB | build CPU s | build s | ns/cycle (CPU) | mismatches |")
    print("|---|---|---|---|---|---|---|")
    for r in records:
        print(f"| {r['network']} | {r['recipe']} | {r['cpp_mb']} | {r['build_cpu_s']} | "
              f"{r['build_s']} | {r['ns_per_cycle']} | {r['mismatches']} |")
    print(f"wrote {out}")
    return 0 if all(r["mismatches"] == 0 for r in records) else 1


if __name__ == "__main__":
    raise SystemExit(main())
