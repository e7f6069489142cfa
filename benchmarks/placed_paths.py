"""The worst paths of a placed, unrouted network: which layers miss the clock, before routing.

    python benchmarks/fmax.py --networks ivit_block --seeds 1 --label L-probe --no-pnr --work W
    nice -n 5 python benchmarks/placed_paths.py W/L-probe/ivit_block [--seed 1] [--rows 25]

nextpnr prints an Fmax estimate after placement but names no path until it has
routed, and a congested design (ivit_block: router1 stalled at ~13,000 arcs left
twice) may not route in the time there is. This script places the netlist that
``fmax.py --no-pnr`` left (``synth/<network>_ecp5.json``, after hwgen's register
passes) with nextpnr ``--no-route --sdf`` (``hwgen.synth.place_only``), reads every
register-to-register path from the SDF's predicted delays
(``hwgen.synth.placed_paths``; its worst slack gives nextpnr's own estimate), and
prints the failing endpoints grouped by the layers the path starts and ends in:
worst slack, endpoint count, and the worst path of each group.
"""

import argparse
import json
import subprocess
import sys
from collections import defaultdict
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from hwgen.synth import place_only, placed_paths  # noqa: E402

DEVICE = "ecp5-85k-8"

# The child: the layer of every unit of the core's chain (as fmax.py's child prints them).
_OWNERS = """\
import json, sys
from hwgen.cli import _layer_owners
from hwgen.network import build_network
from hwgen.spec import load
print(json.dumps(_layer_owners(build_network(load(sys.argv[1])))))
"""


def unit_of(cell):
    """``core.uN`` of a cell name, or "top"."""
    parts = cell.split(".")
    return parts[1] if len(parts) > 2 and parts[0] == "core" else "top"


def grouped(rows):
    """Failing endpoints by (start unit and layer, end unit and layer), worst group first:
    [(worst row, count)]."""
    groups = defaultdict(list)
    for row in rows:
        if row["slack_ns"] >= 0:
            break
        key = (unit_of(row["from"][0]), row["from_layer"], unit_of(row["to"][0]),
               row["to_layer"])
        groups[key].append(row)
    return sorted(((items[0], len(items)) for items in groups.values()),
                  key=lambda group: group[0]["slack_ns"])


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("folder", type=Path, help="fmax.py's <work>/<label>/<network> folder")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--rows", type=int, default=25, help="groups to print")
    parser.add_argument("--timeout", type=float, default=3000, help="seconds for nextpnr")
    parser.add_argument("--sdf", type=Path, help="read this SDF instead of placing")
    args = parser.parse_args()
    spec = args.folder / f"{args.folder.name}.yaml"
    fields = yaml.safe_load(spec.read_text())
    # the netlist's top is the spec's name (tiny_bnn's is bnn_digits), not the folder's
    network, clock_mhz = fields["name"], float(fields["target"]["clock_mhz"])
    owners = json.loads(subprocess.run([sys.executable, "-c", _OWNERS, str(spec)], check=True,
                                       capture_output=True, text=True, cwd=ROOT).stdout)
    sdf = args.sdf or place_only(network, "ecp5", args.folder / "synth", device=DEVICE,
                                 clock_mhz=clock_mhz, seed=args.seed, timeout=args.timeout)
    rows = placed_paths(sdf, clock_mhz, network, owners)
    if not rows:
        sys.exit(f"{sdf}: no register-to-register path to time (is it the placed design's SDF?)")
    worst = rows[0]["slack_ns"]
    failing = sum(row["slack_ns"] < 0 for row in rows)
    print(f"{network} placed on {DEVICE}, seed {args.seed}, at {clock_mhz:g} MHz: estimate "
          f"{1e3 / (1e3 / clock_mhz - worst):.2f} MHz (worst slack {worst} ns); {failing:,} of "
          f"{len(rows):,} endpoints fail ({sdf})\n")
    print("| worst slack ns | endpoints | from -> to | worst path | levels | routing ns |")
    print("|---|---|---|---|---|---|")
    for row, count in grouped(rows)[:args.rows]:
        start, end = row["from"], row["to"]
        print(f"| {row['slack_ns']} | {count} | {unit_of(start[0])} {row['from_layer']} -> "
              f"{unit_of(end[0])} {row['to_layer']} | `{start[0]}` -> `{end[0]}/{end[1]}` | "
              f"{row['logic_levels']} | {row['routing_ns']} |")


if __name__ == "__main__":
    main()
