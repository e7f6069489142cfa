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

Decisions the documented contract leaves open are written next to the code that makes
them and summarised in ``hwgen/spec/__init__.py``.
"""

from __future__ import annotations

import math
import os
import warnings
import zipfile
from dataclasses import dataclass, field

import numpy as np

from hwgen import ops as _ops
from hwgen.ops import _random as rw

from .errors import SpecError, SpecWarning, did_you_mean
from .schema import (INPUT_FIELDS, INT32_MAX, INT32_MIN, INT64_MAX, LAYER_KEYS, LAYER_NAME_RE,
                     MAX_TENSOR_ELEMENTS, NETWORK_NAME_RE, TARGET_FIELDS, TOP_KEYS,
                     VERILOG_KEYWORDS, BadValue, Field, check_value, describe_value,
                     list_divisors, shape_text)
from .types import (LayerSpec, Location, NetworkSpec, TargetSpec, TensorType, frozen_array,
                    frozen_mapping)
from .yamlsrc import Map, Seq, line_of, parse

__all__ = ["load", "loads"]


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


def _identifier(name: str) -> str:
    """A valid layer name close to ``name``: '1fc' -> 'fc1', 'conv-1' -> 'conv_1'."""
    clean = "".join(c if c.isascii() and (c.isalnum() or c == "_") else "_" for c in name)
    digits = len(clean) - len(clean.lstrip("0123456789"))
    clean = clean[digits:] + clean[:digits]
    return clean if clean and not clean[0].isdigit() else f"layer{clean}"


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
    activation: _Raw | None = None
    parent: _Raw | None = None   # for an inline activation
    unrolled: bool = False         # unroll: full (pe and simd are the whole dimensions)

    @property
    def definition(self):
        """The op's entry in the op table."""
        return _ops.OPS[self.op]

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
            raise self.field_error(m, key, path, f"shape {shape_text(value)} has {math.prod(value)} "
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
        for m in layers:
            if isinstance(m, Map) and isinstance(m.get("name"), str):
                self.layer_lines.setdefault(m["name"], m.key_lines["name"])
        raws, seen = [], {}
        for i in range(len(layers)):
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
        names = tuple(_ops.OPS)
        if not isinstance(op, str) or op not in _ops.OPS:
            shown = repr(op) if isinstance(op, str) else describe_value(op)
            raise self.field_error(m, "op", f"{path}.op", f"unknown op {shown}",
                                   did_you_mean(op, names, otherwise="ops: " + ", ".join(names)))
        raw = _Raw(index=i, name=name, op=op, map=m, path=path)
        allowed = LAYER_KEYS + raw.definition.keys
        self.unknown_keys(m, path, allowed, f"a {op} layer",
                          extra_hint=lambda key: self.wrong_op_hint(key, op))
        raw.attrs = self.op_attrs(m, op, path, f"{op} layer {name!r}")
        raw.inputs, raw.inputs_given = self.inputs(m, path, raw, seen, raws)
        for key in ("pe", "simd"):
            setattr(raw, key, self.value(m, Field(key, "int", default=1, lo=1), path, "layer"))
        if name in self.folds:
            raw.pe, raw.simd = self.folds[name]
        if raw.definition.unrolls:
            self.check_unroll(raw)
        raw.attrs = raw.definition.make_attrs(**raw.attrs)
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
            raw.unrolled = True
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
        owners = [o.name for o in _ops.OPS.values() if key in o.keys]
        if owners:
            return (f"{key!r} belongs to {', '.join(owners)}; {op} takes: "
                    + ", ".join(LAYER_KEYS + _ops.OPS[op].keys))
        return None

    def op_attrs(self, m, op, path, what):
        """The op's keys checked, defaults applied, then derived by the op (a dict, typed
        once pass 1 is done with the layer)."""
        definition = _ops.OPS[op]
        attrs = {f.name: self.value(m, f, path, what) for f in definition.fields}
        if definition.resolve_attrs is not None:
            definition.resolve_attrs(self, m, attrs, path, what)
        return attrs

    def inputs(self, m, path, raw, seen, raws):
        n = raw.definition.inputs
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
                                   None if n > 1 else "only " + " and ".join(
                                       o.name for o in _ops.OPS.values() if o.inputs == 2)
                                   + " take two inputs")
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
        if not raw.definition.accumulator:
            takers = [o.name for o in _ops.OPS.values() if o.accumulator]
            raise self.field_error(m, "activation", path,
                                   f"{raw.op} cannot take an inline activation (only "
                                   + ", ".join(takers) + " do)",
                                   f"add a separate layer after {raw.name!r}")
        a = self.mapping(m["activation"], line_of(m, "activation"), path, "activation")
        if "op" not in a:
            raise self.error(a.line, path, "activation is missing required key 'op'",
                             "write e.g. activation: {op: threshold, bits: 1}")
        op = a["op"]
        activations = [o.name for o in _ops.OPS.values() if o.activation]
        if op not in activations:
            shown = repr(op) if isinstance(op, str) else describe_value(op)
            raise self.field_error(a, "op", f"{path}.op",
                                   f"unknown activation op {shown} (expected "
                                   f"{' or '.join(activations)})",
                                   did_you_mean(op, activations, otherwise=(
                                       f"{op} is not an activation; add it as a separate layer"
                                       if op in _ops.OPS else None)))
        allowed = ("op",) + _ops.OPS[op].keys

        def hint(key):
            if key in LAYER_KEYS:
                return f"{key!r} belongs to the layer, not its activation (which uses the layer's pe)"
            return self.wrong_op_hint(key, op)
        self.unknown_keys(a, path, allowed, f"a {op} activation", extra_hint=hint)
        act = _Raw(index=raw.index, name=f"{raw.name}.act", op=op, map=a, path=path,
                   inputs=(raw.name,), parent=raw, pe=raw.pe)
        act.attrs = act.definition.make_attrs(
            **self.op_attrs(a, op, path, f"{op} activation of {raw.name!r}"))
        return act

    # -- pass 2: parameter source ----------------------------------------------------------------

    def check_params_source(self, top, raws, weights, seed):
        subs = [sub for raw in raws for sub in (raw, raw.activation) if sub is not None]
        needing = [sub for sub in subs if sub.definition.has_params(sub.attrs)]
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
        out_type, params, out_moments = raw.definition.infer(self, raw, in_types, in_moments)
        if out_type.size > MAX_TENSOR_ELEMENTS:
            raise self.shape_error(raw, f"the output of {self.who(raw)} {shape_text(out_type.shape)} "
                                   f"has {out_type.size} elements per sample; hwgen supports at "
                                   f"most {MAX_TENSOR_ELEMENTS}")
        if max(-out_type.lo, out_type.hi) > INT64_MAX:
            raise self.shape_error(raw, f"the output of {self.who(raw)} can reach "
                                   f"[{out_type.lo}, {out_type.hi}] ({out_type.bits} bits), beyond "
                                   "the int64 the golden model computes in",
                                   "narrow its inputs first (add a requant)")
        self.check_folding(raw, in_types)
        loc = Location(self.file, raw.line, raw.path)
        spec = LayerSpec(name=raw.name, op=raw.op, inputs=raw.inputs,
                         attrs=raw.attrs,
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

    # -- folding -----------------------------------------------------------------------------------

    def check_folding(self, raw, in_types):
        """``pe`` and ``simd`` divide what the op's fold rule says (an inline activation
        uses its layer's ``pe``); ``unroll: full`` sets ``simd`` to the whole fan-in."""
        dims = raw.definition.fold(raw.attrs, in_types)
        if raw.unrolled:
            raw.simd = self.unrolled_fold(raw, "simd", *dims.simd)
        for key, dim in (("pe", dims.pe), ("simd", dims.simd)):
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
                                 f"valid {key}: {list_divisors(n)}")

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

    def check_int32(self, raw, key, b):
        bad = (b < INT32_MIN) | (b > INT32_MAX)
        if bad.any():
            at = tuple(int(k) for k in np.argwhere(bad)[0])    # the full index, any rank
            raise self.param_error(raw, f"{self.pdesc(raw, key)} must fit int32, but "
                                   f"{key}[{', '.join(map(str, at))}] = {int(b[at])}")

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
            raise loader.param_error(raw, f"{key} in {self.path} has shape {shape_text(a.shape)}, "
                                     f"expected {shape_text(shape)} = {shape_desc}")
        return a.astype(np.int64)

    def finish(self):
        unused = sorted(set(self.arrays) - self.used)
        if unused:
            warnings.warn(f"{self.loader.file}: weights file {self.path} has keys no layer uses: "
                          + ", ".join(unused), SpecWarning, stacklevel=4)
