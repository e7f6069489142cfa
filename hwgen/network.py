"""A NetworkSpec -> one AXI4-Stream accelerator, plus what a testbench needs to drive it."""

from dataclasses import dataclass

from .top import AxiStreamTop, Pipeline
from .units.registry import unit_for

__all__ = ["NetworkDesign", "build_network"]


@dataclass
class NetworkDesign:
    """The top component and its stream format.

    ``in_per_beat``/``out_per_beat`` elements of ``in_bits``/``out_bits`` per
    AXI4-Stream beat; ``in_beats``/``out_beats`` beats per sample.
    """
    top: AxiStreamTop
    in_per_beat: int
    in_bits: int
    out_per_beat: int
    out_bits: int
    out_signed: bool
    in_beats: int
    out_beats: int
    layers: list

    def ports(self):
        return {"s_axis_tdata": self.in_per_beat * self.in_bits,
                "m_axis_tdata": self.out_per_beat * self.out_bits}


def build_network(spec) -> NetworkDesign:
    """Compose one unit per layer; NotImplementedError names what has not landed yet."""
    previous = "input"
    for layer in spec.layers:
        if layer.inputs != (previous,):
            raise NotImplementedError(
                f"layer {layer.name!r} reads {list(layer.inputs)}: branching networks "
                f"(residuals, matmul) land with issue #6")
        previous = layer.name
    units = [unit_for(layer) for layer in spec.layers]
    for layer, before, after in zip(spec.layers[1:], units, units[1:]):
        if before.pe != after.pe:
            raise NotImplementedError(
                f"layer {layer.name!r}: pe {after.pe} after pe {before.pe} needs a width "
                f"converter, which lands with issue #4")
    first, last = spec.layers[0], spec.layers[-1]
    in_bits = first.in_types[0].bits
    out_bits = last.out_type.bits
    in_per_beat, out_per_beat = units[0].pe, units[-1].pe
    out_beats = last.out_type.size // out_per_beat
    top = AxiStreamTop(Pipeline(units), out_beats=out_beats)
    return NetworkDesign(top, in_per_beat, in_bits, out_per_beat, out_bits,
                         last.out_type.signed, spec.input.size // in_per_beat, out_beats,
                         layers=[(layer, unit) for layer, unit in zip(spec.layers, units)])
