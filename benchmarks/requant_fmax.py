"""Fmax of one Requant placed alone: attention_mini's layer ``k`` at ``clock_mhz: 200``.

    nice -n 10 python benchmarks/requant_fmax.py [--seeds 1] [--layer k] [--timeout 1800]

attention_mini's first placed run at 200 MHz (``benchmarks/results/fmax.json``,
label ``vit5``) reached 96.8 MHz, its path Requant's one-cycle product in
layer ``k`` (a 19-bit accumulator times a 31-bit multiplier on MULT18X18D
tiles and their adders, 15 logic levels, 10.3 ns). This script composes the
example for ``ecp5-85k-8`` at 200 MHz, takes that layer's Requant as the
generator retimed it (its multiplier narrowed, its product in shift-add
stages), wraps it in the AXI4-Stream top alone, and synthesises, places and
routes it with ``hwgen.synth.synthesize`` (the flow of ``hwgen synth --pnr``).
One record per layer goes to ``benchmarks/results/requant_fmax.json``.
"""

import argparse
import json
import platform
import sys
import tempfile
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from hwgen.export import to_verilog  # noqa: E402
from hwgen.network import build_network  # noqa: E402
from hwgen.spec import load  # noqa: E402
from hwgen.synth import synthesize  # noqa: E402
from hwgen.top import AxiStreamTop  # noqa: E402

OUT = ROOT / "benchmarks" / "results" / "requant_fmax.json"
DEVICE, CLOCK_MHZ = "ecp5-85k-8", 200


def requant_of(layer, folder):
    """The Requant of attention_mini's ``layer``, composed at 200 MHz on the 85k speed 8."""
    source = ROOT / "examples" / "attention_mini.yaml"
    spec = yaml.safe_load(source.read_text())
    if "weights" in spec:
        spec["weights"] = str((source.parent / spec["weights"]).resolve())
    spec.setdefault("target", {}).update(clock_mhz=CLOCK_MHZ, device=DEVICE)
    path = folder / "attention_mini.yaml"
    path.write_text(yaml.safe_dump(spec, sort_keys=False))
    design = build_network(load(path))
    units = [unit for hw in design.layers if hw.layer.name == layer for unit in hw.units
             if type(unit).__name__ == "Requant"]
    if not units:
        raise SystemExit(f"attention_mini has no Requant in layer {layer!r}")
    return units[0]


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--layer", default="k")
    parser.add_argument("--seeds", default="1")
    parser.add_argument("--timeout", type=float, default=1800)
    args = parser.parse_args()
    seeds = [int(s) for s in args.seeds.split(",")]
    with tempfile.TemporaryDirectory() as work:
        work = Path(work)
        unit = requant_of(args.layer, work)
        top = f"requant_{args.layer}"
        (work / f"{top}.v").write_text(to_verilog(AxiStreamTop(unit, out_beats=unit.folds), top))
        report = synthesize(work / f"{top}.v", top, "ecp5", work / "synth", device=DEVICE,
                            clock_mhz=CLOCK_MHZ, pnr=True, seeds=seeds, pnr_timeout=args.timeout,
                            progress=print)
    pnr, total = report["pnr"], report["total"]
    row = {"layer": args.layer, "device": DEVICE, "clock_mhz": CLOCK_MHZ, "seeds": seeds,
           "multiplier_bits": unit.multiplier_bits, "product_stages": unit.product_stages,
           "dsp_product": unit.dsp_product,
           "shift_stage": unit.shift_stage, "offset_stage": unit.offset_stage,
           "latency": unit.latency, "in_bits": unit.i.payload.shape().elem_shape.width,
           "lut4": total["lut"], "lutram": total["lutram"], "ff": total["ff"],
           "mult18x18d": total["dsp"], "dsp_registers": report["dsp_registers"],
           "fmax_mhz_median": pnr["fmax_mhz_median"],
           "fmax_mhz_min": pnr["fmax_mhz_min"], "critical_path": pnr["critical_path"]}
    data = json.loads(OUT.read_text()) if OUT.exists() else {"rows": []}
    data["rows"] = [r for r in data["rows"] if r["layer"] != args.layer] + [row]
    data["machine"] = platform.platform()
    OUT.write_text(json.dumps(data, indent=2) + "\n")
    print("| layer | in bits | m' bits | product stages | latency | LUT4 | FF | MULT18X18D "
          "| Fmax median (min) | path |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    path = row["critical_path"] or {}
    print(f"| {row['layer']} | {row['in_bits']} | {row['multiplier_bits']} | "
          f"{row['product_stages']} | {row['latency']} | {row['lut4']} | {row['ff']} | "
          f"{row['mult18x18d']} | {row['fmax_mhz_median']} ({row['fmax_mhz_min']}) | "
          f"{path.get('from')} -> {path.get('to')}, {path.get('delay_ns')} ns, "
          f"{path.get('logic_levels')} levels |")


if __name__ == "__main__":
    main()
