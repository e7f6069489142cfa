"""Hypothesis factories of random valid units with inputs and their golden outputs.

A factory takes hypothesis's ``draw`` and returns a :class:`UnitCase`: a
unit with ``i``/``o`` streams (or input streams ``a``, ``b``: then ``x`` holds
each input's elements side by side, [N, 2K]), ``x`` [N, K] input vectors and ``want``
[N, M] outputs from ``sw_reference`` (both in stream order, elements as the
golden model writes them: binary -1/+1). The harness
(:func:`run_amaranth`) packs ``x`` into the unit's input lanes, streams it
through Amaranth's simulator with random stalls on both sides, unpacks the
output lanes and compares. Widths come from the unit's own ports, so a new
unit slots in with one factory and one line in :data:`FACTORIES`.

Draws favour the edges: extreme weights (all +1 / all -1), inputs at the
type's limits, thresholds outside the input range and equal to each other,
multipliers 1 and 2**31 - 1, shifts 0 and 63.
"""

from dataclasses import dataclass

import numpy as np
import torch
from amaranth.hdl import signed, unsigned
from hypothesis import strategies as st

from hwgen.network import stream_format
from sim.packing import pack, unpack
from sw_reference import ops

__all__ = ["UnitCase", "FACTORIES", "run_amaranth", "shape_range"]


@dataclass
class UnitCase:
    unit: object
    x: np.ndarray            # [N, K] int64, stream order; [N, 2K] (a's, then b's) for a, b
    want: np.ndarray         # [N, M] int64, from sw_reference
    binary_out: bool = False  # a 1-bit output element is -1/+1 (else 0/1)

    def __repr__(self):
        return f"UnitCase({type(self.unit).__name__}, x={self.x.tolist()}, want={self.want.tolist()})"


def shape_range(shape):
    if shape.width == 1 and not shape.signed:
        return -1, 1                          # binary element
    if shape.signed:
        return -(1 << (shape.width - 1)), (1 << (shape.width - 1)) - 1
    return 0, (1 << shape.width) - 1


def to_words(x, lanes, bits):
    """[N, K] -> flat list of words, ``lanes`` elements per word, each vector from lane 0."""
    words = []
    for row in x:
        words += [pack(row[i:i + lanes], bits) for i in range(0, len(row), lanes)]
    return words


def from_words(words, count, size, lanes, bits, is_signed, binary):
    """Flat output words -> [count, size] elements."""
    per = -(-size // lanes)
    rows = []
    for n in range(count):
        values = [v for w in words[n * per:(n + 1) * per] for v in unpack(w, lanes, bits, is_signed)]
        if bits == 1 and not binary:
            values = [(v + 1) >> 1 for v in values]
        rows.append(values[:size])
    return np.array(rows, dtype=np.int64).reshape(count, size)


def run_amaranth(case, *, stall, seed, stats=None, in_stall=None):
    """Stream ``case.x`` through ``case.unit`` in Amaranth's simulator; return [N, M] outputs.

    ``stats`` (a dict) receives ``simulate_stream``'s count of stall checks;
    ``in_stall`` stalls the producer apart from the consumer.
    """
    from hwgen.top import input_ports
    from sim.amaranth_streams import simulate_stream
    ports = input_ports(case.unit)
    words = {}
    for port, x in zip(ports, np.split(case.x, len(ports), axis=1)):
        in_shape, in_lanes = stream_format(getattr(case.unit, port))
        words[port] = to_words(x, in_lanes, in_shape.width)
    out_shape, out_lanes = stream_format(case.unit.o)
    n, m = case.want.shape
    count = n * -(-m // out_lanes)
    got = simulate_stream(case.unit, words, count, stall=stall, seed=seed, stats=stats,
                          in_stall=in_stall)
    return from_words(got, n, m, out_lanes, out_shape.width, out_shape.signed, case.binary_out)


# --- draws shared by the factories -------------------------------------------------------------

def _divisor(draw, n):
    return draw(st.sampled_from([d for d in range(1, n + 1) if n % d == 0]))


def _element_shape(draw, min_bits=2, max_bits=12):
    bits = draw(st.integers(min_bits, max_bits))
    if bits == 1:
        return unsigned(1)                  # binary (-1/+1); signed(1) is not an hwgen type
    return signed(bits) if draw(st.booleans()) else unsigned(bits)


def _vectors(draw, count, size, lo, hi, binary=False):
    """``count`` vectors: all max, all min, alternating, then random (of a drawn seed)."""
    seed = draw(st.integers(0, 2**32 - 1))
    rng = np.random.default_rng(seed)
    if binary:
        x = rng.choice(np.array([-1, 1], np.int64), size=(count, size))
    else:
        x = rng.integers(lo, hi, size=(count, size), endpoint=True, dtype=np.int64)
    edges = [np.full(size, hi), np.full(size, lo), np.resize(np.array([lo, hi]), size)]
    take = draw(st.integers(0, len(edges)))
    for k in range(min(take, count)):
        x[k] = edges[k]
    return x


def _pm1(draw, shape):
    kind = draw(st.sampled_from(["random", "random", "plus", "minus"]))
    if kind == "plus":
        return np.ones(shape, np.int64)
    if kind == "minus":
        return -np.ones(shape, np.int64)
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    return rng.choice(np.array([-1, 1], np.int64), size=shape)


# --- factories ----------------------------------------------------------------------------------

def mvau_case(draw):
    from hwgen.units.mvau import MVAU
    mh = draw(st.integers(1, 12))
    mw = draw(st.integers(1, 24))
    pe, simd = _divisor(draw, mh), _divisor(draw, mw)
    w = _pm1(draw, (mh, mw))
    count = draw(st.integers(1, 6))
    x = _vectors(draw, count, mw, -1, 1, binary=True)
    if draw(st.booleans()):                 # a vector equal / opposite to a row: +-MW
        c = draw(st.integers(0, mh - 1))
        x[-1] = w[c] * draw(st.sampled_from([1, -1]))
    unit = MVAU(weights=w, pe=pe, simd=simd, pipeline=draw(st.integers(0, 3)))
    want = ops.binary_dense(torch.from_numpy(x), torch.from_numpy(w)).numpy()
    return UnitCase(unit, x, want)


def thresholding_case(draw):
    from hwgen.units.thresholding import Thresholding
    in_shape = _element_shape(draw)
    lo, hi = shape_range(in_shape)
    out_bits = draw(st.integers(1, 4))
    channels = draw(st.integers(1, 10))
    pe = _divisor(draw, channels)
    rows = channels if draw(st.booleans()) else 1
    values = st.integers(lo - 4, hi + 4) | st.sampled_from([lo, hi, lo - 10**6, hi + 10**6])
    t = np.sort(np.array(draw(st.lists(st.lists(values, min_size=(1 << out_bits) - 1,
                                                max_size=(1 << out_bits) - 1),
                                       min_size=rows, max_size=rows)), dtype=np.int64), axis=1)
    x = _vectors(draw, draw(st.integers(1, 6)), channels, lo, hi)
    if draw(st.booleans()):                 # ties: x equal to a threshold column
        j = draw(st.integers(0, t.shape[1] - 1))
        x[-1] = np.clip(np.broadcast_to(t[:, j], (channels,)), lo, hi)
    unit = Thresholding(in_shape=in_shape, channels=channels, pe=pe, thresholds=t,
                        out_bits=out_bits)
    want = ops.threshold(torch.from_numpy(x), torch.from_numpy(t), channel_axis=-1,
                         binary_out=out_bits == 1).numpy()
    return UnitCase(unit, x, want, binary_out=out_bits == 1)


def requant_case(draw):
    from hwgen.units.requant import Requant
    in_shape = _element_shape(draw, 2, 32)
    out_shape = _element_shape(draw, 2, 16)
    lo, hi = shape_range(in_shape)
    olo, ohi = shape_range(out_shape)
    channels = draw(st.integers(1, 6))
    pe = _divisor(draw, channels)
    rows = channels if draw(st.booleans()) else 1
    m = draw(st.lists(st.integers(1, 2**31 - 1) | st.sampled_from([1, 2**31 - 1, 2**30]),
                      min_size=rows, max_size=rows))
    s = draw(st.lists(st.integers(0, 63) | st.sampled_from([0, 1, 63]), min_size=rows,
                      max_size=rows))
    zp = draw(st.lists(st.integers(olo, ohi), min_size=rows, max_size=rows))
    x = _vectors(draw, draw(st.integers(1, 6)), channels, lo, hi)
    unit = Requant(in_shape=in_shape, out_shape=out_shape, channels=channels, pe=pe,
                   multiplier=m, shift=s, zero_point=zp)
    param = lambda v: torch.tensor(v, dtype=torch.int64)
    want = ops.requant(torch.from_numpy(x), param(m), param(s), param(zp), olo, ohi,
                       channel_axis=-1).numpy()
    return UnitCase(unit, x, want)


def label_select_case(draw):
    from hwgen.units.label_select import LabelSelect
    in_shape = _element_shape(draw, 1, 10)
    lo, hi = shape_range(in_shape)
    channels = draw(st.integers(1, 12))
    pe = _divisor(draw, channels)
    binary = in_shape == unsigned(1)
    if not binary and draw(st.booleans()):  # two distinct values: many ties
        hi = lo + 1
    x = _vectors(draw, draw(st.integers(1, 6)), channels, lo, hi, binary=binary)
    unit = LabelSelect(in_shape=in_shape, channels=channels, pe=pe)
    want = ops.argmax(torch.from_numpy(x)).numpy().reshape(len(x), 1)
    return UnitCase(unit, x, want)


def dwc_case(draw):
    from hwgen.units.dwc import StreamingDataWidthConverter
    shape = _element_shape(draw, 1, 8)
    lo, hi = shape_range(shape)
    elements = draw(st.integers(1, 20))
    unit = StreamingDataWidthConverter(shape=shape, in_per_beat=draw(st.integers(1, 9)),
                                       out_per_beat=draw(st.integers(1, 9)), elements=elements)
    x = _vectors(draw, draw(st.integers(1, 5)), elements, lo, hi, binary=shape == unsigned(1))
    return UnitCase(unit, x, x.copy(), binary_out=True)


def _pass_through_case(draw, make):
    """A unit that passes its beats unchanged: ``make(payload_layout)`` builds it."""
    from amaranth.lib import data
    shape = _element_shape(draw, 1, 8)
    lo, hi = shape_range(shape)
    lanes = draw(st.integers(1, 4))
    unit = make(data.ArrayLayout(shape, lanes))
    x = _vectors(draw, draw(st.integers(1, 12)), lanes, lo, hi, binary=shape == unsigned(1))
    return UnitCase(unit, x, x.copy(), binary_out=True)


def fifo_case(draw):
    from hwgen.units.fifo import StreamFIFO
    depth = draw(st.integers(1, 6))
    return _pass_through_case(draw, lambda layout: StreamFIFO(layout, depth=depth))


def add_case(draw):
    """Two inputs of their own types and scales; shifts and multipliers at their extremes too.

    ``a`` stays within 31 bits: a uint32 times 2**31 - 1 plus ``b`` would leave the int64
    golden model's range (``sw_reference.ops.dyadic`` only guards each product).
    """
    from hwgen.units.add import AddStreams
    shapes = [_element_shape(draw, 2, 31), _element_shape(draw, 2, 16)]
    out_shape = _element_shape(draw, 2, 16)
    olo, ohi = shape_range(out_shape)
    size = draw(st.integers(1, 8))
    pe = _divisor(draw, size)
    m = draw(st.lists(st.integers(1, 2**31 - 1) | st.sampled_from([1, 2**31 - 1, 2**30]),
                      min_size=2, max_size=2))
    s = draw(st.lists(st.integers(0, 63) | st.sampled_from([0, 1, 31, 63]), min_size=2,
                      max_size=2))
    zp = draw(st.integers(olo, ohi))
    count = draw(st.integers(1, 6))
    xs = [_vectors(draw, count, size, *shape_range(shape)) for shape in shapes]
    unit = AddStreams(a_shape=shapes[0], b_shape=shapes[1], out_shape=out_shape, pe=pe,
                      multiplier=m, shift=s, zero_point=zp)
    want = ops.add([torch.from_numpy(x) for x in xs], torch.tensor(m), torch.tensor(s), zp,
                   olo, ohi).numpy()
    return UnitCase(unit, np.concatenate(xs, axis=1), want)


def skid_case(draw):
    from hwgen.units.skid import SkidBuffer
    return _pass_through_case(draw, SkidBuffer)


#: unit name -> factory; a new unit is one line here (and its factory above)
FACTORIES = {
    "MVAU": mvau_case,
    "Thresholding": thresholding_case,
    "Requant": requant_case,
    "AddStreams": add_case,
    "LabelSelect": label_select_case,
    "StreamingDataWidthConverter": dwc_case,
    "StreamFIFO": fifo_case,
    "SkidBuffer": skid_case,
}
