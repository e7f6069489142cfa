"""AXI4-Stream top level around a streaming core (DESIGN.md section 5)."""

from amaranth.hdl import Module, Mux, Signal
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

from .units._checks import check_int

__all__ = ["AxiStreamTop", "Pipeline", "StreamGraph"]


class AxiStreamTop(wiring.Component):
    """Expose a core's ``i``/``o`` streams as AXI4-Stream slave/master ports.

    ``tdata`` is the core's payload bit for bit (element 0 in the least
    significant bits), zero-extended to ``io_bits`` when given. ``m_axis_tlast``
    marks the last beat of each sample: every ``out_beats``-th output beat.
    ``s_axis_tlast`` is accepted and not needed, because the core knows a
    sample's beat count from the network; regrouping elements into words is
    the network's job (see :mod:`hwgen.network`), not this one's.

    Parameters
    ----------
    core : wiring.Component with members ``i`` (In stream) and ``o`` (Out stream)
    out_beats : int     output beats per sample
    io_bits : int or None
        ``tdata`` width; at least the wider payload. None: each side as wide
        as its payload.

    Members
    -------
    s_axis_tdata, s_axis_tvalid, s_axis_tlast : In;  s_axis_tready : Out
    m_axis_tdata, m_axis_tvalid, m_axis_tlast : Out; m_axis_tready : In

    No latency of its own: ports are wires to the core.
    """

    def __init__(self, core, *, out_beats, io_bits=None):
        if not isinstance(core, wiring.Component) or not {"i", "o"} <= set(core.signature.members):
            raise TypeError(f"core must be a wiring.Component with i and o streams, not {core!r}")
        self._core = core
        self._out_beats = check_int("out_beats", out_beats, minimum=1)
        in_width = len(core.i.payload.as_value())
        out_width = len(core.o.payload.as_value())
        if io_bits is not None:
            check_int("io_bits", io_bits, minimum=max(in_width, out_width))
            in_width = out_width = io_bits
        super().__init__({
            "s_axis_tdata": In(in_width),
            "s_axis_tvalid": In(1),
            "s_axis_tready": Out(1),
            "s_axis_tlast": In(1),
            "m_axis_tdata": Out(out_width),
            "m_axis_tvalid": Out(1),
            "m_axis_tready": In(1),
            "m_axis_tlast": Out(1),
        })

    core = property(lambda self: self._core)

    def elaborate(self, platform):
        m = Module()
        m.submodules.core = core = self._core

        m.d.comb += [
            core.i.payload.as_value().eq(self.s_axis_tdata[:len(core.i.payload.as_value())]),
            core.i.valid.eq(self.s_axis_tvalid),
            self.s_axis_tready.eq(core.i.ready),
            self.m_axis_tdata.eq(core.o.payload.as_value()),
            self.m_axis_tvalid.eq(core.o.valid),
            core.o.ready.eq(self.m_axis_tready),
        ]

        if self._out_beats == 1:
            m.d.comb += self.m_axis_tlast.eq(1)     # no zero-width beat counter
            return m
        beat = Signal(range(self._out_beats))
        m.d.comb += self.m_axis_tlast.eq(beat == self._out_beats - 1)
        with m.If(self.m_axis_tvalid & self.m_axis_tready):
            m.d.sync += beat.eq(Mux(self.m_axis_tlast, 0, beat + 1))
        return m


class StreamGraph(wiring.Component):
    """Units whose streams are connected port to port: a dataflow graph with one input and output.

    ``connections`` lists ``((producer, "o"), (consumer, "i"))`` pairs of a
    unit and the name of one of its stream members; every stream member of
    every unit appears exactly once, in a connection or as ``i``/``o``.
    Forks (:class:`~hwgen.units.fork.DuplicateStreams`) and two-input units
    (ports ``a``, ``b``) make it a graph rather than a chain.

    Parameters
    ----------
    units : list of wiring.Component   unit ``k`` is the Verilog module ``<top>.core.u<k>``
    connections : list of ((unit, port), (unit, port))
    i, o : (unit, port)   the stream the graph's ``i`` drives and the one ``o`` is

    Members
    -------
    i : In(the ``i`` port's signature)
    o : Out(the ``o`` port's signature)

    No latency of its own: ports are wires between units.
    """

    def __init__(self, units, connections, *, i, o):
        units = list(units)
        if not units:
            raise ValueError("a stream graph needs at least one unit")
        known = {id(unit) for unit in units}
        used = set()
        for unit, port in [i, o] + [end for pair in connections for end in pair]:
            if id(unit) not in known:
                raise ValueError(f"{type(unit).__name__} is connected but not in units")
            if port not in unit.signature.members:
                raise ValueError(f"{type(unit).__name__} has no stream {port!r}")
            if (id(unit), port) in used:
                raise ValueError(f"{type(unit).__name__}.{port} is connected twice")
            used.add((id(unit), port))
        for (producer, out), (consumer, into) in connections:
            have = getattr(producer, out).payload.shape()
            want = getattr(consumer, into).payload.shape()
            if have != want:
                raise ValueError(f"cannot connect {type(producer).__name__}.{out} -> "
                                 f"{type(consumer).__name__}.{into}: payloads {have} and "
                                 f"{want} differ")
        for unit in units:
            for port in unit.signature.members:
                if (id(unit), port) not in used:
                    raise ValueError(f"{type(unit).__name__}.{port} is not connected")
        self._units, self._connections, self._i, self._o = units, list(connections), i, o
        super().__init__({
            "i": i[0].signature.members[i[1]],
            "o": o[0].signature.members[o[1]],
        })

    #: the units; unit ``k`` is the Verilog module ``<top>.core.u<k>``
    units = property(lambda self: tuple(self._units))

    def elaborate(self, platform):
        m = Module()
        for index, unit in enumerate(self._units):
            m.submodules[f"u{index}"] = unit
        wiring.connect(m, wiring.flipped(self.i), getattr(*self._i))
        for producer, consumer in self._connections:
            wiring.connect(m, getattr(*producer), getattr(*consumer))
        wiring.connect(m, getattr(*self._o), wiring.flipped(self.o))
        return m


class Pipeline(StreamGraph):
    """Units chained output to input; ``i`` is the first unit's, ``o`` the last one's.

    Members
    -------
    i : In(first unit's input signature)
    o : Out(last unit's output signature)

    Latency is the sum of the units' latencies.
    """

    def __init__(self, units):
        units = list(units)
        if not units:
            raise ValueError("a pipeline needs at least one unit")
        for before, after in zip(units, units[1:]):
            if before.o.payload.shape() != after.i.payload.shape():
                raise ValueError(f"cannot chain {type(before).__name__} -> {type(after).__name__}: "
                                 f"payloads {before.o.payload.shape()} and "
                                 f"{after.i.payload.shape()} differ")
        super().__init__(units, [((before, "o"), (after, "i"))
                                 for before, after in zip(units, units[1:])],
                         i=(units[0], "i"), o=(units[-1], "o"))
