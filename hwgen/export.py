"""Verilog export: the bundle (Verilog, manifest, lint waivers, constraints, build scripts, README),
deterministic, written atomically."""

import importlib.resources
import json
import os
import shutil
import tempfile
from contextlib import contextmanager
from pathlib import Path

from amaranth.back import verilog

from .toolchain import FAMILIES, load_template, parse_device, yosys_script
from .units._ccu2c import VERILOG_MODEL, instantiates_cell

__all__ = ["to_verilog", "atomic_directory", "check_output_dir", "bundle_files",
           "IO_DELAY_FRACTION", "load_template", "manifest", "unit_entry", "write_bundle",
           "design_script"]

#: share of the clock period the AXI4-Stream neighbours get in the XDC/SDC I/O delays
IO_DELAY_FRACTION = 0.2
#: the bundle's simulation models of the vendor cells its Verilog instantiates
CELL_MODELS = "cell_models.v"
_INPUTS = ("rst", "s_axis_tdata[*]", "s_axis_tvalid", "s_axis_tlast", "m_axis_tready")
_OUTPUTS = ("s_axis_tready", "m_axis_tdata[*]", "m_axis_tvalid", "m_axis_tlast")


def to_verilog(component, name: str) -> str:
    """Verilog for ``component`` with top module ``name``.

    Source-location attributes are left out: they hold absolute paths, and
    the same network must give byte-identical Verilog on every machine.
    """
    return verilog.convert(component, name=name, emit_src=False)


def check_output_dir(target) -> Path:
    """``target`` resolved, or ValueError if replacing it could destroy a user's files.

    A bundle folder may replace an absent path, an empty folder, or an earlier
    bundle (a folder holding ``manifest.json``); nothing else.
    """
    target = Path(target).resolve()
    if target.exists() and not target.is_dir():
        raise ValueError(f"{target} is a file, not an output folder")
    if target.is_dir() and any(target.iterdir()) and not (target / "manifest.json").exists():
        raise ValueError(f"{target} is a folder that does not hold an hwgen bundle "
                         f"(no manifest.json); refusing to replace it: pass -o a new folder")
    if target == Path(target.anchor):
        raise ValueError(f"{target} cannot be an output folder")
    return target


@contextmanager
def atomic_directory(target):
    """Yield a temporary directory that replaces ``target`` only if the block succeeds.

    On any exception the temporary directory is removed and ``target`` (if it
    existed) is untouched, so a failed run never leaves half-written outputs.
    """
    target = check_output_dir(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{target.name}.", dir=target.parent))
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(staging, 0o777 & ~umask)   # mkdtemp makes it private; outputs are not
    try:
        yield staging
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    backup = None
    if target.exists():
        backup = Path(tempfile.mkdtemp(prefix=f".{target.name}.old.", dir=target.parent))
        os.replace(target, backup / target.name)
    os.replace(staging, target)
    if backup is not None:
        shutil.rmtree(backup, ignore_errors=True)


def design_script(family, top, verilog_name, verilog_text):
    """The Yosys script (:func:`~hwgen.toolchain.yosys_script`) for the Verilog
    ``verilog_text`` saved as ``verilog_name``: the bundle's ``synth_<family>.ys`` and what
    ``hwgen synth`` runs. A design that instantiates ECP5 cells itself (popcount
    ``"ecp5_carry"``) reads Yosys's ECP5 cell library first."""
    return yosys_script(family, top, verilog_name, vendor_cells=instantiates_cell(verilog_text))


def bundle_files(spec, design, verilog_text):
    """{file name: text} of the constraints, build scripts and README of a bundle whose
    Verilog is ``verilog_text``.

    Rendered from the templates with the network's ``target.clock_mhz``: XDC
    and SDC (clock ``clk``, I/O delays of ``IO_DELAY_FRACTION`` of the period
    on the AXI4-Stream ports), LPF (ECP5 ``FREQUENCY PORT``), a PCF pin
    template (iCE40), one Yosys script per family (:func:`design_script`), a
    Vivado non-project Tcl script and a README on using the module as AXI4-Stream IP;
    with ``CELL_MODELS`` when the Verilog instantiates ECP5 cells.
    """

    top, mhz = spec.name, spec.target.clock_mhz
    period = 1000.0 / mhz
    io = design.io_bits
    ports = ["clk", "rst", "s_axis_tvalid", "s_axis_tlast", "m_axis_tready", "s_axis_tready",
             "m_axis_tvalid", "m_axis_tlast"]
    set_io = "\n".join(
        [f"# set_io {port} <pin>" for port in ports]
        + [f"# set_io {bus}[{bit}] <pin>" for bus in ("s_axis_tdata", "m_axis_tdata")
           for bit in range(io)])
    values = {
        "top": top, "clock_mhz": f"{mhz:g}", "period_ns": f"{period:.3f}",
        "io_delay_ns": f"{period * IO_DELAY_FRACTION:.3f}",
        "io_percent": f"{IO_DELAY_FRACTION * 100:g}",
        "inputs": " ".join(_INPUTS), "outputs": " ".join(_OUTPUTS),
        "ports": ", ".join(ports + [f"s_axis_tdata[{io - 1}:0]", f"m_axis_tdata[{io - 1}:0]"]),
        "set_io": set_io, "part": parse_device("xilinx", spec.target.device).name,
        "io_msb": io - 1, "in_beats": design.in_beats, "out_beats": design.out_beats,
        "in_per_beat": design.in_per_beat, "in_bits": design.in_bits,
        "ideal_cycles": design.ideal_cycles,
    }
    # a design with vendor cells of its own (popcount "ecp5_carry") ships their simulation
    # model: Yosys reads its own cell library, a simulator needs this one
    cells = instantiates_cell(verilog_text)
    values["cell_rows"] = (f"\n| `{CELL_MODELS}` | simulation model of ECP5's `CCU2C` carry cell, "
                           f"which `{top}.v` instantiates (`popcount: ecp5_carry`): give it to a "
                           f"simulator with `{top}.v`, not to synthesis |" if cells else "")
    files = {f"{top}.{kind}": load_template("constraints", f"{kind}.tmpl").substitute(values)
             for kind in ("xdc", "sdc", "lpf", "pcf")}
    for family in FAMILIES:
        files[f"synth_{family}.ys"] = design_script(family, top, f"{top}.v", verilog_text)
    files["vivado.tcl"] = load_template("scripts", "vivado.tcl.tmpl").substitute(values)
    files["README.md"] = load_template("scripts", "README.md.tmpl").substitute(values)
    if cells:
        files[CELL_MODELS] = VERILOG_MODEL
    return files


def unit_entry(unit):
    """What the manifest records of one unit: its kind, stream lanes and widths, and the
    figures it names itself (``unit.figures``: latency, folds, widths, ROM bits, ...)."""
    from amaranth.lib import wiring

    from .network import stream_format

    def port(name):
        shape, lanes = stream_format(getattr(unit, name))
        return {"lanes": lanes, "bits": shape.width, "signed": shape.signed}

    members = unit.signature.members
    inputs = [name for name in members if members[name].flow == wiring.In]
    outputs = [name for name in members if members[name].flow == wiring.Out]
    # "in"/"out": the first stream each way; a join (a, b) or fork (o0, o1, ...) lists all.
    entry = {"unit": type(unit).__name__, "in": port(inputs[0]), "out": port(outputs[0])}
    if len(inputs) > 1:
        entry["inputs"] = {name: port(name) for name in inputs}
    if len(outputs) > 1:
        entry["outputs"] = len(outputs)
    entry.update({name: getattr(unit, name) for name in unit.figures})
    return entry


def manifest(spec, design, verilog_name):
    """``manifest.json`` of a bundle: ports, stream format, per layer its types, cycles and
    units (:func:`unit_entry`), and the glue units the composition added."""
    return {
        "name": spec.name,
        "verilog": verilog_name,
        "source": str(spec.source),
        "ports": {
            "clk": 1, "rst": 1,
            "s_axis_tdata": design.io_bits, "s_axis_tvalid": 1,
            "s_axis_tready": 1, "s_axis_tlast": 1,
            "m_axis_tdata": design.io_bits, "m_axis_tvalid": 1,
            "m_axis_tready": 1, "m_axis_tlast": 1,
        },
        "stream": {
            "input": {"elements_per_beat": design.in_per_beat, "bits": design.in_bits,
                      "beats_per_sample": design.in_beats, "order": "HWC, element 0 in LSBs"},
            "output": {"elements_per_beat": design.out_per_beat, "bits": design.out_bits,
                       "signed": design.out_signed, "beats_per_sample": design.out_beats},
        },
        "ideal_cycles_per_sample": design.ideal_cycles,
        "layers": [{
            "name": hw.layer.name, "op": hw.layer.op, "pe": hw.layer.pe, "simd": hw.layer.simd,
            "in": [t.describe() for t in hw.layer.in_types], "out": hw.layer.out_type.describe(),
            "out_range": [hw.layer.out_type.lo, hw.layer.out_type.hi],
            "cycles_per_sample": hw.cycles_per_sample,
            "units": [unit_entry(unit) for unit in hw.units],
        } for hw in design.layers],
        "glue": [unit_entry(unit) for unit in design.glue],
    }


def write_bundle(spec, design, out_dir):
    """Verilog, manifest, lint waivers, constraints, build scripts and README -> ``out_dir``
    (replaced atomically); returns the Verilog text."""
    verilog_text = to_verilog(design.top, spec.name)
    with atomic_directory(out_dir) as staging:
        (staging / f"{spec.name}.v").write_text(verilog_text)
        (staging / "manifest.json").write_text(
            json.dumps(manifest(spec, design, f"{spec.name}.v"), indent=2) + "\n")
        waivers = importlib.resources.files("hwgen") / "data" / "verilator_lint.vlt"
        shutil.copyfile(str(waivers), staging / "verilator_lint.vlt")
        for name, text in bundle_files(spec, design, verilog_text).items():
            (staging / name).write_text(text)
    return verilog_text
