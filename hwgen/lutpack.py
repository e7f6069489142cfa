"""Dual-output LUT packing for the Xilinx flow: two marked LUTs that share a LUT6_2.

A Xilinx LUT6 is two LUT5s with shared inputs: ``LUT6_2`` gives ``O5`` (a
function of ``I0..I4``) and ``O6`` (of ``I0..I5``; with ``I5 = 1`` a second
function of ``I0..I4``). Vivado combines such LUT pairs itself; Yosys has no
LUT combining, so two 5-input functions cost two LUT cells in its counts.
The popcount generator marks the LUT pairs it designed to share one LUT6
(the two count bits of a first-level group over a weight table: the wire
attribute ``hwgen_lut6_2``, :data:`hwgen.units.popcount.DUAL_LUT_ATTRIBUTE`),
and :func:`pack_netlist` packs exactly those pairs of a mapped netlist (Yosys
``write_json``) into ``LUT6_2`` cells: the pair's inputs (at most five in
all) on ``I0..I4``, ``I5`` tied to 1, ``INIT[31:0]`` the ``O5`` function and
``INIT[63:32]`` the ``O6`` one. A pair whose mapped LUTs have more than five
inputs in all (ABC merged logic into one of them) stays as it is.

``hwgen.synth`` runs it between the Xilinx mapping and the statistics when
the Verilog carries the attribute; other designs go through the flow as
before.
"""

import json
from pathlib import Path

from .units.popcount import DUAL_LUT_ATTRIBUTE, DUAL_LUT_INPUTS

__all__ = ["MARK", "pack_netlist", "pack_file", "split_script"]

#: the text whose presence in a Verilog file asks for packing
MARK = DUAL_LUT_ATTRIBUTE

_LUTS = {f"LUT{k}": k for k in range(1, 6)}
_CONSTANTS = {"0": 0, "1": 1, "x": 0, "z": 0}


def _table(cell):
    """(inputs, truth table as an int) of a LUT1..LUT5 cell."""
    width = _LUTS[cell["type"]]
    init = cell["parameters"]["INIT"]
    table = int(init.replace("x", "0").replace("z", "0"), 2) if isinstance(init, str) else init
    return [cell["connections"][f"I{k}"][0] for k in range(width)], table


def _evaluate(inputs, table, values):
    """The LUT's output for ``values`` ({net: bit}); constant inputs read as they are."""
    index = 0
    for k, net in enumerate(inputs):
        bit = _CONSTANTS[net] if isinstance(net, str) else values[net]
        index |= bit << k
    return table >> index & 1


def _dual(first, second):
    """A LUT6_2 cell computing ``first`` on O6 and ``second`` on O5, or None when the two
    LUTs have more than five non-constant inputs in all."""
    (ins_a, table_a), (ins_b, table_b) = _table(first), _table(second)
    shared = list(dict.fromkeys(n for n in ins_a + ins_b if not isinstance(n, str)))
    if len(shared) > DUAL_LUT_INPUTS:
        return None
    init = 0
    for index in range(1 << DUAL_LUT_INPUTS):
        values = {net: index >> k & 1 for k, net in enumerate(shared)}
        init |= _evaluate(ins_b, table_b, values) << index
        init |= _evaluate(ins_a, table_a, values) << (index + 32)
    pins = shared + ["0"] * (DUAL_LUT_INPUTS - len(shared))
    connections = {f"I{k}": [net] for k, net in enumerate(pins)}
    connections.update(I5=["1"], O6=first["connections"]["O"], O5=second["connections"]["O"])
    return {"hide_name": 1, "type": "LUT6_2", "parameters": {"INIT": format(init, "064b")},
            "attributes": {},
            "port_directions": {**{f"I{k}": "input" for k in range(6)},
                                "O5": "output", "O6": "output"},
            "connections": connections}


def pack_netlist(netlist):
    """Pack the marked LUT pairs of a Yosys JSON netlist (a dict, changed in place) into
    LUT6_2 cells; returns the number of pairs packed."""
    packed = 0
    for module in netlist.get("modules", {}).values():
        cells = module.get("cells", {})
        driver = {}
        for name, cell in cells.items():
            if cell["type"] in _LUTS:
                driver[cell["connections"]["O"][0]] = name
        pairs = {}
        for net in module.get("netnames", {}).values():
            mark = net.get("attributes", {}).get(DUAL_LUT_ATTRIBUTE)
            if mark is not None and len(net["bits"]) == 1 and net["bits"][0] in driver:
                pairs.setdefault(mark, []).append(driver[net["bits"][0]])
        for mark, names in sorted(pairs.items()):
            names = list(dict.fromkeys(names))
            if len(names) != 2:
                continue
            dual = _dual(cells[names[0]], cells[names[1]])
            if dual is None:
                continue
            for name in names:
                del cells[name]
            cells[f"$hwgen_lut6_2${mark}"] = dual
            packed += 1
    return packed


def pack_file(source, target):
    """:func:`pack_netlist` from the JSON file ``source`` into ``target``; the pairs packed."""
    netlist = json.loads(Path(source).read_text())
    packed = pack_netlist(netlist)
    Path(target).write_text(json.dumps(netlist))
    return packed


def split_script(script, top, stat, netlist, mapped, packed):
    """The Xilinx Yosys ``script`` of :func:`hwgen.toolchain.yosys_script` in two: up to the
    mapped netlist (written to ``mapped``), then statistics and the flattened ``netlist``
    from the packed one (read from ``packed``)."""
    tail = f"tee -q -o {stat} stat -json\nflatten\nwrite_json {netlist}\n"
    if not script.endswith(tail):
        raise AssertionError(f"the Yosys script does not end with its statistics as expected:"
                             f"\n{script}")
    return (script[:-len(tail)] + f"write_json {mapped}\n",
            f"read_json {packed}\nhierarchy -top {top}\n{tail}")
