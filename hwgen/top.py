"""AXI4-Stream top level around a streaming core (docs/design/hardware.md)."""

from amaranth.hdl import Module, Mux, Signal, Value
from amaranth.lib import stream, wiring
from amaranth.lib.wiring import In, Out

from .units._checks import check_int

__all__ = ["AxiStreamTop", "Pipeline", "StreamGraph", "input_ports", "slave_prefix"]


class AxiStreamTop(wiring.Component):
    """Expose a core's input streams and ``o`` stream as AXI4-Stream slave/master ports.

    ``tdata`` is the core's payload bit for bit (element 0 in the least
    significant bits), zero-extended to ``io_bits`` when given. ``m_axis_tlast``
    marks the last beat of each sample: every ``out_beats``-th output beat.
    ``s_axis_tlast`` is accepted and not needed, because the core knows a
    sample's beat count from the network; regrouping elements into words is
    the network's job (see :mod:`hwgen.network`), not this one's.

    A one-input core's ``i`` becomes ``s_axis_*``; a core with several input
    streams (``a``, ``b``: Add, MatMul) gets one slave per stream, named
    ``s_axis_a_*``, ``s_axis_b_*`` (see :func:`slave_prefix`).

    Parameters
    ----------
    core : wiring.Component with member ``o`` (Out stream) and ``i`` or ``a``, ``b`` (In streams)
    out_beats : int     output beats per sample
    io_bits : int or None
        ``tdata`` width; at least the widest payload. None: each side as wide
        as its payload.

    Members
    -------
    s_axis_tdata, s_axis_tvalid, s_axis_tlast : In;  s_axis_tready : Out
        (``s_axis_<port>_*`` for each input port of a multi-input core)
    m_axis_tdata, m_axis_tvalid, m_axis_tlast : Out; m_axis_tready : In

    No latency of its own: ports are wires to the core.
    """

    def __init__(self, core, *, out_beats, io_bits=None):
        self._inputs = input_ports(core)
        self._core = core
        self._out_beats = check_int("out_beats", out_beats, minimum=1)
        in_widths = [len(Value.cast(getattr(core, port).payload)) for port in self._inputs]
        out_width = len(Value.cast(core.o.payload))
        if io_bits is not None:
            check_int("io_bits", io_bits, minimum=max(*in_widths, out_width))
            in_widths, out_width = [io_bits] * len(in_widths), io_bits
        members = {}
        for port, in_width in zip(self._inputs, in_widths):
            prefix = slave_prefix(port)
            members.update({
                f"{prefix}_tdata": In(in_width),
                f"{prefix}_tvalid": In(1),
                f"{prefix}_tready": Out(1),
                f"{prefix}_tlast": In(1),
            })
        super().__init__({
            **members,
            "m_axis_tdata": Out(out_width),
            "m_axis_tvalid": Out(1),
            "m_axis_tready": In(1),
            "m_axis_tlast": Out(1),
        })

    core = property(lambda self: self._core)
    #: the core's input stream names, in port order: ``("i",)`` or e.g. ``("a", "b")``
    inputs = property(lambda self: self._inputs)

    def elaborate(self, platform):
        m = Module()
        m.submodules.core = core = self._core

        for port in self._inputs:
            stream, prefix = getattr(core, port), slave_prefix(port)
            payload = Value.cast(stream.payload)
            m.d.comb += [
                payload.eq(getattr(self, f"{prefix}_tdata")[:len(payload)]),
                stream.valid.eq(getattr(self, f"{prefix}_tvalid")),
                getattr(self, f"{prefix}_tready").eq(stream.ready),
            ]
        m.d.comb += [
            self.m_axis_tdata.eq(Value.cast(core.o.payload)),
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


def input_ports(core):
    """The names of ``core``'s input streams in port order: ``("i",)`` or e.g. ``("a", "b")``.

    Raises TypeError unless ``core`` is a Component with an ``o`` stream and
    either an ``i`` stream or only other input streams (the multi-input
    contract: ``a``, ``b``, ...).
    """
    members = core.signature.members if isinstance(core, wiring.Component) else {}
    inputs = tuple(name for name, member in members.items()
                   if member.is_signature and member.flow == wiring.In
                   and isinstance(member.signature, stream.Signature))
    if "o" not in members or not inputs or ("i" in inputs and len(inputs) > 1):
        raise TypeError(f"core must be a wiring.Component with an o stream and an i stream "
                        f"(or input streams a, b, ...), not {core!r}")
    return inputs


def slave_prefix(port):
    """AXI4-Stream name prefix of input stream ``port``: ``s_axis`` for ``i``, else ``s_axis_<port>``."""
    return "s_axis" if port == "i" else f"s_axis_{port}"


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
    #: the ``((producer, port), (consumer, port))`` stream connections
    connections = property(lambda self: tuple(self._connections))

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
