"""The float tail after the last quantizer or MAC node: host metadata, or an exact argmax.

Mixed into the importer (:class:`hwgen.importer.convert.Importer`): it uses
its ``evaluate``, ``set_weights``, ``fresh``, ``layers``, ``arrays``,
``table`` and ``checks``.
"""

from __future__ import annotations

import numpy as np

from hwgen.ops import names as op_names

from .qonnx_graph import ModelError
from .values import ChainSource, HwTensor

__all__ = ["TailMixin"]


class TailMixin:
    """Record the float tail; with ``argmax``, check it and append the integer rescale + argmax."""

    def finish_mac(self, layer, ints, source, chain, t, x_lo, x_hi, binary, out_shape):
        """The last MAC layer (no quantizer after it): a float tail, or an exact argmax."""
        name = layer["name"]
        w = ints.reshape(ints.shape[0], -1)
        lo = np.minimum(w * x_lo, w * x_hi).sum(axis=1)
        hi = np.maximum(w * x_lo, w * x_hi).sum(axis=1)
        out_t = HwTensor(out_shape, int(lo.min()), int(hi.max()), layer=name)
        sign = np.ones(len(lo), dtype=np.int64)
        if self.argmax:
            sign = self.tail_direction(source, chain, lo, hi)
            ints = ints * sign.reshape((-1,) + (1,) * (ints.ndim - 1))
            source.sign = sign.astype(np.float64)
            lo, hi = np.where(sign > 0, lo, -hi), np.where(sign > 0, hi, -lo)
        shift = np.round(source.shift).astype(np.int64)
        if np.any(shift) and not binary:
            # the input offset's share of the sum becomes the dense bias: sign * x_hw = a
            bias = sign * shift
            layer["bias"] = True
            self.arrays[f"{name}.bias"] = bias
            lo, hi = lo + bias, hi + bias
            source.shift = np.zeros(len(lo))
            out_t.lo, out_t.hi = int(lo.min()), int(hi.max())
        self.set_weights(layer, name, ints, binary, t)
        self.layers.append(layer)
        self.checks.append({"layer": name, "tensor": source.tensor.replace("__acc", ""),
                            "kind": "accumulator", "scale": source.scale.tolist(),
                            "sign": sign.tolist(), "shift": source.shift.tolist(),
                            "bias": self.bias_of(source, chain)})
        self.tail(source, chain, out_t, mac=(lo, hi))
        return out_t

    def bias_of(self, source, chain):
        for node in chain:
            if node.name.endswith("__bias"):
                return np.asarray(self.g._const[node.input[1]], dtype=np.float64).reshape(-1).tolist()
        return [0.0] * source.channels

    def tail_direction(self, source, chain, lo, hi):
        if not chain:
            return np.ones(len(lo), dtype=np.int64)
        out = chain[-1].output[0]
        ends = self.evaluate(source, chain, out, np.stack([lo, hi]))
        return np.where(ends[0] > ends[1], -1, 1).astype(np.int64)

    def tail(self, source, chain, t: HwTensor, mac):
        """Record the float tail as per-channel ``scale``/``offset``; with argmax, add the argmax."""
        c = source.channels
        if t.binary:
            lo, hi = np.full(c, -1), np.full(c, 1)
        elif mac is None:
            lo, hi = np.full(c, t.lo), np.full(c, t.hi)
        else:
            lo, hi = mac
        out = chain[-1].output[0] if chain else None
        # probe the tail as a function of the model's integer a = sign * out + shift
        plain = ChainSource(source.tensor, source.rank, c, np.ones(c), np.zeros(c), source.scale)
        shift = np.round(source.shift).astype(np.int64)
        top = max(int(np.abs(lo).max()), int(np.abs(hi).max()), 1) + int(np.abs(shift).max())
        probe = np.stack([np.zeros(c), np.full(c, float(top))])
        if chain:
            v = self.evaluate(plain, chain, out, probe)
        else:
            v = plain.values(probe).astype(np.float64).reshape(2, c)
        scale = (v[1] - v[0]) / probe[1]
        offset = v[0]
        if np.all(v == v[:, :1]):
            # every channel computes the same float32 function: one scale keeps ties ties
            scale, offset = np.full(c, scale[0]), np.full(c, offset[0])
        self.output_meta = {"scale": scale.tolist(), "offset": offset.tolist(),
                            "sign": source.sign.astype(np.int64).tolist(),
                            "shift": shift.tolist(),
                            "meaning": "model integer a = sign * out + shift; "
                                       "float output ~= a * scale + offset",
                            "nodes": [n.name for n in chain if not n.name.endswith("__bias")],
                            "argmax": self.argmax}
        if chain and mac is None:
            self.table.append(([n.name for n in chain], [n.op_type for n in chain], "-",
                               "float tail " + self.tail_note()))
        if not self.argmax:
            return
        self.exact_argmax(source, chain, out, lo, hi, t)

    def tail_note(self):
        return ("(host: a = sign * out + shift, float = a * scale + offset, in the .json)"
                if not self.argmax
                else "(checked exact for argmax)")

    def exact_argmax(self, source, chain, out, lo, hi, t):
        """Append ``argmax``, after an integer rescale when the channels' scales differ; check that
        the integers order every reachable pair (channel, value) as the model's float tail does."""
        c = source.channels
        if len(t.shape) != 1:
            raise ModelError("--argmax: the model output must be a vector [1, classes], not "
                             f"{[1, *t.shape]}")
        start, stop = int(lo.min()), int(hi.max())
        x = np.arange(start, stop + 1)
        grid = np.repeat(x[:, None], c, axis=1)
        floats = (self.evaluate(source, chain, out, grid) if chain
                  else source.values(grid).astype(np.float64).reshape(len(x), c))
        reachable = (grid >= lo) & (grid <= hi)
        scale = np.abs(np.asarray(self.output_meta["scale"]))
        # the model's accumulator is sign * (x + k): a binary layer cannot add k = sign * shift
        k = (source.sign * np.round(source.shift)).astype(np.int64)
        rescale = None
        if np.any(k) or not _same_order(floats[reachable], grid[reachable]):
            m = np.round(scale / scale.min()).astype(np.int64)
            if np.all(m * scale.min() == scale) and np.all(m < 1 << 31):
                rescale = m
                ints = (grid + k) * m
            if rescale is None or not _same_order(floats[reachable], ints[reachable]):
                raise ModelError(
                    "--argmax: the float tail after the last layer (per-channel scales "
                    f"{np.unique(scale)[:4].tolist()}..., offsets "
                    f"{np.unique(self.output_meta['offset'])[:4].tolist()}...) cannot be replaced "
                    "by an exact integer rescale (hwgen needs channel scales in integer ratios "
                    "and equal offsets); leave --argmax out and take the argmax of "
                    "out * scale + offset on the host (the .json beside the YAML)")
        if rescale is not None:
            zp = k * rescale
            top = max(abs(int(ints[reachable].min())), abs(int(ints[reachable].max())),
                      int(np.abs(zp).max()))
            bits = max(top.bit_length() + 1, 2)
            if bits > 32:
                raise ModelError(f"--argmax: the integer rescale needs {bits} bits (at most 32)")
            name = self.fresh("rescale")
            self.layers.append({"name": name, "op": op_names.requant, "bits": bits, "signed": True,
                                "per_channel": True, "rounding": "floor", "pe": 1})
            self.arrays[f"{name}.multiplier"] = rescale
            self.arrays[f"{name}.shift"] = np.zeros(c, dtype=np.int64)
            self.arrays[f"{name}.zero_point"] = zp
            self.table.append(([], [], name, f"exact integer rescale m * x + zp "
                               f"(m = {np.unique(rescale).tolist()[:4]}, "
                               f"zp = {np.unique(zp).tolist()[:4]}...)"))
        self.layers.append({"name": "top1", "op": op_names.argmax})
        self.table.append(([], [], "top1", "argmax (ties: lowest index, as numpy)"))


def _same_order(floats, ints) -> bool:
    """True when sorting by ``floats`` sorts ``ints`` too, with equal floats <-> equal ints."""
    floats = np.asarray(floats, dtype=np.float64).reshape(-1)
    ints = np.asarray(ints, dtype=np.int64).reshape(-1)
    order = np.lexsort((ints, floats))
    f, i = floats[order], ints[order]
    df, di = np.diff(f), np.diff(i)
    return bool(np.all((df > 0) == (di > 0)) and np.all((df == 0) == (di == 0)))
