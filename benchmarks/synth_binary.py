"""Binary MVAUs and networks through Yosys (+ nextpnr): LUT per synapse-op, Fmax, FINN ratios.

    python benchmarks/synth_binary.py [--quick] [--out benchmarks/results/synth_binary.json]

Part 1 synthesises lone binary MVAUs (``hwgen.units.mvau.MVAU``) with
PE*SIMD from 16 to 4096, two output and two synapse folds (NF = SF = 2, so
the weights are a 4-word ROM per PE, not constants) and pipeline 1, with
``synth_ecp5`` (LUT4) and ``synth_xilinx`` (LUT6), and reports LUTs per
binary synapse-op (per PE*SIMD). The measurements are also the calibration
data of ``hwgen.plan`` (``hwgen/data/calibration/binary_mvau.json``).

Part 2 runs ``hwgen synth`` on SFC- and LFC-shaped examples for both
families, places and routes the ECP5 netlist on an LFE5U-85F, speed grade 8
(nextpnr-ecp5 ``--85k --speed 8``), and compares images/s per kLUT at the
same clock with FINN's published figures. Yosys and Vivado count LUTs
differently (mapping, LUT combining, retiming), so the ratio is indicative.

``--fmax NET [NET ...]`` only places and routes ``examples/NET.yaml`` on the
LFE5U-85F-8 (``hwgen synth --target ecp5 --pnr --device ecp5-85k-8``, in a
child process under ``--timeout`` seconds, ``nice``d), records LUT4, FF,
Fmax and the critical path under ``--label`` (the design step measured) in
``benchmarks/results/synth_fmax.json`` and prints the Fmax table of every
recorded step; a run that times out is recorded as not finished.

``--quick`` runs two small MVAUs and tiny_bnn only. Big designs take minutes
each on a shared machine; run the full benchmark with ``nice``.
"""

import argparse
import json
import platform
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from hwgen.cli import main as hwgen_main  # noqa: E402
from hwgen.export import to_verilog  # noqa: E402
from hwgen.synth import synthesize  # noqa: E402
from hwgen.units.mvau import MVAU  # noqa: E402

SWEEP = [(4, 4), (8, 8), (16, 16), (32, 32), (64, 64)]
QUICK_SWEEP = [(4, 4), (16, 16)]
NETWORKS = ["sfc_fast", "lfc"]
QUICK_NETWORKS = ["tiny_bnn"]
FOLDS = 2                     # NF = SF = 2 in the sweep
FMAX_DEVICE = "ecp5-85k-8"

# Published figures (same-clock comparison: images/s per kLUT scales with 1/cycles).
FINN = {
    # Umuroglu et al., FINN (FPGA 2017), table of results: SFC-max on a ZC706 at 200 MHz.
    "sfc": {"name": "FINN SFC-max (ZC706, Vivado)", "lut": 91131, "bram": None,
            "images_per_s": 12.3e6, "clock_mhz": 200},
    # Xilinx BNN-PYNQ lfcW1A1 on the Pynq-Z1 (xc7z020), 100 MHz, SIMD/PE 64/32, 32/64, 64/32,
    # 8/16: the slowest layers take 512 cycles per image.
    "lfc": {"name": "BNN-PYNQ lfcW1A1 (xc7z020, Vivado)", "lut": 28360, "bram": 110,
            "cycles": 512, "clock_mhz": 100},
}


def finn_cycles(ref):
    return ref.get("cycles") or ref["clock_mhz"] * 1e6 / ref["images_per_s"]


def sweep(pairs, work, log):
    rows = []
    for pe, simd in pairs:
        rng = np.random.default_rng(pe * 1000 + simd)
        weights = rng.choice(np.array([-1, 1], np.int8), size=(FOLDS * pe, FOLDS * simd))
        unit = MVAU(weights=weights, pe=pe, simd=simd, pipeline=1)
        top = f"mvau_{pe}x{simd}"
        folder = work / top
        folder.mkdir(parents=True, exist_ok=True)
        (folder / f"{top}.v").write_text(to_verilog(unit, top))
        row = {"pe": pe, "simd": simd, "synapses": pe * simd, "mh": unit.mh, "mw": unit.mw,
               "acc_bits": unit.acc_shape.width, "pipeline": 1}
        for family in ("ecp5", "xilinx"):
            log(f"... MVAU PE={pe} SIMD={simd} {family}")
            done = folder / family / "report.json"
            if done.exists() and (folder / family / f"{top}.v").read_text() == \
                    (folder / f"{top}.v").read_text():
                report = json.loads(done.read_text())          # same Verilog: reuse
            else:
                report = synthesize(folder / f"{top}.v", top, family, folder / family,
                                    device="", clock_mhz=100, progress=log)
            total = report["total"]
            row[family] = {k: total[k] for k in ("lut", "lutram", "lut_total", "ff", "bram",
                                                 "dsp", "carry")}
            row[family]["seconds"] = report["seconds"]["yosys"]
            row[f"{family}_lut_per_synapse"] = round(total["lut_total"] / (pe * simd), 3)
        rows.append(row)
    return rows


def network(name, work, log, reuse=False, families=("xilinx", "ecp5")):
    record = {"network": name}
    net = ROOT / "examples" / f"{name}.yaml"
    for family in families:                    # place and route (ECP5) takes longest: last
        out = work / f"{name}_{family}"
        argv = ["synth", str(net), "--target", family, "-o", str(out)]
        if family == "ecp5":
            argv += ["--pnr", "--device", FMAX_DEVICE]
        started = time.monotonic()
        done = out / "synth" / "report.json"
        if reuse and done.exists():
            log(f"... reusing {done} (the same hwgen synth command ran before)")
        else:
            log(f"... hwgen {' '.join(argv[:1] + argv[2:])}")
            if hwgen_main(argv) != 0:
                raise SystemExit(f"hwgen synth failed for {name} ({family})")
        report = json.loads(done.read_text())
        manifest = json.loads((out / "manifest.json").read_text())
        record["cycles_per_sample"] = manifest["ideal_cycles_per_sample"]
        record["clock_mhz"] = report["clock_mhz"]
        record[family] = {"total": report["total"], "layers": report["layers"],
                          "pnr": report["pnr"], "seconds": round(time.monotonic() - started, 1)}
    return record


def fmax(name, label, work, log, *, timeout, reuse=False):
    """Place and route ``examples/<name>.yaml`` on FMAX_DEVICE; one row of the Fmax table."""
    out = work / f"{name}_fmax"
    done = out / "synth" / "report.json"
    row = {"network": name, "step": label, "device": FMAX_DEVICE, "finished": True}
    started = time.monotonic()
    if reuse and done.exists():
        log(f"... reusing {done}")
    else:
        argv = ["nice", "-n", "10", sys.executable, "-c",
                "from hwgen.cli import main; raise SystemExit(main())", "synth", str(ROOT / "examples" / f"{name}.yaml"),
                "--target", "ecp5", "--pnr", "--device", FMAX_DEVICE, "-o", str(out)]
        log(f"... hwgen synth examples/{name}.yaml --target ecp5 --pnr --device {FMAX_DEVICE} "
            f"(timeout {timeout} s)")
        done.unlink(missing_ok=True)
        try:
            subprocess.run(argv, check=True, timeout=timeout)
        except subprocess.TimeoutExpired:
            row.update(finished=False, seconds=round(time.monotonic() - started, 1))
            return row
    report = json.loads(done.read_text())
    total, pnr = report["total"], report["pnr"] or {}
    row.update({k: total[k] for k in ("lut", "lutram", "ff", "carry")})
    row.update(fmax_mhz=pnr.get("fmax_mhz"), critical_path=pnr.get("critical_path"),
               seconds=report.get("seconds"))
    return row


def print_fmax(rows):
    print(f"\nFmax (nextpnr-ecp5, {FMAX_DEVICE})")
    print("| network | step | LUT4 | LUTRAM | FF | Fmax MHz | critical path | levels | delay ns |")
    print("|---|---|---|---|---|---|---|---|---|")
    for r in rows:
        if not r["finished"]:
            print(f"| {r['network']} | {r['step']} | not finished in {r['seconds']} s "
                  "| | | | | | |")
            continue
        path = r["critical_path"] or {}
        print(f"| {r['network']} | {r['step']} | {r['lut']} | {r['lutram']} | {r['ff']} | "
              f"{r['fmax_mhz']} | {path.get('from')} -> {path.get('to')} | "
              f"{path.get('logic_levels')} | {path.get('delay_ns')} |")


def compare(record):
    """Images/s per kLUT at the same clock, ours (Yosys LUT6) vs FINN's (Vivado LUT)."""
    key = "lfc" if record["network"].startswith("lfc") else "sfc"
    ref = FINN[key]
    ours_lut = record["xilinx"]["total"]["lut_total"]
    clock = ref["clock_mhz"]
    ours = clock * 1e6 / record["cycles_per_sample"] / (ours_lut / 1000)
    theirs = clock * 1e6 / finn_cycles(ref) / (ref["lut"] / 1000)
    return {"reference": ref["name"], "clock_mhz": clock,
            "finn_lut": ref["lut"], "finn_bram36": ref["bram"],
            "finn_cycles_per_sample": round(finn_cycles(ref), 2),
            "ours_lut6": ours_lut, "ours_ff": record["xilinx"]["total"]["ff"],
            "ours_bram36": record["xilinx"]["total"]["bram"],
            "ours_cycles_per_sample": record["cycles_per_sample"],
            "ours_images_per_s_per_klut": round(ours), "finn_images_per_s_per_klut": round(theirs),
            "ratio": round(ours / theirs, 2)}


def _save(out, key, value):
    """Merge ``key`` into the JSON at ``out`` (partial results survive a stopped run;
    network records of another process running side by side are kept)."""
    data = json.loads(out.read_text()) if out.exists() else {}
    if key == "networks":    # a family not run this time keeps its earlier measurement
        old = {r["network"]: r for r in data.get("networks", [])}
        mine = {r["network"] for r in value}
        value = ([r for r in data.get("networks", []) if r["network"] not in mine]
                 + [{**old.get(r["network"], {}), **r} for r in value])
    data.update({"machine": platform.platform(), key: value})
    out.write_text(json.dumps(data, indent=2) + "\n")
    return data


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="two small MVAUs and tiny_bnn only")
    parser.add_argument("--only", choices=["sweep", "networks"],
                        help="one part (two processes can run the parts side by side)")
    parser.add_argument("--networks", nargs="*", help=f"default {' '.join(NETWORKS)}")
    parser.add_argument("--families", nargs="+", default=["xilinx", "ecp5"],
                        choices=["xilinx", "ecp5"],
                        help="networks: synth_xilinx (LUT6, the FINN ratio) and/or synth_ecp5 + "
                             "nextpnr-ecp5 (Fmax); a network's record keeps the family not run "
                             "from the existing JSON")
    parser.add_argument("--reuse", action="store_true",
                        help="take a network's synth/report.json from --work if it exists")
    parser.add_argument("--max-synapses", type=int, default=4096,
                        help="largest PE*SIMD of the MVAU sweep (default 4096)")
    parser.add_argument("--out", default=str(ROOT / "benchmarks" / "results" / "synth_binary.json"))
    parser.add_argument("--work", default=str(ROOT / "rtl_out" / "synth_binary"))
    parser.add_argument("--calibration", default=str(ROOT / "hwgen" / "data" / "calibration"
                                                     / "binary_mvau.json"),
                        help="where the MVAU measurements for hwgen.plan go ('' = nowhere)")
    parser.add_argument("--fmax", nargs="+", metavar="NET",
                        help="only place and route examples/NET.yaml on ecp5-85k-8 "
                             "-> benchmarks/results/synth_fmax.json")
    parser.add_argument("--label", default="current",
                        help="--fmax: the design step this run measures (a table row)")
    parser.add_argument("--timeout", type=float, default=2400,
                        help="--fmax: seconds per place and route (default 2400)")
    args = parser.parse_args()
    work, out = Path(args.work), Path(args.out)
    if args.fmax:
        return run_fmax(args, work)
    out.parent.mkdir(parents=True, exist_ok=True)
    started = time.monotonic()

    def log(message):
        print(f"[{time.monotonic() - started:6.0f} s] {message}", flush=True)

    data = json.loads(out.read_text()) if out.exists() else {}
    if args.only != "networks":
        pairs = [(pe, simd) for pe, simd in (QUICK_SWEEP if args.quick else SWEEP)
                 if pe * simd <= args.max_synapses]
        rows = sweep(pairs, work, log)
        data = _save(out, "mvau_sweep", rows)
        if args.calibration and not args.quick:
            path = Path(args.calibration)
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(json.dumps({"source": "benchmarks/synth_binary.py", "folds": FOLDS,
                                        "rows": rows}, indent=2) + "\n")
    if args.only != "sweep":
        names = args.networks or (QUICK_NETWORKS if args.quick else NETWORKS)
        for name in names:
            record = network(name, work, log, reuse=args.reuse, families=args.families)
            if record["network"] != "tiny_bnn" and "xilinx" in record:
                record["finn"] = compare(record)
            data = _save(out, "networks", [record])
    rows, records = data.get("mvau_sweep", []), data.get("networks", [])

    print("\nBinary MVAU, NF = SF = 2, pipeline 1 (LUTs include LUTRAM; ECP5 CCU2C = 2 LUT4)")
    print("| PE x SIMD | synapses | LUT4 (ECP5) | LUT4/synapse | LUT6 (Xilinx) | LUT6/synapse "
          "| FF (ECP5) |")
    print("|---|---|---|---|---|---|---|")
    for r in rows:
        print(f"| {r['pe']} x {r['simd']} | {r['synapses']} | {r['ecp5']['lut_total']} | "
              f"{r['ecp5_lut_per_synapse']} | {r['xilinx']['lut_total']} | "
              f"{r['xilinx_lut_per_synapse']} | {r['ecp5']['ff']} |")
    print("\nNetworks (Fmax: nextpnr-ecp5 on LFE5U-85F speed 8)")
    print("| network | cycles/sample | LUT4 | LUT6 | FF (Xilinx) | BRAM36 | DP16KD | Fmax MHz "
          "| critical path |")
    print("|---|---|---|---|---|---|---|---|---|")
    for r in records:
        ecp5, xilinx = (r.get(f, {"total": {}, "pnr": None}) for f in ("ecp5", "xilinx"))
        pnr = ecp5["pnr"] or {}
        path = pnr.get("critical_path") or {}
        print(f"| {r['network']} | {r['cycles_per_sample']} | {ecp5['total'].get('lut_total')} | "
              f"{xilinx['total'].get('lut_total')} | {xilinx['total'].get('ff')} | "
              f"{xilinx['total'].get('bram')} | {ecp5['total'].get('bram')} | "
              f"{pnr.get('fmax_mhz')} | {path.get('from_layer')} -> {path.get('to_layer')}, "
              f"{path.get('logic_levels')} levels |")
    for r in records:
        if "finn" in r:
            c = r["finn"]
            print(f"{r['network']} vs {c['reference']} at {c['clock_mhz']} MHz: "
                  f"{c['ours_images_per_s_per_klut']} vs {c['finn_images_per_s_per_klut']} "
                  f"images/s per kLUT (ratio {c['ratio']}; ours {c['ours_lut6']} LUT6 (Yosys), "
                  f"{c['ours_cycles_per_sample']} cycles; FINN {c['finn_lut']} LUT (Vivado), "
                  f"{c['finn_cycles_per_sample']} cycles)")
    print(f"wrote {out}")
    return 0


def run_fmax(args, work):
    out = Path(args.out).with_name("synth_fmax.json")
    started = time.monotonic()

    def log(message):
        print(f"[{time.monotonic() - started:6.0f} s] {message}", flush=True)

    for name in args.fmax:
        row = fmax(name, args.label, work, log, timeout=args.timeout, reuse=args.reuse)
        # read again: a run of another network side by side may have added its row meanwhile
        data = json.loads(out.read_text()) if out.exists() else {"rows": []}
        data["rows"] = [r for r in data["rows"]
                        if (r["network"], r["step"]) != (name, args.label)] + [row]
        data["machine"] = platform.platform()
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(json.dumps(data, indent=2) + "\n")
    print_fmax(data["rows"])
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
