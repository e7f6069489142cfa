"""Cycle and resource model: per-layer cycles, LUT/FF/BRAM estimates, ACE; ``report.md``.

Cycles come from the composed design (each layer's steady-state cycles per
sample, FINN's ``NF * SF`` per vector for an MVAU); the slowest layer sets
the throughput and is the bottleneck.

Resources are estimated per unit, like FINN's ``lut_estimation``, but with
coefficients fitted by least squares to our own Yosys results
(``hwgen/data/calibration/binary_mvau.json``, written by
``benchmarks/synth_binary.py``): for a binary MVAU

    LUT = a * PE*SIMD + b * PE*acc_bits + c        FF = d * PE*SIMD + e * PE*acc_bits + f

per family (ECP5 LUT4, Xilinx LUT6, LUTRAM counted as LUTs). The sweep
uses NF = SF = 2, where the 4-word weight ROM merges into the XNOR LUTs; a
deeper ROM is modelled as block RAM (per PE ``ceil(SIMD / 36)`` x
``ceil(depth / 512)`` 18-kbit blocks, i.e. DP16KD or RAMB18 = 0.5 RAMB36)
once it holds more than 64 words, and as LUTs (``SIMD * ceil(depth / 16)``
LUT4, a quarter as many LUT6) below. Units without a model (converters,
FIFOs, thresholds, units of other ops) are listed with no estimate rather
than a guess.

ACE is PokeBNN's arithmetic computation effort: the sum over layers of
MACs * weight bits * activation bits.
"""

import json
import math
from functools import lru_cache
from pathlib import Path

import numpy as np

__all__ = ["ace", "estimate_unit", "plan_network", "render_report"]

_CALIBRATION = Path(__file__).resolve().parent / "data" / "calibration" / "binary_mvau.json"
_BRAM_UNIT = {"ecp5": 1.0, "xilinx": 0.5, "ice40": 4.5}   # 18-kbit blocks -> family's BRAM unit


@lru_cache(maxsize=None)
def _coefficients(path=_CALIBRATION):
    """{family: (lut coefficients, ff coefficients)} fitted to the calibration sweep."""
    path = Path(path)
    if not path.exists():
        return {}
    rows = json.loads(path.read_text())["rows"]
    fitted = {}
    for family in ("ecp5", "xilinx"):
        have = [r for r in rows if family in r]
        if len(have) < 3:
            continue
        x = np.array([_features(r["pe"], r["simd"], r["acc_bits"]) for r in have], float)
        lut = np.linalg.lstsq(x, [r[family]["lut_total"] for r in have], rcond=None)[0]
        ff = np.linalg.lstsq(x, [r[family]["ff"] for r in have], rcond=None)[0]
        fitted[family] = (tuple(lut), tuple(ff))
    return fitted


def _features(pe, simd, acc_bits):
    """Terms of the MVAU model: synapse lanes, accumulator bits, a constant."""
    return [pe * simd, pe * acc_bits, 1]


def estimate_unit(unit, family):
    """{lut, ff, bram} estimate of one unit for ``family``, or None without a model."""
    from .units.mvau import MVAU
    fitted = _coefficients().get(family)
    if type(unit) is not MVAU or fitted is None:
        return None
    terms = _features(unit.pe, unit.simd, unit.acc_shape.width)
    lut, ff = (float(np.dot(coefficients, terms)) for coefficients in fitted)
    pe, simd = unit.pe, unit.simd
    depth = unit.nf * unit.sf
    bram = 0.0
    if depth > 64:
        bram = pe * math.ceil(simd / 36) * math.ceil(depth / 512) * _BRAM_UNIT.get(family, 1)
    elif depth > 4:
        rom = simd * math.ceil(depth / 16) * pe
        lut += rom if family != "xilinx" else rom / 4
    return {"lut": round(lut), "ff": round(ff), "bram": bram}


def _bits(tensor):
    return 1 if tensor.binary else tensor.bits


def ace(spec):
    """(total, {layer: ACE}) with ACE = MACs * weight bits * activation bits (PokeBNN)."""
    per_layer = {}
    for layer in spec.layers:
        weight = layer.params.get("weight")
        if weight is None:
            continue
        outputs = layer.op_type.size // weight.shape[0]       # positions per output channel
        macs = int(weight.size) * outputs
        if layer.op.startswith("binary_"):
            wbits = 1
        elif layer.attrs.get("weight_type") == "ternary":
            wbits = 2
        else:
            wbits = int(layer.attrs.get("weight_bits", 8))
        per_layer[layer.name] = {"macs": macs, "weight_bits": wbits,
                                 "act_bits": _bits(layer.in_types[0]),
                                 "ace": macs * wbits * _bits(layer.in_types[0])}
    return sum(v["ace"] for v in per_layer.values()), per_layer


def plan_network(spec, design, families=("ecp5", "xilinx")):
    """Per-layer cycles (bottleneck marked) and resource estimates of a composed design."""
    bottleneck = max(hw.cycles_per_sample for hw in design.layers)
    layers = []
    for hw in design.layers:
        row = {"name": hw.layer.name, "op": hw.layer.op, "pe": hw.layer.pe,
               "simd": hw.layer.simd, "cycles": hw.cycles_per_sample,
               "bottleneck": hw.cycles_per_sample == bottleneck,
               "units": [type(u).__name__ for u in hw.units], "estimate": {}}
        for family in families:
            parts = [estimate_unit(u, family) for u in hw.units]
            known = [p for p in parts if p is not None]
            row["estimate"][family] = None if not known else {
                "lut": sum(p["lut"] for p in known), "ff": sum(p["ff"] for p in known),
                "bram": sum(p["bram"] for p in known),
                "complete": len(known) == len(parts),
                "missing": [type(u).__name__ for u, p in zip(hw.units, parts) if p is None]}
        layers.append(row)
    total_ace, ace_layers = ace(spec)
    for row in layers:
        row["ace"] = ace_layers.get(row["name"], {}).get("ace", 0)
    return {"network": spec.name, "clock_mhz": spec.target.clock_mhz,
            "cycles_per_sample": design.ideal_cycles, "layers": layers, "ace": total_ace,
            "calibrated": sorted(_coefficients())}


def _error(estimate, measured):
    if not measured:
        return "-"
    return f"{100 * (estimate - measured) / measured:+.0f} %"


def render_report(plan, measured=None, plot_dir=None):
    """``report.md`` text; ``measured`` is ``synth/report.json`` (or None); PNG plots go to
    ``plot_dir`` when matplotlib is installed. Returns (markdown, [plot files])."""
    clock = plan["clock_mhz"]
    lines = [f"# {plan['network']}: estimates and measurements", "",
             f"Ideal {plan['cycles_per_sample']} cycles per sample "
             f"({clock * 1e6 / plan['cycles_per_sample']:,.0f} samples/s at the target "
             f"{clock:g} MHz); ACE (MACs x weight bits x activation bits) "
             f"{plan['ace']:,}."]
    pnr = (measured or {}).get("pnr")
    if pnr and pnr.get("fmax_mhz"):
        path = pnr.get("critical_path") or {}
        lines.append(f"Measured Fmax {pnr['fmax_mhz']} MHz ({measured['device']}): "
                     f"{pnr['fmax_mhz'] * 1e6 / plan['cycles_per_sample']:,.0f} samples/s; "
                     f"critical path {path.get('from_layer')} -> {path.get('to_layer')}.")
    lines += ["", "## Cycles per sample", "", "| layer | op | PE | SIMD | cycles | |",
              "|---|---|---|---|---|---|"]
    for row in plan["layers"]:
        lines.append(f"| {row['name']} | {row['op']} | {row['pe']} | {row['simd']} | "
                     f"{row['cycles']} | {'**bottleneck**' if row['bottleneck'] else ''} |")
    family = measured["family"] if measured else "ecp5"
    by_name = {r["name"]: r for r in (measured or {}).get("layers", [])}
    lines += ["", f"## Resources ({family}; estimate vs measured by Yosys)", ""]
    if not plan["calibrated"]:
        lines += ["No calibration data (run `python benchmarks/synth_binary.py`); "
                  "estimates are unavailable.", ""]
    lines += ["| layer | LUT est. | LUT meas. | error | FF est. | FF meas. | error | BRAM est. | "
              "BRAM meas. |", "|---|---|---|---|---|---|---|---|---|"]
    for row in plan["layers"]:
        est = row["estimate"].get(family)
        got = by_name.get(row["name"])
        cells = []
        for key, measured_key in (("lut", "lut_total"), ("ff", "ff"), ("bram", "bram")):
            e = "-" if est is None else (f"{est[key]:g}" + ("" if est["complete"] else "*"))
            m = "-" if got is None else f"{got[measured_key]:g}"
            cells += [e, m] + ([] if key == "bram" else
                               [_error(est[key], got[measured_key]) if est and got and
                                est["complete"] else "-"])
        lines.append(f"| {row['name']} | " + " | ".join(cells) + " |")
    if measured:
        for name in ("(glue)", "(top)"):
            if name in by_name:
                got = by_name[name]
                lines.append(f"| {name} | - | {got['lut_total']:g} | - | - | {got['ff']:g} | - "
                             f"| - | {got['bram']:g} |")
        t = measured["total"]
        lines.append(f"| total | | {t['lut_total']:g} | | | {t['ff']:g} | | | {t['bram']:g} |")
    else:
        lines.append("\nNo measurement: run `hwgen synth` first (writes synth/report.json).")
    lines.append("\n`*` = the layer has units without a model (converters, thresholds, ...): "
                 "the estimate covers its MVAU only.")
    plots = _plots(plan, measured, family, plot_dir) if plot_dir else []
    lines += [f"\n![{p.stem}]({p.name})" for p in plots]
    return "\n".join(lines) + "\n", plots


def _plots(plan, measured, family, plot_dir):
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return []
    names = [r["name"] for r in plan["layers"]]
    fig, ax = plt.subplots(figsize=(6, 3))
    ax.bar(names, [r["cycles"] for r in plan["layers"]],
           color=["tab:red" if r["bottleneck"] else "tab:blue" for r in plan["layers"]])
    ax.set_ylabel("cycles per sample")
    ax.set_title(f"{plan['network']}: cycles per layer (red = bottleneck)")
    fig.tight_layout()
    files = [Path(plot_dir) / "cycles.png"]
    fig.savefig(files[0], dpi=100)
    plt.close(fig)
    by_name = {r["name"]: r for r in (measured or {}).get("layers", [])}
    est = [(r["estimate"].get(family) or {}).get("lut", 0) for r in plan["layers"]]
    got = [by_name.get(n, {}).get("lut_total", 0) for n in names]
    fig, ax = plt.subplots(figsize=(6, 3))
    x = np.arange(len(names))
    ax.bar(x - 0.2, est, 0.4, label="estimate")
    ax.bar(x + 0.2, got, 0.4, label="measured (Yosys)")
    ax.set_xticks(x, names)
    ax.set_ylabel(f"LUT ({family})")
    ax.legend()
    fig.tight_layout()
    files.append(Path(plot_dir) / "luts.png")
    fig.savefig(files[1], dpi=100)
    plt.close(fig)
    return files
