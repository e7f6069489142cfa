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

    python benchmarks/delay_model.py FOLDER [FOLDER ...] --unrolled

instead reads the ``pnr_seed*.json`` reports ``benchmarks/unrolled.py`` writes and
fits the unrolled layers' estimate (``hwgen.units._unrolled.ECP5_NS``) from the
steps of their critical paths, named by the cells the datapath builds: a register
copy of a layer's input (``_fan``) to a leaf counter (``copy``), a leaf to its
first carry chain (``own_leaf`` / ``shared_leaf``: by the layer's leaf sharing,
given as ``--shared-layers``), one carry chain's output to another chain
(``route``: the chain-to-chain net), a chain's output straight to the next
layer's leaves (``crossing``), to the register copies (``to_copies``), into the
output queue (``queue``), a leaf's LUT (``leaf``), a chain from its entry to the
bit that leaves it (``adder``), clock-to-out plus setup (``fixed``). Prints the
median and the largest of each beside the current estimate; nothing is written
(the estimate is code, with its sources in a comment).

    python benchmarks/delay_model.py --plan jsc_m_unrolled [--clock 128,190,200]

prints, per layer of an unrolled example, what that estimate makes of it at each clock:
its path in ns from its input copies to the next layer's copies (or the output queue)
with no register inside, the register stages it gets, and the bound those paths set:
every layer starts at a register bank (its input copies), so it takes at least
``ceil(path / (period - fixed))`` stages, and the unit at least their sum + 1 cycles.
"""

import argparse
import json
import math
import re
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


def _unrolled_cell(cell):
    """(kind, chain) of a cell of an unrolled datapath by the names the generator gives it."""
    name = cell.split(".")[-1] if "." in cell else cell
    if "queue" in cell:
        return "queue", None
    if "TRELLIS_FF" in cell:
        return ("copy" if "_fan" in cell else "register"), None
    if "CCU2C" in cell:
        return "carry", name.split("_CCU2C")[0]
    if "leaf" in cell and "LUT4" in cell:
        return "leaf", None
    return "lut", None


def unrolled_steps(path, shared_layers):
    """(ECP5_NS field, delay) of the steps of an unrolled design's critical path."""
    report = json.loads(path.read_text())
    for critical in report.get("critical_paths", []):
        if "async" in f"{critical.get('from')}{critical.get('to')}":
            continue
        fixed, chain_delay = 0.0, 0.0
        for step in critical["path"]:
            source, source_chain = _unrolled_cell(step["from"]["cell"])
            sink, sink_chain = _unrolled_cell(step["to"]["cell"])
            delay = step["delay"]
            if step["type"] in ("clk-to-q", "setup"):
                fixed += delay
            elif step["type"] == "logic":
                if source == "leaf":
                    yield "leaf", delay
                elif source == "carry":
                    chain_delay += delay
            elif source == "carry" and sink == "carry" and (source_chain == sink_chain
                                                            or delay == 0):
                chain_delay += delay     # the carry inside one chain (or two sums Yosys chained)
            else:
                if source == "carry":
                    yield "adder", chain_delay
                    chain_delay = 0.0
                if source == "copy" and sink == "leaf":
                    yield "copy", delay
                elif source == "leaf" and sink == "carry":
                    layer = re.search(r"_l(\d+)", sink_chain)
                    shared = layer is not None and int(layer.group(1)) in shared_layers
                    yield ("shared_leaf" if shared else "own_leaf"), delay
                elif source == "leaf" and sink == "register":
                    yield "to_register", delay
                elif source == "carry":
                    field = {"carry": "route", "leaf": "crossing", "copy": "to_copies",
                             "queue": "queue"}.get(sink, "to_register")
                    yield field, delay
                elif source == "register":
                    yield "from_register", delay
        yield "fixed", fixed


def fit_unrolled(folders, shared_layers):
    """Per ECP5_NS field: the delays of its steps over the unrolled reports under ``folders``."""
    found = {}
    for folder in folders:
        for path in sorted(Path(folder).rglob("pnr_seed*.json")):
            for field, delay in unrolled_steps(path, shared_layers):
                found.setdefault(field, []).append(delay)
    return found


def print_unrolled(found):
    sys.path.insert(0, str(ROOT))
    from hwgen.units._unrolled import ECP5_NS
    print("| field | ECP5_NS | median | largest | steps |")
    print("|---|---|---|---|---|")
    for field in ("fixed", "copy", "leaf", "own_leaf", "shared_leaf", "adder", "route",
                  "crossing", "to_copies", "queue", "to_register", "from_register"):
        values = found.get(field, [])
        current = getattr(ECP5_NS, field, "-")
        if values:
            print(f"| {field} | {current} | {statistics.median(values):.3f} | "
                  f"{max(values):.3f} | {len(values)} |")
        else:
            print(f"| {field} | {current} | - | - | 0 |")


def unrolled_plan(name, clocks):
    """Rows per layer and clock of ``examples/<name>.yaml``'s unrolled chain (see the doc)."""
    import dataclasses
    sys.path.insert(0, str(ROOT))
    from hwgen.network import build_network
    from hwgen.spec import load
    from hwgen.units import _unrolled
    from hwgen.units.unrolled_chain import UnrolledChain
    chain = next(u for hw in build_network(load(ROOT / "examples" / f"{name}.yaml")).layers
                 for u in hw.units if isinstance(u, UnrolledChain))
    layers, delays = chain.layers, _unrolled.ECP5_NS

    def walk(timeline):
        """(stage, ns) at each layer's input copies and outputs, as the chain builds it."""
        x, rows = [_unrolled.Timed(None, 0, 1) for _ in range(layers[0].mw)], []
        for index, layer in enumerate(layers):
            x = timeline.layer_inputs(x, first=index == 0)
            live = [t for t in x if not t.constant]
            start = max(t.stage for t in live)
            straight = any(t.boundary is None and t.inverted_of is None for t in live)
            timeline.blocks, timeline.leaf_route = _unrolled.leaf_blocks(layer, timeline.delays)
            x = _unrolled.build_layer(timeline, x, layer, f"l{index}")
            live = [t for t in x if not t.constant]
            rows.append((start, max(t.stage for t in live), max(t.level for t in live),
                         straight))
        return rows

    # the paths: one stage per layer (copies at every boundary, no register inside)
    unbounded = dataclasses.replace(delays, crossing=None)
    paths = [level + (delays.queue if k == len(layers) - 1 else delays.to_copies)
             for k, (_, _, level, _) in enumerate(walk(_unrolled.Timeline(None, 1e9, "p",
                                                                       delays=unbounded)))]
    print(f"{name}: ECP5_NS, stage budget = period - {delays.fixed} ns; the bound holds for "
          f"layers whose outputs are registered in copies")
    print("| clock MHz | layer | MW x MH | leaves | path ns | stages (bound) | stages |")
    print("|---|---|---|---|---|---|---|")
    for mhz in clocks:
        planned = UnrolledChain(layers=layers, period_ns=1e3 / mhz)
        budget = 1e3 / mhz - delays.fixed
        rows = walk(planned._timeline(None, copies=planned.fan_out_copies))
        # a layer spans from its input copies to the next layer's (the last: to the queue)
        starts = [start for start, _, _, _ in rows] + [rows[-1][1] + 1]
        for k, (layer, path) in enumerate(zip(layers, paths)):
            blocks, _ = _unrolled.leaf_blocks(layer, delays)
            leaves = "own" if blocks == layer.mh else f"shared in {blocks}"
            print(f"| {mhz:g} | {k} | {layer.mw} x {layer.mh} | {leaves} | {path:.2f} | "
                  f"{starts[k + 1] - starts[k]} ({math.ceil(path / budget - 1e-9)}) | "
                  f"{starts[k]} -> {starts[k + 1]}"
                  f"{' (outputs straight to the next layer, no copies)' if k + 1 < len(rows) and rows[k + 1][3] else ''} |")
        # + 1: the cycle into the input copies
        bound = 1 + sum(math.ceil(p / budget - 1e-9) for p in paths)
        print(f"| {mhz:g} | all | | | {sum(paths):.2f} | {starts[-1] - 1} ({bound - 1}) | "
              f"latency {planned.latency} cycles, bound {bound} |")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("folders", nargs="*")
    parser.add_argument("--write", action="store_true", help=f"update {CALIBRATION}")
    parser.add_argument("--unrolled", action="store_true",
                        help="fit the unrolled layers' ECP5_NS from benchmarks/unrolled.py runs")
    parser.add_argument("--shared-layers", default="0,1",
                        help="--unrolled: layers whose leaves are shared between channels "
                             "(default 0,1: jsc_m_unrolled's 64-input layers)")
    parser.add_argument("--plan", help="an unrolled example: its layers' paths and stages")
    parser.add_argument("--clock", default="128,190,200", help="--plan: clocks in MHz")
    args = parser.parse_args()
    if args.plan:
        unrolled_plan(args.plan, [float(c) for c in args.clock.split(",")])
        return 0
    if not args.folders:
        parser.error("give report folders (or --plan)")
    if args.unrolled:
        print_unrolled(fit_unrolled(args.folders,
                                    {int(k) for k in args.shared_layers.split(",") if k}))
        return 0
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
