"""Consecutive fully unrolled binary layers as one pipeline (latency mode, issue #24)."""

from amaranth.hdl import Module, Mux, Signal, unsigned
from amaranth.lib import data, stream, wiring
from amaranth.lib.memory import Memory
from amaranth.lib.wiring import In, Out

from ._checks import check_int, check_shape
from . import _unrolled
from ._unrolled import ECP5_NS, Timed, Timeline, UnrolledLayer, build_layer, fan_out_copies

__all__ = ["UnrolledChain"]

BINARY = unsigned(1)


class UnrolledChain(wiring.Component):
    """Binary layers with constant weights, one vector per cycle, registers every few levels.

    Computes, for each input vector ``x`` (-1/+1, bit 1 = +1), the layers in turn:
    ``y = 2 * popcount(xnor(x, W)) - MW`` per channel
    (``sw_reference.ops.binary_dense``), then, where a layer has thresholds,
    ``sum_j [y >= T[c, j]]`` (``sw_reference.ops.threshold``), whose 1-bit result is
    the next layer's binary input. Each weight is a constant, so every XNOR is a wire
    or an inverter; each threshold is one compare of a channel's count with a
    constant, at the end of its popcount tree (see :mod:`hwgen.units._unrolled`,
    which also places the registers: one stage every ``levels_per_stage`` levels).
    With register stages, each layer's input bits (the unit's input, then each
    layer's thresholded outputs) are registered in copies
    (:func:`~hwgen.units._unrolled.fan_out_copies`), each driving a few of the leaf
    counters that read them: a bit feeds every channel of the next layer, and one
    flip-flop driving them all made that net the critical path. So the unit takes
    an AXI4-Stream port without a SkidBuffer (``registered_input``).

    Flow control is by credit, so the datapath never stalls: its registers have no
    enable and no reset, a valid bit per stage runs beside them, and results land
    in an output queue of ``latency + 1`` entries (distributed RAM, read
    asynchronously). ``i.ready`` is a register: high while fewer than ``latency +
    1`` accepted vectors have not left, so the queue never overflows and ``i.ready``
    does not depend on ``o.ready``; ``o.ready`` reaches only the queue's counters.
    No register slice is needed on either side.

    Parameters
    ----------
    layers : sequence of :class:`~hwgen.units._unrolled.UnrolledLayer`
        (:func:`~hwgen.units._unrolled.unrolled_layer`); every layer but the last
        has 1-bit thresholds, and its MH is the next one's MW
    levels_per_stage : int or None
        levels of logic between registers (:func:`~hwgen.units._unrolled.levels_for_clock`
        derives it from a clock); None: no register inside, the whole chain in one cycle
    in_shape : Shape        ``unsigned(1)`` (binary inputs)

    Members
    -------
    i : In(stream.Signature(ArrayLayout(unsigned(1), MW)))            one vector per beat
    o : Out(stream.Signature(ArrayLayout(out_shape, MH)))             the last layer's outputs

    Latency ``latency`` cycles from accepting a vector to showing its result (the
    register stages, the input's among them, plus the queue write); one vector per
    cycle while ``o`` takes them.
    """

    def __init__(self, *, layers, levels_per_stage=None, period_ns=None, in_shape=BINARY):
        layers = tuple(layers)
        if not layers or not all(isinstance(layer, UnrolledLayer) for layer in layers):
            raise TypeError(f"layers must be a non-empty sequence of UnrolledLayer, not "
                            f"{layers!r}")
        for k, (a, b) in enumerate(zip(layers, layers[1:])):
            if a.out_bits != 1:
                raise ValueError(f"layer {k} feeds layer {k + 1}, so it must end in 1-bit "
                                 f"thresholds (a binary output), not "
                                 f"{'none' if a.out_bits is None else f'{a.out_bits} bits'}")
            if a.mh != b.mw:
                raise ValueError(f"layer {k} has {a.mh} outputs but layer {k + 1} reads "
                                 f"{b.mw} inputs")
        if levels_per_stage is not None:
            levels_per_stage = check_int("levels_per_stage", levels_per_stage, minimum=1)
        if period_ns is not None:
            if levels_per_stage is not None:
                raise ValueError(f"give levels_per_stage ({levels_per_stage}) or period_ns "
                                 f"({period_ns!r}), not both")
            if (isinstance(period_ns, bool) or not isinstance(period_ns, (int, float))
                    or not period_ns > ECP5_NS.fixed):
                raise ValueError(f"period_ns must be a number of ns above {ECP5_NS.fixed}, "
                                 f"not {period_ns!r}")
            period_ns = float(period_ns)
        shape = check_shape("in_shape", in_shape)
        if shape != BINARY:
            raise ValueError(f"in_shape must be unsigned(1) (binary -1/+1 inputs) for unrolled "
                             f"XNOR-popcount layers, not {in_shape!r}; integer inputs take "
                             f"hwgen.units.mvau_int.IntegerMVAU")
        self._layers = layers
        self._levels_per_stage = levels_per_stage
        self._period_ns = period_ns
        # Plan twice: once to learn how many LUT inputs each layer's input bits feed, then
        # with that many register copies of them (the structure is the same both times).
        probe = self._timeline(None)
        self._datapath(probe, [Timed(None, 0, 1) for _ in range(layers[0].mw)])
        self._copies = tuple(fan_out_copies(loads) for loads in probe.loads)
        planner = self._timeline(None, copies=self._copies)
        outputs = self._datapath(planner, [Timed(None, 0, 1) for _ in range(layers[0].mw)])
        self._stages = max([t.stage for t in outputs if not t.constant], default=0)
        self._pipeline_bits = planner.registers
        self._built_synapses = planner.synapses
        self._leaf_counters = planner.leaf_counters
        super().__init__({
            "i": In(stream.Signature(data.ArrayLayout(shape, layers[0].mw))),
            "o": Out(stream.Signature(data.ArrayLayout(layers[-1].out_shape, layers[-1].mh))),
        })

    #: what the manifest records of this unit: names of its public figures, in manifest order
    figures = ("latency", "nf", "sf", "rom_bits", "levels_per_stage", "period_ns", "share",
               "share_depth",
               "share_levels", "synapse_ops", "synapse_ops_unshared")
    #: no resource model covers it yet (the MVAU's does not apply)
    resource_features = None

    layers = property(lambda self: self._layers)
    levels_per_stage = property(lambda self: self._levels_per_stage)
    period_ns = property(lambda self: self._period_ns)
    #: register stages inside (levels_per_stage or period_ns given)
    pipelined = property(lambda self: self._levels_per_stage is not None
                         or self._period_ns is not None)
    #: cycles from taking a vector to showing its result: register stages + the queue write
    latency = property(lambda self: self._stages + 1)
    #: output queue entries (results in flight or waiting for ``o.ready``)
    queue_depth = property(lambda self: self._stages + 2)
    #: register bits of the datapath (stage and delay registers, not the queue)
    pipeline_bits = property(lambda self: self._pipeline_bits)
    #: XNOR bits the datapath feeds to popcount trees (the plans' synapse ops, less the
    #: counts no output needs: a channel whose thresholds make it constant)
    built_synapses = property(lambda self: self._built_synapses)
    #: leaf counters built (each shared by every channel with the same weights on its group)
    leaf_counters = property(lambda self: self._leaf_counters)
    #: register copies of each layer's input bits (none without register stages)
    fan_out_copies = property(lambda self: self._copies)
    mw = property(lambda self: self._layers[0].mw)
    mh = property(lambda self: self._layers[-1].mh)
    pe = property(lambda self: self.mh)
    simd = property(lambda self: self.mw)
    nf = sf = cycles_per_vector = property(lambda self: 1)
    rom_bits = property(lambda self: 0)
    out_shape = property(lambda self: self._layers[-1].out_shape)
    #: XNOR/popcount input bits after MST sharing, and without it
    synapse_ops = property(lambda self: sum(layer.plan.synapse_ops for layer in self._layers))
    synapse_ops_unshared = property(lambda self: sum(layer.plan.synapse_ops_unshared
                                                     for layer in self._layers))
    share_levels = property(lambda self: max(layer.plan.levels for layer in self._layers))

    @property
    def share(self):
        return "mst" if any(layer.share == "mst" for layer in self._layers) else "none"

    @property
    def share_depth(self):
        return max(layer.share_depth for layer in self._layers)

    #: no register slice in front of it (the composition's ready-path rule): its ``i.ready``
    #: is a register and ``o.ready`` reaches only the output queue's pointers and count
    registered_ready = True
    ready_fanout = property(lambda self: 2 * self.queue_depth.bit_length())
    #: with register stages its input goes straight into flip-flops (the fan-out copies),
    #: so it can take an AXI4-Stream port without a SkidBuffer (``hwgen.network``)
    registered_input = property(lambda self: self.pipelined)

    def _timeline(self, m, name="dp", copies=()):
        if self._period_ns is not None:
            return Timeline(m, self._period_ns - ECP5_NS.fixed, name, copies, ECP5_NS)
        return Timeline(m, self._levels_per_stage, name, copies)

    def _datapath(self, timeline, x):
        for index, layer in enumerate(self._layers):
            if self.pipelined:
                # Each layer's inputs fan out to every channel's leaf counters: registered
                # there, in copies that each drive at most MAX_LOADS LUT inputs, unless the
                # delay model lets the previous layer's outputs reach them in the same stage.
                x = timeline.layer_inputs(x, first=index == 0)
                # leaves shared within blocks of neighbouring channels only, each block
                # reading its own copies: shorter routes for a few more leaves; a small
                # layer's channels have leaves of their own where the model says sharing
                # costs time (a shared leaf is far from some of its adders)
                timeline.blocks, timeline.leaf_route = _unrolled.leaf_blocks(
                    layer, timeline.delays)
            x = build_layer(timeline, x, layer, f"l{index}")
        if self.pipelined:
            x = [timeline.settle(t) for t in x]
        return x

    def elaborate(self, platform):
        m = Module()
        stages, depth = self._stages, self.queue_depth
        accept = Signal()
        m.d.comb += accept.eq(self.i.valid & self.i.ready)

        # The datapath: free-running registers, a valid bit per stage beside them.
        timeline = self._timeline(m, copies=self._copies)
        x = [Timed(self.i.payload[k], 0, 1) for k in range(self.mw)]
        outputs = [timeline.at(t, stages) for t in self._datapath(timeline, x)]
        valid = accept
        for stage in range(stages):
            later = Signal(name=f"valid_s{stage + 1}")
            m.d.sync += later.eq(valid)
            valid = later

        # The output queue: results are written at the end of the last stage.
        width = self.o.payload.shape().size
        queue = m.submodules.queue = Memory(shape=unsigned(width), depth=depth, init=[])
        write, read = queue.write_port(), queue.read_port(domain="comb")
        result = Signal(self.o.payload.shape())
        m.d.comb += [result[c].eq(t.value) for c, t in enumerate(outputs)]
        write_at, read_at = Signal(range(depth)), Signal(range(depth))
        pop = Signal()
        m.d.comb += [
            write.addr.eq(write_at), write.data.eq(result.as_value()), write.en.eq(valid),
            read.addr.eq(read_at), self.o.payload.eq(read.data),
            pop.eq(self.o.valid & self.o.ready),
        ]
        with m.If(valid):
            m.d.sync += write_at.eq(_wrap(write_at, depth))
        with m.If(pop):
            m.d.sync += read_at.eq(_wrap(read_at, depth))

        # Counters: results in the queue (o.valid) and vectors accepted but not taken (credit).
        # The flags o.valid (queued != 0) and room (owed < depth) are not read off the counters'
        # next values: each count moves by at most one per cycle, so a flag changes only when
        # its count moves, to a compare of the count register with a constant. At 200 MHz the
        # path o.valid -> pop -> owed's adder -> compare -> room was the critical one (5.5 ns).
        queued, owed = Signal(range(depth + 1)), Signal(range(depth + 1))
        room = Signal(init=1)
        m.d.comb += self.i.ready.eq(room)
        m.d.sync += [queued.eq(queued + valid - pop), owed.eq(owed + accept - pop)]
        with m.If(valid & ~pop):
            m.d.sync += self.o.valid.eq(1)
        with m.Elif(pop & ~valid):
            m.d.sync += self.o.valid.eq(queued != 1)
        with m.If(pop & ~accept):
            m.d.sync += room.eq(1)
        with m.Elif(accept & ~pop):
            m.d.sync += room.eq(owed < depth - 1)
        return m


def _wrap(counter, depth):
    """``counter + 1`` modulo ``depth``."""
    return Mux(counter == depth - 1, 0, counter + 1)
