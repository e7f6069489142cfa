"""Refit hwgen's delay model (``hwgen/data/calibration/delay.json``) from nextpnr-ecp5 reports.

    python benchmarks/delay_model.py FOLDER [FOLDER ...] [--write]

Reads every ``nextpnr_ecp5*.json`` under the folders (the ``--report``
files ``hwgen synth --pnr`` and ``benchmarks/fmax.py`` write; only runs on
speed grade 8, as their ``args`` in the neighbouring ``report.json`` say,
or all if no ``report.json`` is there) and fits, from the steps of their
critical paths:

* ``clk_to_q``, ``setup``: medians of those steps;
* ``lut``: median delay through a LUT4; ``carry_entry`` / ``carry_per_bit``:
  median delay through the first CCU2C of a chain, and through the others
  (two bits per cell);
* ``route_base``, ``route_per_log2``: least squares of each routing step's
  delay against log2 of its net's fanout (from ``detailed_net_timings``);
* ``dsp``, ``bram_clk_to_q``: medians through a MULT18X18D / out of a DP16KD,
  kept from the current file when no path crosses one.

Prints the fit beside the current constants and the number of steps behind
each; ``--write`` replaces the file's ECP5 entry.
"""

import argparse
import json
import math
import statistics
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
CALIBRATION = ROOT / "hwgen" / "data" / "calibration" / "delay.json"


def reports(folders):
    """The nextpnr report files of speed-8 runs under ``folders``."""
    for folder in folders:
        for path in sorted(Path(folder).rglob("nextpnr_ecp5*.json")):
            summary = path.parent / "report.json"
            if summary.exists():
                args = (json.loads(summary.read_text()).get("pnr") or {}).get("args", [])
                if "--speed" in args and args[args.index("--speed") + 1] != "8":
                    continue
            yield path


def steps(path):
    """(kind, delay, fanout) of every step of the report's clock-to-clock critical paths."""
    report = json.loads(path.read_text())
    fanout = {net["net"]: len(net["endpoints"]) for net in report.get("detailed_net_timings", [])}
    for critical in report.get("critical_paths", []):
        if "async" in f"{critical.get('from')}{critical.get('to')}":
            continue
        previous = None
        for step in critical["path"]:
            cell = step["from"]["cell"]
            kind = step["type"]
            if kind == "logic":
                kind = ("carry_entry" if "CCU2C" in cell and "CCU2C" not in (previous or "")
                        else "carry_cell" if "CCU2C" in cell
                        else "lut" if "LUT4" in cell
                        else "dsp" if "MULT18" in cell else "other")
            elif kind == "clk-to-q" and "DP16KD" in cell:
                kind = "bram_clk_to_q"
            yield kind, step["delay"], fanout.get(step.get("net"), 1)
            previous = cell if step["type"] == "logic" else previous


def fit(folders, current):
    found = {}
    for path in reports(folders):
        for kind, delay, fanout in steps(path):
            found.setdefault(kind, []).append((delay, fanout))
    model, counts = dict(current), {}

    def median(kind, key, scale=1.0):
        values = [d for d, _ in found.get(kind, [])]
        counts[key] = len(values)
        if values:
            model[key] = round(statistics.median(values) * scale, 3)

    median("clk-to-q", "clk_to_q")
    median("setup", "setup")
    median("lut", "lut")
    median("carry_entry", "carry_entry")
    median("carry_cell", "carry_per_bit", 0.5)
    median("dsp", "dsp")
    median("bram_clk_to_q", "bram_clk_to_q")
    routes = found.get("routing", [])
    counts["route"] = len(routes)
    if len(routes) >= 3:
        xs = [math.log2(max(f, 1)) for _, f in routes]
        ys = [d for d, _ in routes]
        mx, my = statistics.fmean(xs), statistics.fmean(ys)
        sxx = sum((x - mx) ** 2 for x in xs)
        slope = sum((x - mx) * (y - my) for x, y in zip(xs, ys)) / sxx if sxx else 0.0
        model["route_per_log2"] = round(max(slope, 0.0), 3)
        model["route_base"] = round(my - model["route_per_log2"] * mx, 3)
    return model, counts


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("folders", nargs="+")
    parser.add_argument("--write", action="store_true", help=f"update {CALIBRATION}")
    args = parser.parse_args()
    table = json.loads(CALIBRATION.read_text())
    current = table["ecp5"]
    model, counts = fit(args.folders, current)
    print("| constant | current | fit | steps |")
    print("|---|---|---|---|")
    for key in current:
        if key != "source":
            print(f"| {key} | {current[key]} | {model[key]} | "
                  f"{counts.get(key, counts.get('route', '-') if 'route' in key else '-')} |")
    if args.write:
        table["ecp5"] = model
        CALIBRATION.write_text(json.dumps(table, indent=2) + "\n")
        print(f"wrote {CALIBRATION}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
