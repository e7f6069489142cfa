"""Cycle and resource model: per-unit LUT/FF/BRAM/DSP estimates, cycles, ACE, auto folding.

Cycles come from the composed design (each layer's steady-state cycles per
sample, FINN's ``NF * SF`` per vector for an MVAU); the slowest layer sets
the throughput and is the bottleneck.

Resources are estimated per unit, like FINN's ``lut_estimation`` /
``bram_estimation``, but with coefficients fitted by least squares to our
own Yosys results (the flow of ``hwgen synth``). Every model is linear in a
few features of the unit (``MODELS``, ``unit_features``); LUT, FF and DSP
are each fitted per family (ECP5 LUT4, Xilinx LUT6; LUTRAM counted as LUTs)
when the module is first used:

    binary MVAU          PE*SIMD, PE*acc_bits, 1     (binary_mvau.json, benchmarks/synth_binary.py)
    IntegerMVAU int/lut  PE*SIMD*wbits*ibits, PE*acc_bits, 1   (units.json, benchmarks/calibrate.py)
    IntegerMVAU int/dsp  PE*SIMD, PE*acc_bits, 1; DSP = PE*SIMD
    IntegerMVAU ternary  PE*SIMD*ibits, PE*acc_bits, 1 (binary weights on integer inputs too:
                         the same add/sub datapath)
    Thresholding         PE*(2**obits - 1)*ibits, 1
    Requant              PE*ibits, PE, 1; DSP = PE*ceil(ibits/18)*ceil(mbits/18) (ECP5
                         MULT18X18D; mbits/25 for DSP48E1), exact on every calibration point
    LabelSelect          PE*ibits, 1
    width converter      in lanes*bits*rotator stages, in lanes*bits, out lanes*bits, 1
                         (rotator stages: bits of a pointer into the ring of gcd-element slots)
    StreamFIFO           width, width*ceil(depth/16) (LUTRAM; 0 above 64 beats), 1
    SkidBuffer           width, 1

The MVAU sweeps use NF = SF = 2, where the 4-word weight ROM merges into the
datapath LUTs; a deeper ROM is modelled as block RAM (per PE ``ceil(word /
36)`` x ``ceil(depth / 512)`` 18-kbit blocks, i.e. DP16KD or RAMB18 = 0.5
RAMB36, ``word = SIMD * weight bits``) once it holds more than 64 words and
4 kbit (where ``synth_ecp5`` chose block RAM), and as logic/LUTRAM (``word *
ceil(depth / 16)`` LUT4, a quarter as many LUT6) below; a FIFO deeper than
64 beats as block RAM. Units without a
model (sliding-window generator, max-pool, the I-ViT units, the AXI4-Stream
wrapper) get no estimate rather than a guess, and a row holding one is
marked incomplete. ``auto_fold`` uses the model to choose PE/SIMD under a
LUT budget (``hwgen ... --fold auto --max-lut N``).

ACE is PokeBNN's arithmetic computation effort: the sum over layers of
MACs * weight bits * activation bits.
"""

import json
import math
from functools import cache
from pathlib import Path

import numpy as np

from .ops import OPS
from .toolchain import family_of

__all__ = ["MODELS", "ace", "auto_fold", "calibration_rows", "estimate_unit", "estimate_units",
           "family_of", "fit_errors", "plan_network", "unit_features"]

_CALIBRATION_DIR = Path(__file__).resolve().parent / "data" / "calibration"
_CALIBRATION = _CALIBRATION_DIR / "binary_mvau.json"
_BRAM_UNIT = {"ecp5": 1.0, "xilinx": 0.5, "ice40": 4.5}   # 18-kbit blocks -> family's BRAM unit
#: how many LUTs one 16-word x 4-bit distributed-RAM slice costs, per LUT bit: ECP5
#: TRELLIS_DPR16X4 = 4 LUT4 per 64 bits; a Xilinx RAM64M holds 4x as many bits per LUT
_LUTRAM_SCALE = {"ecp5": 1.0, "xilinx": 0.25, "ice40": 1.0}

#: model -> (feature names, what they are); every model is linear in its features,
#: fitted per family by least squares to ``hwgen/data/calibration/<model>.json``
MODELS = {
    "binary_mvau": ("PE*SIMD, PE*acc_bits, 1", "XNOR-popcount MVAU"),
    "int_mvau_lut": ("PE*SIMD*wbits*ibits, PE*acc_bits, 1", "IntegerMVAU, int LUT shift-add"),
    "int_mvau_dsp": ("PE*SIMD, PE*acc_bits, 1", "IntegerMVAU, int on DSPs (DSP = PE*SIMD)"),
    "ternary_mvau": ("PE*SIMD*ibits, PE*acc_bits, 1", "IntegerMVAU, ternary/binary weights"),
    "thresholding": ("PE*(2^obits-1)*ibits, 1", "Thresholding"),
    "requant": ("PE*ibits, PE, 1", "Requant (per-channel parameters; DSP from the widths)"),
    "label_select": ("PE*ibits, 1", "LabelSelect (argmax)"),
    "dwc": ("in lanes*bits*rotator stages, in lanes*bits, out lanes*bits, 1",
            "StreamingDataWidthConverter"),
    "fifo": ("width, width*ceil(depth/16), 1", "StreamFIFO (LUTRAM below 64 beats)"),
    "skid": ("width, 1", "SkidBuffer"),
}


def unit_features(unit):
    """(model name, feature vector) of a unit, or None when no model covers it: what the
    unit says of itself (its ``resource_features``)."""
    return unit.resource_features


def _binary_rows():
    """The binary MVAU sweep of ``benchmarks/synth_binary.py`` as calibration rows."""
    if not _CALIBRATION.exists():
        return []
    return [{**r, "model": "binary_mvau", "features": [r["pe"] * r["simd"],
                                                       r["pe"] * r["acc_bits"], 1]}
            for r in json.loads(_CALIBRATION.read_text())["rows"]]


def calibration_rows():
    """Every calibration row: {model, features, <family>: {lut_total, ff, dsp, ...}}."""
    rows = _binary_rows()
    path = _CALIBRATION_DIR / "units.json"
    if path.exists():
        rows += json.loads(path.read_text())["rows"]
    return rows


def _fit(rows, family):
    """{lut, ff, dsp: coefficients} of one model and family; None with too few points."""
    have = [r for r in rows if family in r]
    if not have or len(have) < len(have[0]["features"]):
        return None
    x = np.array([r["features"] for r in have], float)
    return {key: tuple(np.linalg.lstsq(x, [r[family][source] for r in have], rcond=None)[0])
            for key, source in (("lut", "lut_total"), ("ff", "ff"), ("dsp", "dsp"))}


@cache
def _coefficients():
    """{model: {family: {lut, ff, dsp: coefficients}}} fitted to the calibration rows."""
    fitted = {}
    rows = calibration_rows()
    for model in MODELS:
        mine = [r for r in rows if r["model"] == model]
        for family in ("ecp5", "xilinx"):
            coefficients = _fit(mine, family) if mine else None
            if coefficients:
                fitted.setdefault(model, {})[family] = coefficients
    return fitted


def fit_errors(family="ecp5"):
    """{model: (points, mean |error| %, max |error| %)} of the LUT fit on its own points."""
    out = {}
    for model, per_family in _coefficients().items():
        if family not in per_family:
            continue
        rows = [r for r in calibration_rows() if r["model"] == model and family in r]
        errors = [abs(np.dot(per_family[family]["lut"], r["features"]) - r[family]["lut_total"])
                  / max(r[family]["lut_total"], 1) * 100 for r in rows]
        out[model] = (len(rows), float(np.mean(errors)), float(np.max(errors)))
    return out


def _rom(unit, family):
    """(LUTs, BRAM) of an MVAU's weight ROMs beyond the sweep's 4-word ROM.

    Measured with ``synth_ecp5`` on auto-folded networks: per-PE ROMs of 256 x 32
    and 128 x 64 bits became block RAM, 256 x 16, 320 x 8 and 80 x 16 logic
    (about ``word * depth / 16`` LUT4: tiny_bnn fc1 with 8 PEs of 256 x 16 bits
    measured 2,647 LUT4 in all, 2,618 estimated), but 160 x 16 block RAM too:
    Yosys's choice is no plain size threshold, and this rule misses that one.
    """
    width, depth = unit.simd * unit.lane_bits, unit.nf * unit.sf
    if depth > 64 and width * depth > 4096:
        return 0.0, unit.pe * math.ceil(width / 36) * math.ceil(depth / 512) * _BRAM_UNIT[family]
    if depth > 4:
        return width * math.ceil(depth / 16) * unit.pe * _LUTRAM_SCALE[family], 0.0
    return 0.0, 0.0


def estimate_unit(unit, family):
    """{lut, ff, bram, dsp, model} estimate of one unit for ``family``, or None without a model."""
    features = unit_features(unit)
    if features is None:
        return None
    model, terms = features
    fitted = _coefficients().get(model, {}).get(family)
    if fitted is None:
        return None
    lut, ff, dsp = (max(0.0, float(np.dot(fitted[key], terms))) for key in ("lut", "ff", "dsp"))
    bram = 0.0
    if "mvau" in model:
        rom_lut, bram = _rom(unit, family)
        lut += rom_lut
        if unit.read_register:      # deep ROMs: slice and words registered after the read
            # (with two, the words' first register is the block RAM's output register)
            ff += unit.simd * (unit.pe * unit.lane_bits + unit.in_shape.width
                               * unit.read_register)
    if model == "int_mvau_dsp":
        dsp = unit.pe * unit.simd
    if model == "requant" and unit.product_stages:     # shift-add stages in logic
        dsp = 0     # their LUTs and stage registers are not estimated yet (under-counts)
    elif model == "requant":    # x * m split into 18x18 (ECP5) or 25x18 (DSP48E1) tiles
        bits, pe = terms[0] // terms[1], terms[1]
        dsp = pe * math.ceil(bits / 18) * math.ceil(unit.multiplier_bits /
                                                    (25 if family == "xilinx" else 18))
    if model == "fifo" and unit.depth > 64:
        width = terms[0]
        bram = math.ceil(width / 36) * math.ceil(unit.depth / 512) * _BRAM_UNIT[family]
    return {"lut": round(lut), "ff": round(ff), "bram": bram, "dsp": round(dsp), "model": model}


def _bits(tensor):
    return 1 if tensor.binary else tensor.bits


def ace(spec):
    """(total, {layer: ACE}) with ACE = MACs * weight bits * activation bits (PokeBNN)."""
    per_layer = {}
    for layer in spec.layers:
        weight = layer.params.get("weight")
        if weight is None or OPS[layer.op].weight_bits is None:
            continue
        outputs = layer.op_type.size // weight.shape[0]       # positions per output channel
        macs = int(weight.size) * outputs
        wbits = OPS[layer.op].weight_bits(layer.attrs)
        per_layer[layer.name] = {"macs": macs, "weight_bits": wbits,
                                 "act_bits": _bits(layer.in_types[0]),
                                 "ace": macs * wbits * _bits(layer.in_types[0])}
    return sum(v["ace"] for v in per_layer.values()), per_layer


def estimate_units(units, family):
    """Summed {lut, ff, bram, dsp} estimate of ``units``, with ``complete`` (every unit has a
    model) and ``missing`` (names of those without); None when no unit has a model."""
    parts = [estimate_unit(u, family) for u in units]
    known = [p for p in parts if p is not None]
    if not known:
        return None
    total = {key: sum(p[key] for p in known) for key in ("lut", "ff", "bram", "dsp")}
    return {**total, "complete": len(known) == len(parts),
            "missing": sorted({type(u).__name__ for u, p in zip(units, parts) if p is None})}


def plan_network(spec, design, families=("ecp5", "xilinx")):
    """Per-layer cycles (bottleneck marked) and resource estimates of a composed design;
    the converters, FIFOs and skid buffers the composer added form the row ``(glue)``."""
    bottleneck = max(hw.cycles_per_sample for hw in design.layers)
    layers = []
    for hw in design.layers:
        layers.append({"name": hw.layer.name, "op": hw.layer.op, "pe": hw.layer.pe,
                       "simd": hw.layer.simd, "cycles": hw.cycles_per_sample,
                       "bottleneck": hw.cycles_per_sample == bottleneck,
                       "units": [type(u).__name__ for u in hw.units],
                       "estimate": {f: estimate_units(hw.units, f) for f in families}})
    glue = {"name": "(glue)", "units": [type(u).__name__ for u in design.glue],
            "estimate": {f: estimate_units(design.glue, f) for f in families}}
    every = [u for hw in design.layers for u in hw.units] + list(design.glue)
    total_ace, ace_layers = ace(spec)
    for row in layers:
        row["ace"] = ace_layers.get(row["name"], {}).get("ace", 0)
    return {"network": spec.name, "clock_mhz": spec.target.clock_mhz,
            "cycles_per_sample": design.ideal_cycles, "layers": layers, "glue": glue,
            "total": {f: estimate_units(every, f) for f in families}, "ace": total_ace,
            "calibrated": sorted(_coefficients())}


def _divisors(n):
    return [d for d in range(1, n + 1) if n % d == 0]


def auto_fold(path, max_lut, family="ecp5", log=None):
    """PE/SIMD per layer for the fastest pipeline whose estimated LUTs stay <= ``max_lut``.

    Like FINN's SetFolding, but against a LUT budget instead of a cycle
    target: start fully folded (pe = simd = 1 on every layer that folds;
    ``unroll: full`` layers keep theirs), then repeatedly take the bottleneck
    layer (most cycles per sample) and unfold it one step, to its next legal
    SIMD or PE (the next divisor of the fan-in or of the outputs: every
    candidate is the YAML reloaded with ``hwgen.spec.load(path, folds=...)``,
    so the spec's own checks decide what is legal), choosing of the two the
    one with fewer cycles for that layer, then fewer LUTs, as long as the
    estimated total (every unit with a model, layers and glue) stays within
    the budget. Stops when the bottleneck cannot be unfolded within budget,
    is fully unfolded, or is the AXI4-Stream input/output itself.

    Returns ``(spec, design, summary)``; ``summary`` has ``steps``, ``lut`` (the
    estimate), ``cycles`` and ``stop`` (why the search ended). Raises
    ValueError when even the fully folded design exceeds ``max_lut`` (the
    message names the minimum).
    """
    from .network import build_network
    from .spec import SpecError, load

    base = load(path)
    choices = {}
    for layer in base.layers:
        op = OPS[layer.op]
        if op.unrolls and layer.attrs.unroll != "none":
            continue
        dims = op.fold(layer.attrs, layer.in_types)
        if dims.pe is not None or dims.simd is not None:
            choices[layer.name] = (_divisors(dims.pe[1]) if dims.pe else [1],
                                   _divisors(dims.simd[1]) if dims.simd else [1])
    cache = {}

    def evaluate(folds):
        key = tuple(sorted(folds.items()))
        if key not in cache:
            try:
                spec = load(path, folds=folds)
                design = build_network(spec)
            except (SpecError, ValueError):      # a folding the spec or a unit rejects
                cache[key] = None
            else:
                units = list(design.top.core.units)
                for elaboratable in [design.top, design.top.core, *units]:
                    elaboratable._MustUse__silence = True   # a model, never elaborated
                cache[key] = (spec, design, estimate_units(units, family)["lut"])
        return cache[key]

    folds = {name: (1, 1) for name in choices}
    current = evaluate(folds)
    if current is None:
        raise ValueError(f"{path}: the fully folded network (pe = simd = 1) is not valid")
    if current[2] > max_lut:
        raise ValueError(f"--max-lut {max_lut} is below the fully folded design's estimate "
                         f"of {current[2]} {family} LUTs; the minimum budget is {current[2]}")
    steps, stop = 0, ""
    while True:
        spec, design, lut = current
        slowest = max(design.layers, key=lambda hw: hw.cycles_per_sample)
        name = slowest.layer.name
        if max(design.in_beats, design.out_beats) >= slowest.cycles_per_sample:
            stop = "the AXI4-Stream input or output is the bottleneck"
            break
        if name not in choices:
            stop = f"the bottleneck {name} does not fold"
            break
        pe, simd = folds[name]
        pes, simds = choices[name]
        options = []
        for fold in ((pe, _next(simds, simd)), (_next(pes, pe), simd)):
            if None in fold:
                continue
            result = evaluate({**folds, name: fold})
            if result is not None and result[2] <= max_lut:
                hw = next(h for h in result[1].layers if h.layer.name == name)
                options.append((hw.cycles_per_sample, result[2], fold, result))
        if not options:
            full = _next(pes, pe) is None and _next(simds, simd) is None
            stop = (f"the bottleneck {name} is fully unfolded" if full else
                    f"unfolding the bottleneck {name} further exceeds {max_lut} LUTs")
            break
        cycles, _, fold, current = min(options, key=lambda o: o[:2])
        folds[name] = fold
        steps += 1
        if log:
            log(f"      step {steps}: {name} pe={fold[0]} simd={fold[1]} -> {cycles} cycles, "
                f"{current[2]} LUTs")
    spec, design, lut = current
    return spec, design, {"steps": steps, "lut": lut, "cycles": design.ideal_cycles,
                          "stop": stop, "family": family, "max_lut": max_lut}


def _next(values, value):
    """The next larger value of the sorted ``values`` after ``value``, or None."""
    return next((v for v in values if v > value), None)
