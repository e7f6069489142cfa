"""The FPGA toolchains hwgen targets: families, devices, Yosys scripts and bundled templates.

One home for what export (the bundle's scripts and constraints), synth (running
Yosys and nextpnr), plan (which LUT model estimates a device) and the command
line need to know about a family; it imports nothing else of hwgen.
"""

import importlib.resources
import re
from dataclasses import dataclass
from string import Template

__all__ = ["FAMILIES", "Device", "parse_device", "yosys_script", "load_template", "family_of",
           "model_family", "ECP5_BLOCK_RAMS"]

FAMILIES = ("ecp5", "ice40", "xilinx")


def family_of(device):
    """The LUT family whose calibration estimates ``device``: xilinx for ``xc...``, else
    ecp5 (iCE40 LUT4s are estimated with the ECP5 model)."""
    return "xilinx" if str(device).lower().startswith("xc") else "ecp5"


def model_family(family):
    """The family whose resource model estimates ``family``: iCE40 LUT4s use the ECP5 one."""
    return "ecp5" if family == "ice40" else family


def load_template(*parts):
    """A template shipped with hwgen: ``data/constraints/`` (the repository's
    ``constraints/`` folder, linked into the package) or ``data/scripts/``."""
    return Template((importlib.resources.files("hwgen").joinpath("data", *parts)).read_text())


# synth command per family. Yosys 0.70's abc9 (the default LUT mapper of all three flows)
# fails an assertion (count_id(wire->name) == 0 in ABC_OPS_REINTEGRATE) on hierarchical
# Amaranth designs, so each flow runs up to its LUT mapping, maps with classic abc and
# finishes with the flow's own remaining steps.
_SYNTH = {
    "ecp5": ("synth_ecp5 -top ${top} -noflatten -run :map_gates\n"
             "${small_carry}"
             "synth_ecp5 -top ${top} -noflatten -run map_gates:map_luts\n"
             "techmap -map +/lattice/latches_map.v\nabc -lut 4\nclean\n"
             "synth_ecp5 -top ${top} -noflatten -run map_cells:"),
    "ice40": ("synth_ice40 -top ${top} -noflatten -run :map_luts\n"
              "techmap -map +/ice40/latches_map.v\nabc -lut 4\n"
              "ice40_wrapcarry -unwrap\ntechmap -map +/ice40/ff_map.v\nclean\n"
              "opt_lut -tech ice40\n"
              "synth_ice40 -top ${top} -noflatten -run map_cells:"),
    "xilinx": ("synth_xilinx -top ${top} -family xc7 -run :map_luts\n"
               "opt_expr -mux_undef -noclkinv\nabc -luts 2:2,3,6:5,10,20\nclean\n"
               "xilinx_srl -fixed -minlen 3\n"
               "techmap -map +/xilinx/lut_map.v -map +/xilinx/cells_map.v -D LUT_WIDTH=6\n"
               "xilinx_dffopt\nopt_lut_ins -tech xilinx\n"
               "synth_xilinx -top ${top} -family xc7 -run finalize:"),
}


@dataclass(frozen=True)
class Device:
    """Where a design is placed: ``family``, the device ``name``, nextpnr's arguments."""
    family: str
    name: str
    nextpnr_args: tuple = ()
    note: str = ""


_DEFAULT_DEVICE = {"ecp5": "ecp5-25k", "ice40": "ice40-hx8k", "xilinx": "xc7z020clg400-1"}
_ECP5 = re.compile(r"ecp5-(12|25|45|85)k(?:-([678]))?(?:-([a-z0-9]+))?$", re.I)
_ICE40 = re.compile(r"ice40-(up5k|hx8k|hx4k|hx1k|lp8k|lp4k|lp1k|u4k)(?:-([a-z0-9]+))?$", re.I)
_XILINX = re.compile(r"xc\w+", re.I)
_ICE40_PACKAGE = {"up5k": "sg48", "u4k": "sg48", "hx8k": "ct256", "hx4k": "tq144",
                  "hx1k": "tq144", "lp8k": "cm81", "lp4k": "cm81", "lp1k": "cm81"}


def parse_device(family, device):
    """``Device`` for ``family`` from ``target.device``.

    ``ecp5-<12|25|45|85>k[-<speed 6|7|8>][-<package>]`` (default speed 6,
    package CABGA381), ``ice40-<up5k|hx8k|...>[-<package>]``, or a Xilinx
    part name (``xc...``). A device of another family is replaced by the
    family's default, and ``note`` says so.
    """
    if family not in FAMILIES:
        raise ValueError(f"family must be one of {', '.join(FAMILIES)}, not {family!r}")
    device = str(device)
    if family == "ecp5":
        match, device, note = _match(_ECP5, family, device, "an ECP5")
        size, speed, package = match.groups()
        args = (f"--{size}k", "--package", (package or "CABGA381").upper(), "--speed", speed or "6")
        return Device(family, device, args, note)
    if family == "ice40":
        match, device, note = _match(_ICE40, family, device, "an iCE40")
        kind, package = match.groups()
        return Device(family, device, (f"--{kind.lower()}", "--package",
                                       package or _ICE40_PACKAGE[kind.lower()]), note)
    match, device, note = _match(_XILINX, family, device, "a Xilinx part")
    return Device(family, device, (), note)


def _match(pattern, family, device, kind):
    """(match, device, note): ``device`` if ``pattern`` matches it, else the family's default."""
    match = pattern.match(device)
    if match:
        return match, device, ""
    default = _DEFAULT_DEVICE[family]
    return (pattern.match(default), default,
            f"target.device {device!r} is not {kind}; using {default}")


def _small_carry():
    """Script lines that map the ``$alu`` cells driving a wire with the ``hwgen_carry``
    attribute to CCU2C carry chains even at up to 4 bits, where Yosys's own ECP5 map
    leaves them to LUTs (a design without the attribute is synthesised as before). The
    map is inline (a here-document) because the script must run from a bundle folder."""
    text = importlib.resources.files("hwgen").joinpath("data", "scripts",
                                                       "ecp5_small_carry.v").read_text()
    return ("# sums marked hwgen_carry: carry chains even at <= 4 bits (Yosys leaves those to LUTs)\n"
            "design -push\nread_verilog -nooverwrite -noblackbox -icells <<EOT\n"
            f"{text.rstrip()}\nEOT\ndesign -save hwgen_small_carry\ndesign -pop\n"
            "techmap -map %hwgen_small_carry a:hwgen_carry %ci*:+$alu[Y] t:$alu %i\n")


def _cell_library(family, cells):
    """Script lines before the design's own: with ``cells`` (the design instantiates ECP5
    cells itself, popcount ``"ecp5_carry"``'s CCU2C), Yosys's ECP5 cell library, so that
    ``hierarchy -check`` knows them; for another family a note that the design is ECP5's."""
    if not cells:
        return ""
    if family == "ecp5":
        return ("# the design instantiates ECP5 cells (CCU2C): Yosys's cell library first, so "
                "that hierarchy -check knows them\n"
                "read_verilog -lib -specify +/ecp5/cells_sim.v +/ecp5/cells_bb.v\n")
    return (f"# note: the design instantiates ECP5 cells (CCU2C, popcount: ecp5_carry), so it "
            f"synthesises for ECP5 only, not {family}\n")


def yosys_script(family, top, verilog, *, prefix="", vendor_cells=False):
    """The Yosys script that synthesises ``verilog`` (top ``top``) for ``family``.

    It writes ``{prefix}stat_<family>.json`` (per-module ``stat -json``) and
    the flattened netlist ``{prefix}<top>_<family>.json`` for nextpnr. With
    ``vendor_cells`` (the Verilog instantiates ECP5 cells itself:
    :func:`hwgen.units._ccu2c.instantiates_cell`) an ECP5 script reads Yosys's ECP5
    cell library first. ``hwgen synth`` and the export bundle both call this with
    the same arguments, so the bundle's script is the one ``hwgen synth`` runs.
    """
    synth = Template(_SYNTH[family]).substitute(top=top, small_carry=_small_carry())
    return load_template("scripts", "yosys.ys.tmpl").substitute(
        top=top, family=family, verilog=verilog, synth=synth,
        cells=_cell_library(family, vendor_cells),
        stat=f"{prefix}stat_{family}.json", netlist=f"{prefix}{top}_{family}.json")


#: DP16KD block RAMs of each ECP5 size (LFE5U-12F .. -85F)
ECP5_BLOCK_RAMS = {"12": 32, "25": 56, "45": 108, "85": 208}
