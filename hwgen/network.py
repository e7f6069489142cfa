"""A NetworkSpec -> one AXI4-Stream accelerator, plus what a testbench needs to drive it.

The composition is a chain: AXI4-Stream words of ``io_bits`` carry
``io_bits // bits`` elements each (the last word of a sample may be partial,
its unused lanes zero), a width converter regroups them into the first
unit's lanes, every layer contributes its unit(s), and between two units
whose lanes differ a converter is inserted; a FIFO holding one whole input
vector sits in front of every unit that reads its input in bursts (an MVAU
with more than one output fold), so its producer never waits. At the end a
converter packs the last unit's lanes into ``io_bits`` words, and the top
marks the last word of every sample with ``tlast``.

Timing: a unit passes a beat when ``o.ready | ~o.valid``, so ``ready`` is
combinational through every unit and converter. A SkidBuffer (registered
``ready`` and ``valid``, full rate, 1 cycle) therefore ends every layer's
units, on the layer's output lanes: in front of the next layer (where that
layer's FIFO, whose ``ready`` is already a register, does not) and in front
of the output converter. Each ``ready`` path then spans one layer's units
plus one converter. Measured on tiny_bnn (ECP5-85k, README "Synthesis"):
one cut per layer took Fmax from 35.5 to 64.5 MHz for 141 LUT4 + 246 FF;
registering the converters' lane counts, ``o.valid`` and ``i.ready`` flags
then took it to 125.2 MHz, and the critical path is now a layer's own
``ready`` chain (skid buffer -> Thresholding -> MVAU -> FIFO level, 6 logic
levels, mostly routing): a cut between MVAU and Thresholding is the next step.
"""

from dataclasses import dataclass, field

from amaranth.hdl import Shape

from .top import AxiStreamTop, Pipeline
from .units.dwc import StreamingDataWidthConverter
from .units.fifo import StreamFIFO
from .units.registry import units_for
from .units.skid import SkidBuffer

__all__ = ["NetworkDesign", "build_network", "stream_format"]


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
    previous = "input"
    for layer in spec.layers:
        if layer.inputs != (previous,):
            raise NotImplementedError(
                f"layer {layer.name!r} reads {list(layer.inputs)}: branching networks "
                f"(residuals, matmul) land with issue #6")
        previous = layer.name

    hardware = _layer_hardware(spec)
    io_bits = spec.target.io_bits
    chain = []

    def join(unit, elements, *, needs_fifo=False, cut=False):
        """Append ``unit``, converting lanes from the chain's current output if needed;
        ``cut`` puts a SkidBuffer first unless a FIFO (whose ``ready`` is a register)
        will stand in front of ``unit`` anyway."""
        if cut and not needs_fifo:
            chain.append(SkidBuffer(chain[-1].o.payload.shape()))
        if chain:
            (shape, lanes), (want_shape, want_lanes) = stream_format(chain[-1].o), \
                stream_format(unit.i)
            if shape != want_shape:
                raise AssertionError(f"{type(unit).__name__} expects {want_shape} elements "
                                     f"after {shape}")
            if lanes != want_lanes:
                chain.append(StreamingDataWidthConverter(
                    shape=shape, in_per_beat=lanes, out_per_beat=want_lanes,
                    elements=elements))
            if needs_fifo:
                # One input vector (SF beats) of an MVAU; a [T, K] input holds T of them.
                depth = max(2, getattr(unit, "sf", -(-elements // want_lanes)))
                chain.append(StreamFIFO(unit.i.payload.shape(), depth=depth))
        chain.append(unit)

    first = next(unit for hw in hardware for unit in hw.units)
    in_shape, first_lanes = stream_format(first.i)
    in_per_beat = _per_word(io_bits, in_shape.width, spec, "input")
    chain.append(StreamingDataWidthConverter(
        shape=in_shape, in_per_beat=in_per_beat, out_per_beat=first_lanes,
        elements=spec.input.size))
    elements = spec.input.size
    for layer_index, hw in enumerate(hw for hw in hardware if hw.units):
        for unit_index, unit in enumerate(hw.units):
            join(unit, elements, needs_fifo=getattr(unit, "nf", 1) > 1,
                 cut=layer_index > 0 and unit_index == 0)
            # A sliding-window generator emits k*k*C elements per output pixel; the layer's
            # other units emit its op's output (an inline activation keeps the count).
            elements = getattr(unit, "out_elements", hw.layer.op_type.size)

    chain.append(SkidBuffer(chain[-1].o.payload.shape()))
    out_shape, last_lanes = stream_format(chain[-1].o)
    out_per_beat = _per_word(io_bits, out_shape.width, spec, "output")
    chain.append(StreamingDataWidthConverter(
        shape=out_shape, in_per_beat=last_lanes, out_per_beat=out_per_beat,
        elements=elements))
    if elements != spec.output.size:
        raise AssertionError(f"hardware emits {elements} elements per sample, the network "
                             f"{spec.output.size}")

    out_beats = -(-elements // out_per_beat)
    top = AxiStreamTop(Pipeline(chain), out_beats=out_beats, io_bits=io_bits)
    return NetworkDesign(top, io_bits, in_per_beat, in_shape.width, out_per_beat,
                         out_shape.width, out_shape.signed, -(-spec.input.size // in_per_beat),
                         out_beats, layers=hardware,
                         glue=[unit for unit in chain
                               if not any(unit in hw.units for hw in hardware)])


def _layer_hardware(spec):
    """LayerHardware per layer; a flatten of a [C, H, W] map hands that shape to its reader.

    The stream keeps HWC order through ``flatten`` (it has no unit), so the
    dense layer after it permutes its weight columns instead (DESIGN.md section 2).
    """
    hardware, flattened_from = [], None
    for layer in spec.layers:
        hardware.append(LayerHardware(layer, *units_for(layer, flattened_from)))
        source = layer.in_types[0]
        if layer.op == "flatten" and len(source.shape) == 3:
            flattened_from = source.shape
        elif layer.op != "flatten":
            flattened_from = None
    if flattened_from is not None:
        raise NotImplementedError(
            f"{spec.source}: the network ends in a flatten of a feature map "
            f"{list(flattened_from)}; hardware streams it in HWC order, not torch's "
            f"flatten order (issue #5): end with a dense layer or drop the flatten")
    if not any(hw.units for hw in hardware):
        raise NotImplementedError(f"{spec.source}: the network has no layer with hardware")
    return hardware


def _per_word(io_bits, bits, spec, side):
    if bits > io_bits:
        raise ValueError(f"{spec.source}: target.io_bits ({io_bits}) is narrower than one "
                         f"{side} element ({bits} bits); raise io_bits to at least "
                         f"{-(-bits // 8) * 8}")
    return io_bits // bits
