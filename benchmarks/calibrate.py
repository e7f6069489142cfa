"""Calibration sweep of the resource model (``hwgen.plan``) beyond the binary MVAU.

    nice -n 10 python benchmarks/calibrate.py [--family ecp5 xilinx] [--models requant fifo]

Synthesises a handful of small configurations of every modelled unit
(IntegerMVAU with 8-bit LUT shift-add weights, on DSPs, and ternary;
Thresholding, Requant, LabelSelect, and the composer's glue: width
converter, FIFO, skid buffer) with the same Yosys flow as ``hwgen synth``
(``hwgen.synth.synthesize``: ``synth_<family> -noflatten``, classic abc),
one Yosys run at a time, and writes each unit's features (``hwgen.plan.
unit_features``) and measured LUT/FF/BRAM/DSP to
``hwgen/data/calibration/units.json``. ``hwgen.plan`` fits each model by
least squares when it loads; the script prints each fit's error on its own
points. The binary MVAU's sweep is ``benchmarks/synth_binary.py``.

MVAUs are swept with NF = SF = 2 (a 4-word weight ROM per PE, like the
binary sweep), thresholds and requant parameters with two folds per lane,
so every ROM is a real ROM rather than constants. A configuration whose
Verilog is unchanged since the last run is not synthesised again.
"""

import argparse
import json
import platform
import sys
import time
from pathlib import Path

import numpy as np
from amaranth.hdl import signed, unsigned
from amaranth.lib import data

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from hwgen import plan
from hwgen.export import to_verilog
from hwgen.synth import synthesize
from hwgen.units.dwc import StreamingDataWidthConverter
from hwgen.units.fifo import StreamFIFO
from hwgen.units.label_select import LabelSelect
from hwgen.units.mvau_int import IntegerMVAU
from hwgen.units.requant import Requant
from hwgen.units.skid import SkidBuffer
from hwgen.units.thresholding import Thresholding

FOLDS = 2


def _mvau(kind, resource="lut"):
    def make(pe, simd, rng):
        shape = (FOLDS * pe, FOLDS * simd)
        if kind == "ternary":
            weights = rng.integers(-1, 2, size=shape)
        else:
            weights = rng.integers(-128, 128, size=shape)
        return IntegerMVAU(weights=weights, in_shape=unsigned(8), weight_kind=kind,
                           weight_bits=8, pe=pe, simd=simd, pipeline=1, resource=resource)
    return make


def _thresholding(pe, out_bits, rng):
    count = (1 << out_bits) - 1
    rows = np.sort(rng.integers(-2000, 2000, size=(FOLDS * pe, count)), axis=1)
    return Thresholding(in_shape=signed(12), channels=FOLDS * pe, pe=pe, thresholds=rows,
                        out_bits=out_bits)


def _requant(pe, in_bits, rng):
    channels = FOLDS * pe
    return Requant(in_shape=signed(in_bits), out_shape=unsigned(8), channels=channels, pe=pe,
                   multiplier=rng.integers(1 << 20, 1 << 30, size=channels).tolist(),
                   shift=rng.integers(20, 40, size=channels).tolist(),
                   zero_point=rng.integers(0, 8, size=channels).tolist())


def _label_select(pe, in_bits, rng):
    return LabelSelect(in_shape=signed(in_bits), channels=10 if 10 % pe == 0 else 4 * pe, pe=pe)


def _dwc(in_per_beat, out_per_beat, bits):
    return StreamingDataWidthConverter(shape=unsigned(bits), in_per_beat=in_per_beat,
                                       out_per_beat=out_per_beat,
                                       elements=64 if 64 % in_per_beat == 0 else 4 * in_per_beat)


#: model -> [(label, factory)]: 4 to 6 small configurations each
SWEEP = {
    "int_mvau_lut": [(f"pe{p}_simd{s}", (lambda p=p, s=s: (p, s)))
                     for p, s in ((1, 1), (1, 2), (2, 2), (2, 4), (4, 4))],
    "int_mvau_dsp": [(f"pe{p}_simd{s}", (lambda p=p, s=s: (p, s)))
                     for p, s in ((1, 2), (2, 2), (2, 4), (4, 4))],
    "ternary_mvau": [(f"pe{p}_simd{s}", (lambda p=p, s=s: (p, s)))
                     for p, s in ((1, 2), (2, 4), (4, 4), (4, 8), (8, 8))],
    "thresholding": [(f"pe{p}_bits{b}", (lambda p=p, b=b: (p, b)))
                     for p, b in ((1, 1), (4, 1), (16, 1), (2, 2), (4, 3))],
    "requant": [(f"pe{p}_in{b}", (lambda p=p, b=b: (p, b)))
                for p, b in ((1, 16), (2, 16), (4, 16), (2, 24), (1, 32))],
    "label_select": [(f"pe{p}_in{b}", (lambda p=p, b=b: (p, b)))
                     for p, b in ((1, 8), (2, 16), (5, 8), (10, 12))],
    "dwc": [(f"{a}to{b}_w{w}", (lambda a=a, b=b, w=w: (a, b, w)))
            for a, b, w in ((8, 1, 8), (1, 8, 8), (64, 32, 1), (8, 64, 1), (4, 2, 16),
                                 (16, 1, 4), (8, 8, 8))],
    "fifo": [(f"w{w}_d{d}", (lambda w=w, d=d: (w, d)))
             for w, d in ((8, 4), (32, 4), (32, 32), (64, 16), (16, 64))],
    "skid": [(f"w{w}", (lambda w=w: (w,))) for w in (8, 32, 128, 256)],
}


def make_unit(model, args, rng):
    if "mvau" in model:
        kind = "ternary" if model == "ternary_mvau" else "int"
        resource = "dsp" if model == "int_mvau_dsp" else "lut"
        return _mvau(kind, resource)(*args, rng)
    if model == "thresholding":
        return _thresholding(*args, rng)
    if model == "requant":
        return _requant(*args, rng)
    if model == "label_select":
        return _label_select(*args, rng)
    if model == "dwc":
        return _dwc(*args)
    if model == "fifo":
        width, depth = args
        return StreamFIFO(data.ArrayLayout(unsigned(1), width), depth=depth)
    return SkidBuffer(data.ArrayLayout(unsigned(1), args[0]))


def run(models, families, work, log):
    rows = []
    for model in models:
        for index, (label, params) in enumerate(SWEEP[model]):
            unit = make_unit(model, params(), np.random.default_rng(index))
            name, features = plan.unit_features(unit)
            assert name == model, (name, model)
            top = f"{model}_{label}"
            folder = work / top
            folder.mkdir(parents=True, exist_ok=True)
            verilog = to_verilog(unit, top)
            (folder / f"{top}.v").write_text(verilog)
            row = {"model": model, "config": label, "features": features}
            for family in families:
                done = folder / family / "report.json"
                copy = folder / family / f"{top}.v"
                if done.exists() and copy.exists() and copy.read_text() == verilog:
                    report = json.loads(done.read_text())
                else:
                    log(f"... {top} {family}")
                    report = synthesize(folder / f"{top}.v", top, family, folder / family,
                                        device="", clock_mhz=100, progress=lambda m: None)
                total = report["total"]
                row[family] = {k: total[k] for k in ("lut", "lutram", "lut_total", "ff", "bram",
                                                     "dsp")}
                row[family]["seconds"] = report["seconds"]["yosys"]
            log(f"{top}: " + ", ".join(f"{f} {row[f]['lut_total']} LUT {row[f]['ff']} FF "
                                       f"{row[f]['dsp']} DSP" for f in families))
            rows.append(row)
    return rows


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--family", nargs="+", default=["ecp5"], choices=["ecp5", "xilinx"])
    parser.add_argument("--models", nargs="+", default=list(SWEEP), choices=list(SWEEP),
                        help="default: all, in this order")
    parser.add_argument("--work", default=str(ROOT / "rtl_out" / "calibrate"))
    parser.add_argument("--out", default=str(plan._CALIBRATION_DIR / "units.json"))
    args = parser.parse_args()
    started = time.monotonic()

    def log(message):
        print(f"[{time.monotonic() - started:6.0f} s] {message}", flush=True)

    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    for model in args.models:          # saved after every model: a stopped run keeps its part
        old = json.loads(out.read_text())["rows"] if out.exists() else []
        rows = run([model], args.family, Path(args.work), log)
        for r in rows:  # keep the other family's figures of a configuration measured before
            before = next((o for o in old if o["model"] == r["model"]
                           and o["config"] == r["config"] and o["features"] == r["features"]),
                          {})
            r.update({f: before[f] for f in ("ecp5", "xilinx") if f in before and f not in r})
        rows = [r for r in old if r["model"] != model] + rows
        out.write_text(json.dumps({"source": "benchmarks/calibrate.py",
                                   "machine": platform.machine(), "folds": FOLDS,
                                   "rows": rows}, indent=1) + "\n")
    plan._coefficients.cache_clear()
    print("\n| model | features | family | points | mean abs LUT error | max |")
    print("|---|---|---|---|---|---|")
    for family in args.family:
        for model, (points, mean, worst) in plan.fit_errors(family).items():
            print(f"| {model} | {plan.MODELS[model][0]} | {family} | {points} | {mean:.1f} % | "
                  f"{worst:.1f} % |")
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
