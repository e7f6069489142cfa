"""Branching networks: how the composer forks, buffers and joins streams (no simulation).

The bit-exact runs of the same examples are in tests/test_networks.py.
"""

from pathlib import Path

import pytest

from hwgen.network import build_network
from hwgen.spec import load
from hwgen.top import StreamGraph
from hwgen.units.fifo import StreamFIFO
from hwgen.units.fork import DuplicateStreams

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"


def feeding(core, unit, port):
    """The (unit, port) whose stream drives ``unit.port`` in the composed graph."""
    return next(src for src, (dst, dst_port) in core._connections
                if dst is unit and dst_port == port)


def test_residual_forks_the_input_and_buffers_two_samples_per_add_input():
    design = build_network(load(EXAMPLES / "residual_mlp.yaml"))
    core = design.top.core
    assert isinstance(core, StreamGraph)
    forks = [u for u in core.units if isinstance(u, DuplicateStreams)]
    assert [f.outputs for f in forks] == [2]                    # `input` read by fc1 and res
    add = design.layers[2].units[0]
    for port in ("a", "b"):
        fifo, _ = feeding(core, add, port)
        assert isinstance(fifo, StreamFIFO)
        assert fifo.depth == 2 * 32 // 4              # 32 elements, 4 lanes: two samples
    # Every glue unit is connected and every unit appears once.
    assert len({id(u) for u in core.units}) == len(core.units)


def test_attention_forks_the_input_four_ways():
    design = build_network(load(EXAMPLES / "attention_mini.yaml"))
    forks = [u for u in design.top.core.units if isinstance(u, DuplicateStreams)]
    assert sorted(f.outputs for f in forks) == [4]              # q, k, v and the residual add


def test_chain_keeps_its_order_and_has_no_fork():
    design = build_network(load(EXAMPLES / "tiny_bnn.yaml"))
    core = design.top.core
    assert not any(isinstance(u, DuplicateStreams) for u in core.units)
    assert [(src, dst) for (src, _), (dst, _) in core._connections] == \
        list(zip(core.units, core.units[1:]))


def test_graph_rejects_a_port_left_open():
    design = build_network(load(EXAMPLES / "residual_mlp.yaml"))
    core = design.top.core
    with pytest.raises(ValueError, match="is not connected"):
        StreamGraph(core.units, core._connections[:-1], i=core._i, o=core._o)


def _at(name, clock_mhz, tmp_path):
    """The example ``name`` with ``clock_mhz`` on the LFE5U-85F speed 8 (as benchmarks/fmax.py
    places it at 200 MHz)."""
    import yaml
    raw = yaml.safe_load((EXAMPLES / f"{name}.yaml").read_text())
    raw.setdefault("target", {}).update(clock_mhz=clock_mhz, device="ecp5-85k-8")
    (tmp_path / f"{name}.yaml").write_text(yaml.safe_dump(raw))
    return build_network(load(tmp_path / f"{name}.yaml"))


def test_converter_behind_a_read_multiplexer_reads_a_registered_beat(tmp_path):
    """int4_cnn at 200 MHz: conv1's Requant shows its beat through its credit queue's read
    multiplexer, and the next converter's write rotator fits the clock from a register but
    not behind it (placed: read_at -> slot, 7.3 ns), so a SkidBuffer with a registered output
    goes between them. pool1 registers its beat before comparing (it was that converter's
    read rotator -> pool1's comparison, 6.8 ns, with a SkidBuffer between them before), and
    its output is a register: the converters on both sides read it directly. The converter
    after pool1 shows its beat through its read rotator, and conv2's sliding-window generator
    writes it into LUT RAM (placed: that rotator -> conv2's buffer, 5.06 ns), so it reads a
    registered beat too. At 100 MHz nothing needs one. Cycles per sample stay."""
    from hwgen.units.skid import SkidBuffer

    def registered_in_front(design):
        """(source, reader) type names of the registered-output skids between two units."""
        core = design.top.core
        sources = {id(dst): src for src, (dst, _) in core._connections}
        found = []
        for unit in core.units:
            skid = sources.get(id(unit), (None,))[0]
            if isinstance(skid, SkidBuffer) and skid.registered_output and id(skid) in sources:
                found.append((type(sources[id(skid)][0]).__name__, type(unit).__name__))
        return found

    fast, slow = _at("int4_cnn", 200, tmp_path), _at("int4_cnn", 100, tmp_path)
    assert registered_in_front(fast) == [("Requant", "StreamingDataWidthConverter"),
                                         ("StreamingDataWidthConverter",
                                          "ConvolutionInputGenerator")]
    assert registered_in_front(slow) == []
    assert fast.ideal_cycles == slow.ideal_cycles
