"""The grid of a sweep: ``--grid KEY=V1,V2`` items, the YAML keys they address, and one
validated network YAML per combination of values (:func:`plan_sweep`).

Keys address the YAML: ``LAYER.KEY`` (``fc1.pe``, ``fc1.activation.bits``) sets
a key of the layer named LAYER, ``TOP.KEY`` a key under a top-level mapping
(``target.device``, ``target.clock_mhz``, ``input.bits``), a bare top-level key
sets it (``seed``, ``weights``), and ``fold.max_lut`` runs ``--fold auto`` with
that LUT budget (``hwgen.plan.auto_fold``). Values are YAML scalars. Every
point's YAML goes through ``hwgen.spec.loads`` before any task starts; an
error names the network file, the line of the key the grid changes, the YAML
path and the grid point, and the closest valid name.
"""

from __future__ import annotations

import copy
import hashlib
import itertools
import json
import os
import re
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from ..spec import SpecError, SpecWarning, loads
from ..spec.errors import did_you_mean
from ..spec.schema import TOP_KEYS, BadValue, Field, check_value
from ..spec.yamlsrc import Map, Seq, line_of, parse
from ..synth import FAMILIES, parse_device

__all__ = ["SweepError", "Point", "Sweep", "parse_grid", "plan_sweep", "FOLD_KEY"]

#: format of the records in sweep.json; a store of another version is not resumed
STORE_VERSION = 1
#: the fold budget key (``--fold auto --max-lut N``)
FOLD_KEY = "fold.max_lut"
_MAX_LUT = Field("max_lut", "int", lo=1, doc="LUT budget of --fold auto")


class SweepError(ValueError):
    """A grid or sweep option that is wrong (not tied to a line of the YAML)."""


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
            raise SpecError("'fold' takes only max_lut (the budget of --fold auto)", file=file, path=f"--grid {key}",
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
        return _label(self.params)

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
    for (key, values), target in zip(grid, targets):
        if target.key == FOLD_KEY:
            for value in values:
                try:
                    check_value(_MAX_LUT, value)
                except BadValue as bad:
                    raise SpecError(bad.message, file=file, path=f"--grid {key}",
                                    hint=bad.hint) from None
    fold = any(t.key == FOLD_KEY for t in targets)
    folded = [t.key for t in targets if t.tokens[-1:] in (("pe",), ("simd",))]
    if fold and folded:
        raise SweepError(f"--grid {FOLD_KEY} lets --fold auto choose every layer's pe and "
                         f"simd; drop --grid {', '.join(folded)}")
    if device is not None:
        if "target.device" in dict(grid):
            raise SweepError("--device sets the device of every point; drop it or drop "
                             "--grid target.device")
        _check_device(family, device, "--device", file, None)
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
        label = _label(params)
        point_text = (f"# hwgen sweep point of {file}: {label}\n"
                      + yaml.safe_dump(tree, sort_keys=False, default_flow_style=None, width=100))
        spec = _load_point(point_text, file, base_dir, top, label)
        if device is None and "target.device" in params:
            _check_device(family, spec.target.device, "--grid target.device",
                          file, _line_of_path(top, "target.device", None))
        points.append(Point(params, point_text, max_lut, spec.target.device, spec.weights_file))
    weights = sorted({p.weights for p in points} - {None})
    header = {"version": STORE_VERSION, "network": file, "name": spec.name,
              "yaml_sha256": hashlib.sha256(text.encode()).hexdigest(),
              "weights_sha256": {p: _sha256(p) for p in weights},
              "family": family, "device": device, "pnr": pnr,
              "router": router if pnr else None, "sim": sim}
    return Sweep(file, spec.name, points, family, pnr, router, sim, header)


def _label(params):
    return ", ".join(f"{k}={v}" for k, v in params.items())


def _check_device(family, device, what, file, line):
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


