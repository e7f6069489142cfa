"""Network YAML -> validated, fully inferred :class:`~hwgen.spec.types.NetworkSpec`.

The loader works in three passes so that every error is the first one in
file order and names file, line and YAML path:

1. *syntax*: top-level keys, ``input``, ``target``, then each layer's keys,
   types, ranges, defaults and ``inputs`` references (:func:`_Loader.layer`);
2. *parameters source*: ``weights`` (an npz next to the YAML) or ``seed``;
3. *inference*, layer by layer: input shapes against the op (naming both
   layers and shapes on a mismatch), folding (``pe``/``simd`` divide their
   dimension), parameters (loaded or generated, then validated) and the exact
   output range from the actual parameters.

Decisions where DESIGN.md is silent are written next to the code that makes
them and summarised in ``hwgen/spec/__init__.py``.
"""

from __future__ import annotations

import math
import os
import warnings
import zipfile
from dataclasses import dataclass, field

import numpy as np

from . import randomweights as rw
from .errors import SpecError, SpecWarning, did_you_mean
from .schema import (ACCUMULATOR_OPS, ACTIVATION_OPS, INPUT_FIELDS, LAYER_KEYS, LAYER_NAME_RE,
                     N_INPUTS, NETWORK_NAME_RE, ONE_OF, OP_FIELDS, OPS, TARGET_FIELDS, TOP_KEYS,
                     VERILOG_KEYWORDS, BadValue, Field, check_value, describe_value)
from .types import (LayerSpec, Location, NetworkSpec, TargetSpec, TensorType, frozen_array,
                    frozen_mapping)
from .yamlsrc import Map, Seq, line_of, parse

__all__ = ["fold_dims", "load", "loads"]

INT32_MIN, INT32_MAX = -(1 << 31), (1 << 31) - 1
INT64_MAX = (1 << 63) - 1
Q31 = (1 << 31) - 1
#: most negative x0 per op: shiftmax needs one exponential (< |x0| << 15) below 2**31 so that
#: its output stays in [0, 2**(out_bits-1) - 1]; the golden model takes any x0 > -2**31
X0_LIMIT = {"shiftmax": -((1 << 16) - 1), "shiftgelu": -Q31}
X0_WHY = {
    "shiftmax": "exponentials are up to |x0| << 15 and must stay below 2**31 so the row sum "
                "normalises them; use input_scale >= 2**-16 (I-ViT's x0 is a few tens)",
    "shiftgelu": "x0 must be above -2**31; use a larger input_scale",
}
#: refuse parameter tensors larger than this (an FPGA network never has them; a typo does)
MAX_PARAM_ELEMENTS = 1 << 26
#: refuse activations (input or any layer output) with more elements per sample than this:
#: 64 Mi elements, e.g. [64, 1024, 1024], is beyond any streaming accelerator's buffers
MAX_TENSOR_ELEMENTS = 1 << 26


def load(path, *, folds=None) -> NetworkSpec:
    """Load and validate the network YAML at ``path`` (weights resolve next to it).

    ``folds`` ({layer name: (pe, simd)}) replaces those layers' ``pe``/``simd``
    before validation, exactly as if the YAML said so (``hwgen --fold auto``)."""
    source = os.fspath(path)
    try:
        with open(source, encoding="utf-8") as f:
            text = f.read()
    except FileNotFoundError:
        raise SpecError(f"no such file: {os.path.abspath(source)}", file=source) from None
    except UnicodeDecodeError as exc:
        line = exc.object.count(b"\n", 0, exc.start) + 1
        raise SpecError(f"the network file is not UTF-8 text: byte {exc.object[exc.start]:#04x} "
                        f"cannot be decoded", file=source, line=line,
                        hint="save the file as UTF-8") from None
    except OSError as exc:
        raise SpecError(f"cannot read the network file: {exc}", file=source) from None
    return loads(text, source=source, base_dir=os.path.dirname(source) or ".", folds=folds)


def loads(text: str, *, source: str = "<string>", base_dir=".", folds=None) -> NetworkSpec:
    """Load and validate network YAML ``text``; ``source`` names it in errors,
    ``weights`` resolve relative to ``base_dir``; ``folds`` as for :func:`load`."""
    return _Loader(text, source, os.fspath(base_dir), folds).run()


def fold_dims(layer):
    """((what pe divides, size) or None, (what simd divides, size) or None) of a LayerSpec
    (or of its inline activation): the sizes the loader checks ``pe``/``simd`` against."""
    return _fold_dims(layer.op, layer.attrs, layer.in_types[0])


def _fold_dims(op, attrs, t):
    if op in ("binary_dense", "dense"):
        return ("out_features", attrs["out_features"]), ("in_features", t.shape[-1])
    if op in ("binary_conv2d", "conv2d"):
        return ("out_channels", attrs["out_channels"]), ("the input channels", t.shape[0])
    if op in ("threshold", "requant", "maxpool2d", "add"):
        return ("the channels", t.channels), None
    if op in ("shiftmax", "shiftgelu", "layernorm", "argmax"):
        return ("the last axis", t.shape[-1]), None
    return None, None   # flatten: a rewiring, nothing to fold; matmul: _Loader.fold_dims


def _divisors(n: int) -> list[int]:
    small = [d for d in range(1, math.isqrt(n) + 1) if n % d == 0]
    return sorted(set(small + [n // d for d in small]))


def _list_divisors(n: int) -> str:
    divs = _divisors(n)
    if len(divs) > 24:
        divs = divs[:12] + ["..."] + divs[-4:]
    return ", ".join(str(d) for d in divs)


def _identifier(name: str) -> str:
    """A valid layer name close to ``name``: '1fc' -> 'fc1', 'conv-1' -> 'conv_1'."""
    clean = "".join(c if c.isascii() and (c.isalnum() or c == "_") else "_" for c in name)
    digits = len(clean) - len(clean.lstrip("0123456789"))
    clean = clean[digits:] + clean[:digits]
    return clean if clean and not clean[0].isdigit() else f"layer{clean}"


def _shape(shape) -> str:
    return "[" + ", ".join(str(d) for d in shape) + "]"


# ---------------------------------------------------------------------------------------------
# pass 1 result

@dataclass
class _Raw:
    """A layer after pass 1: keys checked, defaults applied, inputs resolved to names."""
    index: int
    name: str
    op: str
    map: Map
    path: str
    inputs: tuple = ()
    inputs_given: bool = False
    attrs: dict = field(default_factory=dict)
    pe: int = 1
    simd: int = 1
    activation: "_Raw | None" = None
    parent: "_Raw | None" = None   # for an inline activation
    fold_dims: tuple = ()          # matmul: (output columns per head, contraction length)

    @property
    def line(self):
        return self.map.line

    def key_line(self, key):
        return self.map.key_lines.get(key, self.map.line)

    def key_path(self, key):
        return f"{self.path}.{key}"

    def loc(self, key=None):
        """(line, path) of ``key`` if it was written, else of the layer itself."""
        if key is not None and key in self.map:
            return self.key_line(key), self.key_path(key)
        return self.line, self.path

    @property
    def pname(self):
        """Prefix of this layer's npz keys."""
        return self.name


class _Loader:
    def __init__(self, text, source, base_dir, folds=None):
        self.folds = dict(folds or {})
        self.text = text
        self.file = source
        self.base_dir = base_dir
        self.layer_lines: dict[str, int] = {}

    # -- errors -------------------------------------------------------------------------------

    def error(self, line, path, message, hint=None):
        return SpecError(message, file=self.file, line=line, path=path, hint=hint)

    def field_error(self, container, key, path, message, hint=None):
        return self.error(line_of(container, key), path, message, hint)

    # -- generic key checking ------------------------------------------------------------------

    def mapping(self, value, line, path, what):
        if not isinstance(value, Map):
            raise self.error(line, path, f"{what} must be a mapping, got {describe_value(value)}",
                             "write it as 'key: value' lines or {key: value, ...}")
        return value

    def unknown_keys(self, m: Map, path, allowed, what, extra_hint=None):
        for key in m:
            if key not in allowed:
                hint = did_you_mean(key, allowed)
                if hint is None:
                    hint = extra_hint(key) if extra_hint else None
                if hint is None:
                    hint = f"{what} takes: " + ", ".join(allowed)
                raise self.field_error(m, key, f"{path}.{key}" if path else str(key),
                                       f"unknown key {key!r} in {what}", hint)

    def value(self, m: Map, f: Field, path, what):
        """The checked value of ``f`` in ``m`` (default if absent; error if required)."""
        key_path = f"{path}.{f.name}" if path else f.name
        if f.name not in m:
            if f.required:
                raise self.error(m.line, path, f"{what} is missing required key {f.name!r} "
                                 f"({f.expected()}{': ' + f.doc if f.doc else ''})",
                                 f"add '{f.name}: ...'")
            return f.default
        try:
            return check_value(f, m[f.name])
        except BadValue as bad:
            raise self.field_error(m, f.name, key_path, bad.message, bad.hint) from None

    # -- pass 0 ---------------------------------------------------------------------------------

    def run(self) -> NetworkSpec:
        top = parse(self.text, self.file)
        if top is None:
            raise self.error(None, "", "the file is empty; expected a network mapping",
                             "start with 'name: ...', 'input: ...', 'layers: ...' (see examples/)")
        self.mapping(top, top.line if isinstance(top, (Map, Seq)) else 1, "", "the network file")
        self.top = top
        self.unknown_keys(top, "", TOP_KEYS, "the network (top level)")
        for key in ("name", "input", "layers"):
            if key not in top:
                raise self.error(top.line, "", f"missing required top-level key {key!r}",
                                 {"name": "add 'name: my_net' (the Verilog module name)",
                                  "input": "add 'input: {shape: [64], bits: 8}'",
                                  "layers": "add 'layers:' with a list of layers"}[key])
        name = self.network_name(top)
        input_type = self.input(top)
        target = self.target(top)
        weights, seed = self.source_keys(top)
        raws = self.layers(top)
        self.check_params_source(top, raws, weights, seed)
        self.params = self.open_params(top, weights, seed)
        layers = self.infer(raws, input_type)
        self.params.finish()
        self.check_dead_ends(raws)
        return NetworkSpec(name=name, input=input_type, layers=tuple(layers), target=target,
                           source=self.file, weights_file=self.params.path, seed=seed)

    # -- top level --------------------------------------------------------------------------------

    def network_name(self, top):
        name = top["name"]
        if not isinstance(name, str):
            raise self.field_error(top, "name", "name",
                                   f"the network name must be a string, got {describe_value(name)}")
        if not NETWORK_NAME_RE.match(name):
            fixed = "".join(c if c.isalnum() or c == "_" else "_" for c in name.lower())
            if not fixed or fixed[0].isdigit():
                fixed = "net_" + fixed
            raise self.field_error(top, "name", "name",
                                   f"network name {name!r} is not a Verilog module name "
                                   "([a-z_][a-z0-9_]*: lower case, digits, underscores)",
                                   f"use {fixed!r}")
        if name in VERILOG_KEYWORDS:
            raise self.field_error(top, "name", "name",
                                   f"network name {name!r} is a Verilog keyword",
                                   f"use e.g. {name + '_net'!r}")
        return name

    def input(self, top):
        m = self.mapping(top["input"], line_of(top, "input"), "input", "input")
        self.unknown_keys(m, "input", [f.name for f in INPUT_FIELDS], "input")
        if "shape" not in m:
            raise self.error(m.line, "input", "input is missing required key 'shape' "
                             "([F], [T, C] or [C, H, W], no batch axis)", "add 'shape: [64]'")
        shape = self.shape_list(m, "shape", "input.shape")
        bits = self.value(m, INPUT_FIELDS[1], "input", "input")
        signed = self.value(m, INPUT_FIELDS[2], "input", "input")
        if bits == 1 and signed:
            raise self.field_error(m, "signed", "input.signed",
                                   "a 1-bit input is binary (-1/+1) and cannot be signed",
                                   "remove 'signed' (or use bits >= 2 for a signed integer input)")
        return TensorType.of_bits(shape, bits, signed)

    def shape_list(self, m, key, path):
        value = m[key]
        if not isinstance(value, Seq):
            hint = f"write [{value}]" if isinstance(value, int) and not isinstance(value, bool) else None
            raise self.field_error(m, key, path,
                                   f"shape must be a list of positive integers, got {describe_value(value)}",
                                   hint)
        if not 1 <= len(value) <= 3:
            raise self.field_error(m, key, path,
                                   f"shape has {len(value)} dimensions; hwgen tensors are "
                                   "[F], [T, C] or [C, H, W]",
                                   "leave out the batch axis" if len(value) == 4 else None)
        for i, d in enumerate(value):
            if isinstance(d, bool) or not isinstance(d, int) or d < 1:
                raise self.error(line_of(value, i), f"{path}[{i}]",
                                 f"shape entries must be positive integers, got {describe_value(d)}")
        if math.prod(value) > MAX_TENSOR_ELEMENTS:
            raise self.field_error(m, key, path, f"shape {_shape(value)} has {math.prod(value)} "
                                   f"elements per sample; hwgen supports at most "
                                   f"{MAX_TENSOR_ELEMENTS}")
        return tuple(value)

    def target(self, top):
        if "target" not in top:
            return TargetSpec()
        m = self.mapping(top["target"], line_of(top, "target"), "target", "target")
        self.unknown_keys(m, "target", [f.name for f in TARGET_FIELDS], "target")
        values = {f.name: self.value(m, f, "target", "target") for f in TARGET_FIELDS}
        return TargetSpec(**values)

    def source_keys(self, top):
        weights = seed = None
        if "weights" in top:
            weights = top["weights"]
            if not isinstance(weights, str) or not weights.strip():
                raise self.field_error(top, "weights", "weights",
                                       f"weights must be the path of an .npz file, got {describe_value(weights)}")
        if "seed" in top:
            seed = top["seed"]
            if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
                raise self.field_error(top, "seed", "seed",
                                       f"seed must be an integer >= 0, got {describe_value(seed)}")
        if weights is not None and seed is not None:
            later = max(("weights", "seed"), key=lambda k: top.key_lines[k])
            raise self.field_error(top, later, later,
                                   "give either 'weights' (an npz file) or 'seed' (random weights), not both",
                                   "remove one of them")
        return weights, seed

    # -- pass 1: layers ---------------------------------------------------------------------------

    def layers(self, top):
        layers = top["layers"]
        if not isinstance(layers, Seq):
            raise self.field_error(top, "layers", "layers",
                                   f"layers must be a list, got {describe_value(layers)}",
                                   "write each layer as '- {name: ..., op: ...}'")
        if not layers:
            raise self.field_error(top, "layers", "layers", "layers is empty; a network needs at least one layer")
        # every name first, so a forward reference can say where the layer is defined
        for i, m in enumerate(layers):
            if isinstance(m, Map) and isinstance(m.get("name"), str):
                self.layer_lines.setdefault(m["name"], m.key_lines["name"])
        raws, seen = [], {}
        for i, m in enumerate(layers):
            raw = self.layer(layers, i, seen, raws)
            seen[raw.name] = raw
            raws.append(raw)
        return raws

    def layer(self, layers, i, seen, raws) -> _Raw:
        path = f"layers[{i}]"
        m = self.mapping(layers[i], line_of(layers, i), path, "a layer")
        for key in ("name", "op"):
            if key not in m:
                raise self.error(m.line, path, f"layer is missing required key {key!r}",
                                 "every layer needs 'name' and 'op'")
        name = m["name"]
        if not isinstance(name, str):
            raise self.field_error(m, "name", f"{path}.name",
                                   f"layer name must be a string, got {describe_value(name)}")
        if not LAYER_NAME_RE.match(name):
            raise self.field_error(m, "name", f"{path}.name",
                                   f"layer name {name!r} is not an identifier "
                                   "([A-Za-z_][A-Za-z0-9_]*; it prefixes npz keys and HDL names)",
                                   f"use {_identifier(name)!r}")
        if name == "input":
            raise self.field_error(m, "name", f"{path}.name",
                                   "'input' is reserved for the network input", "rename the layer")
        if name in seen:
            raise self.field_error(m, "name", f"{path}.name",
                                   f"duplicate layer name {name!r} (first defined on line {seen[name].key_line('name')})",
                                   "layer names must be unique")
        op = m["op"]
        if not isinstance(op, str) or op not in OPS:
            shown = repr(op) if isinstance(op, str) else describe_value(op)
            raise self.field_error(m, "op", f"{path}.op", f"unknown op {shown}",
                                   did_you_mean(op, OPS, otherwise="ops: " + ", ".join(OPS)))
        raw = _Raw(index=i, name=name, op=op, map=m, path=path)
        allowed = LAYER_KEYS + tuple(f.name for f in OP_FIELDS[op])
        self.unknown_keys(m, path, allowed, f"a {op} layer",
                          extra_hint=lambda key: self.wrong_op_hint(key, op))
        raw.attrs = self.op_attrs(m, op, path, f"{op} layer {name!r}")
        raw.inputs, raw.inputs_given = self.inputs(m, path, raw, seen, raws)
        for key in ("pe", "simd"):
            setattr(raw, key, self.value(m, Field(key, "int", default=1, lo=1), path, "layer"))
        if name in self.folds:
            raw.pe, raw.simd = self.folds[name]
        if "unroll" in raw.attrs:
            self.check_unroll(raw)
        if "activation" in m:
            raw.activation = self.activation(raw)
        return raw

    def check_unroll(self, raw):
        """``unroll: full`` fixes pe to the outputs (simd follows in check_folding); ``share``
        needs it, ``share_depth`` needs ``share: mst``."""
        attrs, m = raw.attrs, raw.map
        if attrs["share"] != "none" and attrs["unroll"] != "full":
            line, path = raw.loc("share")
            raise self.error(line, path, f"share: {attrs['share']} reuses results across output "
                             "channels computed in the same cycle, so it needs unroll: full",
                             "add 'unroll: full' to the layer")
        if "share_depth" in m and attrs["share"] != "mst":
            line, path = raw.loc("share_depth")
            raise self.error(line, path, "share_depth only applies with share: mst",
                             "add 'share: mst' or remove 'share_depth'")
        if attrs["unroll"] == "full":
            key = "out_features" if "out_features" in attrs else "out_channels"
            raw.pe = self.unrolled_fold(raw, "pe", key, attrs[key])

    def unrolled_fold(self, raw, key, what, size):
        """``size``, or an error if the layer wrote a different ``key`` next to ``unroll: full``."""
        if key in raw.map and getattr(raw, key) != size:
            line, path = raw.loc(key)
            raise self.error(line, path, f"unroll: full computes all of {what} ({size}) at once, "
                             f"so {key} must be {size}, got {getattr(raw, key)}",
                             f"remove '{key}' (unroll: full sets it), or remove 'unroll: full' "
                             f"to fold the layer")
        return size

    def wrong_op_hint(self, key, op):
        owners = [o for o, fields in OP_FIELDS.items() if key in [f.name for f in fields]]
        if owners:
            return (f"{key!r} belongs to {', '.join(owners)}; {op} takes: "
                    + ", ".join(LAYER_KEYS + tuple(f.name for f in OP_FIELDS[op])))
        return None

    def op_attrs(self, m, op, path, what):
        attrs = {}
        for f in OP_FIELDS[op]:
            attrs[f.name] = self.value(m, f, path, what)
        if op in ONE_OF:
            keys = ONE_OF[op]
            given = [k for k in keys if k in m]
            if len(given) != 1:
                line, p = (m.key_lines[given[1]], f"{path}.{given[1]}") if given else (m.line, path)
                raise self.error(line, p, f"{what} needs exactly one of {' or '.join(keys)}"
                                 + (" (both given)" if given else ""),
                                 "x0 is a negative integer; input_scale a positive float, "
                                 "x0 = floor(-1/scale)" + (" (scale*1.702 for shiftgelu)" if op == "shiftgelu" else ""))
            if "input_scale" in given:
                scale = attrs["input_scale"] * (1.702 if op == "shiftgelu" else 1.0)
                attrs["x0"] = math.floor(-1.0 / scale)
            x0 = attrs["x0"]
            limit = X0_LIMIT[op]
            if x0 < limit:
                key = given[0]
                raise self.error(m.key_lines[key], f"{path}.{key}",
                                 f"{what}: x0 = {x0} is below {limit}" + (
                                     f" (from input_scale {attrs['input_scale']!r})" if key == "input_scale" else ""),
                                 X0_WHY[op])
            del attrs["input_scale"]     # x0 is the one constant the hardware and golden model use
        if attrs.get("weight_type") == "ternary":
            attrs["weight_bits"] = 2     # ternary weights are 2-bit; an explicit weight_bits is ignored
            if attrs.get("resource") == "dsp":
                raise self.error(m.key_lines["resource"], f"{path}.resource",
                                 f"{what}: resource 'dsp' needs integer weights; ternary weights "
                                 f"are added, subtracted or skipped, never multiplied",
                                 "remove 'resource: dsp' (ternary layers always use LUT logic)")
        return attrs

    def inputs(self, m, path, raw, seen, raws):
        n = N_INPUTS.get(raw.op, 1)
        if "inputs" not in m:
            if n != 1:
                raise self.error(m.line, path, f"{raw.op} needs exactly {n} inputs",
                                 "add 'inputs: [a, b]' naming two earlier layers (or 'input')")
            return ((raws[-1].name if raws else "input"),), False
        value = m["inputs"]
        ipath = f"{path}.inputs"
        if not isinstance(value, Seq):
            hint = f"write inputs: [{value}]" if isinstance(value, str) else None
            raise self.field_error(m, "inputs", ipath,
                                   f"inputs must be a list of layer names, got {describe_value(value)}", hint)
        if len(value) != n:
            raise self.field_error(m, "inputs", ipath,
                                   f"{raw.op} needs exactly {n} input{'s' if n > 1 else ''}, got {len(value)}",
                                   None if n > 1 else "only add and matmul take two inputs")
        names = []
        for j, ref in enumerate(value):
            line = line_of(value, j)
            if not isinstance(ref, str):
                raise self.error(line, f"{ipath}[{j}]",
                                 f"an input must be a layer name, got {describe_value(ref)}")
            if ref == raw.name:
                raise self.error(line, f"{ipath}[{j}]", f"layer {raw.name!r} cannot take its own output as input",
                                 "layers form a feed-forward chain")
            if ref != "input" and ref not in seen:
                if ref in self.layer_lines:
                    raise self.error(line, f"{ipath}[{j}]",
                                     f"input {ref!r} is defined later (line {self.layer_lines[ref]}); "
                                     "inputs must name earlier layers",
                                     "move that layer above this one")
                candidates = ["input"] + list(seen)
                raise self.error(line, f"{ipath}[{j}]", f"unknown input {ref!r}",
                                 did_you_mean(ref, candidates,
                                              otherwise="earlier layers: " + ", ".join(candidates)))
            names.append(ref)
        return tuple(names), True

    def activation(self, raw) -> _Raw:
        m = raw.map
        path = f"{raw.path}.activation"
        if raw.op not in ACCUMULATOR_OPS:
            raise self.field_error(m, "activation", path,
                                   f"{raw.op} cannot take an inline activation (only "
                                   + ", ".join(ACCUMULATOR_OPS) + " do)",
                                   f"add a separate layer after {raw.name!r}")
        a = self.mapping(m["activation"], line_of(m, "activation"), path, "activation")
        if "op" not in a:
            raise self.error(a.line, path, "activation is missing required key 'op'",
                             "write e.g. activation: {op: threshold, bits: 1}")
        op = a["op"]
        if op not in ACTIVATION_OPS:
            shown = repr(op) if isinstance(op, str) else describe_value(op)
            raise self.field_error(a, "op", f"{path}.op",
                                   f"unknown activation op {shown} (expected threshold or requant)",
                                   did_you_mean(op, ACTIVATION_OPS, otherwise=(
                                       f"{op} is not an activation; add it as a separate layer"
                                       if op in OPS else None)))
        allowed = ("op",) + tuple(f.name for f in OP_FIELDS[op])

        def hint(key):
            if key in LAYER_KEYS:
                return f"{key!r} belongs to the layer, not its activation (which uses the layer's pe)"
            return self.wrong_op_hint(key, op)
        self.unknown_keys(a, path, allowed, f"a {op} activation", extra_hint=hint)
        act = _Raw(index=raw.index, name=f"{raw.name}.act", op=op, map=a, path=path,
                   inputs=(raw.name,), parent=raw, pe=raw.pe)
        act.attrs = self.op_attrs(a, op, path, f"{op} activation of {raw.name!r}")
        return act

    # -- pass 2: parameter source ----------------------------------------------------------------

    def check_params_source(self, top, raws, weights, seed):
        subs = [sub for raw in raws for sub in (raw, raw.activation) if sub is not None]
        needing = [sub for sub in subs if _needs_params(sub)]
        if needing and weights is None and seed is None:
            first = needing[0]
            raise self.error(top.line, "", f"layer {first.name!r} ({first.op}) has parameters, "
                             "but the network gives neither 'weights' nor 'seed'",
                             "add 'weights: my_net.npz' or 'seed: 0' for random valid weights")

    def open_params(self, top, weights, seed):
        if weights is not None:
            path = os.path.abspath(os.path.join(self.base_dir, os.path.expanduser(weights)))
            line = top.key_lines["weights"]
            if not os.path.isfile(path):
                raise self.error(line, "weights", f"weights file not found: {path}",
                                 "the path is relative to the folder of the YAML file")
            return _NpzParams(self, path, line)
        return _SeedParams(seed)

    # -- pass 3: inference ---------------------------------------------------------------------

    def infer(self, raws, input_type):
        types = {"input": input_type}
        moments = {"input": rw.Moments.uniform(input_type.lo, input_type.hi, input_type.binary)}
        layers = []
        for raw in raws:
            in_types = tuple(types[n] for n in raw.inputs)
            in_moments = tuple(moments[n] for n in raw.inputs)
            spec, out_moments = self.layer_spec(raw, in_types, in_moments)
            if raw.activation is not None:
                act, out_moments = self.layer_spec(raw.activation, (spec.op_type,), (out_moments,))
                spec = LayerSpec(**{**spec.__dict__, "activation": act, "out_type": act.out_type})
            types[raw.name] = spec.out_type
            moments[raw.name] = out_moments.overall()
            layers.append(spec)
        return layers

    def layer_spec(self, raw, in_types, in_moments):
        infer = getattr(self, f"infer_{raw.op}")
        out_type, params, out_moments = infer(raw, in_types, in_moments)
        if out_type.size > MAX_TENSOR_ELEMENTS:
            raise self.shape_error(raw, f"the output of {self.who(raw)} {_shape(out_type.shape)} "
                                   f"has {out_type.size} elements per sample; hwgen supports at "
                                   f"most {MAX_TENSOR_ELEMENTS}")
        if max(-out_type.lo, out_type.hi) > INT64_MAX:
            raise self.shape_error(raw, f"the output of {self.who(raw)} can reach "
                                   f"[{out_type.lo}, {out_type.hi}] ({out_type.bits} bits), beyond "
                                   "the int64 the golden model computes in",
                                   "narrow its inputs first (add a requant)")
        self.check_folding(raw, in_types, out_type)
        loc = Location(self.file, raw.line, raw.path)
        spec = LayerSpec(name=raw.name, op=raw.op, inputs=raw.inputs,
                         attrs=frozen_mapping(raw.attrs),
                         params=frozen_mapping({k: frozen_array(v) for k, v in params.items()}),
                         in_types=in_types, op_type=out_type, out_type=out_type,
                         activation=None, pe=raw.pe, simd=raw.simd, location=loc)
        return spec, out_moments

    # shape helpers

    def producer(self, raw, j=0):
        return "the network input" if raw.inputs[j] == "input" else f"{raw.inputs[j]!r}"

    def its_input(self, raw, j=0):
        return "the network input" if raw.inputs[j] == "input" else f"its input {raw.inputs[j]!r}"

    def shape_error(self, raw, message, hint=None, key=None):
        line, path = raw.loc(key if key else ("inputs" if raw.inputs_given else None))
        return self.error(line, path, message, hint)

    def who(self, raw):
        if raw.parent is not None:
            return f"the {raw.op} activation of {raw.parent.name!r}"
        return f"{raw.op} layer {raw.name!r}"

    def need_rank(self, raw, t, ranks, what, hint=None):
        if len(t.shape) not in ranks:
            raise self.shape_error(raw, f"{self.who(raw)} needs {what}, but "
                                   f"{self.its_input(raw)} is {t.describe()}", hint)

    # -- per op inference: (out_type, params, out_moments) ------------------------------------------

    def dense_like(self, raw, in_types, in_moments):
        t, = in_types
        hint = "insert {op: flatten} before it" if len(t.shape) == 3 else None
        self.need_rank(raw, t, (1, 2), "a 1-D input [K] (or rows [T, C])" if len(t.shape) == 3
                       else "a 1-D input [K] or rows [T, C]", hint)
        k = t.shape[-1]
        out = raw.attrs["out_features"]
        shape = t.shape[:-1] + (out,)
        params = self.mvu_params(raw, (out, k), "[out_features, in_features]", t, in_moments[0])
        return self.mvu_range(raw, shape, params, t, in_moments[0], pad=False)

    def conv_like(self, raw, in_types, in_moments):
        t, = in_types
        self.need_rank(raw, t, (3,), "a [C, H, W] input",
                       "a conv needs a feature map; set input.shape to [C, H, W]"
                       if raw.inputs == ("input",) else None)
        c, h, w = t.shape
        k, s, p = raw.attrs["kernel_size"], raw.attrs["stride"], raw.attrs["padding"]
        if k > h + 2 * p or k > w + 2 * p:
            raise self.shape_error(raw, f"kernel_size {k} is larger than the padded input "
                                   f"{h + 2 * p}x{w + 2 * p} ({self.its_input(raw)} is "
                                   f"{t.describe()}, padding {p})", key="kernel_size")
        oh, ow = (h + 2 * p - k) // s + 1, (w + 2 * p - k) // s + 1
        m = raw.attrs["out_channels"]
        params = self.mvu_params(raw, (m, c, k, k), "[out_channels, in_channels, k, k]",
                                 t, in_moments[0])
        return self.mvu_range(raw, (m, oh, ow), params, t, in_moments[0], pad=p > 0)

    def weight_kind(self, raw):
        if raw.op.startswith("binary_"):
            return "binary"
        return raw.attrs["weight_type"]

    def mvu_params(self, raw, wshape, wdesc, t, moments):
        wkind = self.weight_kind(raw)
        bits = raw.attrs.get("weight_bits", 1)
        n = int(np.prod(wshape))
        if n > MAX_PARAM_ELEMENTS:
            raise self.shape_error(raw, f"{self.who(raw)} would have {n} weights {_shape(wshape)}; "
                                   f"hwgen supports at most {MAX_PARAM_ELEMENTS}")
        has_bias = bool(raw.attrs.get("bias", False))
        src = self.params
        if src.generated:
            rng = rw.rng_for(src.seed, raw.name)
            weight = rw.weights(rng, wshape, kind=wkind, bits=bits)
            params = {"weight": weight}
            if has_bias:
                lo, hi = self.acc_bounds(weight, t, pad=False, binary_op=wkind == "binary")
                params["bias"] = rw.bias(rng, lo, hi, self.acc_moments(weight, t, moments, None))
        else:
            params = {"weight": src.get(raw, "weight", wshape, wdesc)}
            if has_bias:
                params["bias"] = src.get(raw, "bias", wshape[:1], "[out]")
        self.check_weights(raw, params["weight"], wkind, bits)
        if has_bias:
            self.check_int32(raw, "bias", params["bias"])
        return params

    def acc_bounds(self, weight, t, pad, binary_op, bias=None):
        """Per-output-channel exact accumulator bounds from actual weights and the input range."""
        xlo, xhi = t.lo, t.hi
        if pad and not t.binary:
            # zero padding (and -1 for binary convs, to be safe) may lie outside the input range
            xlo, xhi = min(xlo, -1 if binary_op else 0), max(xhi, 0)
        w = weight.reshape(weight.shape[0], -1)
        worst = max(abs(xlo), abs(xhi)) * int(np.abs(w).max(initial=0)) * w.shape[1]
        w = w.astype(object if worst > 1 << 62 else np.int64)   # exact Python ints when int64 could overflow
        a, b = w * xlo, w * xhi
        lo = np.minimum(a, b).sum(axis=1)
        hi = np.maximum(a, b).sum(axis=1)
        if bias is not None:
            lo, hi = lo + bias, hi + bias
        return lo, hi

    def acc_moments(self, weight, t, moments, bias):
        w = weight.reshape(weight.shape[0], -1).astype(np.float64)
        mu, sd = float(moments.overall().mean), float(moments.overall().std)
        mean = mu * w.sum(axis=1) + (0 if bias is None else bias)
        std = np.sqrt((w * w).sum(axis=1)) * sd
        return rw.Moments(mean, std)

    def mvu_range(self, raw, shape, params, t, moments, pad):
        lo, hi = self.acc_bounds(params["weight"], t, pad, raw.op.startswith("binary_"),
                                 params.get("bias"))
        out = TensorType.of_range(shape, int(min(lo)), int(max(hi)))
        return out, params, self.acc_moments(params["weight"], t, moments, params.get("bias"))

    def infer_binary_dense(self, raw, in_types, in_moments):
        return self.dense_like(raw, in_types, in_moments)

    def infer_dense(self, raw, in_types, in_moments):
        return self.dense_like(raw, in_types, in_moments)

    def infer_binary_conv2d(self, raw, in_types, in_moments):
        return self.conv_like(raw, in_types, in_moments)

    def infer_conv2d(self, raw, in_types, in_moments):
        return self.conv_like(raw, in_types, in_moments)

    def infer_threshold(self, raw, in_types, in_moments):
        t, = in_types
        self.need_rank(raw, t, (1, 2, 3), "a tensor (not a scalar)")
        c = t.channels
        bits = raw.attrs["bits"]
        rows = c if raw.attrs["per_channel"] else 1
        shape = (rows, (1 << bits) - 1)
        src = self.params
        if src.generated:
            rng = rw.rng_for(src.seed, raw.name)
            mom = in_moments[0]
            if raw.attrs["per_channel"] is False:
                mom = mom.overall()
            thresholds = rw.thresholds(rng, rows, shape[1], t.lo, t.hi, mom)
        else:
            thresholds = src.get(raw, "thresholds", shape,
                                 "[channels, 2**bits - 1] (per_channel: true)" if raw.attrs["per_channel"]
                                 else "[1, 2**bits - 1] (per_channel: false)")
        self.check_thresholds(raw, thresholds)
        out = TensorType.of_bits(t.shape, bits, False)
        return out, {"thresholds": thresholds}, rw.Moments.uniform(out.lo, out.hi, out.binary)

    def infer_requant(self, raw, in_types, in_moments):
        t, = in_types
        self.need_rank(raw, t, (1, 2, 3), "a tensor (not a scalar)")
        out = TensorType.of_bits(t.shape, raw.attrs["bits"], raw.attrs["signed"])
        rows = t.channels if raw.attrs["per_channel"] else 1
        src = self.params
        if src.generated:
            rng = rw.rng_for(src.seed, raw.name)
            mom = in_moments[0] if raw.attrs["per_channel"] else in_moments[0].overall()
            m, s, zp = rw.requant(rng, rows, mom, out.lo, out.hi, out.signed,
                                  xmax=max(abs(t.lo), abs(t.hi)))
        else:
            desc = "[channels] (per_channel: true)" if raw.attrs["per_channel"] else "[1] (per_channel: false)"
            m = src.get(raw, "multiplier", (rows,), desc)
            s = src.get(raw, "shift", (rows,), desc)
            zp = src.get(raw, "zero_point", (rows,), desc, required=False)
            if zp is None:
                zp = np.zeros(rows, dtype=np.int64)
        self.check_dyadic(raw, m, s, zp, out, [t])
        ratio = m / np.exp2(s.astype(np.float64))
        mom = in_moments[0]
        out_m = rw.Moments(np.asarray(mom.mean) * ratio + zp, np.asarray(mom.std) * ratio)
        out_m = rw.Moments(np.clip(out_m.mean, out.lo, out.hi),
                           np.minimum(out_m.std, (out.hi - out.lo) / 2))
        return out, {"multiplier": m, "shift": s, "zero_point": zp}, out_m

    def infer_maxpool2d(self, raw, in_types, in_moments):
        t, = in_types
        self.need_rank(raw, t, (3,), "a [C, H, W] input")
        c, h, w = t.shape
        k = raw.attrs["kernel_size"]
        if h % k or w % k:
            common = _divisors(math.gcd(h, w))
            raise self.shape_error(raw, f"kernel_size {k} must divide the input height and width "
                                   f"({h}x{w}, {self.its_input(raw)} is {t.describe()}); "
                                   "hwgen pools k x k windows with stride k and drops nothing",
                                   "valid kernel_size: " + ", ".join(map(str, common)), key="kernel_size")
        out = TensorType((c, h // k, w // k), t.bits, t.signed, t.lo, t.hi)
        return out, {}, rw.max_of(in_moments[0], k * k, t.lo, t.hi)

    def infer_flatten(self, raw, in_types, in_moments):
        t, = in_types
        self.need_rank(raw, t, (1, 2, 3), "a tensor (not a scalar)")
        return TensorType((t.size,), t.bits, t.signed, t.lo, t.hi), {}, in_moments[0]

    def infer_argmax(self, raw, in_types, in_moments):
        t, = in_types
        self.need_rank(raw, t, (1, 2), "a 1-D input [F] or rows [T, C]",
                       "insert {op: flatten} before it" if len(t.shape) == 3 else None)
        n = t.shape[-1]
        out = TensorType.of_range(t.shape[:-1], 0, n - 1)
        return out, {}, rw.Moments.uniform(0, n - 1)

    def infer_add(self, raw, in_types, in_moments):
        a, b = in_types
        if a.shape != b.shape:
            raise self.shape_error(raw, f"add inputs have different shapes: {self.producer(raw, 0)} "
                                   f"is {a.describe()} and {self.producer(raw, 1)} is {b.describe()}",
                                   "both inputs of a residual add must have the same shape")
        self.need_rank(raw, a, (1, 2, 3), "tensors (not scalars)")
        out = TensorType.of_bits(a.shape, raw.attrs["bits"], raw.attrs["signed"])
        src = self.params
        if src.generated:
            rng = rw.rng_for(src.seed, raw.name)
            m, s, zp = rw.add(rng, in_moments[0], in_moments[1], out.lo, out.hi, out.signed,
                              xmax=max(max(abs(t.lo), abs(t.hi)) for t in in_types))
        else:
            m = src.get(raw, "multiplier", (2,), "[2] (one per input)")
            s = src.get(raw, "shift", (2,), "[2] (one per input)")
            zp = src.get(raw, "zero_point", (1,), "[1]", required=False)
            if zp is None:
                zp = np.zeros(1, dtype=np.int64)
        self.check_dyadic(raw, m, s, zp, out, [a, b])
        mean = sum(float(mo.overall().mean) * mm / 2.0 ** ss for mo, mm, ss in zip(in_moments, m, s))
        var = sum((float(mo.overall().std) * mm / 2.0 ** ss) ** 2 for mo, mm, ss in zip(in_moments, m, s))
        out_m = rw.Moments(float(np.clip(mean + zp[0], out.lo, out.hi)),
                           min(math.sqrt(var), (out.hi - out.lo) / 2))
        return out, {"multiplier": m, "shift": s, "zero_point": zp}, out_m

    def infer_matmul(self, raw, in_types, in_moments):
        a, b = in_types
        heads = raw.attrs["heads"]
        for j, t in enumerate((a, b)):
            if len(t.shape) != 2:
                raise self.shape_error(raw, f"matmul needs 2-D inputs [rows, H*cols], but input "
                                       f"{j} ({self.producer(raw, j)}) is {t.describe()}")
            if t.shape[1] % heads:
                raise self.shape_error(raw, f"heads ({heads}) must divide the last axis of input {j} "
                                       f"({self.producer(raw, j)} is {t.describe()})",
                                       "valid heads: " + _list_divisors(math.gcd(a.shape[1], b.shape[1])),
                                       key="heads")
        m, ka = a.shape[0], a.shape[1] // heads
        r, kb = b.shape[0], b.shape[1] // heads
        if raw.attrs["transpose_b"]:
            if ka != kb:
                raise self.shape_error(raw, f"matmul a @ b.T per head needs equal head widths "
                                       f"(Ka = {ka}, Kb = {kb}): a = {self.producer(raw, 0)} "
                                       f"{a.describe()} ({heads} heads of {ka}), b = "
                                       f"{self.producer(raw, 1)} {b.describe()} ({heads} heads of {kb})")
            shape, length, cols = (m, heads * r), ka, r
        else:
            if ka != r:
                raise self.shape_error(raw, f"matmul a @ b per head needs a's head width to equal b's "
                                       f"rows (Ka = {ka}, R = {r}): a = {self.producer(raw, 0)} "
                                       f"{a.describe()} ({heads} heads of {ka}), b = "
                                       f"{self.producer(raw, 1)} {b.describe()} ({r} rows)",
                                       "set transpose_b: true for a @ b.T (attention scores)"
                                       if ka == kb else None)
            shape, length, cols = (m, heads * kb), r, kb
        raw.fold_dims = (cols, length)
        products = [a.lo * b.lo, a.lo * b.hi, a.hi * b.lo, a.hi * b.hi]
        out = TensorType.of_range(shape, length * min(products), length * max(products))
        ma, mb = in_moments[0].overall(), in_moments[1].overall()
        va, vb = ma.std ** 2, mb.std ** 2
        mean = length * ma.mean * mb.mean
        var = length * max((va + ma.mean ** 2) * (vb + mb.mean ** 2) - (ma.mean * mb.mean) ** 2, 0.0)
        return out, {}, rw.Moments(mean, math.sqrt(var))

    def infer_shiftmax(self, raw, in_types, in_moments):
        t, = in_types
        self.need_rank(raw, t, (1, 2), "a 1-D input [F] or rows [T, C] (softmax over the last axis)",
                       "insert {op: flatten} before it" if len(t.shape) == 3 else None)
        heads = raw.attrs["heads"]
        if t.shape[-1] % heads:
            raise self.shape_error(raw, f"heads ({heads}) must divide the last axis of the input "
                                   f"({self.producer(raw)} is {t.describe()})",
                                   "valid heads: " + _list_divisors(t.shape[-1]), key="heads")
        ob = raw.attrs["out_bits"]
        # (e * ((2**31-1) // S)) >> (32 - out_bits) <= (2**31-1) >> (32 - out_bits) = 2**(out_bits-1) - 1
        out = TensorType(t.shape, ob, False, 0, (1 << (ob - 1)) - 1)
        group = t.shape[-1] // heads
        mean = (1 << (ob - 1)) / group
        return out, {}, rw.Moments(mean, mean)

    def infer_shiftgelu(self, raw, in_types, in_moments):
        t, = in_types
        self.need_rank(raw, t, (1, 2), "a 1-D input [F] or rows [T, C]",
                       "insert {op: flatten} before it" if len(t.shape) == 3 else None)
        # output = p * sig. sig = (e * (Q31 // S)) >> 24 <= 127 while S = min(e + em, Q31) >= e;
        # once S saturates (all-negative rows) the factor is 1 and sig = e >> 24 <= |x0| >> 1.
        sig = max(127, -raw.attrs["x0"] >> 1)
        out = TensorType.of_range(t.shape, min(sig * t.lo, 0), max(sig * t.hi, 0))
        mo = in_moments[0].overall()
        return out, {}, rw.Moments(127 * (mo.mean / 2 + 0.4 * mo.std), 127 * 0.6 * mo.std)

    def infer_layernorm(self, raw, in_types, in_moments):
        t, = in_types
        self.need_rank(raw, t, (1, 2), "an input [C] or rows [T, C] (normalised over the last axis)",
                       "insert {op: flatten} before it" if len(t.shape) == 3 else None)
        c = t.shape[-1]
        if c * (t.hi - t.lo) ** 2 >= 1 << 62:
            raise self.shape_error(raw, f"{self.who(raw)}: the variance sum over {c} channels of "
                                   f"{self.its_input(raw)} ({t.describe()}) overflows int64",
                                   "requantize the input to 16 bits first (I-ViT uses int16)")
        params = {}
        if raw.attrs["bias"]:
            src = self.params
            if src.generated:
                params["bias"] = rw.layernorm_bias(rw.rng_for(src.seed, raw.name), c)
            else:
                params["bias"] = src.get(raw, "bias", (c,), "[C]")
            self.check_int32(raw, "bias", params["bias"])
        # |y_i| <= isqrt(var) since y_i**2 <= var = sum(y**2). "exact": k = max(isqrt(var), 1).
        # "ivit": every floor-Newton step k' = (k + var // k) >> 1 = floor((k + var/k) / 2) is
        # >= floor(sqrt(var)) (AM-GM), so after the 10 steps k >= isqrt(var) too (and k >= 64).
        # Either way |y| <= k, |y * (Q31 // k)| <= Q31, and >> 1 gives [-2**30, 2**30 - 1].
        bias = params.get("bias", np.zeros(1, dtype=np.int64))
        out = TensorType.of_range(t.shape, -(1 << 30) + int(bias.min()), (1 << 30) - 1 + int(bias.max()))
        bias_mean = float(np.mean(params["bias"])) if "bias" in params else 0.0
        return out, params, rw.Moments(bias_mean, float(1 << 30) / math.sqrt(c))

    # -- folding -----------------------------------------------------------------------------------

    def fold_dims(self, raw, in_types, out_type):
        """(what pe divides, its size), (what simd divides, its size) or None."""
        if raw.op == "matmul":
            cols, length = raw.fold_dims
            return ("the output columns per head", cols), ("the contraction length per head", length)
        return _fold_dims(raw.op, raw.attrs, in_types[0])

    def check_folding(self, raw, in_types, out_type):
        pe_dim, simd_dim = self.fold_dims(raw, in_types, out_type)
        if raw.attrs.get("unroll") == "full":
            raw.simd = self.unrolled_fold(raw, "simd", *simd_dim)
        for key, dim in (("pe", pe_dim), ("simd", simd_dim)):
            value = getattr(raw, key)
            line, path = raw.loc(key)
            if raw.parent is not None:
                line, path = raw.parent.loc(key)
            if dim is None:
                if value != 1:
                    raise self.error(line, path, f"{raw.op} has no {'fan-in' if key == 'simd' else 'output'} "
                                     f"to fold; {key} must be 1, got {value}", f"remove '{key}'")
                continue
            what, n = dim
            if n % value:
                raise self.error(line, path, f"{key} must divide {what} ({n}), got {value}",
                                 f"valid {key}: {_list_divisors(n)}")

    def check_dead_ends(self, raws):
        used = {n for r in raws for n in r.inputs}
        for raw in raws[:-1]:
            if raw.name not in used:
                raise self.error(raw.key_line("name"), f"{raw.path}.name",
                                 f"the output of layer {raw.name!r} is never used (the network "
                                 f"output is the last layer, {raws[-1].name!r}); a streaming "
                                 "accelerator cannot leave a stream unconsumed",
                                 "remove the layer or name it in a later layer's inputs")

    # -- parameter checks (npz and generated alike) ----------------------------------------------

    def param_error(self, raw, message, hint=None):
        where = raw.loc()
        return self.error(where[0], where[1], message, hint)

    def pdesc(self, raw, key):
        return self.params.describe(f"{raw.pname}.{key}")

    def check_weights(self, raw, w, kind, bits):
        if kind == "binary":
            bad = (w != 1) & (w != -1)
            if bad.any():
                idx = tuple(int(i) for i in np.argwhere(bad)[0])
                raise self.param_error(raw, f"{self.pdesc(raw, 'weight')} must be binary -1/+1 "
                                       f"(int8), but {int(bad.sum())} values are not, e.g. "
                                       f"{int(w[idx])} at {list(idx)}",
                                       "store binary weights as -1/+1, not 0/1")
        elif kind == "ternary":
            bad = (w < -1) | (w > 1)
            if bad.any():
                idx = tuple(int(i) for i in np.argwhere(bad)[0])
                raise self.param_error(raw, f"{self.pdesc(raw, 'weight')} must be ternary "
                                       f"{{-1, 0, +1}} (weight_type: ternary), but {int(bad.sum())} values "
                                       f"are not, e.g. {int(w[idx])} at {list(idx)}")
        else:
            lo, hi = -(1 << (bits - 1)), (1 << (bits - 1)) - 1
            bad = (w < lo) | (w > hi)
            if bad.any():
                idx = tuple(int(i) for i in np.argwhere(bad)[0])
                need = max(int(-w.min() - 1).bit_length(), int(w.max()).bit_length()) + 1
                raise self.param_error(raw, f"{self.pdesc(raw, 'weight')} has {int(bad.sum())} values "
                                       f"outside int{bits} [{lo}, {hi}] (weight_bits: {bits}), e.g. "
                                       f"{int(w[idx])} at {list(idx)}",
                                       f"re-quantize to {bits} bits, or set weight_bits: {need}"
                                       if need <= 8 else f"re-quantize to {bits} bits")

    def check_int32(self, raw, key, b):
        bad = (b < INT32_MIN) | (b > INT32_MAX)
        if bad.any():
            i = int(np.argwhere(bad)[0][0])
            raise self.param_error(raw, f"{self.pdesc(raw, key)} must fit int32, but "
                                   f"{key}[{i}] = {int(b[i])}")

    def check_thresholds(self, raw, t):
        if t.shape[1] > 1:
            bad = np.diff(t, axis=1) < 0
            if bad.any():
                row, j = (int(v) for v in np.argwhere(bad)[0])
                raise self.param_error(raw, f"{self.pdesc(raw, 'thresholds')} row {row} (channel {row}) "
                                       f"is not sorted ascending: T[{row}, {j}] = {int(t[row, j])} > "
                                       f"T[{row}, {j + 1}] = {int(t[row, j + 1])}",
                                       "sort each row (np.sort(T, axis=1)); with BatchNorm folding, "
                                       "negative gamma is handled by negating the weights")

    def check_dyadic(self, raw, m, s, zp, out, in_types):
        bad = (m < 1) | (m >= 1 << 31)
        if bad.any():
            i = int(np.argwhere(bad)[0][0])
            raise self.param_error(raw, f"{raw.pname}.multiplier[{i}] = {int(m[i])} is not in "
                                   f"[1, 2**31){self.params.note()}",
                                   "normalise: halve m and decrement the shift")
        bad = (s < 0) | (s >= 64)
        if bad.any():
            i = int(np.argwhere(bad)[0][0])
            raise self.param_error(raw, f"{raw.pname}.shift[{i}] = {int(s[i])} is not in [0, 64)"
                                   f"{self.params.note()}")
        bad = (zp < out.lo) | (zp > out.hi)
        if bad.any():
            i = int(np.argwhere(bad)[0][0])
            raise self.param_error(raw, f"{raw.pname}.zero_point[{i}] = {int(zp[i])} is outside "
                                   f"the output range [{out.lo}, {out.hi}] ({out.describe()})"
                                   f"{self.params.note()}")
        # the golden model computes p = x * m in int64 (and rounds without adding to p)
        xmax = max(max(abs(t.lo), abs(t.hi)) for t in in_types)
        worst = xmax * int(m.max())
        if worst > INT64_MAX - 1:
            raise self.param_error(raw, f"{self.who(raw)}: |x| * multiplier can reach {worst} "
                                   f"(inputs up to {xmax}), overflowing int64",
                                   "use a smaller multiplier or narrow the input first")


def _needs_params(raw) -> bool:
    if raw.op == "layernorm":
        return bool(raw.attrs["bias"])
    return raw.op in ("binary_dense", "binary_conv2d", "dense", "conv2d", "threshold", "requant", "add")


class _SeedParams:
    generated = True
    path = None

    def __init__(self, seed):
        self.seed = seed if seed is not None else 0

    def describe(self, key):
        return f"generated {key}"

    def note(self):
        return f" (generated from seed {self.seed})"

    def finish(self):
        pass


class _NpzParams:
    generated = False

    def __init__(self, loader, path, line):
        self.loader = loader
        self.path = path
        if not zipfile.is_zipfile(path):
            raise loader.error(line, "weights", f"cannot read weights file {path}: it is not an "
                               ".npz archive (a zip of .npy arrays)",
                               "write it with numpy.savez(path, **{'fc1.weight': w, ...})")
        try:
            with np.load(path, allow_pickle=False) as npz:
                self.arrays = {k: npz[k] for k in npz.files}
        except (OSError, ValueError, zipfile.BadZipFile, EOFError) as exc:
            raise loader.error(line, "weights", f"cannot read weights file {path}: {exc}",
                               "write it with numpy.savez(path, **{'fc1.weight': w, ...})") from None
        self.used: set[str] = set()

    def describe(self, key):
        return f"{key} in {self.path}"

    def note(self):
        return f" (in {self.path})"

    def get(self, raw, short, shape, shape_desc, required=True):
        key = f"{raw.pname}.{short}"
        loader = self.loader
        if key not in self.arrays:
            if not required:
                return None
            present = sorted(self.arrays)
            listed = ", ".join(present[:24]) + (f", ... ({len(present)} keys)" if len(present) > 24 else "")
            hint = f"keys present: {listed or '(none)'}"
            near = did_you_mean(key, present)
            if near:
                hint = f"{near} {hint}"
            raise loader.param_error(raw, f"weights file {self.path} has no key {key!r} "
                                     f"({self.loader.who(raw)} needs {short} {shape_desc})", hint)
        self.used.add(key)
        a = self.arrays[key]
        if a.dtype.kind not in "iu":
            raise loader.param_error(raw, f"{key} in {self.path} has dtype {a.dtype}; expected an integer "
                                     "dtype (int8/16/32/64)",
                                     "quantize first: hwgen parameters are exact integers")
        if a.dtype.kind == "u" and a.size and int(a.max()) > INT64_MAX:
            raise loader.param_error(raw, f"{key} in {self.path} has values above int64")
        if tuple(a.shape) != tuple(shape):
            raise loader.param_error(raw, f"{key} in {self.path} has shape {_shape(a.shape)}, "
                                     f"expected {_shape(shape)} = {shape_desc}")
        return a.astype(np.int64)

    def finish(self):
        unused = sorted(set(self.arrays) - self.used)
        if unused:
            warnings.warn(f"{self.loader.file}: weights file {self.path} has keys no layer uses: "
                          + ", ".join(unused), SpecWarning, stacklevel=4)
