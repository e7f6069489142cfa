"""A NetworkSpec -> one AXI4-Stream accelerator, plus what a testbench needs to drive it.

AXI4-Stream words of ``io_bits`` carry ``io_bits // bits`` elements each
(the last word of a sample may be partial, its unused lanes zero); a width
converter regroups them into the lanes of the first unit that reads the
input. Every layer contributes its unit(s) and, where two connected ports'
lanes differ, a converter is inserted; a FIFO holding one whole input vector
sits in front of every unit that reads its input in bursts (an MVAU with
more than one output fold), so its producer never waits. At the end a
converter packs the last unit's lanes into ``io_bits`` words, and the top
marks the last word of every sample with ``tlast``.

Most networks are chains. A layer may also read earlier tensors by name
(``inputs: [a, b]``: residual ``add``, attention ``matmul``), which makes the
network a graph (:class:`~hwgen.top.StreamGraph`):

* a tensor read by several layers leaves its producer through an eager fork
  (:class:`~hwgen.units.fork.DuplicateStreams`), each reader taking each beat
  when it is ready;
* a two-input unit (ports ``a``, ``b``) gets a FIFO holding two whole
  samples of each input. One sample is what makes the graph deadlock-free
  whatever the branches' latencies: a join waits for one input only while
  the other's FIFO is not yet full, and a full FIFO means the fork upstream
  has already passed that whole sample to every branch, so the missing input
  can be computed. (The skip path of a residual block, the Q rows waiting
  while K is loaded into a MatMul: each needs up to a sample.) The second
  sample is for full rate (see ``_fifo_depth``). It costs
  ``2 x sample elements x bits`` of RAM per input; a smaller bound per
  branch (its latency in beats) is possible and not done.

Timing: ``ready`` runs combinationally backwards through every unit whose
``i.ready`` depends on its ``o.ready`` (a width converter, an MVAU, a fork),
and a unit's ``o.ready`` may enable many flip-flops (an MVAU's accumulators,
a converter's buffer). The composition keeps every such path short by
construction. Each unit says whether its ``i.ready`` comes from its own
flip-flops only (``registered_ready``: the SkidBuffer ring, the FIFO, the
credit-controlled Thresholding / Requant / AddStreams, LabelSelect) and how
many flip-flops its ``o.ready`` reaches (``ready_fanout``; a unit that does
not say counts as many). Every connection into a unit without a registered
``ready`` checks the combinational path that ``ready`` would then run
through, from that unit up to the nearest registered one: if it would cross
more than ``MAX_READY_UNITS`` units, or more than one whose ``o.ready``
reaches over ``LIGHT_FANOUT`` flip-flops, a SkidBuffer (registered
``ready``, full rate, 1 cycle) goes in front of the unit. So no ``ready``
path joins two high-fanout enables, whatever the layers. Both AXI4-Stream
ports are registered by a SkidBuffer too. Measured on
tiny_bnn (ECP5-85k, docs/results/binary.md): one cut per layer took Fmax from
35.5 to 64.5 MHz, registering the converters' cycle to 125.2 MHz, a cut
after each MVAU to 147.2 MHz; this rule replaces those hand-placed cuts.
"""

from dataclasses import dataclass, field

from amaranth.hdl import Shape
from amaranth.lib import data

from .ops import OPS
from .timing import model_for_device, retime
from .top import AxiStreamTop, StreamGraph
from .units.dwc import StreamingDataWidthConverter
from .units.fifo import LUTRAM_DEPTH, StreamFIFO
from .units.fork import DuplicateStreams
from .units.registry import unrolled_runs, unrolled_units, units_for
from .units.skid import SkidBuffer

__all__ = ["NetworkDesign", "build_network", "stream_format", "LIGHT_FANOUT", "MAX_READY_UNITS"]

#: flip-flops an ``o.ready`` may enable and still count as light on a ready path
LIGHT_FANOUT = 64
#: units a combinational ready path may cross (each adds a logic level or two)
MAX_READY_UNITS = 3
#: what a unit that does not state its ``ready_fanout`` is taken to enable
_UNKNOWN_FANOUT = 1 << 20


def stream_format(port):
    """(element shape, elements per beat) of a unit's ``i`` or ``o`` stream."""
    layout = port.payload.shape()
    return Shape.cast(layout.elem_shape), layout.length


@dataclass
class LayerHardware:
    layer: object                 # LayerSpec
    units: list                   # the layer's own units, in stream order
    cycles_per_sample: int        # steady-state initiation interval of the slowest unit


@dataclass
class NetworkDesign:
    """The top component and its stream format.

    ``in_per_beat``/``out_per_beat`` elements of ``in_bits``/``out_bits`` per
    AXI4-Stream word (``io_bits`` wide); ``in_beats``/``out_beats`` words per
    sample; ``ideal_cycles`` is the slowest layer's cycles per sample.
    """
    top: AxiStreamTop
    io_bits: int
    in_per_beat: int
    in_bits: int
    out_per_beat: int
    out_bits: int
    out_signed: bool
    in_beats: int
    out_beats: int
    layers: list = field(default_factory=list)
    glue: list = field(default_factory=list)   # converters and FIFOs the composition added

    @property
    def ideal_cycles(self) -> int:
        return max([self.in_beats, self.out_beats]
                   + [hw.cycles_per_sample for hw in self.layers])


def build_network(spec) -> NetworkDesign:
    """Compose the units; NotImplementedError names what has not landed yet,
    ValueError a target that cannot carry the data (e.g. io_bits too narrow)."""
    hardware = _layer_hardware(spec)
    # Pipeline depths from the delay model of target.device at target.clock_mhz.
    model = model_for_device(spec.target.device)
    for hw in hardware:
        hw.units = [retime(unit, model, spec.target.clock_mhz) for unit in hw.units]
    io_bits = spec.target.io_bits
    graph = _Graph(lambda unit: retime(unit, model, spec.target.clock_mhz), model=model,
                   clock_mhz=spec.target.clock_mhz)
    consumers = _consumers(spec, hardware)
    taps = {}                        # tensor name -> [(unit, port)] still free to read it

    def produce(name, tap):
        """Make ``tap`` the source of tensor ``name``: forked when several layers read it."""
        readers = len(consumers[name])
        if readers > 1:
            fork = graph.add(DuplicateStreams(_port(tap).payload.shape(), outputs=readers))
            graph.connect(tap, fork)
            taps[name] = [(fork, f"o{k}") for k in range(readers)]
        else:
            taps[name] = [tap]

    first_unit, first_port = next((hw.units[0], _input_ports(hw.units[0])[0])
                                  for hw in hardware if hw.units)
    in_shape, first_lanes = stream_format(getattr(first_unit, first_port))
    in_per_beat = _per_word(io_bits, in_shape.width, spec, "input")
    # Both AXI4-Stream ports are registered (a SkidBuffer each): the pins' ready and valid
    # then reach a few flip-flops, not a converter's buffer enable spread toward the pins.
    # No converter where every word is one whole beat of the first unit (it would only
    # add a cycle), and no SkidBuffer either when that unit registers its input itself.
    passthrough = in_per_beat == first_lanes and spec.input.size % in_per_beat == 0
    if passthrough and registered_input(first_unit) and len(consumers["input"]) == 1:
        entry, reader = None, None
    else:
        # In front of a converter the skid shows its beat from a register: the converter's
        # write rotator then starts at a flip-flop, not behind the skid's read multiplexer
        # (odd_mlp's critical path), and its o.ready is the converter's registered i.ready.
        entry = graph.add(SkidBuffer(data.ArrayLayout(in_shape, in_per_beat),
                                     registered_output=not passthrough))
        burst = (_burst_lanes(first_unit, first_port, first_lanes)
                 if len(consumers["input"]) == 1 else None)
        reader = (entry, "o") if passthrough else graph.chain(
            (entry, "o"), StreamingDataWidthConverter(
                shape=in_shape, in_per_beat=in_per_beat, out_per_beat=first_lanes,
                elements=spec.input.size, min_lanes=_min_lanes(burst, in_per_beat,
                                                               first_lanes)))
    if reader is not None:
        produce("input", reader)
    else:
        taps["input"] = [None]          # the first unit is the core's input port

    sizes = {"input": spec.input.size}
    for hw in hardware:
        layer = hw.layer
        if not hw.units:
            continue
        tap = None
        for unit_index, unit in enumerate(hw.units):
            if unit_index == 0:
                names = [_resolve(spec, name) for name in layer.inputs]
                ports = _input_ports(unit)
                join = len(ports) > 1
                for name, port in zip(names, ports):
                    source = taps[name].pop(0)
                    if source is None:
                        graph.add(unit)
                        continue
                    # A two-input unit gets two whole samples of FIFO on each input, so the
                    # branch that arrives first never blocks the fork that feeds both.
                    graph.join(source, unit, port, sizes[name],
                               fifo_depth=_fifo_depth(unit, port, sizes[name], join),
                               credit_read=join)
            else:
                graph.join(tap, unit, "i", elements,  # noqa: F821 (set by the unit before)
                           fifo_depth=_fifo_depth(unit, "i", elements))  # noqa: F821
            tap = (unit, "o")
            # A sliding-window generator emits k*k*C elements per output pixel; the layer's
            # other units emit its op's output (an inline activation keeps the count).
            elements = getattr(unit, "out_elements", layer.op_type.size)
        sizes[layer.name] = elements
        if consumers[layer.name]:
            produce(layer.name, tap)

    last = _resolve(spec, spec.layers[-1].name)
    elements = sizes[last]
    tap = taps[last].pop()
    out_shape, last_lanes = stream_format(_port(tap))
    out_per_beat = _per_word(io_bits, out_shape.width, spec, "output")
    # A sample that is one beat of the last unit and fits one word needs no converter: the
    # top zero-extends the beat to io_bits, which is the converter's zero padding.
    if not (last_lanes == elements <= out_per_beat):
        tap = graph.chain(tap, StreamingDataWidthConverter(
            shape=out_shape, in_per_beat=last_lanes, out_per_beat=out_per_beat,
            elements=elements))
    writer = graph.chain(tap, SkidBuffer(_port(tap).payload.shape()))
    if elements != spec.output.size:
        raise AssertionError(f"hardware emits {elements} elements per sample, the network "
                             f"{spec.output.size}")

    out_beats = -(-elements // out_per_beat)
    core = StreamGraph(graph.units, graph.connections,
                       i=(entry, "i") if entry is not None else (first_unit, first_port),
                       o=writer)
    top = AxiStreamTop(core, out_beats=out_beats, io_bits=io_bits)
    return NetworkDesign(top, io_bits, in_per_beat, in_shape.width, out_per_beat,
                         out_shape.width, out_shape.signed, -(-spec.input.size // in_per_beat),
                         out_beats, layers=hardware,
                         glue=[unit for unit in graph.units
                               if not any(unit in hw.units for hw in hardware)])


class _Graph:
    """Units and stream connections in the order they were added (unit k = ``core.u<k>``).

    Every connection applies the ready-path rule of the module docstring:
    ``paths`` maps a unit whose ``i.ready`` is combinational to the
    ``ready_fanout`` of each unit its ``o.ready`` passes through, itself first.
    """

    def __init__(self, retime=lambda unit: unit, *, model=None, clock_mhz=None):
        self.units, self.connections, self.paths = [], [], {}
        self.retime = retime            # the glue's depths from the delay model, as the layers'
        self.model, self.clock_mhz = model, clock_mhz

    def add(self, unit):
        self.units.append(unit)
        return unit

    def connect(self, tap, unit, port="i"):
        """Connect ``tap`` to ``unit.port``, a SkidBuffer between them if the ready path that
        ``unit`` would extend is too long or joins two high-fanout enables, or one with a
        registered output if ``unit``'s input logic behind ``tap``'s output logic does not
        fit the clock (:meth:`_late_payload`)."""
        if self._late_payload(tap, unit):
            skid = SkidBuffer(_port(tap).payload.shape(), registered_output=True)
            self.units.insert(next(k for k, known in enumerate(self.units) if known is unit),
                              skid)
            self.connect(tap, skid)
            tap = (skid, "o")
        if not registered_ready(unit):
            path = (ready_fanout(unit),) + self._path_above(tap)
            if _too_slow(path):
                # In front of the unit in the list too, so a chain's units stay in stream order.
                skid = SkidBuffer(_port(tap).payload.shape())
                self.units.insert(next(k for k, known in enumerate(self.units) if known is unit),
                                  skid)
                self.connections.append((tap, (skid, "i")))
                tap = (skid, "o")
                path = (ready_fanout(unit), skid.ready_fanout)
            known = self.paths.get(id(unit))
            self.paths[id(unit)] = max(known or path, path, key=_slowness)
        self.connections.append((tap, (unit, port)))

    def _path_above(self, tap):
        """The fanouts on the ready path from ``tap``'s ``o.ready`` to the nearest register."""
        unit = tap[0]
        return self.paths.get(id(unit), (ready_fanout(unit),))

    def chain(self, tap, unit):
        """Append a one-input ``unit`` (retimed) reading ``tap``; its output is the new tap."""
        unit = self.retime(unit)
        self.connect(tap, self.add(unit))
        return unit, "o"

    def _late_payload(self, tap, unit):
        """Whether ``unit``'s input logic (``input_levels``: a converter's write rotator, a
        max-pool's comparison) fits the delay model's budget at the target clock from a
        register but not behind the logic on ``tap``'s payload (``payload_levels``: a credit
        queue's read multiplexer, a converter's read rotator). Then a SkidBuffer with a
        registered output goes between them (one cycle, full rate): int4_cnn at 200 MHz,
        conv1's Requant queue ``read_at`` -> the next converter's slot (7.3 ns, 8 levels),
        then that converter's read rotator -> pool1's partial maxima (6.8 ns, 7 levels). A
        unit that does not fit by itself is its own to split (a converter's ``retimed``); a
        register in front would not help it."""
        levels = getattr(unit, "input_levels", None)
        if levels is None or self.model is None:
            return False
        budget = self.model.budget(self.clock_mhz)
        return self.model.luts(levels) <= budget < self.model.luts(payload_levels(tap[0])
                                                                   + levels)

    def join(self, tap, unit, port, elements, *, fifo_depth=0, credit_read=False):
        """Feed ``unit.port`` from ``tap``: a width converter where the lanes differ, then a
        FIFO of ``fifo_depth`` beats if not 0 (and SkidBuffers where ``connect`` needs them).
        With ``credit_read`` (the inputs of a two-input unit) the FIFO reads behind a credit
        queue at any depth (StreamFIFO ``block_ram``), so the unit's ``ready`` reaches that
        queue only: in attention_mini at 200 MHz a MatMul's ``room_reg`` reached its
        64-beat LUTRAM FIFO's level through 6.70 ns of routing (vit12, seed 1)."""
        (shape, lanes), (want_shape, want_lanes) = (stream_format(_port(tap)),
                                                    stream_format(getattr(unit, port)))
        if shape != want_shape:
            raise AssertionError(f"{type(unit).__name__}.{port} expects {want_shape} elements "
                                 f"after {shape}")
        if lanes != want_lanes:
            burst = _burst_lanes(unit, port, want_lanes) if fifo_depth else None
            tap = self.chain(tap, StreamingDataWidthConverter(
                shape=shape, in_per_beat=lanes, out_per_beat=want_lanes, elements=elements,
                min_lanes=_min_lanes(burst, lanes, want_lanes)))
        if fifo_depth:
            fifo = StreamFIFO(getattr(unit, port).payload.shape(), depth=fifo_depth)
            if fifo.depth <= LUTRAM_DEPTH and self._late_payload(tap, fifo):
                # The beat goes to a register that writes the LUTRAM a cycle later, rather
                # than a register slice in front (the same cycles, half the flip-flops).
                fifo._MustUse__silence = True            # measured, not elaborated
                fifo = StreamFIFO(fifo.i.payload.shape(), depth=fifo_depth,
                                  registered_write=True)
            elif credit_read and not fifo.block_ram:
                fifo._MustUse__silence = True            # measured, not elaborated
                fifo = StreamFIFO(fifo.i.payload.shape(), depth=fifo_depth, block_ram=True)
            tap = self.chain(tap, fifo)
        if not any(unit is known for known in self.units):      # a two-input unit joins twice
            self.add(unit)
        self.connect(tap, unit, port)


def registered_input(unit):
    """Whether ``unit`` can take an AXI4-Stream port without a SkidBuffer: its ``i.payload``
    goes to flip-flops only, its ``i.ready`` is a flip-flop and ``i.valid`` reaches few."""
    return bool(getattr(unit, "registered_input", False))


def registered_ready(unit):
    """Whether ``unit``'s input ``ready`` comes from its own flip-flops only."""
    return bool(getattr(unit, "registered_ready", False))


def payload_levels(unit):
    """LUT levels between ``unit``'s flip-flops and its ``o.payload`` (``payload_levels``; a
    unit that does not say counts as one: a read multiplexer, as a credit queue's)."""
    levels = getattr(unit, "payload_levels", None)
    return 1 if levels is None else levels


def ready_fanout(unit):
    """Flip-flops ``unit``'s ``o.ready`` enables (many if the unit does not say)."""
    fanout = getattr(unit, "ready_fanout", None)
    return _UNKNOWN_FANOUT if fanout is None else fanout


def _slowness(path):
    return (sum(fanout > LIGHT_FANOUT for fanout in path), len(path), sum(path))


def _too_slow(path):
    return len(path) > MAX_READY_UNITS or sum(fanout > LIGHT_FANOUT for fanout in path) > 1


def _layer_hardware(spec):
    """LayerHardware per layer; a flatten of a [C, H, W] map hands that shape to its reader.

    The stream keeps HWC order through ``flatten`` (an op that ``rewires``: it
    has no unit), so the dense layer after it permutes its weight columns
    instead (docs/design/numbers.md).
    """
    hardware, flattened = [], {}     # flatten layer name -> the [C, H, W] it flattened
    # Latency mode: a run of unrolled layers is one unit, owned by its last layer.
    runs = {run[-1].name: run for run in unrolled_runs(spec.layers)}
    fused = {layer.name for run in runs.values() for layer in run[:-1]}
    for layer in spec.layers:
        if layer.name in fused:
            hardware.append(LayerHardware(layer, [], 0))
            continue
        if layer.name in runs:
            run = runs[layer.name]
            hardware.append(LayerHardware(layer, *unrolled_units(
                run, clock_mhz=spec.target.clock_mhz,
                flattened_from=flattened.get(run[0].inputs[0]))))
            continue
        if OPS[layer.op].rewires:
            source = layer.in_types[0]
            shape = source.shape if len(source.shape) == 3 else flattened.get(layer.inputs[0])
            if shape is not None:
                flattened[layer.name] = shape
            hardware.append(LayerHardware(layer, [], 0))
            continue
        for name in layer.inputs[1:]:
            if name in flattened:
                raise NotImplementedError(
                    f"{layer.location}: layer {layer.name!r}: op {layer.op!r} reads a flatten "
                    f"of a feature map {list(flattened[name])} as its second input, which "
                    f"hardware streams in HWC order, not torch's flatten order")
        hardware.append(LayerHardware(layer, *units_for(layer, flattened.get(layer.inputs[0]))))
    if spec.layers[-1].name in flattened:
        raise NotImplementedError(
            f"{spec.source}: the network ends in a flatten of a feature map "
            f"{list(flattened[spec.layers[-1].name])}; hardware streams it in HWC order, not "
            f"torch's flatten order (issue #5): end with a dense layer or drop the flatten")
    if not any(hw.units for hw in hardware):
        raise NotImplementedError(f"{spec.source}: the network has no layer with hardware")
    return hardware


def _input_ports(unit):
    """A unit's input streams in ``inputs`` order: ``i``, or ``a`` and ``b`` (Add, MatMul)."""
    return ["i"] if "i" in unit.signature.members else ["a", "b"]


def _port(tap):
    unit, port = tap
    return getattr(unit, port)


def _fifo_depth(unit, port, elements, join=False):
    """Beats of FIFO in front of ``unit.port`` (0: none).

    A two-input unit gets two whole samples of each input. One sample rules
    out deadlock (module docstring); full rate needs the FIFO on the short
    side of a fork to hold everything the fork passes that side while the
    other side's first beat of the same sample is still in its pipeline:
    ``latency / sample period`` samples of the long branch. With one sample
    the fork stalls whenever a branch's latency exceeds a sample period, as
    a residual's attention branch may (``attention_mini`` with its MatMuls
    at pe = simd = 1: 1,104 cycles per sample at backpressure 0.3 where its
    slowest layer needs 1,024; 1,024.0 with two samples); two samples cover
    branches of up to two sample periods.

    An MVAU with more than one output fold reads a vector in bursts: one
    input vector (SF beats; a [T, K] input holds T of them) lets its
    producer keep running.
    """
    lanes = stream_format(getattr(unit, port))[1]
    if join:
        return 2 * -(-elements // lanes)
    if getattr(unit, "nf", 1) > 1:
        return max(2, getattr(unit, "sf", -(-elements // lanes)))
    return 0


def _burst_lanes(unit, port, lanes):
    """Elements per cycle a width converter must carry into ``unit.port`` when the FIFO of one
    vector that :func:`_fifo_depth` puts there lets it run slower than ``lanes``, else None.

    An MVAU with ``NF`` output folds reads a vector of ``MW`` elements in its first fold and
    replays it for the others, so its FIFO has ``(NF - 1) * SF`` cycles to fill again; a
    converter that fills it in ``(NF - 2) * SF`` (a fold to spare) keeps the MVAU's rate.
    Narrow lane counts let the converter go through short rings (see
    ``StreamingDataWidthConverter.retimed``). Other units, and MVAUs of fewer than three
    folds, take the full rate."""
    nf, sf, mw = (getattr(unit, name, None) for name in ("nf", "sf", "mw"))
    if port != "i" or None in (nf, sf, mw) or nf < 3:
        return None
    return min(lanes, -(-mw // ((nf - 2) * sf)))


def _min_lanes(burst, in_lanes, out_lanes):
    """``min_lanes`` of a converter from ``in_lanes`` to ``out_lanes``: ``burst`` (None: full
    rate) at most the narrower side."""
    return None if burst is None else min(burst, in_lanes, out_lanes)


def _resolve(spec, name):
    """The tensor a layer name stands for in hardware: a flatten has no unit, so its input;
    an unrolled layer fused into the next one's unit (latency mode) stands for that run's input."""
    layers = {layer.name: layer for layer in spec.layers}
    fused = {layer.name for run in unrolled_runs(spec.layers) for layer in run[:-1]}
    while name in layers and (OPS[layers[name].op].rewires or name in fused):
        name = layers[name].inputs[0]
    return name


def _consumers(spec, hardware):
    """{tensor name: names of the layers (and "output") that read its stream}.

    Every stream must be read, or its producer would stall forever (the spec
    loader already rejects a layer whose output nobody reads).
    """
    readers = {"input": []}
    for hw in hardware:
        if hw.units:
            readers[hw.layer.name] = []
            for name in hw.layer.inputs:
                readers[_resolve(spec, name)].append(hw.layer.name)
    readers[_resolve(spec, spec.layers[-1].name)].append("output")
    for name, who in readers.items():
        if not who:
            raise AssertionError(f"{spec.source}: nothing reads the output of {name!r}")
    return readers


def _per_word(io_bits, bits, spec, side):
    if bits > io_bits:
        raise ValueError(f"{spec.source}: target.io_bits ({io_bits}) is narrower than one "
                         f"{side} element ({bits} bits); raise io_bits to at least "
                         f"{-(-bits // 8) * 8}")
    return io_bits // bits
