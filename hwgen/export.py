"""Verilog export: deterministic text, written atomically; constraints and build scripts."""

import importlib.resources
import os
import shutil
import tempfile
from contextlib import contextmanager
from pathlib import Path
from string import Template

from amaranth.back import verilog

__all__ = ["to_verilog", "atomic_directory", "check_output_dir", "bundle_files",
           "IO_DELAY_FRACTION", "load_template"]

#: share of the clock period the AXI4-Stream neighbours get in the XDC/SDC I/O delays
IO_DELAY_FRACTION = 0.2
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


def load_template(*parts):
    """A template shipped with hwgen: ``data/constraints/`` (the repository's
    ``constraints/`` folder, linked into the package) or ``data/scripts/``."""
    return Template((importlib.resources.files("hwgen").joinpath("data", *parts)).read_text())


def bundle_files(spec, design):
    """{file name: text} of the constraints, build scripts and README of a bundle.

    Rendered from the templates with the network's ``target.clock_mhz``: XDC
    and SDC (clock ``clk``, I/O delays of ``IO_DELAY_FRACTION`` of the period
    on the AXI4-Stream ports), LPF (ECP5 ``FREQUENCY PORT``), a PCF pin
    template (iCE40), one Yosys script per family, a Vivado non-project Tcl
    script and a README on using the module as AXI4-Stream IP.
    """
    from .synth import FAMILIES, parse_device, yosys_script

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
    files = {f"{top}.{kind}": load_template("constraints", f"{kind}.tmpl").substitute(values)
             for kind in ("xdc", "sdc", "lpf", "pcf")}
    for family in FAMILIES:
        files[f"synth_{family}.ys"] = yosys_script(family, top, f"{top}.v")
    files["vivado.tcl"] = load_template("scripts", "vivado.tcl.tmpl").substitute(values)
    files["README.md"] = load_template("scripts", "README.md.tmpl").substitute(values)
    return files
