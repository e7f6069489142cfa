"""QONNX graph -> hwgen layers, exact by construction (``hwgen import``).

The walk follows the one activation path from the model input to its output:

1. the float preprocessing (Mul/Add/Sub/Div by constants) and the first
   quantizer, tabulated on every hardware input integer ``q`` (float value
   ``float32(q * S)``), become a ``threshold`` or ``requant`` layer (or nothing,
   when the quantizer maps ``q`` to ``q`` plus a constant; or an identity
   dense / 1x1 conv2d whose integer bias adds an offset the requant must see
   before it rounds);
2. each MatMul/Gemm/Conv becomes a (binary_)dense/conv2d layer with the
   integers found by evaluating its weight quantizer, and the float nodes up to
   the next quantizer (bias, BatchNorm, scales, Relu, the quantizer with its
   rounding) are evaluated on every reachable integer accumulator: up to 16
   levels give multi-thresholds, more a dense bias plus a requant whose
   parameters reproduce every step (:mod:`.fit`);
3. MaxPool (kernel = stride) and Reshape/Flatten map onto maxpool2d/flatten;
4. float nodes after the last quantizer are the *float tail*, kept as a
   per-channel ``scale``/``offset`` for the host, or with ``argmax`` checked and
   turned into an exact integer rescale before an argmax layer.

The hardware value of every tensor relates to the model's as
:class:`.values.HwTensor` says; the tail is :mod:`.tail`.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass

import numpy as np

from hwgen.ops import names as op_names

from . import fit
from .qonnx_graph import ELEMENTWISE, QUANTIZERS, Graph, ModelError, node_label
from .tail import TailMixin
from .values import (ActQuantizer, ChainSource, HwTensor, divisor, node_attrs, per_channel,
                     signed_bits)

__all__ = ["Imported", "import_model"]

#: rows x channels evaluated per call of the model's nodes
_CHUNK = 1 << 21
#: most levels a multi-threshold layer takes (hwgen threshold bits <= 4)
_MAX_THRESHOLD_LEVELS = 16
_SUPPORTED = ("Quant, BipolarQuant, MatMul, Gemm, Conv, BatchNormalization, Relu, MaxPool, "
              "Reshape, Flatten, and Mul/Add/Sub/Div by constants")


@dataclass
class Imported:
    """What ``hwgen import`` writes: the YAML mapping, the npz arrays, the mapping table, metadata."""
    name: str
    network: dict
    arrays: dict
    table: list
    meta: dict


class Importer(TailMixin):
    """One walk over a :class:`Graph` (see the module docstring)."""

    def __init__(self, graph: Graph, *, input_bits, input_scale, input_signed, argmax, name):
        self.g = graph
        self.input_bits, self.input_scale = input_bits, float(input_scale)
        self.input_signed, self.argmax, self.name = input_signed, argmax, name
        self.layers, self.arrays, self.table, self.checks = [], {}, [], []
        self.counts = {}
        self.output_meta = None
        self.tie_notes = {}
        self.ties = 0           # steps left to the exact value (float32 noise at a half-way point)

    # -- helpers ---------------------------------------------------------------------------------

    def fresh(self, stem):
        self.counts[stem] = self.counts.get(stem, -1) + 1
        return f"{stem}{self.counts[stem]}"

    def next_node(self, tensor):
        consumers = self.g.consumers(tensor)
        if len(consumers) != 1:
            raise ModelError(f"tensor {tensor!r} feeds {len(consumers)} nodes "
                             f"({', '.join(node_label(n) for n in consumers)}); hwgen imports "
                             f"a single chain (no branches or residual adds)")
        return consumers[0]

    def variable_input(self, node, tensor):
        """Index of the activation input of an elementwise ``node``; the others must be constant."""
        index = list(node.input).index(tensor)
        for j, name in enumerate(node.input):
            if j != index and name:
                self.g.const(name, node)
        if node.op_type == "Div" and index != 0:
            raise ModelError(f"{node_label(node)} divides a constant by the activation; "
                             f"hwgen takes x / c only")
        return index

    def collect_chain(self, tensor, allow_relu=True):
        """Float nodes after ``tensor`` up to a quantizer (returned) or the graph output (None)."""
        nodes = []
        while tensor != self.g.output:
            node = self.next_node(tensor)
            if node.op_type in QUANTIZERS:
                return nodes, node
            if node.op_type in ELEMENTWISE:
                self.variable_input(node, tensor)
            elif node.op_type == "BatchNormalization":
                for name in node.input[1:]:
                    self.g.const(name, node)
            elif node.op_type == "Relu" and allow_relu:
                pass
            else:
                raise self.unsupported(node, "after a MAC node (where hwgen expects float ops "
                                             "by constants, then a quantizer or the output)")
            nodes.append(node)
            tensor = node.output[0]
        return nodes, None

    def unsupported(self, node, where=""):
        where = f" {where}" if where else ""
        return ModelError(f"{node_label(node)} is not supported{where}; hwgen imports "
                          f"{_SUPPORTED} (Conv with group 1, MaxPool with kernel = stride)")

    def chain_constants(self, nodes, rank, channels):
        """Constants of elementwise/quantizer inputs laid out for a [R, C(, 1, 1)] evaluation."""
        out = {}
        for node in nodes:
            if node.op_type in ELEMENTWISE:
                names = [n for n in node.input if self.g.is_const(n)]
            elif node.op_type == "Quant":
                names = list(node.input[1:3])
            elif node.op_type == "BipolarQuant":
                names = [node.input[1]]
            else:
                continue
            for name in names:
                value = per_channel(self.g.const(name, node), channels, rank, node, "a constant")
                shape = (1, channels) + (1,) * (rank - 2) if value.ndim else ()
                out[name] = value.reshape(shape).astype(self.g.const(name, node).dtype)
        return out

    def evaluate(self, source: ChainSource, nodes, output, x):
        """The model's nodes ``nodes`` on hardware integers ``x`` [R, C] -> float64 [R, C] of ``output``."""
        x = np.asarray(x)
        consts = self.chain_constants(nodes, source.rank, source.channels)
        rows = max(1, _CHUNK // max(source.channels, 1))
        parts = []
        for start in range(0, len(x), rows):
            chunk = source.values(x[start:start + rows])
            result = self.g.run(nodes, {source.tensor: chunk}, [output], consts)[output]
            parts.append(np.asarray(result, dtype=np.float64).reshape(len(chunk), source.channels))
        return np.concatenate(parts) if parts else np.zeros((0, source.channels))

    def levels_of(self, source, nodes, quant: ActQuantizer, x):
        """Integer output levels of ``quant`` for hardware integers ``x`` [R, C]."""
        y = self.evaluate(source, nodes + [quant.node], quant.node.output[0], x) / quant.scale
        levels = np.round(y)
        if np.any(np.abs(y - levels) > 1e-3):
            raise ModelError(f"{node_label(quant.node)}: outputs are not integer multiples of its "
                             f"scale")
        return levels.astype(np.int64)

    # -- the walk ----------------------------------------------------------------------------------

    def run(self):
        shape = self.g.shape(self.g.input)
        if len(shape) not in (2, 4) or shape[0] != 1:
            raise ModelError(f"{self.g.path}: the model input has shape {list(shape)}; hwgen "
                             f"imports [1, F] or [1, C, H, W] inputs (batch 1)")
        bits = self.input_bits
        lo, hi = ((-(1 << (bits - 1)), (1 << (bits - 1)) - 1) if self.input_signed
                  else (0, (1 << bits) - 1))
        if bits == 1:       # hwgen's 1-bit input is binary: q in {-1, +1}
            lo, hi = -1, 1
        t = HwTensor(shape[1:], lo, hi, binary=bits == 1, scale=np.asarray(self.input_scale))
        tensor = start = self.g.input
        nodes = []
        while True:         # the float preprocessing up to the first quantizer
            if tensor == self.g.output:
                raise ModelError(f"{self.g.path}: the model has no quantizer on its input path")
            node = self.next_node(tensor)
            if node.op_type in QUANTIZERS:
                break
            if node.op_type in ("Reshape", "Flatten") and not nodes:
                self.reshape(node, t, tensor, emit=False)
                t, start = self.reshaped, node.output[0]
            elif node.op_type in ELEMENTWISE:
                self.variable_input(node, tensor)
                nodes.append(node)
            else:
                raise self.unsupported(node, "before the first quantizer")
            tensor = node.output[0]
        t, tensor = self.table_layer(t, start, nodes, node, first=True)
        while tensor != self.g.output:
            node = self.next_node(tensor)
            op = node.op_type
            if op in ("MatMul", "Gemm", "Conv"):
                t, tensor = self.mac(node, t, tensor)
            elif op == "MaxPool":
                t, tensor = self.maxpool(node, t)
            elif op in ("Reshape", "Flatten"):
                self.reshape(node, t, tensor, emit=True)
                t, tensor = self.reshaped, node.output[0]
            elif op in QUANTIZERS or op in ELEMENTWISE or op in ("BatchNormalization", "Relu"):
                chain, quant = self.collect_chain(tensor)
                if quant is None:
                    self.tail(self.int_source(t, tensor), chain, t, mac=None)
                    tensor = self.g.output
                else:
                    t, tensor = self.table_layer(t, tensor, chain, quant, first=False)
            else:
                raise self.unsupported(node)
        if self.output_meta is None:        # the model ends on a quantizer: no float tail
            self.tail(self.int_source(t, tensor), [], t, mac=None)
        return t

    def int_source(self, t: HwTensor, tensor):
        c = t.channels
        rank = 4 if len(t.shape) == 3 else 2
        scale = np.broadcast_to(t.scale, (c,)).astype(np.float64)
        return ChainSource(tensor, rank, c, np.ones(c), np.full(c, float(t.offset)), scale)

    # -- layers ------------------------------------------------------------------------------------

    def reshape(self, node, t: HwTensor, tensor, emit):
        """Reshape/Flatten: nothing when it keeps the shape, a ``flatten`` layer for [C,H,W] -> [CHW]."""
        if node.op_type == "Reshape":
            self.g.const(node.input[1], node)
        out = self.g.shape(node.output[0])
        if out[0] != 1:
            raise ModelError(f"{node_label(node)} reshapes to {list(out)}; the batch axis must stay 1")
        out = tuple(out[1:])
        if out == tuple(t.shape):
            self.reshaped = t
            self.table.append(([node.name], [node.op_type], "-", "keeps the shape"))
            return True
        if len(t.shape) == 3 and out == (int(np.prod(t.shape)),):
            if not emit:
                raise ModelError(f"{node_label(node)} flattens the input before its quantizer; "
                                 f"hwgen tabulates the first quantizer per channel of the input")
            name = self.fresh("flatten")
            self.layers.append({"name": name, "op": op_names.flatten})
            self.table.append(([node.name], [node.op_type], name, f"flatten {list(t.shape)} -> {list(out)}"))
            if np.ndim(t.scale):
                raise ModelError(f"{node_label(node)} flattens a tensor with per-channel scales")
            self.reshaped = HwTensor(out, t.lo, t.hi, t.binary, t.offset, t.scale, name)
            return True
        raise ModelError(f"{node_label(node)} reshapes {list(t.shape)} to {list(out)}; hwgen "
                         f"imports reshapes that keep the shape or flatten [C, H, W]")

    def maxpool(self, node, t: HwTensor):
        attrs = node_attrs(node)
        kernel = list(attrs.get("kernel_shape", []))
        strides = list(attrs.get("strides", kernel))
        pads = list(attrs.get("pads", [0] * 4))
        if (len(kernel) != 2 or kernel[0] != kernel[1] or strides != kernel or any(pads)
                or attrs.get("ceil_mode", 0) or list(attrs.get("dilations", [1, 1])) != [1, 1]):
            raise ModelError(f"{node_label(node)}: hwgen pools k x k windows with stride k and no "
                             f"padding (kernel {kernel}, strides {strides}, pads {pads})")
        if len(t.shape) != 3:
            raise ModelError(f"{node_label(node)} pools a tensor of shape {list(t.shape)}")
        k = kernel[0]
        c, h, w = t.shape
        if h % k or w % k:
            raise ModelError(f"{node_label(node)}: kernel {k} must divide {h}x{w}")
        name = self.fresh("pool")
        self.layers.append({"name": name, "op": op_names.maxpool2d, "kernel_size": k,
                            "pe": divisor(c, 8)})
        self.table.append(([node.name], [node.op_type], name, f"maxpool2d {k}x{k}"))
        out = HwTensor((c, h // k, w // k), t.lo, t.hi, t.binary, t.offset, t.scale, name)
        self.checks.append(self.check_entry(name, node.output[0], out))
        return out, node.output[0]

    def check_entry(self, layer, tensor, t: HwTensor):
        """How the golden output of ``layer`` relates to the model tensor (for tests and users)."""
        return {"layer": layer, "tensor": tensor, "kind": "activation",
                "scale": np.broadcast_to(t.scale, (t.channels,)).tolist(), "offset": t.offset}

    def table_layer(self, t: HwTensor, tensor, nodes, quant_node, first):
        """Float nodes + a quantizer on an integer tensor: tabulate every hardware value."""
        rank = 4 if len(t.shape) == 3 else 2
        c = t.channels
        quant = ActQuantizer(self.g, quant_node, c, rank)
        source = self.int_source(t, tensor)
        domain = np.array([-1, 1]) if t.binary else np.arange(t.lo, t.hi + 1)
        x = np.repeat(domain[:, None], c, axis=1)
        table = self.levels_of(source, nodes, quant, x)           # [values, C]
        names = [n.name for n in nodes + [quant_node]]
        ops = [n.op_type for n in nodes + [quant_node]]
        increasing = np.all(np.diff(table, axis=0) >= 0, axis=0)
        if not np.all(increasing):
            bad = int(np.argmin(increasing))
            raise ModelError(f"{node_label(quant_node)}: its output decreases with the input on "
                             f"channel {bad}; hwgen needs an increasing map from the integer input "
                             f"(a negative scale on a tensor that is not a MAC output)")
        out_t = HwTensor(t.shape, int(table.min()), int(table.max()), scale=quant.scale)
        what = "input integers" if first else "integer values"
        if t.binary:            # -1/+1 stays -1/+1 (e.g. a BipolarQuant on a binary input)
            if quant.bipolar and np.all(table == domain[:, None]):
                self.table.append((names, ops, "-", f"identity on the binary {what}"))
                return HwTensor(t.shape, -1, 1, binary=True, scale=quant.scale,
                               layer=t.layer), quant_node.output[0]
            raise ModelError(f"{node_label(quant_node)} maps binary (-1/+1) values to "
                             f"{sorted(set(table.reshape(-1).tolist()))}; hwgen passes binary "
                             f"tensors only unchanged into MAC nodes, MaxPool or Reshape")
        shift = table - domain[:, None]
        if not quant.bipolar and np.all(shift == shift[0, 0]):
            # v = h + const: no layer, the next layer takes the offset
            out_t = HwTensor(t.shape, t.lo, t.hi, offset=int(shift[0, 0]), scale=quant.scale,
                            layer=t.layer)
            self.table.append((names, ops, "-", f"identity on the {len(domain)} {what} "
                               f"(offset {int(shift[0, 0])} folded into the next layer)"))
            return out_t, quant_node.output[0]
        name = "quant_in" if first else self.fresh("act")
        layer, out_t, note = self.activation_from_table(name, table, domain, quant, t, source,
                                                        nodes, standalone=True)
        self.layers.append(layer)
        self.table.append((names, ops, name, f"{note}, tabulated on the {len(domain)} {what}"))
        self.checks.append(self.check_entry(name, quant_node.output[0], out_t))
        return out_t, quant_node.output[0]

    def activation_from_table(self, name, table, domain, quant, t, source, nodes, standalone):
        """A threshold or requant layer equal to ``table`` [values, C] on ``domain``."""
        c = table.shape[1]
        prefix = name if standalone else f"{name}.act"
        if quant.count <= _MAX_THRESHOLD_LEVELS:
            bits = 1 if quant.bipolar else max(2, math.ceil(math.log2(quant.count)))
            base = -1 if quant.bipolar else quant.levels[0]
            rows = []
            for ch in range(c):
                if quant.bipolar:       # +1 from the first x with level +1
                    rows.append(fit.thresholds((table[:, ch] + 1) // 2, int(domain[0]), 0, 1))
                else:
                    rows.append(fit.thresholds(table[:, ch], int(domain[0]), base, (1 << bits) - 1))
            thresholds = np.array(rows, dtype=np.int64)
            per_channel = bool(np.any(thresholds != thresholds[:1]))
            self.arrays[f"{prefix}.thresholds"] = thresholds if per_channel else thresholds[:1]
            layer = {"op": op_names.threshold, "bits": bits, "per_channel": per_channel}
            if quant.bipolar:
                out_t = HwTensor(t.shape, -1, 1, binary=True, scale=quant.scale, layer=name)
                note = "threshold, 1 bit (-1/+1)"
            else:
                out_t = HwTensor(t.shape, 0, quant.count - 1, offset=quant.levels[0],
                                scale=quant.scale, layer=name)
                note = (f"threshold, {bits} bits for levels {quant.levels[0]}..{quant.levels[1]}"
                        + (f" (offset {quant.levels[0]} folded into the next layer)"
                           if quant.levels[0] else ""))
        else:
            steps = [fit.steps_of_table(table[:, ch], int(domain[0])) for ch in range(c)]
            params = self.fit_requant(steps, quant, source, nodes, allow_bias=not standalone)
            if params is None and standalone:
                return self.offset_requant(name, steps, quant, t, source, nodes, table)
            if params is None:
                raise ModelError(
                    f"{node_label(quant.node)}: no dyadic requant (m < 2**31, s < 64, "
                    f"{quant.rounding}) reproduces its {quant.count}-level output on every "
                    f"reachable integer")
            layer, out_t, note = self.requant_layer(name, prefix, params, quant, t, table)
        if standalone:
            layer = {"name": name, **layer, "pe": divisor(c, 4)}
        return layer, out_t, note

    def offset_requant(self, name, steps, quant, t, source, nodes, table):
        """A requant whose rounding needs an offset first (e.g. FINN's ``2x - 1`` before a
        ROUND quantizer puts ties on both sides of 0): an identity 1x1 conv2d (or dense) carries
        the offset as its integer bias, the requant follows inline."""
        params = (self.fit_requant(steps, quant, source, nodes, allow_bias=True)
                  or self.fit_requant(steps, quant, source, nodes, allow_bias=True, relax=True))
        if params is None:
            raise ModelError(
                f"{node_label(quant.node)}: no integer offset + dyadic requant (m < 2**31, s < 64, "
                f"{quant.rounding}) reproduces its {quant.count}-level output on every input")
        c = t.channels
        conv = len(t.shape) == 3
        eye = np.eye(c, dtype=np.int64)
        layer = {"name": name, "op": op_names.conv2d if conv else op_names.dense}
        if conv:
            layer.update({"out_channels": c, "kernel_size": 1})
            eye = eye.reshape(c, c, 1, 1)
        else:
            layer["out_features"] = c
        # one element per cycle: faster than the integer layer after it
        layer.update({"weight_type": "ternary", "weight_bits": 2, "bias": True,
                      "pe": divisor(c, 8), "simd": divisor(c, 8)})
        self.arrays[f"{name}.weight"] = eye
        self.arrays[f"{name}.bias"] = np.array([p[0] for p in params], dtype=np.int64)
        act, out_t, note = self.requant_layer(name, f"{name}.act", params, quant, t, table)
        if self.ties:
            note += (f" ({self.ties} reachable accumulator(s) within float32 rounding of a "
                     f"half-way point follow the exact value)")
            self.tie_notes[name], self.ties = self.ties, 0
        layer["activation"] = act
        return layer, out_t, (f"identity {'1x1 conv2d' if conv else 'dense'} adding the integer "
                              f"offset before rounding + {note}")

    def requant_layer(self, name, prefix, params, quant, t, table):
        m, s, zp = (np.array([p[i] for p in params], dtype=np.int64) for i in (1, 2, 3))
        per_channel = bool(np.any(m != m[0]) or np.any(s != s[0]) or np.any(zp != zp[0]))
        for key, value in (("multiplier", m), ("shift", s), ("zero_point", zp)):
            self.arrays[f"{prefix}.{key}"] = value if per_channel else value[:1]
        layer = {"op": op_names.requant, "bits": quant.bits, "signed": quant.signed,
                 "per_channel": per_channel, "rounding": quant.rounding}
        out_t = HwTensor(t.shape, int(table.min()), int(table.max()), scale=quant.scale, layer=name)
        note = (f"requant to {'' if quant.signed else 'u'}int{quant.bits}, {quant.rounding}"
                f"{', per channel' if per_channel else ''}")
        return layer, out_t, note

    def fit_requant(self, steps, quant, source, nodes, allow_bias, relax=False):
        """Per channel ``(bias, m, s, zp)`` reproducing ``steps``, or None.

        With ``relax``, a channel that no parameters fit exactly may leave free
        the steps that the model puts within float32 rounding of a half-way
        point (counted in ``self.ties``): only the executor's own float32
        rounding decides those, so no integer circuit can follow it everywhere.
        """
        lo, hi = ((-(1 << (quant.bits - 1)), (1 << (quant.bits - 1)) - 1) if quant.signed
                  else (0, (1 << quant.bits) - 1))
        self.ties = 0
        slope, offset = self.affine_estimate(source, nodes, quant, steps)
        params = []
        for ch, st in enumerate(steps):
            r, o = slope[ch], offset[ch]
            candidates = [(0, 0)]
            if math.isfinite(o) and abs(o) < 1 << 30:
                if allow_bias:
                    candidates = [(int(round(o)), 0), (math.floor(o), 0), (math.ceil(o), 0)] + candidates
                zp = r * o if math.isfinite(r * o) else 0
                candidates += [(0, int(round(zp))), (0, math.floor(zp)), (0, math.ceil(zp))]
            found = fit.fit_dyadic(st, quant.rounding, lo, hi, candidates=candidates,
                                   ratio=r if r > 0 else None)
            if found is None and relax and r > 0 and math.isfinite(o):
                loose = fit.float_ties(st, r, o, quant.rounding)
                if loose:
                    found = fit.fit_dyadic(st, quant.rounding, lo, hi, candidates=candidates,
                                           ratio=r, loose=loose)
                if found is not None:       # count the accumulators that left the float32 table
                    bias, m, s, zp = found
                    def g(x, bias=bias, m=m, s=s, zp=zp):
                        return int(fit.dyadic_apply(np.array([x]), bias, m, s, zp, lo, hi,
                                                    quant.rounding)[0])
                    self.ties += sum(abs(g(st.at[k]) - st(st.at[k])) + abs(g(st.at[k] - 1)
                                                                           - st(st.at[k] - 1))
                                     for k in loose)
            if found is None:
                return None
            params.append(found)
        return params

    def affine_estimate(self, source, nodes, quant, steps):
        """The real map ``x -> r * (x + o)`` before rounding, from the model's nodes at two points
        (Relu skipped: it only clips what the quantizer clips too)."""
        linear = [n for n in nodes if n.op_type != "Relu"]
        c = source.channels
        lo = np.array([st.lo for st in steps])
        hi = np.array([st.hi if st.hi > st.lo else st.lo + 1 for st in steps])
        x = np.stack([lo, hi])
        if linear:
            v = self.evaluate(source, linear, linear[-1].output[0], x)
        else:
            v = source.values(x).astype(np.float64).reshape(2, c)
        v = v / quant.scale
        r = (v[1] - v[0]) / (hi - lo)
        with np.errstate(divide="ignore", invalid="ignore"):
            o = np.where(r != 0, v[0] / r - lo, np.inf)
        return r, o

    # -- MAC nodes ---------------------------------------------------------------------------------

    def weights(self, node):
        """Integer weights in hwgen layout ([C, K] or [C, Cin, k, k]), per-channel scale, binary?"""
        tensor = node.input[1]
        quant = self.g.producer(tensor)
        if quant is None or quant.op_type not in QUANTIZERS:
            if self.g.model.get_initializer(tensor) is not None:
                raise ModelError(f"{node_label(node)}: its weights {tensor!r} are float, not "
                                 f"quantized; hwgen needs a Quant or BipolarQuant on the weights")
            raise ModelError(f"{node_label(node)}: its weights {tensor!r} come from "
                             f"{node_label(quant) if quant else 'nowhere'}; hwgen needs an "
                             f"initializer through a Quant or BipolarQuant")
        for name in quant.input:
            if name and self.g.model.get_initializer(name) is None and not self.g.is_const(name):
                raise ModelError(f"{node_label(quant)}: input {name!r} has no initializer")
        values = self.g.const(tensor, node).astype(np.float64)
        scale = self.g.const(quant.input[1], quant).astype(np.float64)
        if quant.op_type == "Quant":
            zp = self.g.const(quant.input[2], quant)
            if np.any(zp != 0):
                raise ModelError(f"{node_label(quant)} has zero point "
                                 f"{np.unique(zp)[:4].tolist()}; hwgen imports weights with "
                                 f"zero point 0 only")
            bits = float(self.g.const(quant.input[3], quant))
            binary = bits == 1 and bool(node_attrs(quant).get("signed", 1))
        else:
            binary = True
        full = np.broadcast_to(scale, values.shape)
        ints = np.round(values / full)
        if np.any(np.abs(values / full - ints) > 1e-3):
            raise ModelError(f"{node_label(quant)}: outputs are not integer multiples of its scale")
        attrs = node_attrs(node)
        if node.op_type == "MatMul":
            ints, full = ints.T, full.T
        elif node.op_type == "Gemm":
            if attrs.get("transA", 0) or attrs.get("alpha", 1.0) != 1.0 or attrs.get("beta", 1.0) != 1.0:
                raise ModelError(f"{node_label(node)}: hwgen imports Gemm with transA = 0 and "
                                 f"alpha = beta = 1")
            if not attrs.get("transB", 0):
                ints, full = ints.T, full.T
        axes = tuple(range(1, full.ndim))
        if np.any(full != full.reshape(full.shape[0], -1)[:, :1].reshape((-1,) + (1,) * len(axes))):
            raise ModelError(f"{node_label(quant)}: the weight scale varies within an output "
                             f"channel; hwgen takes per-tensor or per-output-channel scales")
        return ints.astype(np.int64), full.reshape(full.shape[0], -1)[:, 0], binary

    def mac(self, node, t: HwTensor, tensor):
        if node.input[0] != tensor:
            raise ModelError(f"{node_label(node)} takes the activation as its second input")
        ints, w_scale, binary = self.weights(node)
        if np.ndim(t.scale):
            raise ModelError(f"{node_label(node)} reads a tensor with per-channel scales "
                             f"({t.layer}); hwgen needs one scale per MAC input")
        attrs = node_attrs(node)
        conv = node.op_type == "Conv"
        cout = ints.shape[0]
        if conv:
            if len(t.shape) != 3:
                raise ModelError(f"{node_label(node)} convolves a tensor of shape {list(t.shape)}")
            k = ints.shape[2]
            strides = list(attrs.get("strides", [1, 1]))
            pads = list(attrs.get("pads", [0, 0, 0, 0]))
            if (attrs.get("group", 1) != 1 or ints.shape[2] != ints.shape[3]
                    or strides[0] != strides[1] or len(set(pads)) > 1
                    or list(attrs.get("dilations", [1, 1])) != [1, 1]
                    or attrs.get("auto_pad", b"NOTSET") not in (b"NOTSET", "NOTSET")):
                raise ModelError(f"{node_label(node)}: hwgen imports Conv with group 1, square "
                                 f"kernels, equal strides, equal padding and no dilation")
            padding = pads[0]
            if padding and (t.binary or t.offset or binary):
                raise ModelError(f"{node_label(node)} pads with 0.0, which its input stream "
                                 f"({'binary' if t.binary else f'offset {t.offset}'}) or hwgen's "
                                 f"binary_conv2d (padding -1) cannot carry; use padding 0")
            c_in, h, w = t.shape
            oh = (h + 2 * padding - k) // strides[0] + 1
            ow = (w + 2 * padding - k) // strides[0] + 1
            out_shape = (cout, oh, ow)
        else:
            if len(t.shape) != 1:
                raise ModelError(f"{node_label(node)} reads a tensor of shape {list(t.shape)}; "
                                 f"flatten it first")
            out_shape = (cout,)
        rowsum = ints.reshape(cout, -1).sum(axis=1)
        in_scale = float(t.scale)
        rank = 4 if conv else 2
        source = ChainSource(node.output[0], rank, cout, np.ones(cout),
                         (t.offset * rowsum).astype(np.float64), in_scale * w_scale)
        name = self.fresh("conv" if conv else "fc")
        layer = {"name": name}
        if binary:
            layer["op"] = op_names.binary_conv2d if conv else op_names.binary_dense
        else:
            layer["op"] = op_names.conv2d if conv else op_names.dense
        if conv:
            layer.update({"out_channels": cout, "kernel_size": k, "stride": strides[0],
                          "padding": padding})
        else:
            layer["out_features"] = cout

        # the node's own bias (Gemm C, Conv B) joins the float chain as an Add
        chain_tensor, bias_nodes = node.output[0], []
        extra = {}
        if len(node.input) > 2 and node.input[2]:
            from onnx import helper
            bias = self.g.const(node.input[2], node).astype(np.float32).reshape(-1)
            bias_name = f"{node.output[0]}__bias"
            acc_name = f"{node.output[0]}__acc"
            extra[bias_name] = bias.reshape((1, cout) + (1,) * (rank - 2))
            bias_nodes = [helper.make_node("Add", [acc_name, bias_name], [node.output[0]],
                                           name=f"{node.name}__bias")]
            source.tensor = acc_name
            self.g._const[bias_name] = extra[bias_name]
        chain, quant_node = self.collect_chain(chain_tensor)
        chain = bias_nodes + chain
        names = [node.name] + [n.name for n in chain if not n.name.endswith("__bias")]
        ops = [node.op_type] + [n.op_type for n in chain if not n.name.endswith("__bias")]

        x_lo, x_hi = (-1, 1) if t.binary else (t.lo, t.hi)
        if conv and padding:
            x_lo, x_hi = min(x_lo, 0), max(x_hi, 0)
        if quant_node is None:
            self.table.append((names, ops, name, self.mac_note(layer, ints, binary, t)
                               + "; float tail " + self.tail_note()))
            out_t = self.finish_mac(layer, ints, source, chain, t, x_lo, x_hi, binary, out_shape)
            return out_t, self.g.output
        quant = ActQuantizer(self.g, quant_node, cout, rank)
        names.append(quant_node.name)
        ops.append(quant_node.op_type)
        sign, x_range, table_steps, table = self.orient(ints, source, chain, quant, x_lo, x_hi)
        ints = ints * sign.reshape((-1,) + (1,) * (ints.ndim - 1))
        source.sign = sign.astype(np.float64)
        flipped = int(np.sum(sign < 0))
        lo_c, hi_c = x_range
        act_name = name
        if table is not None:
            start = int(lo_c.min())
            layer_act, out_t, note = self.activation_from_table(
                act_name, table, np.arange(start, start + len(table)), quant, HwTensor(
                    out_shape, 0, 0), source, chain, standalone=False)
            constant = int(np.sum(np.all(table == table[:1], axis=0)))
        else:
            params = (self.fit_requant(table_steps, quant, source, chain, allow_bias=True)
                      or self.fit_requant(table_steps, quant, source, chain, allow_bias=True,
                                          relax=True))
            if params is None:
                _, offset = self.affine_estimate(source, chain, quant, table_steps)
                fraction = np.abs(offset - np.round(offset))
                why = ""
                if np.nanmax(fraction) > 1e-3:
                    ch = int(np.nanargmax(fraction))
                    why = (f"; the float nodes before it add {offset[ch]:.4f} accumulator steps "
                           f"on channel {ch} (a float bias or BatchNorm shift), and hwgen's integer "
                           f"dense bias cannot add a fraction before the requant rounds: use an "
                           f"integer bias (Brevitas Int32Bias) instead of BatchNorm here, or at "
                           f"most {_MAX_THRESHOLD_LEVELS} levels (multi-thresholds take any shift)")
                raise ModelError(
                    f"{node_label(quant_node)}: no dense bias + dyadic requant (m < 2**31, s < 64, "
                    f"{quant.rounding}) reproduces its {quant.count}-level output on every reachable "
                    f"accumulator of {node_label(node)}{why}")
            bias = np.array([p[0] for p in params], dtype=np.int64)
            levels = np.array([[st.first, st.last] for st in table_steps])
            layer_act, out_t, note = self.requant_layer(act_name, f"{name}.act", params, quant,
                                                        HwTensor(out_shape, 0, 0), levels)
            if self.ties:
                note += (f" ({self.ties} reachable accumulator(s) within float32 rounding of a "
                         f"half-way point follow the exact value)")
                self.tie_notes[name] = self.ties
                self.ties = 0
            if np.any(bias):
                if binary:
                    raise ModelError(f"{node_label(node)}: its requant needs an integer bias, "
                                     f"which hwgen's binary layers lack")
                layer["bias"] = True
                self.arrays[f"{name}.bias"] = bias
            constant = int(sum(st.first == st.last for st in table_steps))
        out_t.shape, out_t.layer = out_shape, name
        self.set_weights(layer, name, ints, binary, t)
        layer["activation"] = layer_act
        self.layers.append(layer)
        extras = [f"{flipped} channel(s) flipped"] if flipped else []
        if constant:
            extras.append(f"{constant} constant channel(s)")
        self.table.append((names, ops, name, self.mac_note(layer, ints, binary, t) + " + " + note
                           + "".join(f"; {e}" for e in extras)))
        self.checks.append(self.check_entry(name, quant_node.output[0], out_t))
        return out_t, quant_node.output[0]

    def orient(self, ints, source, chain, quant, x_lo, x_hi):
        """Flip decreasing channels; return (sign, (lo, hi) per channel, steps, full table or None)."""
        w = ints.reshape(ints.shape[0], -1)
        lo = np.minimum(w * x_lo, w * x_hi).sum(axis=1)
        hi = np.maximum(w * x_lo, w * x_hi).sum(axis=1)
        c = len(lo)
        ends = self.levels_of(source, chain, quant, np.stack([lo, hi]))
        sign = np.where(ends[0] > ends[1], -1, 1)
        source.sign = sign.astype(np.float64)
        # with the weights of flipped channels negated, x runs over [-hi, -lo] there
        lo, hi = np.where(sign > 0, lo, -hi), np.where(sign > 0, hi, -lo)
        if quant.count <= _MAX_THRESHOLD_LEVELS:
            start, stop = int(lo.min()), int(hi.max())
            x = np.repeat(np.arange(start, stop + 1)[:, None], c, axis=1)
            table = self.levels_of(source, chain, quant, x)
            for ch in range(c):
                column = table[lo[ch] - start:hi[ch] - start + 1, ch]
                if np.any(np.diff(column) < 0):
                    raise ModelError(f"{node_label(quant.node)}: its output is not monotonic in "
                                     f"the accumulator of channel {ch}")
                # outside this channel's reachable range the value is never used: extend flat
                table[:lo[ch] - start, ch] = column[0]
                table[hi[ch] - start + 1:, ch] = column[-1]
            return sign, (lo, hi), None, table
        return sign, (lo, hi), self.bisect_steps(source, chain, quant, lo, hi), None

    def bisect_steps(self, source, chain, quant, lo, hi):
        """Every step of the (monotonic) quantizer output over each channel's range, by bisection."""
        c = len(lo)
        ends = self.levels_of(source, chain, quant, np.stack([lo, hi]))
        first, last = ends[0], ends[1]
        count = int((last - first).max())
        steps = [fit.Steps(int(lo[ch]), int(hi[ch]), int(first[ch]), int(last[ch]), {})
                 for ch in range(c)]
        if count <= 0:
            return steps
        ks = first[None, :] + np.arange(1, count + 1)[:, None]           # [count, C]
        active = ks <= last[None, :]
        a = np.broadcast_to(lo, ks.shape).copy()        # f(a) < k
        b = np.broadcast_to(hi, ks.shape).copy()        # f(b) >= k
        while True:
            open_ = active & (b - a > 1)
            if not open_.any():
                break
            mid = np.where(open_, (a + b) // 2, a)
            values = self.levels_of(source, chain, quant, mid)
            go_up = values >= ks
            b = np.where(open_ & go_up, mid, b)
            a = np.where(open_ & ~go_up, mid, a)
        for ch in range(c):
            for j in range(count):
                if active[j, ch]:
                    steps[ch].at[int(ks[j, ch])] = int(b[j, ch])
        return steps

    def set_weights(self, layer, name, ints, binary, t):
        cout = ints.shape[0]
        if binary:
            self.arrays[f"{name}.weight"] = ints
        else:
            values = set(np.unique(ints).tolist())
            if values <= {-1, 0, 1}:
                layer["weight_type"] = "ternary"
                layer["weight_bits"] = 2
            else:
                bits = signed_bits(int(ints.min()), int(ints.max()))
                if bits > 8:
                    raise ModelError(f"layer {name}: weights need {bits} bits (hwgen: at most 8)")
                layer["weight_bits"] = max(bits, 2)
            self.arrays[f"{name}.weight"] = ints
        # default folding: XNOR-popcount lanes are cheap, integer ones (any integer operand) not
        xnor = binary and t.binary
        fan_in = int(np.prod(ints.shape[1:]))
        conv = layer["op"] in (op_names.conv2d, op_names.binary_conv2d)
        width = ints.shape[1] if conv else fan_in
        layer["pe"] = divisor(cout, 8 if xnor else 4)
        layer["simd"] = divisor(width, 32 if xnor else 8)

    def mac_note(self, layer, ints, binary, t):
        if layer["op"].endswith("conv2d"):
            shape = f"{ints.shape[1]}->{ints.shape[0]} {layer['kernel_size']}x{layer['kernel_size']}"
        else:
            shape = f"{ints.shape[1]}->{ints.shape[0]}"
        if binary:
            kind = "binary"
        elif set(np.unique(ints).tolist()) <= {-1, 0, 1}:
            kind = "ternary"
        else:
            kind = f"int{signed_bits(int(ints.min()), int(ints.max()))}"
        note = f"{layer['op']} {shape}, {kind} weights"
        if t.offset:
            note += f" (input offset {t.offset} folded in)"
        return note


_NAME_RE = re.compile(r"[^a-z0-9_]")


def network_name(path, name=None):
    """``name`` or the model file's stem as a valid network name ``[a-z_][a-z0-9_]*``."""
    from hwgen.spec.schema import NETWORK_NAME_RE, VERILOG_KEYWORDS
    raw = name if name is not None else re.sub(r"\.onnx$", "", str(path).replace("\\", "/").split("/")[-1])
    if name is not None:
        if not NETWORK_NAME_RE.match(name) or name in VERILOG_KEYWORDS:
            raise ValueError(f"--name must match [a-z_][a-z0-9_]* and not be a Verilog keyword, "
                             f"not {name!r}")
        return name
    clean = _NAME_RE.sub("_", raw.lower()) or "net"
    if not NETWORK_NAME_RE.match(clean) or clean in VERILOG_KEYWORDS:
        clean = "net_" + clean
    return clean


def import_model(path, *, input_bits=8, input_scale=1.0, input_signed=False, argmax=False,
                 name=None) -> Imported:
    """Convert the QONNX model at ``path``; raise :class:`ModelError` naming the node if it cannot
    be imported exactly. Nothing is written (see ``hwgen.cli``)."""
    if not 1 <= int(input_bits) <= 32:
        raise ValueError(f"--input-bits must be in 1..32, not {input_bits}")
    if input_bits == 1 and input_signed:
        raise ValueError("a 1-bit input is binary (-1/+1); drop --input-signed")
    if not (math.isfinite(float(input_scale)) and float(input_scale) > 0):
        raise ValueError(f"--input-scale must be a positive finite number, not {input_scale}")
    net_name = network_name(path, name)
    graph = Graph(path)
    importer = Importer(graph, input_bits=int(input_bits), input_scale=input_scale,
                         input_signed=bool(input_signed), argmax=bool(argmax), name=net_name)
    importer.run()
    shape = list(graph.shape(graph.input)[1:])
    network = {"name": net_name,
               "input": {"shape": shape, "bits": int(input_bits), "signed": bool(input_signed)},
               "weights": f"{net_name}.npz", "layers": importer.layers}
    meta = {"source": str(path), "input": {"bits": int(input_bits), "signed": bool(input_signed),
                                           "scale": float(input_scale),
                                           "float": "float32(q * scale)"},
            "output": importer.output_meta, "checks": importer.checks,
            "float_ties": importer.tie_notes,
            "table": [{"onnx": n, "op_types": o, "layer": l, "note": note}
                      for n, o, l, note in importer.table]}
    return Imported(net_name, network, importer.arrays, importer.table, meta)
