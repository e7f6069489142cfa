"""Benchmark tables generated from ``benchmarks/results/*.json``, so the docs cannot go stale.

Every table here is computed from one JSON file that a benchmark script
wrote; ``RESULTS`` says which script and command wrote it. The docs insert a
table with the ``results`` directive (``docs/_ext/hwgen_docs.py``), which
adds the command and the machine below it; the README's headline table is
``headline()`` (``tests/test_docs.py`` checks the README holds exactly it).

    python docs/gen_results.py                 # print every table
    python docs/gen_results.py --readme        # rewrite the README's headline table
"""

from __future__ import annotations

import json
import re
import sys
from dataclasses import dataclass
from pathlib import Path
from collections.abc import Callable

ROOT = Path(__file__).resolve().parent.parent
RESULTS_DIR = ROOT / "benchmarks" / "results"

__all__ = ["RESULTS", "headline", "load", "machine_of", "render"]

#: what a result file does not record about the machine it was measured on
MACHINE_CLASS = "2 shared x86_64 cores, Linux VM"


def load(stem):
    return json.loads((RESULTS_DIR / f"{stem}.json").read_text())


def machine_of(data) -> str:
    """The machine class a result was measured on, with what the JSON recorded."""
    recorded = data.get("machine")
    cpus = data.get("cpus")
    extra = ", ".join(str(x) for x in (recorded, f"{cpus} CPUs" if cpus else None) if x)
    return MACHINE_CLASS + (f" (recorded: {extra})" if extra else "")


def _fmt(value, digits=None):
    if value is None:
        return "-"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):
        if digits is not None:
            return f"{value:,.{digits}f}"
        return f"{value:,.0f}" if value.is_integer() else f"{value:,g}"
    if isinstance(value, int):
        return f"{value:,}"
    return str(value)


def table(header, rows) -> str:
    """A Markdown pipe table."""
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for row in rows:
        lines.append("| " + " | ".join(str(c).replace("|", "\\|") for c in row) + " |")
    return "\n".join(lines) + "\n"


def _pct(saved, whole):
    return f"{100 * (1 - saved / whole):.0f} %"


# --- one renderer per table: data (the JSON) -> Markdown ---------------------------------

def _binary_networks(data):
    rows = [(r["network"], f"{r['mismatches']} / {r['samples']}", _fmt(r["ideal_cycles"]),
             _fmt(r["measured_cycles"], 1), f"{r['throughput_vs_ideal']:.2f}",
             _fmt(r["latency_cycles"]), _fmt(r["samples_per_s_at_clock"]),
             _fmt(r["yaml_to_verilog_s"], 1), _fmt(r["verilator_samples_per_s"]))
            for r in data["records"]]
    text = table(("network", "mismatches", "ideal cycles", "measured", "ratio", "latency",
                  "images/s @100 MHz", "YAML->Verilog s", "Verilator samples/s"), rows)
    for r in data["records"]:
        if "amaranth_sim_samples_per_s" in r:
            text += (f"\nCosimulation speed, same core and samples ({r['network']}): Verilator "
                     f"{r['verilator_samples_per_s']} samples/s, Amaranth's Python simulator "
                     f"{r['amaranth_sim_samples_per_s']} samples/s "
                     f"({r['verilator_vs_amaranth']}x).\n")
    return text


def _cnv(data):
    rows = [(r["network"], f"{r['mismatches']} / {r['samples']}", _fmt(r["ideal_cycles"]),
             _fmt(r["measured_cycles"], 1), f"{r['throughput_vs_ideal']:.2f}",
             _fmt(r["latency_cycles"]), _fmt(r["samples_per_s_at_clock"]),
             _fmt(r["yaml_to_verilog_s"], 1), _fmt(r["verilator_build_s"], 1))
            for r in data["records"]]
    return table(("network", "mismatches", "ideal cycles", "measured", "ratio", "latency",
                  "images/s @100 MHz", "YAML->Verilog s", "Verilator build s"), rows)


def _mvau_resources(data):
    rows = []
    for r in data["rows"]:
        e, x = r["ecp5"], r["xilinx"]
        name = r["variant"] if r["weight_kind"] == "ternary" else \
            f"int{r['weight_bits']}, `resource: {r['resource']}`"
        rows.append((name, r["acc_bits"], _fmt(e["lut"]), _fmt(e["carry"]), _fmt(e["ff"]),
                     _fmt(e["mult"]), _fmt(x["lut"]), _fmt(x["carry"]), _fmt(x["ff"]),
                     _fmt(x["mult"])))
    return table(("variant", "acc bits", "ECP5 LUT4", "CCU2C", "FF", "MULT18X18D",
                  "Xilinx LUT", "CARRY4", "FF", "DSP48E1"), rows)


def _mvau_sweep(data):
    rows = [(f"{r['pe']} x {r['simd']}", _fmt(r["synapses"]), _fmt(r["ecp5"]["lut_total"]),
             f"{r['ecp5_lut_per_synapse']:.2f}", _fmt(r["xilinx"]["lut_total"]),
             f"{r['xilinx_lut_per_synapse']:.2f}", _fmt(r["ecp5"]["ff"]))
            for r in data["mvau_sweep"]]
    return table(("PE x SIMD", "synapses", "LUT4 (`synth_ecp5`)", "LUT4 / synapse",
                  "LUT6 (`synth_xilinx`)", "LUT6 / synapse", "FF"), rows)


def _depth_sweep(data):
    rows = []
    for r in data.get("depth_sweep", []):
        for family, lut in (("xilinx", "LUT6"), ("ecp5", "LUT4")):
            if f"{family}_adder" not in r:
                continue
            a, c = r[f"{family}_adder"], r[f"{family}_compressor"]
            rows.append((f"{r['pe']} x {r['simd']}", f"{r['mw']} x {r['mh']}", lut,
                         f"{_fmt(a['lut_total'])} ({_fmt(a['lutram'])})",
                         f"{_fmt(c['lut_total'])} ({_fmt(c['lutram'])})",
                         f"{r[f'{family}_adder_per_synapse']:.2f} -> "
                         f"{r[f'{family}_compressor_per_synapse']:.2f}",
                         f"{_fmt(a['bram'])} / {_fmt(c['bram'])}"))
    return table(("PE x SIMD", "MW x MH", "LUT", "adder tree (LUTRAM)", "compressor tree (LUTRAM)",
                  "per synapse, adder -> compressor", "BRAM"), rows)


def _layers_text(layers):
    return ", ".join(f"{layer['name']} {layer['lut_total']:,}" for layer in layers)


def _synth_networks(data):
    rows = []
    for n in data["networks"]:
        for family in ("ecp5", "xilinx"):
            if family not in n:
                continue
            m = n[family]
            t = m["total"]
            lut = "LUT4" if family == "ecp5" else "LUT6"
            bram = t["bram"]
            pnr = m.get("pnr") or {}
            rows.append((n["network"], family, f"{t['lut_total']:,} {lut} (incl. "
                         f"{t['lutram']:,} LUTRAM; {_layers_text(m['layers'])})", _fmt(t["ff"]),
                         _fmt(bram), _fmt(pnr.get("fmax_mhz")) + (" MHz" if pnr else ""),
                         _fmt(n["cycles_per_sample"])))
    return table(("network", "family", "LUT (per layer)", "FF", "BRAM", "Fmax (nextpnr-ecp5)",
                  "cycles/sample"), rows)


def _finn(data):
    rows = []
    for n in data["networks"]:
        f = n.get("finn")
        if not f:
            continue
        rows.append((n["network"], f["reference"], _fmt(f["ours_lut6"]), _fmt(f["finn_lut"]),
                     _fmt(f["ours_bram36"]), _fmt(f["finn_bram36"]),
                     _fmt(f["ours_cycles_per_sample"]), _fmt(f["finn_cycles_per_sample"]),
                     _fmt(f["clock_mhz"]), _fmt(f["ours_images_per_s_per_klut"]),
                     _fmt(f["finn_images_per_s_per_klut"]), f"**{f['ratio']:.2f}**"))
    return table(("hwgen example", "FINN reference (published)", "hwgen LUT6 (Yosys)",
                  "FINN LUT (Vivado)", "hwgen BRAM36 (not in the ratio)", "FINN BRAM36",
                  "hwgen cycles/image", "FINN cycles/image", "clock MHz",
                  "hwgen images/s per kLUT", "FINN images/s per kLUT", "ratio"), rows)


def _requant_fmax(data):
    rows = []
    for r in data["rows"]:
        path = r.get("critical_path") or {}
        rows.append((r["layer"], _fmt(r["in_bits"]), _fmt(r["multiplier_bits"]),
                     _fmt(r["product_stages"]), _fmt(r["latency"]), _fmt(r["lut4"]),
                     _fmt(r["ff"]), _fmt(r["mult18x18d"]), f"**{r['fmax_mhz_median']}**",
                     f"{path.get('delay_ns')} ns, {path.get('logic_levels')} levels"))
    return table(("attention_mini layer", "x bits", "m' bits", "product stages", "latency",
                  "LUT4", "FF", "MULT18X18D", "Fmax MHz (median of the row's seeds)", "path"),
                 rows)


def _synth_fmax(data):
    rows = []
    for r in data["rows"]:
        path = r.get("critical_path") or {}
        where = "-"
        if path.get("delay_ns"):
            where = f"{path['delay_ns']:.1f} ns"
            if path.get("from_layer"):
                where = (f"{path['from_layer']} -> {path['to_layer']}, {where} "
                         f"({path['routing_ns']:.1f} ns routing)")
        rows.append((r["network"], r["step"], _fmt(r.get("lut")), _fmt(r.get("ff")),
                     f"{r['fmax_mhz']:.1f} MHz" if r.get("fmax_mhz") else "not routed",
                     where, _fmt(path.get("logic_levels"))))
    text = table(("network", "step", "LUT4", "FF", "Fmax", "critical path", "levels"), rows)
    for r in data.get("by_hand", []):
        fmax = r["fmax_mhz"]
        if isinstance(fmax, dict):
            fmax = ", ".join(f"seed {seed}: {mhz} MHz" for seed, mhz in fmax.items())
        elif fmax is not None:
            fmax = f"{fmax} MHz"
        text += f"\n- {r['network']}, {r['step']}: {r['what']}; {fmax or 'no Fmax'}."
    return text + "\n"


def _stage_rule(n):
    """How the unrolled unit placed its registers: a period (the ECP5 delay estimate fills
    it) or a fixed number of levels per stage (older records)."""
    if n.get("period_ns"):
        return f"{n['period_ns']:.2f} ns"
    return _fmt(n.get("levels_per_stage"))


def _unrolled_networks(data):
    rows = []
    for n in data["networks"]:
        seeds = n.get("fmax_mhz_seeds") or {}
        path = n.get("critical_path") or {}
        rows.append((n["network"], _stage_rule(n),
                     f"{n['synapse_ops']:,} of {n['synapse_ops_unshared']:,}",
                     f"{n['luts']:,} ({n['unrolled_luts']:,})", f"{n['ff']:,}",
                     n["latency_cycles"],
                     f"{_fmt(n.get('fmax_mhz'))} ("
                     + ", ".join(f"seed {k}: {_fmt(v)}" for k, v in seeds.items()) + ")"
                     if seeds else "-",
                     _fmt(n.get("latency_ns")),
                     f"{path.get('logic_levels', '-')} levels, {path.get('delay_ns', '-')} ns"
                     if path else "-"))
    ln = data["logicnets_jsc_m"]
    if any(n["network"].startswith("jsc_m") for n in data["networks"]):
        rows.append((f"LogicNets JSC-M, published ({ln['device']})", "-", "-",
                     _fmt(ln["luts"]), "-", ln["cycles"], _fmt(ln["fmax_mhz"]),
                     _fmt(ln["latency_ns"]), "-"))
    text = table(("network", "stage budget", "synapse ops", "LUTs (unrolled unit)", "FFs",
                  "latency cycles", "Fmax MHz: median (per nextpnr seed)", "latency ns",
                  "critical path"), rows)
    by = {n["network"]: n for n in data["networks"]}
    ratios = [f"{shared} over {plain} (same weights) {by[shared]['luts'] / by[plain]['luts']:.2f}x"
              for shared, plain in (("jsc_m_mst", "jsc_m_unrolled"),
                                    ("jsc_m_correlated", "jsc_m_correlated_plain"))
              if shared in by and plain in by]
    if ratios:
        text += "\nLUTs with MST sharing over without: " + ", ".join(ratios) + ".\n"
    return text


def _unrolled_calibration(data):
    rows = [(p["levels_per_stage"], p["latency_cycles"], f"{p['luts']:,}", _fmt(p["fmax_mhz"]),
             p["period_ns"], f"{p['critical_path'].get('logic_levels', '-')} cells, "
             f"{p['critical_path'].get('routing_ns', '-')} ns routing")
            for p in data["points"]]
    fit = data.get("fit") or {}
    return table(("levels per stage", "latency cycles", "LUTs", "Fmax MHz (seed 1)",
                  "period ns", "critical path"), rows) + (
        f"\nLeast-squares line: period = {fit['stage_ns']} ns + {fit['level_ns']} ns x levels.\n"
        if fit else "")


def _unrolled_digits(data):
    rows = [(n["network"], _stage_rule(n),
             f"{n['synapse_ops']:,} of {n['synapse_ops_unshared']:,}", n["latency_cycles"],
             f"{n['equal_golden']} of {n['test_images']}", f"{n['hardware_acc']:.2%}")
            for n in data["networks"]]
    return table(("network", "stage budget", "synapse ops", "latency cycles",
                  "test images equal to golden", "hardware accuracy"), rows)


def _ivit_accuracy(data):
    names = {"shiftmax": "Shiftmax vs softmax (logits N(0, 4), scale 1/16)",
             "shiftgelu": "ShiftGELU vs GELU (int8, scale 1/32, real units)",
             "layernorm_exact": "LayerNorm `exact` (int16, std 16..4096, normalised units)",
             "layernorm_ivit": "LayerNorm `ivit` (10 Newton steps)"}
    rows = [(names.get(k, k), f"{mean:.4f}", f"{worst:.4f}")
            for k, (mean, worst) in data["accuracy"].items()]
    return table(("op", "mean abs error", "max abs error"), rows) + \
        f"\n{data['rows']:,} random rows of 64 per op, golden model only.\n"


def _ivit_fmax(e):
    """Fmax as 'min / median (seeds)', or '-' where nextpnr did not run."""
    seeds = e.get("fmax_mhz_by_seed")
    if not seeds:
        return "-"
    values = ", ".join(f"{f:.1f}" for f in seeds.values())
    if list(seeds) != [str(k) for k in range(1, len(seeds) + 1)]:     # a seed missing
        values = f"seeds {', '.join(seeds)}: {values}"
    return f"{e['fmax_mhz_min']:.1f} / {e['fmax_mhz_median']:.1f} ({values})"


def _ivit_path(e):
    """'from -> to' register names (nextpnr's cell suffixes dropped), levels, delay, seed."""
    path = e.get("critical_path") or {}
    if not path:
        return "-"
    def cell(name):
        return re.sub(r"_TRELLIS_FF_Q(_\d+)?$", "", str(name).replace("\\", ""))
    return (f"`{cell(path['from'])}` -> `{cell(path['to'])}`, {path['logic_levels']} levels, "
            f"{path['delay_ns']} ns (seed {e.get('critical_path_seed', '-')})")


def _ivit_units(data):
    """The row pipelines (pe 1 and 4) and ShiftGELU's per-lane divider, as measured."""
    rows = []
    for name, e in data["units"].items():
        rows.append((name.rsplit("_pe", 1)[0], e["pe"],
                     f"{_fmt(e['cycles_measured'])} ({_fmt(e['cycles_ideal'])})",
                     f"{e['rows_matching']} / {e['rows']}", _fmt(e.get("lut4")),
                     _fmt(e.get("ccu2c")), _fmt(e.get("trellis_ff")),
                     _fmt(e.get("trellis_dpr16x4")), _fmt(e.get("dp16kd")),
                     _fmt(e.get("mult18x18d")), _ivit_fmax(e), _ivit_path(e)))
    div = data.get("divider")
    if div:
        kind = "non-restoring, pipelined" if div["name"].startswith("quotient") else "pipelined"
        rows.append((f"ShiftGELU's divider, `(2**31 - 1) // S`, {div['quotient_bits']} "
                     f"quotient bits, {kind}", "-", "1 per division (1)", "-",
                     _fmt(div.get("lut4")), _fmt(div.get("ccu2c")), _fmt(div.get("trellis_ff")),
                     _fmt(div.get("trellis_dpr16x4")), _fmt(div.get("dp16kd")),
                     _fmt(div.get("mult18x18d")), _ivit_fmax(div), _ivit_path(div)))
    missing = [f"{base}_pe{pe}" for pe in sorted({e["pe"] for e in data["units"].values()})
               for base in sorted({n.rsplit("_pe", 1)[0] for n in data["units"]})
               if f"{base}_pe{pe}" not in data["units"]]
    unplaced = [name for name, e in data["units"].items() if not e.get("fmax_mhz_by_seed")]
    # Entries written before the benchmark recorded the Verilog's SHA-256 predate the
    # registered RowReduce ready and the sliced results FIFOs.
    older = [name for name, e in data["units"].items() if "verilog_sha256" not in e]
    note = "".join([f"Not measured yet: {', '.join(missing)}.\n" if missing else "",
                    f"Measured on earlier code (before RowReduce's registered `ready` and the "
                    f"sliced results FIFOs), not re-measured since: {', '.join(older)}.\n"
                    if older else "",
                    f"Fmax not measured (nextpnr not run, `--no-pnr`, or not finished): "
                    f"{', '.join(unplaced)}.\n"
                    if unplaced else ""])
    return table(("unit", "pe", "cycles per row (ideal)", "rows bit-exact", "LUT4", "CCU2C",
                  "FF", "LUTRAM", "DP16KD", "MULT18X18D", "Fmax MHz, min / median (seeds)",
                  "critical path (worst seed)"), rows) + \
        f"\nDevice {data['device']}; flow: {data['flow']}; each Fmax lists its seeds' " \
        "values in brackets (seed 1 first; one value: seed 1 only).\n" + ("\n" + note if note else "")


def _ivit_units_before(data):
    """The units before the row pipelines (kept in the JSON under "before"), pe 1, and what
    the same unit costs now at pe 1 (LUT4 and FF, and their ratio to before)."""
    def now(name):
        e = data["units"].get(name.replace("_simd1", "_pe1"))
        if not e or "lut4" not in e:
            return "-"
        return (f"{e['lut4']:,} ({e['lut4'] / data['before'][name]['lut4']:.1f}x), "
                f"{e['trellis_ff']:,} ({e['trellis_ff'] / data['before'][name]['trellis_ff']:.1f}x)")
    rows = [(name.rsplit("_simd", 1)[0], f"{_fmt(e['cycles_measured'])} ({_fmt(e['cycles_ideal'])})",
             _fmt(e["lut4"]), _fmt(e["ccu2c"]), _fmt(e["trellis_ff"]), _fmt(e["trellis_dpr16x4"]),
             _fmt(e["dp16kd"]), _fmt(e["mult18x18d"]), _fmt(e.get("fmax_mhz")),
             f"{(e.get('critical_path') or {}).get('logic_levels', '-')} levels, "
             f"{(e.get('critical_path') or {}).get('delay_ns', '-')} ns", now(name))
            for name, e in data["before"].items()]
    return table(("unit (before)", "cycles per row or division (ideal)", "LUT4", "CCU2C", "FF",
                  "LUTRAM", "DP16KD", "MULT18X18D", "Fmax MHz (seed 1)", "critical path",
                  "now at pe 1: LUT4, FF (x before)"), rows)


def _ivit_networks(data):
    """Whole examples in Verilator (as ``hwgen sim --count N``), without and with backpressure."""
    rows = []
    for name, e in data.get("networks", {}).items():
        fifos = e["join_fifos"]
        depths = ", ".join(f"{f['layer']}.{f['port']} {f['depth']}" for f in fifos)
        bits = sum(f["depth"] * f["bits"] for f in fifos)
        for run in (e["bp0"], e["bp0.3"]):
            rows.append((name, e["samples"], run["backpressure"], run["mismatches"],
                         f"{run['steady_cycles']:,.2f} ({e['ideal_cycles']:,})",
                         f"{run['of_ideal']:.3f}", _fmt(run["latency"]),
                         f"{depths} ({bits / 1024:,.1f} kbit)"))
    return table(("network", "samples", "backpressure", "mismatches",
                  "cycles per sample, steady (ideal)", "of ideal", "latency (cycles)",
                  "FIFO beats in front of each two-input unit (total)"), rows)


#: benchmarks/fmax.py's order: the examples of issue 17's list, then its own odd_mlp
_FMAX_ORDER = ("tiny_bnn", "odd_mlp", "int8_mlp", "sfc_balanced", "ternary_mlp", "int4_cnn",
               "residual_mlp", "jsc_m_unrolled", "sfc_mixed", "lfc", "sfc_fast", "cnv_ci")


def _fmax_mhz(row, spread=True):
    """A row's Fmax cell: median (min-max) over its seeds, or why there is none."""
    if row is None:
        return "-"
    if row.get("routed"):
        seeds = ", ".join(str(s) for s in row["seeds"])
        return (f"**{row['fmax_mhz_median']:.1f}** ({row['fmax_mhz_min']:.1f}-"
                f"{row['fmax_mhz_max']:.1f}; seeds {seeds})" if spread
                else f"{row['fmax_mhz_median']:.1f} (seeds {seeds})")
    if row.get("error"):
        return "not routed (stopped)" if "did not finish" in str(row["error"]) else "failed"
    return "not placed"


def _fmax_path(row):
    path = (row or {}).get("critical_path")
    if not path:
        return "-"
    cell = lambda name: (name or "").replace("_TRELLIS_FF_Q", "").replace("$", "")[:40]
    return (f"{path['from_layer']} `{cell(path['from'])}` -> {path['to_layer']} "
            f"`{cell(path['to'])}`, {path['delay_ns']:.1f} ns ({path['routing_ns']:.1f} "
            f"routing), {path['logic_levels']} levels")


def _fmax(data):
    rows = {(r["network"], r["label"]): r for r in data["rows"]}
    names = [n for n in _FMAX_ORDER if (n, "now") in rows] + sorted(
        {n for n, label in rows if label == "now" and n not in _FMAX_ORDER})
    ratio = lambda old, new, key: (f"{new[key] / old[key]:.3f}" if old and old.get(key)
                                   and new.get(key) else "-")
    out = []
    for name in names:
        old, new = rows.get((name, "today")), rows[(name, "now")]
        out.append((name, _fmt(new.get("cycles_per_sample")),
                    f"{_fmt(old['lut4'])} / {_fmt(old['ff'])}" if old and "lut4" in old else "-",
                    _fmax_mhz(old, spread=False),
                    f"{_fmt(new['lut4'])} / {_fmt(new['ff'])}" if "lut4" in new else "-",
                    _fmt(new.get("lutram")), _fmt(new.get("dp16kd")), _fmt(new.get("mult18x18d")),
                    _fmax_mhz(new), ratio(old, new, "lut4"), ratio(old, new, "ff"),
                    _fmax_path(new)))
    text = table(("network", "cycles/sample", "before: LUT4 / FF", "before: Fmax MHz",
                  "after: LUT4 / FF", "LUTRAM", "DP16KD", "MULT18X18D",
                  "after: Fmax MHz median (min-max)", "LUT4 ratio", "FF ratio",
                  "critical path (median seed)"), out)
    stopped = [r for r in data["rows"] if r["label"] == "now" and r.get("error")]
    for r in stopped:
        text += f"\n- {r['network']} (after): {r['error'].split(':')[0]}."
    pairs = [(rows[n, "today"], rows[n, "now"]) for n in names if (n, "today") in rows]
    same = ("the same" if all(old.get("cycles_per_sample") == new.get("cycles_per_sample")
                              for old, new in pairs) else "NOT the same")
    missing = [n for n in _FMAX_ORDER if (n, "now") not in rows]
    if missing:
        text += f"\n\nNot measured after the change: {', '.join(missing)}."
    text += (f"\n\nEvery row: `clock_mhz: {data['clock_mhz']}`, placed on "
             f"{data['device']}; \"before\" is the code before the timing work (handshake "
             f"paths cut by hand), \"after\" with it (credit flow in Thresholding, Requant and "
             f"AddStreams, the ready-path rule); later steps are labelled. LUT4 is logic, LUTRAM apart; cycles/sample "
             f"are the ideal ones (the manifest's), {same} before and after.\n")
    return text + _fmax_steps(rows, ratio)


def _fmax_steps(rows, ratio):
    """Rows of later steps (labels other than ``today`` and ``now``), each beside ``now``."""
    # a label with -probe in it (dsp10-probe2, tim10-probe-nochunk) is an experiment kept in
    # the JSON, not a published step
    steps = [(name, label) for name, label in rows
             if label not in ("today", "now") and "-probe" not in label]
    if not steps:
        return ""
    out = []
    for name, label in sorted(steps):
        new, old = rows[name, label], rows.get((name, "now"))
        out.append((name, f"`{label}`", _fmt(new.get("cycles_per_sample")),
                    f"{_fmt(new['lut4'])} / {_fmt(new['ff'])}" if "lut4" in new else "-",
                    _fmt(new.get("lutram")), _fmax_mhz(new), ratio(old, new, "lut4"),
                    ratio(old, new, "ff"), _fmax_path(new)))
    return ("\nLater steps, each measured the same way and compared with \"after\" above "
            "(`mvau-credit`: the MVAU family's pipeline without stalls, credit at its "
            "output; `mvau2`: that credit registered a cycle ahead, one-bit Thresholding "
            "comparisons registered before the queue, deep width converters split via an "
            "intermediate width; `tim3`: ring width converters, the argmax comparing a cycle "
            "early; `tim4`: the argmax's two comparisons in flip-flops of their own, the MVAU's "
            "accumulator controls and logic-ROM addresses one copy per PE, fold 0 a flip-flop, "
            "sums leaving from the accumulator's register where the delay model asks; the "
            "later labels are described under the table):\n\n" + table(("network", "step", "cycles/sample", "LUT4 / FF", "LUTRAM",
                                     "Fmax MHz median (min-max)", "LUT4 ratio", "FF ratio",
                                     "critical path (median seed)"), out))


def _matmul(data):
    versions = [(f"after ({data['commit'][:7]})", data["rows"])]
    if data.get("baseline"):
        base = data["baseline"]
        versions.insert(0, (f"before ({base['ref']}, {base['commit'][:7]})", base["rows"]))
    rows = [(r["layer"], label, f"{r['a']} x {r['b']} -> {r['out']}", str(r["pipeline"]),
             f"{_fmt(r['steady_cycles'])} ({_fmt(r['ideal_cycles'])})", f"{r['ratio']:.3f}",
             f"{r['mismatches_bp03']} / {r['samples']}", _fmt(r["lut"]), _fmt(r["lutram"]),
             _fmt(r["ff"]), _fmt(r["bram"]), f"{r['ram_words_per_pe']} x {r['ram_word_bits']}",
             f"{r['fmax_mhz']:.1f} MHz ({', '.join(f'{f:.1f}' for f in r['fmax_mhz_seeds'])})"
             if r["fmax_mhz"] else "-", r["critical_path"] or "-")
            for label, version in versions for r in version]
    return table(("layer", "code", "a x b -> out", "tree stages", "cycles/sample (ideal)",
                  "of ideal",
                  "mismatches (bp 0.3)", "LUT4", "LUTRAM", "FF", "DP16KD",
                  "RAM per PE (words x bits)",
                  "Fmax, median (seeds)", "critical path (median seed)"), rows) + \
        f"\nDevice {data['device']}, target {data['clock_mhz']:g} MHz, nextpnr seeds " \
        f"{', '.join(map(str, data['seeds']))}; cycles from Verilator without backpressure; " \
        f"FF excludes the flip-flops placed in DP16KD output registers.\n" \
        + _matmul_networks(data)


def _matmul_networks(data):
    nets = [(f"after ({data['commit'][:7]})", data.get("networks", []))]
    if data.get("baseline"):
        nets.insert(0, (f"before ({data['baseline']['commit'][:7]})",
                         data["baseline"].get("networks", [])))
    rows = [(n["network"], label, _fmt(n["steady_cycles"]), _fmt(n["matmul_ideal_cycles"]),
             f"{n['ratio_to_matmul_ideal']:.3f}", _fmt(n["network_ideal_cycles"]),
             _fmt(round(n["steady_cycles_bp03"], 1)),
             f"{n['mismatches']}, {n['mismatches_bp03']} / {n['samples']}")
            for label, version in nets for n in version]
    if not rows:
        return ""
    return "\n" + table(("network", "code", "cycles/sample", "MatMul ideal", "of MatMul ideal",
                         "network ideal", "cycles/sample at bp 0.3",
                         "mismatches (bp 0, bp 0.3)"), rows) + \
        "\nWhole networks in Verilator (as `hwgen sim`), steady cycles per sample.\n"


def _nngen(data):
    rows = [(r["design"], _fmt(r["LUT4"]), _fmt(r["CCU2C"]), _fmt(r["TRELLIS_DPR16X4"]),
             _fmt(r["TRELLIS_FF"]), _fmt(r["DP16KD"]), _fmt(r["MULT18X18D"]),
             _fmt(r["cycles"]) + (f" (latency {r['latency']})" if r["latency"] not in
                                  (None, r["cycles"]) else ""),
             _fmt(r["macs_per_cycle"])) for r in data["rows"]]
    return table(("design", "LUT4", "CCU2C", "DPR16X4", "FF", "DP16KD", "MULT18X18D",
                  "cycles/inference", "MACs/cycle"), rows) + \
        f"\n{data['network']}: {data['macs_per_inference']:,} MACs per inference.\n"


def _soak(data):
    text = table(("network", "samples", "backpressure", "mismatches", "cycles/sample (ideal)",
                  "latency", "pauses drawn (in, out)", "wall s", "simulator CPU s"),
                 [(data["source"], _fmt(data["samples"]), data["backpressure"],
                   data["mismatches"], f"{data['steady_cycles']} ({data['ideal_cycles']})",
                   _fmt(data["latency"]),
                   ", ".join(f"{100 * p:.3f} %" for p in data["pause_fraction"]),
                   _fmt(data["seconds"]), _fmt(data["run_cpu_s"]))])
    return text + (f"\n{data['cycles']:,} cycles in one stream; compose {data['compose_s']} s, "
                   f"Verilator build {data['build_s']} s, golden model "
                   f"{data['golden_s']:,.0f} s (in a thread beside the simulator).\n")


def _cosim_speed(data):
    rows = []
    for r in data["records"]:
        for driver in ("fast", "cocotbext"):
            d = r[driver]
            thread = d.get("cycles_per_thread_cpu_s")
            rows.append((r["source"], driver, _fmt(d["build_s"], 1), _fmt(d["samples"]),
                         _fmt(d["cycles"]), f"{d['mismatches']}", _fmt(d["run_s"], 1),
                         f"{d['cycles_per_s'] / 1e6:.3f}", f"{d['cycles_per_cpu_s'] / 1e6:.3f}",
                         "-" if thread is None else f"{thread / 1e6:.3f}",
                         f"{d['steady_cycles']} ({r['ideal_cycles']})"))
    text = table(("network", "driver", "build s", "samples", "cycles", "mismatches", "run s",
                  "M cycles/s (wall)", "M cycles/CPU s", "M cycles/simulator-thread CPU s",
                  "cycles/sample (ideal)"), rows)
    ratios = ", ".join(f"{r['source']} {r['speedup']}x" for r in data["records"])
    load = data["load_average"][0]
    return text + (f"\nFast path vs cocotbext per wall-clock second: {ratios}. Backpressure "
                   f"{data['records'][0]['backpressure']} on both sides; load average "
                   f"{load:.1f} on {data['cpus']} CPUs during the run.\n")


def _verilator_flags(data):
    rows = [(r["network"], r["recipe"], r["opt_fast"], "yes" if r["popcount_builtin"] else "no",
             _fmt(r["cpp_mb"]), _fmt(r["build_cpu_s"]), _fmt(r["build_s"]),
             _fmt(r["ns_per_cycle"]), r["mismatches"])
            for r in data["records"]]
    text = table(("network", "recipe", "per-cycle C++", "`__builtin_popcount`", "C++ MB",
                  "build CPU s", "build s", "CPU ns / simulated cycle", "mismatches"), rows)
    by = {(r["network"], r["recipe"]): r for r in data["records"]}
    even = []
    for network in dict.fromkeys(r["network"] for r in data["records"]):
        full, quick = by.get((network, "O3-builtin")), by.get((network, "quick"))
        if full and quick and quick["ns_per_cycle"] > full["ns_per_cycle"]:
            cycles = 1e9 * (full["build_cpu_s"] - quick["build_cpu_s"]) / \
                (quick["ns_per_cycle"] - full["ns_per_cycle"])
            even.append(f"{network} {cycles / 1e6:.1f} M")
    if even:
        text += ("\nQuick build breaks even with the -O3 one at (build CPU saved) / (CPU per "
                 "cycle lost): " + ", ".join(even) + " simulated cycles. Load average "
                 f"{data['load_average'][0]:.1f} during the run.\n")
    return text


def _fuzz(data):
    rows = [(r["target"], r["cases"], r["failures"], _fmt(r["seconds"]))
            for r in data["records"]]
    return table(("target", "cases", "failures", "seconds"), rows) + \
        f"\nSeed {data['seed']}.\n"


def _sweep(data):
    rows = [(r["workers"], _fmt(r["wall_s"]), _fmt(r["cluster_start_s"]), _fmt(r["mean_point_s"]),
             f"{r['load_before']:g} -> {r['load_after']:g}") for r in data["runs"]]
    text = table(("workers", "wall s", "of which cluster start s", "mean s per point",
                  "load average (1 min) before -> after"), rows)
    text += (f"\n{data['points']} points of `{data['network']}` ({', '.join(data['grid'])}), "
             f"synthesis only, each run with an empty synthesis cache: speed-up of 2 workers "
             f"over 1 **{data['speedup_2_vs_1']:g}** (from this one run; a load average above "
             f"the {data['cpus']} cores means other jobs shared them).\n")
    e = data["estimate_synth_100"]
    text += (f"\nEstimate for a 100-point grid of such points (synthesis only): "
             f"{e['per_point_s']:g} s per point (the 1-worker run's mean) -> "
             f"{_fmt(e['seconds']['1'])} s on 1 worker, {_fmt(e['seconds']['32'])} s on 32 "
             f"(ceil(100 / workers) rounds of equal tasks, one core per worker, plus the "
             f"measured cluster start).\n")
    return text


def _sweep_points(data):
    """A ``hwgen sweep`` sweep.json: every point, the two Pareto fronts marked."""
    from hwgen.sweep import pareto_front
    records = data["points"]
    fronts = {"images_per_s": pareto_front(records, "lut_total", "images_per_s"),
              "latency_us": pareto_front(records, "lut_total", "latency_us", maximize=False)}
    on = {k: {r["key"] for r in front} for k, front in fronts.items()}
    rows = []
    for r in sorted(records, key=lambda r: (r["status"] != "ok", r.get("lut_total") or 0)):
        params = ", ".join(f"{k}={v}" for k, v in r["params"].items())
        if r["status"] != "ok":
            rows.append((params, r["status"] + ": " + " ".join(str(r["error"]).split())[:120],
                         *["-"] * 9))
            continue
        marks = " / ".join(m for k, m in (("images_per_s", "images/s"), ("latency_us", "latency"))
                           if r["key"] in on[k])
        rows.append((params, _fmt(r["lut_total"]), _fmt(r["ff"]), _fmt(r["bram"]),
                     _fmt(r["fmax_mhz"], 1), _fmt(r["cycles_per_sample"]),
                     _fmt(r["images_per_s"], 0), _fmt(r["images_per_s_per_klut"], 0),
                     _fmt(r["latency_us"], 2), marks or "-",
                     _fmt(r["seconds"].get("total"), 0)))
    head = data["sweep"]
    latency = "measured" if head["sim"] else "estimated as the sum of the layers' cycles"
    return table(("point", "LUT", "FF", "BRAM", "Fmax MHz", "cycles/sample", "images/s",
                  "images/s per kLUT", "latency µs", "Pareto front", "task s"), rows) + (
        f"\n`{head['network']}` on {head['device'] or 'its target.device'} ({head['family']}), "
        f"place and route "
        f"{'with nextpnr ' + head['router'] if head['pnr'] else 'not run'}; images/s at "
        f"{'Fmax' if head['pnr'] else 'the target clock'}; cycles per sample "
        f"{'measured' if head['sim'] else 'ideal'}, latency "
        f"{latency}. "
        f"\"Pareto front\" names the fronts a point is on (LUTs against images/s, LUTs "
        f"against latency).\n") + _estimate(records, head["pnr"])


def _estimate(records, pnr):
    """A 100-point grid of such points on 1 and 32 workers, from the measured task seconds."""
    seconds = [r["seconds"]["total"] for r in records if r["status"] == "ok"]
    if not seconds:
        return ""
    mean = sum(seconds) / len(seconds)
    what = "synthesis plus place and route" if pnr else "synthesis"
    return (f"\nA task took {min(seconds):,.0f}-{max(seconds):,.0f} s (mean {mean:,.0f} s: "
            f"{what}, on the shared 2 cores, next to other jobs). "
            f"A 100-point grid of such points would take about {100 * mean / 3600:,.1f} h on "
            f"1 worker and {-(-100 // 32) * mean / 60:,.0f} min on 32 (ceil(100 / 32) = 4 "
            f"rounds), each worker on its own core; on an unloaded core a task is shorter.\n")


def _import_digits(data):
    def sim(r):
        s = r.get("sim")
        return "-" if s is None else f"{s['mismatches']} / {s['samples']} (exit {s['exit']})"
    rows = [(r["model"], "Gemm (dynamo)" if r["form"] == "dyn" else "MatMul (TorchScript)",
             r["layers"], f"{r['top1_equal']} / {r['images']}",
             f"{min(r['layers_equal'].values())} / {r['images']}",
             sum(r["float_ties"].values()), f"{100 * r['float_accuracy']:.1f} %", sim(r))
            for r in data["records"]]
    return table(("model", "export", "hwgen layers", "top-1 = executor",
                  "every layer = executor", "float32 ties", "float acc",
                  "hwgen sim mismatches (30 % backpressure)"), rows)


def _popcount_trees(data):
    rows = []
    for r in data["rows"]:
        t, c, a = r["today"], r["compressor"], r["adder"]
        rows.append((r["n"], _fmt(t["xilinx"]["lut_total"]), _fmt(c["xilinx"]["lut_total"]),
                     f"{t['xilinx_lut_per_bit']:.2f} -> {c['xilinx_lut_per_bit']:.2f} "
                     f"({c['xilinx']['lut_total'] / t['xilinx']['lut_total']:.2f}x)",
                     _fmt(t["ecp5"]["lut_total"]), _fmt(a["ecp5"]["lut_total"]),
                     _fmt(c["ecp5"]["lut_total"]), f"{a['ecp5_lut_per_bit']:.2f}",
                     f"{t['ice40']['lut_total']} / {c['ice40']['lut_total']}"
                     if "ice40" in t else "-"))
    return table(("SIMD bits", "LUT6 today", "LUT6 compressor", "LUT6 / bit",
                  "LUT4 today", "LUT4 adder", "LUT4 compressor", "LUT4 / bit (adder)",
                  "iCE40 LUT4 today / compressor"), rows)


def _popcount_sums(data):
    rows = [(f"{r['terms']} x {'int' if r['signed'] else 'uint'}{r['bits']}",
             _fmt(r["xilinx_adder"]), _fmt(r["xilinx_compressor"]), _fmt(r["ecp5_adder"]),
             _fmt(r["ecp5_compressor"])) for r in data["sums"]]
    return table(("terms", "LUT6 adders", "LUT6 `compressor_sum`", "LUT4 adders",
                  "LUT4 `compressor_sum`"), rows)


def _popcount_fmax(data):
    rows = [(r["n"], r["kind"], _fmt(r["depth"]), _fmt(r["lut_total"]),
             f"{r['fmax_mhz_median']:.1f} ({', '.join(f'{v:.1f}' for v in r['fmax_mhz_seeds'])})",
             f"{r['logic_levels']}, {r['delay_ns']:.1f} ns ({r['routing_ns']:.1f})")
            for r in data["fmax"]]
    return table(("SIMD bits", "tree", "counting levels", "LUT4", "Fmax MHz, median (seeds 1-3)",
                  "logic levels, delay (routing)"), rows)


def _popcount_lane(data):
    rows = []
    for r in data["lane_preview"]:
        rows.append((f"{r['pe']} x {r['simd']}", _fmt(r["xilinx_today"]["lut_total"]),
                     _fmt(r["xilinx_lane"]["lut_total"]),
                     f"{r['xilinx_today_per_synapse']:.2f} -> {r['xilinx_lane_per_synapse']:.2f} "
                     f"({r['xilinx_ratio']:.2f}x)", _fmt(r["ecp5_today"]["lut_total"]),
                     _fmt(r["ecp5_lane"]["lut_total"]),
                     f"{r['ecp5_today_per_synapse']:.2f} -> {r['ecp5_lane_per_synapse']:.2f} "
                     f"({r['ecp5_ratio']:.2f}x)"))
    ecp5 = data["lane_preview"][0].get("ecp5_structure", "adder") if data["lane_preview"] \
        else "adder"
    text = table(("PE x SIMD", "LUT6 today", "LUT6 compressor, stage after reads",
                  "LUT6 / synapse", "LUT4 today", f"LUT4 {ecp5}, stage after reads",
                  "LUT4 / synapse"), rows)
    for r in data["lane_preview"]:
        if "xilinx_lane_tree" in r:
            text += (f"\nAt {r['pe']} x {r['simd']} with the stage placed in the tree as "
                     f"today: {r['xilinx_lane_tree']['lut_total']:,} LUT6 with the compressor "
                     f"tree ({r['xilinx_tree_placement_ratio']:.2f}x today), "
                     f"{r['ecp5_lane_tree']['lut_total']:,} LUT4 with "
                     f"`{r.get('ecp5_structure', 'adder')}` "
                     f"({r['ecp5_tree_placement_ratio']:.2f}x today).\n")
            if "xilinx_lane_p2" in r:
                text += (f"\nAt {r['pe']} x {r['simd']} with `pipeline: 2` (one stage after "
                         f"the reads, one in the tree): {r['xilinx_lane_p2']['lut_total']:,} "
                         f"LUT6 ({r['xilinx_pipeline2_ratio']:.2f}x today's pipeline 1), "
                         f"{r['ecp5_lane_p2']['lut_total']:,} LUT4 "
                         f"({r['ecp5_pipeline2_ratio']:.2f}x).\n")
    if data.get("lane_fmax"):
        text += "\n" + table(
            ("ECP5 MVAU", "stage", "LUT4", "FF", "Fmax MHz, median (seeds)",
             "logic levels, delay (routing)"),
            [(f"{r['pe']} x {r['simd']}, {r.get('popcount', 'adder')}, pipeline "
              f"{r.get('pipeline', 1)}",
              "after the reads" + (" + in the tree" if r.get("pipeline", 1) > 1 else "")
              if r["stage_placement"] == "reads" else "in the tree (today)",
              _fmt(r["lut_total"]), _fmt(r["ff"]),
              f"{r['fmax_mhz_median']:.1f} ({', '.join(f'{v:.1f}' for v in r['fmax_mhz_seeds'])})",
              f"{r['logic_levels']}, {r['delay_ns']:.1f} ns ({r['routing_ns']:.1f})")
             for r in data["lane_fmax"]])
    return text


def _vit_digits(data):
    """The digits ViT: accuracy with each integer unit swapped back to float, the demo's row,
    training from scratch."""
    n = data["images"]
    rows = [(r["variant"], f"{100 * r['accuracy']:.2f} %",
             f"{100 * (r['accuracy'] - data['golden_accuracy']):+.2f}",
             f"{r['differ_from_golden']} / {n}") for r in data["ablation"]]
    text = table(("forward pass", f"test accuracy ({n} images)", "points vs all integer",
                  "predictions != golden"), rows)
    golden = data["golden_accuracy"]
    single = [r for r in data["ablation"] if len(r["float_units"]) == 1 and
              r["float_units"] != ["quant"]]
    every = next(r for r in data["ablation"] if len(r["float_units"]) == 3)
    alone = ", ".join(f"{r['variant'].split()[0]} {100 * (r['accuracy'] - golden):+.2f}"
                      for r in single)
    text += (f"\nWhat each integer unit costs (the float unit's accuracy minus the all-integer "
             f"one), in points: {alone}; all three {100 * (every['accuracy'] - golden):+.2f}; "
             f"one test image is "
             f"{100 / n:.2f} points. The all-integer forward pass of the QAT model equals the "
             f"exported network's golden model on every layer of "
             f"{n - data['integer_mismatches']} of {n} test images.\n")
    hw = data.get("hardware")
    if hw:
        text += (f"\nHardware (`hwgen demo digits --pretrained --models vit --backpressure "
                 f"{hw['backpressure']}`): {100 * hw['accuracy']:.2f} %, "
                 f"{hw['images'] - hw['mismatches']} of {hw['images']} predictions equal to the "
                 f"golden model's, {hw['cycles_per_image']:.1f} cycles per image "
                 f"(ideal {hw['ideal_cycles']}: the slowest layer; {_fmt(hw['images_per_s'])} images/s "
                 f"at {hw['clock_mhz']:g} MHz), generated and cosimulated in "
                 f"{hw['seconds']:.0f} s (Verilator build cached). "
                 f"The demo's row:\n\n" + "\n".join(
                     ["| model | float acc | golden acc | float = golden | hardware acc | "
                      "hardware = golden | cycles/image | images/s |", "|---" * 8 + "|",
                      data["demo_row"]]) + "\n")
    tr = data.get("training")
    if tr:
        text += (f"\nTrained from scratch as the demo does ({tr['epochs']} epochs, the first "
                 f"{tr['float_epochs']} with every unit float, {tr['threads']} thread): "
                 f"{tr['seconds']:.0f} s; float {100 * tr['float_accuracy']:.2f} %, golden "
                 f"{100 * tr['golden_accuracy']:.2f} %, integer forward = golden on "
                 f"{n - tr['integer_mismatches']} of {n} images.\n")
    return text


@dataclass(frozen=True)
class Result:
    """One table: the JSON it comes from, the command that wrote that JSON, a renderer."""
    stem: str
    command: str
    render: Callable


RESULTS = {
    "binary_networks": Result("binary_networks", "python benchmarks/binary_networks.py",
                              _binary_networks),
    "cnv": Result("cnv", "python benchmarks/cnv.py", _cnv),
    "mvau_resources": Result("mvau_resources", "python benchmarks/mvau_resources.py",
                             _mvau_resources),
    "mvau_sweep": Result("synth_binary", "python benchmarks/synth_binary.py --only sweep",
                         _mvau_sweep),
    "depth_sweep": Result("synth_binary", "python benchmarks/synth_binary.py --only depth",
                          _depth_sweep),
    "synth_networks": Result("synth_binary", "python benchmarks/synth_binary.py --only networks "
                             "--networks lfc sfc_fast", _synth_networks),
    "finn": Result("synth_binary", "python benchmarks/synth_binary.py --only networks "
                   "--networks lfc sfc_fast", _finn),
    "synth_fmax": Result("synth_fmax", "python benchmarks/synth_binary.py --fmax NET --label STEP",
                         _synth_fmax),
    "popcount_trees": Result("synth_tree", "python benchmarks/synth_binary.py --only tree "
                             "--tree-fmax", _popcount_trees),
    "popcount_sums": Result("synth_tree", "python benchmarks/synth_binary.py --only tree "
                            "--tree-fmax", _popcount_sums),
    "popcount_fmax": Result("synth_tree", "python benchmarks/synth_binary.py --only tree "
                            "--tree-fmax", _popcount_fmax),
    "popcount_lane": Result("synth_tree", "python benchmarks/synth_binary.py --only lane "
                            "--tree-fmax (ECP5 rows: --only lane --families ecp5; "
                            "--carry-fmax 1 2 3, and --carry-fmax 1 --carry-pipeline 2)",
                            _popcount_lane),
    "unrolled_networks": Result("unrolled", "python benchmarks/unrolled.py --seeds 1,2,3 "
                                "--pnr-only jsc_m_unrolled", _unrolled_networks),
    "unrolled_200mhz": Result("unrolled_200MHz", "python benchmarks/unrolled.py --networks "
                              "jsc_m_unrolled --clock 200 --seeds 1", _unrolled_networks),
    "unrolled_190mhz": Result("unrolled_190MHz", "python benchmarks/unrolled.py --networks "
                              "jsc_m_unrolled --clock 190 --seeds 1", _unrolled_networks),
    "unrolled_calibration": Result("unrolled_calibration",
                                   "python benchmarks/unrolled.py --calibrate 3,4",
                                   _unrolled_calibration),
    "unrolled_digits": Result("unrolled_digits",
                              "python benchmarks/unrolled.py --digits --no-synth",
                              _unrolled_digits),
    "ivit_accuracy": Result("ivit_units", "python benchmarks/ivit_units.py", _ivit_accuracy),
    "ivit_units": Result("ivit_units", "python benchmarks/ivit_units.py", _ivit_units),
    "ivit_networks": Result("ivit_units", "python benchmarks/ivit_units.py --networks "
                            "ivit_block attention_mini", _ivit_networks),
    "ivit_units_before": Result("ivit_units", "python benchmarks/ivit_units.py",
                                _ivit_units_before),
    "vit_digits": Result("vit_digits", "nice -n 10 python benchmarks/vit_digits.py --train "
                         "--hardware", _vit_digits),
    "fmax": Result("fmax", "nice -n 10 python benchmarks/fmax.py --label now|today|STEP "
                   "[--tree DIR] [--networks NET...] [--seeds 1,2,3 | --no-pnr]", _fmax),
    "requant_fmax": Result("requant_fmax", "nice -n 10 python benchmarks/requant_fmax.py "
                           "--layer k --seeds 1", _requant_fmax),
    "matmul": Result("matmul", "nice -n 10 python benchmarks/matmul.py --baseline main", _matmul),
    "nngen": Result("nngen_compare", "python benchmarks/nngen_compare.py", _nngen),
    "soak": Result("soak", "nice python benchmarks/soak.py", _soak),
    "cosim_speed": Result("cosim_speed", "nice -n 10 python benchmarks/cosim_speed.py",
                          _cosim_speed),
    "verilator_flags": Result(
        "verilator_flags", "python benchmarks/verilator_flags.py --networks "
        "tiny_bnn,sfc_balanced,sfc_unrolled_tail --recipes O3-builtin,quick --cycles 2000000",
        _verilator_flags),
    "sweep": Result("sweep", "python benchmarks/sweep.py", _sweep),
    "sweep_sfc_balanced": Result(
        "sweep_sfc_balanced", "hwgen sweep examples/sfc_balanced.yaml --grid fc0.pe=8,16 "
        "--grid fc1.pe=8,16 --grid fc2.pe=8,16 --pnr --device ecp5-85k-8 --router router2 "
        "--workers 2 -o DIR (then DIR/sweep.json copied here)", _sweep_points),
    "import_digits": Result("import_digits", "python benchmarks/import_digits.py "
                            "--sim fc_w1a2,bnn_cnn", _import_digits),
    "fuzz": Result("fuzz_campaign", "python benchmarks/fuzz_campaign.py --seed 6 "
                   "(the defaults: 200 cases per unit, 20 + 100 networks in Amaranth's "
                   "sim, 20 under Verilator)", _fuzz),
    "fuzz_after_fix": Result("fuzz_campaign_verilator_after_fix",
                             "python benchmarks/fuzz_campaign.py --units 0 --networks 0 "
                             "--verilator 3 --seed 1", _fuzz),
}


def render(name) -> str:
    """Table ``name`` of ``RESULTS`` with the command that measured it and the machine."""
    result = RESULTS[name]
    data = load(result.stem)
    return (result.render(data) +
            f"\nMeasured by `{result.command}` (`benchmarks/results/{result.stem}.json`) on "
            f"{machine_of(data)}.\n")


# --- the README's headline table ----------------------------------------------------------

README_BEGIN = "<!-- headline results: generated by docs/gen_results.py, do not edit -->"
README_END = "<!-- end of headline results -->"


def headline() -> str:
    """hwgen against FINN, NNgen and LogicNets, one row each, from the JSON results."""
    synth, nngen, unrolled = load("synth_binary"), load("nngen_compare"), load("unrolled")
    rows = []
    for n in synth["networks"]:
        f = n["finn"]
        rows.append((f"{n['network']} (binary MLP)", f["reference"],
                     "images/s per kLUT at the same clock (block RAM beside it)",
                     f"{f['ours_images_per_s_per_klut']:,} vs {f['finn_images_per_s_per_klut']:,}"
                     f" ({_fmt(f['ours_bram36'])} vs {_fmt(f['finn_bram36'])} BRAM36)",
                     f"**{f['ratio']:.2f}x**"))
    ours = next(r for r in nngen["rows"] if r["design"].startswith("hwgen (PE/SIMD"))
    theirs = next(r for r in nngen["rows"] if "default memory" in r["design"])
    rows.append((f"{nngen['network']} (int8 MLP)", theirs["design"].split(" (")[0] +
                 " (same folding, same Yosys flow)", "cycles per inference; LUT4",
                 f"{_fmt(ours['cycles'])} vs {_fmt(theirs['cycles'])}; "
                 f"{ours['LUT4']:,} vs {theirs['LUT4']:,}",
                 f"**{theirs['cycles'] / ours['cycles']:.0f}x** fewer cycles, "
                 f"**{theirs['LUT4'] / ours['LUT4']:.1f}x** fewer LUT4"))
    plain = next(n for n in unrolled["networks"] if n["network"] == "jsc_m_unrolled")
    ln = unrolled["logicnets_jsc_m"]
    rows.append(("jsc_m_unrolled (binary, latency mode)", f"LogicNets JSC-M, {ln['device']}",
                 "LUTs; latency", f"{plain['luts']:,} vs {ln['luts']:,}; "
                 f"{plain['latency_ns']:,.1f} ns vs {ln['latency_ns']} ns",
                 f"{plain['luts'] / ln['luts']:.2f}x the LUTs (LUT4 vs LUT6), "
                 f"**{plain['latency_ns'] / ln['latency_ns']:.1f}x the latency**"))
    return table(("hwgen design", "against (published or re-run)", "metric", "hwgen vs them",
                  "hwgen"), rows)


def readme_block() -> str:
    return f"{README_BEGIN}\n{headline()}{README_END}"


def update_readme(path=ROOT / "README.md"):
    text = path.read_text()
    pattern = re.compile(re.escape(README_BEGIN) + ".*?" + re.escape(README_END), re.S)
    if not pattern.search(text):
        raise SystemExit(f"{path}: no headline block ({README_BEGIN!r}) to replace")
    path.write_text(pattern.sub(lambda _: readme_block(), text))


if __name__ == "__main__":
    if sys.argv[1:] == ["--readme"]:
        update_readme()
    else:
        for name in RESULTS:
            print(f"## {name}\n\n{render(name)}")
