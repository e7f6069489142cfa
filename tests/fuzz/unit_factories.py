"""Hypothesis factories of random valid units with inputs and their golden outputs: one per unit.

A factory takes hypothesis's ``draw`` and returns a :class:`UnitCase`: a
unit with its input streams (``i``, or ``a`` and ``b``) and output streams
(``o``, or ``o0``, ``o1``, ... for a fork), ``x`` [N, K] input vectors (a
list of one array per input stream when there are several) and ``want``
[N, M] outputs from ``sw_reference`` (both in stream order, elements as the
golden model writes them: binary -1/+1; a fork's outputs side by side). The
harness (:func:`run_amaranth`) packs ``x`` into the unit's input lanes,
streams it through Amaranth's simulator with random stalls on every stream,
unpacks the output lanes and compares. A unit whose payload is a structure
rather than lanes (the Divider) gives ``raw=True``: each row of ``x`` and
``want`` is then one whole word per beat. Widths come from the unit's own
ports.

:data:`FACTORIES` has one factory per unit class of the catalog
(``hwgen.units.UNITS``; ``tests/fuzz/test_fuzz_units.py`` checks that none is
missing), so a new unit needs one factory here.

Draws favour the edges: extreme weights (all +1 / all -1), inputs at the
type's limits, thresholds outside the input range and equal to each other,
multipliers 1 and 2**31 - 1, shifts 0 and 63, divisors 1, rows of equal
values.
"""

from dataclasses import dataclass

import numpy as np
import torch
from amaranth.hdl import signed, unsigned
from hypothesis import strategies as st

from hwgen.network import stream_format
from hwgen.layout import pack, unpack
from sw_reference import ivit, ops

__all__ = ["UnitCase", "FACTORIES", "run_amaranth", "shape_range"]


@dataclass
class UnitCase:
    unit: object
    x: object                # [N, K] int64, stream order; a list of one per input (a, b);
                             # (an array [N, 2K] splits in equal halves over a, b)
    want: np.ndarray         # [N, M] int64, from sw_reference (a fork: outputs side by side)
    binary_out: bool = False  # a 1-bit output element is -1/+1 (else 0/1)
    raw: bool = False        # rows of x and want are whole words (structured payloads)

    def inputs(self):
        """``x`` as one [N, K] array per input stream."""
        ports = stream_ports(self.unit, "In")
        if isinstance(self.x, (list, tuple)):
            return list(self.x)
        return np.split(self.x, len(ports), axis=1)

    def beats_per_vector(self):
        """Output beats per vector (row of ``want``) on each output stream."""
        if self.raw:
            return 1
        outputs = stream_ports(self.unit, "Out")
        _, lanes = stream_format(getattr(self.unit, outputs[0]))
        return -(-(self.want.shape[1] // len(outputs)) // lanes)

    def repeated(self, times):
        """The same unit on its vectors repeated ``times`` times."""
        xs = [np.tile(x, (times, 1)) for x in self.inputs()]
        return UnitCase(self.unit, xs if len(xs) > 1 else xs[0], np.tile(self.want, (times, 1)),
                        self.binary_out, self.raw)

    def __repr__(self):
        xs = [x.tolist() for x in self.inputs()]
        return f"UnitCase({type(self.unit).__name__}, x={xs}, want={self.want.tolist()})"


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


def stream_ports(unit, flow):
    """A unit's ``"In"`` or ``"Out"`` streams in port order: ``("i",)`` or ``("a", "b")``;
    ``("o",)`` or a fork's ``("o0", "o1", ...)``."""
    from amaranth.lib import wiring
    members = unit.signature.members
    return tuple(name for name in members if members[name].flow == getattr(wiring, flow))


def run_amaranth(case, *, stall, seed, stats=None, in_stall=None, hold=False):
    """Stream ``case.x`` through ``case.unit`` in Amaranth's simulator; return [N, M] outputs.

    ``stats`` (a dict) receives the count of stall checks (``"stalled_beats"``);
    ``in_stall`` stalls the producers apart from the consumers. By default a
    consumer decides once per beat whether to stall (``sim.amaranth_streams``);
    with ``hold`` it drops ``ready`` at random in every cycle and checks, in
    every cycle after a shown beat was not taken, that ``valid`` stayed up and
    the payload did not change, so a unit whose beats come far apart is
    checked as often as one streaming every cycle.
    """
    from sim.amaranth_streams import simulate_stream
    ports, outputs = stream_ports(case.unit, "In"), stream_ports(case.unit, "Out")
    words = {}
    for port, x in zip(ports, case.inputs()):
        if case.raw:
            words[port] = [int(w) for w in x.ravel()]
            continue
        in_shape, in_lanes = stream_format(getattr(case.unit, port))
        words[port] = to_words(x, in_lanes, in_shape.width)
    n, m = case.want.shape
    if outputs != ("o",) or hold:
        got = _simulate(case.unit, words, outputs, n * case.beats_per_vector(), stall, seed,
                        stats, in_stall, hold)
    else:
        got = [simulate_stream(case.unit, words, n * case.beats_per_vector(), stall=stall,
                               seed=seed, stats=stats, in_stall=in_stall)]
    if case.raw:
        return np.array(got[0], dtype=object).reshape(n, m)
    per = m // len(outputs)
    shape, lanes = stream_format(getattr(case.unit, outputs[0]))
    return np.concatenate([from_words(port_words, n, per, lanes, shape.width, shape.signed,
                                      case.binary_out) for port_words in got], axis=1)


def _simulate(unit, words, outputs, count, stall, seed, stats, in_stall, hold):
    """One producer per input and one consumer per output (each with its own stalls);
    the words each output sent."""
    import random

    from amaranth.sim import Simulator

    from sim.amaranth_streams import stream_get, stream_put
    received = {}

    def producer(k, port):
        async def put(ctx):
            await stream_put(ctx, getattr(unit, port), words[port], rng=random.Random(seed + 2 * k),
                             stall=stall if in_stall is None else in_stall)
        return put

    def consumer(k, port):
        async def get(ctx):
            stream, rng = getattr(unit, port), random.Random(seed + 1 + 2 * k)
            if hold:
                received[port] = await _get_holding(ctx, stream, count, rng, stall, stats)
            else:
                received[port] = await stream_get(ctx, stream, count, rng=rng, stall=stall,
                                                  stats=stats)
        return get

    sim = Simulator(unit)
    sim.add_clock(1e-8)
    for k, port in enumerate(words):
        sim.add_testbench(producer(k, port))
    for k, port in enumerate(outputs):
        sim.add_testbench(consumer(k, port))
    sim.run()
    return [received[port] for port in outputs]


async def _get_holding(ctx, stream, count, rng, stall, stats):
    """Receive ``count`` words with ``ready`` low in a random ``stall`` share of the cycles,
    checking the stream rules in every cycle that follows a shown beat not taken."""
    payload = stream.payload.as_value()
    words, shown = [], None
    while len(words) < count:
        ready = rng.random() >= stall
        ctx.set(stream.ready, ready)
        *_, valid, value = await ctx.tick().sample(stream.valid, payload)
        if shown is not None:
            assert valid, "valid dropped without a handshake"
            assert value == shown, f"payload changed while stalled: {shown:#x} -> {value:#x}"
            if stats is not None:
                stats["stalled_beats"] = stats.get("stalled_beats", 0) + 1
        if valid and ready:
            words.append(value)
        shown = value if valid and not ready else None
    ctx.set(stream.ready, 0)
    return words


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
    rounding = draw(st.sampled_from(["half_up", "half_even", "floor"]))
    # the stages hwgen.timing may add: their registers are sized from exact bounds
    stages = dict(shift_stage=draw(st.booleans()), offset_stage=draw(st.booleans()))
    unit = Requant(in_shape=in_shape, out_shape=out_shape, channels=channels, pe=pe,
                   multiplier=m, shift=s, zero_point=zp, rounding=rounding, **stages)
    param = lambda v: torch.tensor(v, dtype=torch.int64)
    want = ops.requant(torch.from_numpy(x), param(m), param(s), param(zp), olo, ohi,
                       channel_axis=-1, rounding=rounding).numpy()
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
    in_per_beat, out_per_beat = draw(st.integers(1, 9)), draw(st.integers(1, 9))
    # Sometimes via an intermediate lane count (two rings with a register slice between), or
    # via several, narrower than either side (a chain at min_lanes elements per cycle).
    full = min(in_per_beat, out_per_beat)
    via = draw(st.none() | st.integers(full, 9)
               | st.lists(st.integers(1, 9), min_size=1, max_size=4).map(tuple))
    min_lanes = min(via) if isinstance(via, tuple) else None
    unit = StreamingDataWidthConverter(shape=shape, in_per_beat=in_per_beat,
                                       out_per_beat=out_per_beat, elements=elements, via=via,
                                       min_lanes=min_lanes and min(min_lanes, full))
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
    rounding = draw(st.sampled_from(["half_up", "half_even", "floor"]))
    unit = AddStreams(a_shape=shapes[0], b_shape=shapes[1], out_shape=out_shape, pe=pe,
                      multiplier=m, shift=s, zero_point=zp, rounding=rounding)
    want = ops.add([torch.from_numpy(x) for x in xs], torch.tensor(m), torch.tensor(s), zp,
                   olo, ohi, rounding).numpy()
    return UnitCase(unit, np.concatenate(xs, axis=1), want)


def add_const_case(draw):
    """One constant per element, int32 ends included; the output as wide as the sums."""
    from hwgen.units.add_const import AddConst
    in_shape = _element_shape(draw, 2, 16)
    lo, hi = shape_range(in_shape)
    size = draw(st.integers(1, 8))
    pe = _divisor(draw, size)
    values = draw(st.lists(st.integers(-2**31, 2**31 - 1) | st.sampled_from([-2**31, 0, 2**31 - 1])
                           | st.integers(-8, 8), min_size=size, max_size=size))
    bound = max(abs(lo + min(values)), abs(hi + max(values)))
    out_shape = signed(max(bound.bit_length() + 1, 2))
    x = _vectors(draw, draw(st.integers(1, 6)), size, lo, hi)
    unit = AddConst(in_shape=in_shape, out_shape=out_shape, values=values, pe=pe)
    want = ops.add_const(torch.from_numpy(x), torch.tensor(values)).numpy()
    return UnitCase(unit, x, want)


def skid_case(draw):
    from hwgen.units.skid import SkidBuffer
    registered_output = draw(st.booleans())
    return _pass_through_case(draw, lambda layout: SkidBuffer(
        layout, registered_output=registered_output))


def integer_mvau_case(draw):
    """Integer, ternary or binary (-1/+1) weights on integer or binary inputs, optional bias,
    LUT or DSP products."""
    from hwgen.units.mvau_int import IntegerMVAU
    mh, mw = draw(st.integers(1, 6)), draw(st.integers(1, 12))
    pe, simd = _divisor(draw, mh), _divisor(draw, mw)
    kind = draw(st.sampled_from(["int", "ternary", "binary"]))
    bits = draw(st.integers(2, 8)) if kind == "int" else 2
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    if kind == "int":
        lo, hi = -(1 << (bits - 1)), (1 << (bits - 1)) - 1
        w = draw(st.sampled_from([np.full((mh, mw), lo), np.full((mh, mw), hi),
                                  rng.integers(lo, hi, (mh, mw), endpoint=True)]))
    elif kind == "ternary":
        w = rng.integers(-1, 1, (mh, mw), endpoint=True)
    else:
        w = _pm1(draw, (mh, mw))
    binary_input = draw(st.booleans())
    in_shape = unsigned(1) if binary_input else _element_shape(draw, 2, 8)
    xlo, xhi = shape_range(in_shape)
    bias = None
    if draw(st.booleans()):
        bias = rng.integers(-1000, 1000, mh, endpoint=True)
    count = draw(st.integers(1, 5))
    x = _vectors(draw, count, mw, xlo, xhi, binary=binary_input)
    resource = draw(st.sampled_from(["lut", "dsp"])) if kind == "int" else "lut"
    unit = IntegerMVAU(weights=w, in_shape=in_shape, weight_kind=kind, weight_bits=bits,
                       bias=bias, binary_input=binary_input, pe=pe, simd=simd,
                       pipeline=draw(st.integers(0, 2)), resource=resource)
    t = torch.from_numpy
    want = ops.dense(t(x), t(w.astype(np.int64)), None if bias is None else t(bias)).numpy()
    return UnitCase(unit, x, want)


def _unrolled_weights(draw, mh, mw):
    w = _pm1(draw, (mh, mw))
    if draw(st.booleans()) and mh > 1:        # near-duplicate rows: something to share
        w[1:] = w[0]
        w[-1, 0] = -w[-1, 0]
    return w


def _fused_thresholds(draw, x, w, out_bits):
    """Sorted [MH or 1, 2**out_bits - 1] thresholds: outputs the vectors reach (ties), their
    neighbours and values beyond both ends (a channel that is constant)."""
    y = ops.binary_dense(torch.from_numpy(x), torch.from_numpy(w)).numpy()
    mw = w.shape[1]
    pool = sorted({int(v) for v in y.reshape(-1)} | {int(v) + 1 for v in y.reshape(-1)}
                  | {-mw, mw, mw + 1, -mw - 3})
    rows = w.shape[0] if draw(st.booleans()) else 1
    t = draw(st.lists(st.lists(st.sampled_from(pool), min_size=(1 << out_bits) - 1,
                               max_size=(1 << out_bits) - 1), min_size=rows, max_size=rows))
    return np.sort(np.array(t, dtype=np.int64), axis=1)


def _unrolled_levels(draw):
    """Register placement: none, every 1-3 levels, or by the ECP5 delay estimate in a period
    short enough for several stages (what networks use)."""
    if draw(st.booleans()):
        return {"period_ns": draw(st.sampled_from([1.5, 2.5, 4.0, 6.0]))}
    return {"levels_per_stage": draw(st.sampled_from([None, 1, 2, 3]))}


def unrolled_mvau_case(draw):
    """Weights in logic, one vector per cycle, with or without MST-shared popcounts and fused
    thresholds, registers every 1-3 levels or none."""
    from hwgen.units.unrolled_mvau import UnrolledMVAU
    mh, mw = draw(st.integers(1, 6)), draw(st.integers(1, 10))
    w = _unrolled_weights(draw, mh, mw)
    x = _vectors(draw, draw(st.integers(1, 6)), mw, -1, 1, binary=True)
    out_bits = draw(st.sampled_from([None, 1, 2]))
    t = None if out_bits is None else _fused_thresholds(draw, x, w, out_bits)
    unit = UnrolledMVAU(weights=w, thresholds=t, share=draw(st.sampled_from(["none", "mst"])),
                        share_depth=draw(st.integers(1, 3)), link_cost=draw(st.integers(0, 4)),
                        **_unrolled_levels(draw))
    want = ops.binary_dense(torch.from_numpy(x), torch.from_numpy(w))
    if t is None:
        return UnitCase(unit, x, want.numpy())
    want = ops.threshold(want, torch.from_numpy(t), channel_axis=-1, binary_out=out_bits == 1)
    return UnitCase(unit, x, want.numpy(), binary_out=out_bits == 1)


def unrolled_chain_case(draw):
    """Two or three unrolled layers as one pipeline, 1-bit thresholds between them, the last
    with or without thresholds."""
    from hwgen.units._unrolled import unrolled_layer
    from hwgen.units.unrolled_chain import UnrolledChain
    sizes = [draw(st.integers(1, 10)) for _ in range(draw(st.integers(3, 4)))]
    x = _vectors(draw, draw(st.integers(1, 6)), sizes[0], -1, 1, binary=True)
    layers, h = [], torch.from_numpy(x)
    for k, (mw, mh) in enumerate(zip(sizes, sizes[1:])):
        w = _unrolled_weights(draw, mh, mw)
        last = k == len(sizes) - 2
        out_bits = draw(st.sampled_from([None, 1, 2])) if last else 1
        t = None if out_bits is None else _fused_thresholds(draw, h.numpy(), w, out_bits)
        layers.append(unrolled_layer(w, t, share=draw(st.sampled_from(["none", "mst"])),
                                     share_depth=draw(st.integers(1, 2))))
        h = ops.binary_dense(h, torch.from_numpy(w))
        if t is not None:
            h = ops.threshold(h, torch.from_numpy(t), channel_axis=-1, binary_out=out_bits == 1)
    unit = UnrolledChain(layers=layers, **_unrolled_levels(draw))
    return UnitCase(unit, x, h.numpy(), binary_out=out_bits == 1)


def _feature_map_geometry(draw):
    channels = draw(st.integers(1, 4))
    height, width = draw(st.integers(1, 5)), draw(st.integers(1, 5))
    return channels, height, width


def _hwc(x_chw):
    """[N, C, H, W] -> [N, H*W*C], the stream order."""
    return x_chw.transpose(0, 2, 3, 1).reshape(len(x_chw), -1)


def swg_case(draw):
    """Sliding windows: the golden is sw_reference's conv2d with one-hot kernels (output
    channel j copies window element j), so it pads exactly as the golden convolutions do."""
    from hwgen.units.swg import ConvolutionInputGenerator
    c, h, w = _feature_map_geometry(draw)
    padding = draw(st.integers(0, 4))           # beyond the kernel too: windows of padding only
    kernel = draw(st.integers(1, min(3, h + 2 * padding, w + 2 * padding)))
    stride = draw(st.integers(1, 2))
    in_shape = _element_shape(draw, 1, 6)
    binary = in_shape == unsigned(1)
    lo, hi = shape_range(in_shape)
    zero_pad_binary = binary and draw(st.booleans())  # signed(2) windows: -1/+1, padding 0
    if binary:
        pad_value, golden_pad = 0, 0 if zero_pad_binary else -1     # bit 0 is -1
    else:
        pad_value = draw(st.sampled_from([0, lo, hi]))
        golden_pad = pad_value
    unit = ConvolutionInputGenerator(in_shape=in_shape, channels=c, height=h, width=w,
                                     kernel=kernel, stride=stride, padding=padding,
                                     pad_value=pad_value, simd=_divisor(draw, c),
                                     zero_pad_binary=zero_pad_binary)
    count = draw(st.integers(1, 3))
    x = _vectors(draw, count, c * h * w, lo, hi, binary=binary).reshape(count, c, h, w)
    # window element j = (ky*k + kx)*C + ci, the SWG's order (and window_weights')
    eye = np.zeros((kernel * kernel * c, c, kernel, kernel), np.int64)
    for ky in range(kernel):
        for kx in range(kernel):
            for ci in range(c):
                eye[(ky * kernel + kx) * c + ci, ci, ky, kx] = 1
    windows = ops.conv2d(torch.from_numpy(x), torch.from_numpy(eye), stride=stride,
                         padding=padding, pad_value=golden_pad).numpy()
    return UnitCase(unit, _hwc(x), _hwc(windows), binary_out=not zero_pad_binary)


def maxpool_case(draw):
    from hwgen.units.maxpool import StreamingMaxPool
    kernel = draw(st.integers(1, 3))
    c = draw(st.integers(1, 4))
    h, w = kernel * draw(st.integers(1, 3)), kernel * draw(st.integers(1, 3))
    in_shape = _element_shape(draw, 1, 6)
    binary = in_shape == unsigned(1)
    lo, hi = shape_range(in_shape)
    unit = StreamingMaxPool(in_shape=in_shape, channels=c, height=h, width=w, kernel=kernel,
                            pe=_divisor(draw, c))
    count = draw(st.integers(1, 3))
    x = _vectors(draw, count, c * h * w, lo, hi, binary=binary).reshape(count, c, h, w)
    want = ops.maxpool2d(torch.from_numpy(x), kernel).numpy()
    return UnitCase(unit, _hwc(x), _hwc(want), binary_out=True)


def divider_case(draw):
    """``a // b`` and ``a % b`` (a positive divisor, as every caller guarantees); iterative or
    pipelined, with a side tag that must travel with its division."""
    from amaranth.hdl import unsigned as u

    from hwgen.units.divider import Divider
    na, nb = draw(st.integers(1, 12)), draw(st.integers(1, 8))
    tag = draw(st.sampled_from([None, 3]))
    unit = Divider(dividend_bits=na, divisor_bits=nb, pipelined=draw(st.booleans()),
                   tag_shape=None if tag is None else u(tag))
    count = draw(st.integers(1, 8))
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    a = rng.integers(0, (1 << na) - 1, count, endpoint=True)
    b = rng.integers(1, (1 << nb) - 1, count, endpoint=True)
    a[0], b[0] = (1 << na) - 1, draw(st.sampled_from([1, (1 << nb) - 1]))   # the extremes
    tags = rng.integers(0, (1 << (tag or 1)) - 1, count, endpoint=True) if tag else None
    q = torch.div(torch.from_numpy(a), torch.from_numpy(b), rounding_mode="floor").numpy()
    r = torch.remainder(torch.from_numpy(a), torch.from_numpy(b)).numpy()

    def word(first, second, width, side):
        value = int(first) | (int(second) << width)
        return value if side is None else value | (int(side) << (width + nb))
    x = np.array([[word(a[k], b[k], na, None if tags is None else tags[k])]
                  for k in range(count)], dtype=object)
    want = np.array([[word(q[k], r[k], na, None if tags is None else tags[k])]
                     for k in range(count)], dtype=object)
    return UnitCase(unit, x, want, raw=True)


def _rows(draw, count, length, lo, hi):
    """Rows with equal maxima, all at one extreme, and random ones."""
    x = _vectors(draw, count, length, lo, hi)
    if draw(st.booleans()):
        x[-1] = x[-1].max()                   # a row of equal values (ties everywhere)
    return x


def shiftmax_case(draw):
    from hwgen.units.shiftmax import Shiftmax
    in_shape = _element_shape(draw, 2, 10)
    lo, hi = shape_range(in_shape)
    length = draw(st.integers(1, 8))
    x0 = draw(st.integers(-40, -1) | st.sampled_from([-1, -(1 << 16) + 1]))
    out_bits = draw(st.integers(2, 8))
    unit = Shiftmax(in_shape=in_shape, length=length, simd=_divisor(draw, length), x0=x0,
                    out_bits=out_bits)
    x = _rows(draw, draw(st.integers(1, 4)), length, lo, hi)
    want = ivit.shiftmax(torch.from_numpy(x), x0, out_bits).numpy()
    return UnitCase(unit, x, want)


def shiftgelu_case(draw):
    from hwgen.units.shiftgelu import ShiftGELU
    in_shape = _element_shape(draw, 2, 8)
    lo, hi = shape_range(in_shape)
    length = draw(st.integers(1, 8))
    x0 = draw(st.integers(-40, -1))
    unit = ShiftGELU(in_shape=in_shape, length=length, simd=_divisor(draw, length), x0=x0)
    x = _rows(draw, draw(st.integers(1, 4)), length, lo, hi)
    want = ivit.shiftgelu(torch.from_numpy(x), x0).numpy()
    return UnitCase(unit, x, want)


def layernorm_case(draw):
    from hwgen.units.layernorm import LayerNorm
    in_shape = _element_shape(draw, 2, 12)
    lo, hi = shape_range(in_shape)
    channels = draw(st.integers(1, 8))
    bias = None
    if draw(st.booleans()):
        rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
        bias = rng.integers(-(1 << 20), 1 << 20, channels, endpoint=True)
    sqrt = draw(st.sampled_from(["exact", "ivit"]))
    unit = LayerNorm(in_shape=in_shape, channels=channels, simd=_divisor(draw, channels),
                     sqrt=sqrt, bias=None if bias is None else bias.tolist())
    x = _rows(draw, draw(st.integers(1, 4)), channels, lo, hi)
    want = ivit.layernorm(torch.from_numpy(x), None if bias is None else torch.from_numpy(bias),
                          sqrt=sqrt).numpy()
    return UnitCase(unit, x, want)


def matmul_case(draw):
    """``a @ b`` or ``a @ b.T`` per head; ``b`` loaded into RAM first, then ``a``'s rows."""
    from hwgen.units.matmul import MatMul
    heads = draw(st.integers(1, 2))
    transpose_b = draw(st.booleans())
    rows_a, rows_b = draw(st.integers(1, 3)), draw(st.integers(1, 4))
    ka = draw(st.integers(1, 4))
    if transpose_b:
        kb = ka
        mh = rows_b
    else:
        ka = rows_b
        kb = draw(st.integers(1, 4))
        mh = kb
    a_shape, b_shape = _element_shape(draw, 2, 6), _element_shape(draw, 2, 6)
    unit = MatMul(a_shape=a_shape, b_shape=b_shape, rows_a=rows_a, rows_b=rows_b, heads=heads,
                  ka=ka, kb=kb, transpose_b=transpose_b, pe=_divisor(draw, mh),
                  simd=_divisor(draw, ka), pipeline=draw(st.integers(0, 2)),
                  resource=draw(st.sampled_from(["lut", "dsp"])))
    count = draw(st.integers(1, 2))
    a = _vectors(draw, count, rows_a * heads * ka, *shape_range(a_shape))
    b = _vectors(draw, count, rows_b * heads * kb, *shape_range(b_shape))
    t = torch.from_numpy
    want = ops.matmul(t(a).reshape(count, rows_a, heads * ka), t(b).reshape(count, rows_b,
                      heads * kb), transpose_b=transpose_b, heads=heads).numpy()
    return UnitCase(unit, [a, b], want.reshape(count, -1))


def fork_case(draw):
    """Every output gets every beat once, each output stalling on its own."""
    from hwgen.units.fork import DuplicateStreams
    outputs = draw(st.integers(2, 3))
    case = _pass_through_case(draw, lambda layout: DuplicateStreams(layout, outputs=outputs))
    return UnitCase(case.unit, case.x, np.concatenate([case.want] * outputs, axis=1),
                    binary_out=True)


#: unit class name -> factory; every unit of ``hwgen.units.UNITS`` has one
FACTORIES = {
    "MVAU": mvau_case,
    "IntegerMVAU": integer_mvau_case,
    "UnrolledMVAU": unrolled_mvau_case,
    "UnrolledChain": unrolled_chain_case,
    "Thresholding": thresholding_case,
    "Requant": requant_case,
    "AddStreams": add_case,
    "AddConst": add_const_case,
    "LabelSelect": label_select_case,
    "ConvolutionInputGenerator": swg_case,
    "StreamingMaxPool": maxpool_case,
    "Divider": divider_case,
    "Shiftmax": shiftmax_case,
    "ShiftGELU": shiftgelu_case,
    "LayerNorm": layernorm_case,
    "MatMul": matmul_case,
    "DuplicateStreams": fork_case,
    "StreamingDataWidthConverter": dwc_case,
    "StreamFIFO": fifo_case,
    "SkidBuffer": skid_case,
}
