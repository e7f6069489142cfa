"""Delay model per FPGA family: what fits in one clock period, calibrated on nextpnr runs.

The generator asks it how deep to pipeline (``DelayModel.stages_for``): how many
comparison levels of LabelSelect's tree share a register stage, whether
Thresholding encodes in a stage of its own, how many register stages an
MVAU's adder tree takes (``MVAU.retimed``, ``IntegerMVAU.retimed``), and
(next) whether a ROM read needs a register. ``check_design`` estimates the
slowest register-to-register stage of every unit of a composed network, and
``hwgen report`` names each layer that cannot meet ``target.clock_mhz``
with the reason and the fix.

A stage's delay is ``clk_to_q + sum(levels) + setup``: each LUT level costs
the LUT's delay plus one net (``route(fanout)``, a net's delay growing with
the log of its fanout), a carry chain costs its entry plus a delay per bit.
The constants come from the critical paths of nextpnr-ecp5 runs of hwgen
designs on an LFE5U-85F speed 8 (``python benchmarks/delay_model.py``
refits them from the reports of ``hwgen synth --pnr`` runs and writes
``hwgen/data/calibration/delay.json``). Other speed grades scale every
delay by the grade's factor. It is a model: it ranks paths and predicts
which stage is too long; it does not replace place and route.
"""

import json
import math
from dataclasses import dataclass, fields
from importlib.resources import files

__all__ = ["DelayModel", "StageDelay", "delay_model", "model_for_device", "check_design",
           "mvau_stage_delay", "retime", "format_timing", "weight_stores",
           "format_weight_stores"]


@dataclass(frozen=True)
class DelayModel:
    """Delays in ns of one family and speed grade (see the module docstring)."""
    family: str
    clk_to_q: float
    setup: float
    lut: float               # one LUT4's cell delay
    route_base: float        # a net of fanout 1 on a critical path
    route_per_log2: float    # added per doubling of a net's fanout
    carry_entry: float       # into the first cell of a carry chain
    carry_per_bit: float     # along the chain
    dsp: float               # a multiplier's combinational delay (MULT18X18D)
    bram_clk_to_q: float     # block RAM output (DP16KD) without its output register
    margin: float = 0.85     # share of the period a generated stage may fill: placement
                             # stretches nets beyond the calibrated typical ones
    source: str = ""

    def route(self, fanout=1):
        """One net driving ``fanout`` loads."""
        return self.route_base + self.route_per_log2 * math.log2(max(fanout, 1))

    def luts(self, levels, fanout=1):
        """``levels`` LUT levels, each through one net; the last net drives ``fanout`` loads."""
        if levels <= 0:
            return 0.0
        return levels * self.lut + (levels - 1) * self.route() + self.route(fanout)

    def carry(self, bits):
        """An adder or comparator of ``bits`` bits on the carry chain, with its input net."""
        return self.route() + self.carry_entry + self.carry_per_bit * max(bits - 1, 0)

    def stage(self, *delays):
        """A register-to-register stage made of ``delays`` (ns)."""
        return self.clk_to_q + sum(delays) + self.setup

    def budget(self, clock_mhz):
        """ns of logic and routing the generator puts between two registers at ``clock_mhz``
        (``margin`` of the period, less the registers' own delays)."""
        return self.margin * 1e3 / clock_mhz - self.clk_to_q - self.setup

    def stages_for(self, clock_mhz, level_ns, *, fixed_ns=0.0, most=None):
        """How many levels of ``level_ns`` each fit in one stage after ``fixed_ns``: at least
        1 (one level that does not fit is still one level per stage), at most ``most``.
        A method, so that a unit choosing its depth needs only the model it is handed (the
        units never import this module, which reads them)."""
        room = self.budget(clock_mhz) - fixed_ns
        count = max(1, int(room // level_ns)) if level_ns > 0 else (most or 1)
        return min(count, most) if most else count


#: speed grade -> delay factor relative to the calibrated grade 8 (nextpnr's ECP5 timing
#: data: grade 6 is about 1.3x and grade 7 1.15x slower than grade 8)
_ECP5_SPEED = {"8": 1.0, "7": 1.15, "6": 1.3}


def delay_model(family="ecp5", speed="8"):
    """The calibrated :class:`DelayModel` of ``family`` (ECP5; iCE40 and Xilinx reuse it as a
    rough guide, ``source`` says so) at ``speed``."""
    table = json.loads(files("hwgen").joinpath("data", "calibration", "delay.json").read_text())
    entry = dict(table["ecp5"])
    note = entry.pop("source")
    factor = _ECP5_SPEED.get(str(speed), _ECP5_SPEED["6"]) if family == "ecp5" else 1.0
    scaled = {f.name: entry[f.name] * (1.0 if f.name == "margin" else factor)
              for f in fields(DelayModel) if f.name in entry}
    if family != "ecp5":
        note += f"; applied to {family} as a rough guide (no {family} calibration)"
    elif factor != 1.0:
        note += f"; scaled x{factor} for speed grade {speed}"
    return DelayModel(family=family, source=note, **scaled)


def model_for_device(device):
    """:func:`delay_model` for a ``target.device`` string (``ecp5-85k-8``: ECP5 speed 8;
    ``ecp5-25k``: speed 6, the default grade; ``ice40-...``; a Xilinx part)."""
    device = str(device).lower()
    if device.startswith("ecp5"):
        parts = device.split("-")
        speed = parts[2] if len(parts) > 2 and parts[2] in _ECP5_SPEED else "6"
        return delay_model("ecp5", speed)
    return delay_model("ice40" if device.startswith("ice40") else "xilinx")


@dataclass(frozen=True)
class StageDelay:
    """The slowest stage of one unit: estimated ns, what it is, and how to shorten it."""
    layer: str
    unit: str
    delay_ns: float
    what: str
    fix: str = ""

    def meets(self, clock_mhz):
        return self.delay_ns <= 1e3 / clock_mhz


def mvau_stage_delay(unit, model):
    """(ns, what, fix) of an MVAU's slowest stage, read from its parameters: its popcount /
    adder tree split into ``pipeline + 1`` stages, the accumulator, a weight ROM read.

    The adder trees state their stages (``datapath.tree_delays``, from which the MVAUs'
    ``retimed`` choose ``pipeline``); the trees without an estimate (the compressor tree,
    the ``"reads"`` placement) are split evenly here. Kept here, outside the MVAU, until
    the matrix-vector engine states its whole estimate.
    """
    simd, bits = unit.simd, unit.acc_bits
    levels = max((simd - 1).bit_length(), 1)                 # adder levels of the tree
    accumulate = model.carry(bits) + model.luts(1)
    depth = unit.nf * unit.sf
    # A ROM in logic is read between the address and the read port's register (a stage of
    # its own); a block RAM's slow output feeds the tree unless the MVAU registers it.
    bram = depth > 64 and unit.rom_bits and not unit.read_register
    after_read = model.bram_clk_to_q - model.clk_to_q if bram else 0.0
    per_stage = unit.datapath.tree_delays(model, unit.pipeline)
    if per_stage is None:
        per_stage = [-(-levels // (unit.pipeline + 1)) * (model.carry(bits) + model.lut)]
        where = f"{-(-levels // (unit.pipeline + 1))} of {levels} adder-tree levels per stage"
    else:
        where = f"the slowest of {len(per_stage)} adder-tree stages ({levels} levels)"
    stages = [(model.stage(max(per_stage[0] + after_read, *per_stage)),
               where + (" after a block-RAM weight read" if bram else ""),
               f"pipeline: {min(levels, unit.pipeline + 1)} or more"
               + (" and a register after the weight read" if bram else "")),
              (model.stage(accumulate, 0.0 if unit.registered_result else model.route(3)),
               f"the {bits}-bit accumulator into "
               + ("its register" if unit.registered_result else "its output queue"),
               "a narrower accumulator (fewer inputs per PE)")]
    if unit.rom_bits and depth <= 64:
        stages.append((model.stage(model.luts(max((depth - 1).bit_length() // 2, 1) + 1)),
                       "the weight ROM read in logic", "the ROM in block RAM (hwgen/units/_rom.py)"))
    return max(stages, key=lambda stage: stage[0])


#: units whose estimate lives here rather than on the unit (by class name)
_ESTIMATES = {"MVAU": mvau_stage_delay, "IntegerMVAU": mvau_stage_delay}


def check_design(design, clock_mhz, model):
    """A :class:`StageDelay` per unit that has an estimate (``unit.stage_delay(model)``, or
    one kept here for units that do not state it), in stream order, with the layer that owns
    it (``(glue)`` for the composition's units)."""
    owners = {id(unit): hw.layer.name for hw in design.layers for unit in hw.units}
    found = []
    for unit in design.top.core.units:
        estimate = getattr(unit, "stage_delay", None)
        if estimate is None and type(unit).__name__ in _ESTIMATES:
            estimate = lambda model, unit=unit: _ESTIMATES[type(unit).__name__](unit, model)
        if estimate is None:
            continue
        ns, what, fix = estimate(model)
        found.append(StageDelay(owners.get(id(unit), "(glue)"), type(unit).__name__,
                                round(ns, 2), what, fix))
    return found


def retime(unit, model, clock_mhz):
    """``unit`` with the pipeline depths the delay model gives at ``clock_mhz`` (a unit with
    a ``retimed`` method chooses; others are returned as they are)."""
    retimed = getattr(unit, "retimed", None)
    if retimed is None:
        return unit
    chosen = retimed(model, clock_mhz)
    if chosen is not unit:
        unit._MustUse__silence = True     # replaced before elaboration, not forgotten
    return chosen


def format_timing(stages, clock_mhz, model, device):
    """Markdown: the units that cannot meet ``clock_mhz`` (layer, unit, estimate, reason, fix),
    or a line saying every estimated stage fits, and the slowest stage either way."""
    period = 1e3 / clock_mhz
    lines = [f"## Timing at {clock_mhz:g} MHz ({period:.2f} ns) on {device}",
             "", f"Delay model: {model.source}. Estimates per register stage; "
                 "`hwgen synth --pnr --seeds 1,2,3` measures."]
    if not stages:
        return "\n".join(lines + ["", "No unit of this design has a delay estimate."])
    late = [s for s in stages if not s.meets(clock_mhz)]
    slowest = max(stages, key=lambda s: s.delay_ns)
    if late:
        lines += ["", "| layer | unit | estimate | cannot meet the clock because | fix |",
                  "|---|---|---|---|---|"]
        lines += [f"| {s.layer} | {s.unit} | {s.delay_ns:.2f} ns | {s.what} | {s.fix} |"
                  for s in late]
    else:
        lines += ["", f"Every estimated stage fits in {period:.2f} ns."]
    lines.append(f"\nSlowest estimated stage: {slowest.layer} ({slowest.unit}), "
                 f"{slowest.delay_ns:.2f} ns: {slowest.what}.")
    return "\n".join(lines)


def weight_stores(design):
    """Per MVAU with weight ROMs: ``(layer, roms, depth, width, plan, dp16kd, logic LUT4,
    Yosys's own dp16kd, Yosys's own logic LUT4)`` under the storage rule of
    ``hwgen.units._rom.rom_plan`` (Yosys by itself keeps ROMs of 64 words and fewer in
    logic). The binary MVAU's ROMs follow the rule with ``popcount: compressor`` and where
    Yosys would keep them in logic at 33 to 64 words or more than 128
    (:func:`~hwgen.units._weight_store.tool_keeps_in_logic`); the others keep
    Yosys's choice, and this is what they would take."""
    from .units._rom import block_rams, logic_luts, rom_plan
    owners = {id(unit): hw.layer.name for hw in design.layers for unit in hw.units}
    rows = []
    for unit in design.top.core.units:
        # the weights only: rom_bits also counts the accumulators' start-value ROMs (a bias,
        # or a fused threshold)
        if type(unit).__name__ not in _ESTIMATES or not unit.weight_store.rom_bits:
            continue
        depth = unit.nf * unit.sf
        width = unit.weight_store.rom_bits // (unit.pe * depth)
        plan = rom_plan(depth, width)
        bram = unit.pe * sum(block_rams(depth, bits) for bits, style in plan if style == "block")
        luts = unit.pe * sum(logic_luts(depth, bits) for bits, style in plan if style == "logic")
        own_bram = unit.pe * block_rams(depth, width) if depth > 64 else 0
        own_luts = 0 if depth > 64 else unit.pe * logic_luts(depth, width)
        rows.append((owners.get(id(unit), "(glue)"), unit.pe, depth, width, plan, bram, luts,
                     own_bram, own_luts))
    return rows


def format_weight_stores(design):
    """Markdown table of :func:`weight_stores` and its totals."""
    rows = weight_stores(design)
    if not rows:
        return ""
    lines = ["## Weight ROMs: block RAM or logic", "",
             "Rule (`hwgen/units/_rom.py`): block RAM where it saves 64 LUT4 per DP16KD, the "
             "rest of a ROM's bits in logic; Yosys alone keeps ROMs of 64 words and fewer in "
             "logic. The binary MVAU's ROMs that Yosys would keep in logic at 33 to 64 words or "
             "more than 128 follow the rule (all of them with `popcount: compressor`); the "
             "others keep Yosys's choice.", "",
             "| layer | ROMs | words x bits | rule | DP16KD | LUT4 | Yosys alone: DP16KD | "
             "LUT4 |", "|---|---|---|---|---|---|---|---|"]
    for layer, roms, depth, width, plan, bram, luts, own_bram, own_luts in rows:
        split = " + ".join(f"{bits} {style}" for bits, style in plan)
        lines.append(f"| {layer} | {roms} | {depth} x {width} | {split} | {bram} | {luts:,} | "
                     f"{own_bram} | {own_luts:,} |")
    total = [sum(row[k] for row in rows) for k in (5, 6, 7, 8)]
    lines.append(f"| total | | | | {total[0]} | {total[1]:,} | {total[2]} | {total[3]:,} |")
    return "\n".join(lines)
