"""hwgen.outreg: flip-flops after a DP16KD read move into its output register only when exact."""

import copy

import pytest

from hwgen.outreg import absorb_output_registers

CLK, CE, OTHER_CE, RST = 2, 3, 4, 5


def _ram(width_b=36):
    conn = {"CLKA": [CLK], "CLKB": [CLK], "CEB": [CE], "OCEA": ["0"], "OCEB": ["1"],
            "RSTA": ["0"], "RSTB": ["0"]}
    dirs = {pin: "input" for pin in conn}
    for i in range(18):
        for x in "AB":
            conn[f"DO{x}{i}"] = [100 + (i if x == "A" else 18 + i)]
            dirs[f"DO{x}{i}"] = "output"
    params = {"REGMODE_A": "NOREG", "REGMODE_B": "NOREG", "CLKAMUX": "CLKA", "CLKBMUX": "CLKB",
              "DATA_WIDTH_B": format(width_b, "032b")}
    return {"type": "DP16KD", "parameters": params, "connections": conn, "port_directions": dirs}


def _ff(d, q, ce=CE, lsr="0"):
    return {"type": "TRELLIS_FF",
            "parameters": {"CEMUX": "CE", "CLKMUX": "CLK", "GSR": "DISABLED", "LSRMUX": "LSR",
                           "REGSET": "RESET", "SRMODE": "LSR_OVER_CE"},
            "connections": {"CLK": [CLK], "CE": [ce], "DI": [d], "LSR": [lsr], "Q": [q]},
            "port_directions": {"CLK": "input", "CE": "input", "DI": "input", "LSR": "input",
                                "Q": "output"}}


def _netlist(bits=32, **ff):
    """A 36-bit-read DP16KD whose first ``bits`` outputs each feed one flip-flop."""
    cells = {"ram": _ram()}
    for k in range(bits):
        cells[f"ff{k}"] = _ff(100 + k, 200 + k, **ff)
    return {"modules": {"top": {"ports": {}, "cells": cells}}}


def test_flops_after_the_read_become_the_output_register():
    netlist = _netlist()
    assert absorb_output_registers(netlist, "top") == 32
    cells = netlist["modules"]["top"]["cells"]
    assert list(cells) == ["ram"]
    ram = cells["ram"]
    assert ram["parameters"]["REGMODE_A"] == ram["parameters"]["REGMODE_B"] == "OUTREG"
    assert ram["connections"]["OCEA"] == ram["connections"]["OCEB"] == [CE]
    # each used output now drives what its flip-flop drove; unused outputs stay as they were
    assert ram["connections"]["DOA0"] == [200] and ram["connections"]["DOB13"] == [231]
    assert ram["connections"]["DOB14"] == [132]


@pytest.mark.parametrize("change", ["reset", "two enables", "second load", "other clock",
                                    "inverted clock", "already registered"])
def test_anything_else_is_left_alone(change):
    netlist = _netlist()
    cells = netlist["modules"]["top"]["cells"]
    if change == "reset":
        cells["ff3"] = _ff(103, 203, lsr=RST)
    elif change == "two enables":
        cells["ff3"] = _ff(103, 203, ce=OTHER_CE)
    elif change == "second load":
        cells["extra"] = _ff(103, 300)
    elif change == "other clock":
        cells["ff3"]["connections"]["CLK"] = [9]
    elif change == "inverted clock":
        cells["ram"]["parameters"]["CLKBMUX"] = "INV"
    else:
        cells["ram"]["parameters"]["REGMODE_B"] = "OUTREG"
    before = copy.deepcopy(netlist)
    assert absorb_output_registers(netlist, "top") == 0
    assert netlist == before


def test_a_port_output_is_not_absorbed():
    netlist = _netlist()
    netlist["modules"]["top"]["ports"] = {"q": {"direction": "output", "bits": [100]}}
    assert absorb_output_registers(netlist, "top") == 0


def test_a_pseudo_dual_port_rom_with_its_write_clock_tied_low_is_registered():
    """In the 36-bit mode port A only writes (Yosys ties a ROM's CLKA low); every read output,
    DOA's too, is in CLKB's domain, so CLKB alone must be the flip-flops' clock."""
    netlist = _netlist()
    ram = netlist["modules"]["top"]["cells"]["ram"]
    ram["connections"]["CLKA"] = ["0"]
    ram["parameters"]["DATA_WIDTH_A"] = format(36, "032b")
    assert absorb_output_registers(netlist, "top") == 32
    assert ram["parameters"]["REGMODE_A"] == ram["parameters"]["REGMODE_B"] == "OUTREG"
    assert ram["connections"]["OCEA"] == ram["connections"]["OCEB"] == [CE]
    assert ram["connections"]["CLKA"] == ["0"]


def test_in_true_dual_port_mode_each_port_keeps_its_own_clock():
    """18-bit ports: port A's outputs are in CLKA's domain, so a port whose clock is not the
    flip-flops' is left alone while the other is registered."""
    netlist = _netlist(bits=0)
    cells = netlist["modules"]["top"]["cells"]
    ram = cells["ram"]
    ram["parameters"]["DATA_WIDTH_A"] = ram["parameters"]["DATA_WIDTH_B"] = format(18, "032b")
    ram["connections"]["CLKA"] = ["0"]
    for k in range(4):
        cells[f"a{k}"] = _ff(100 + k, 200 + k)          # DOA0..3
        cells[f"b{k}"] = _ff(118 + k, 300 + k)          # DOB0..3
    assert absorb_output_registers(netlist, "top") == 4
    assert ram["parameters"]["REGMODE_A"] == "NOREG" and ram["parameters"]["REGMODE_B"] == "OUTREG"
    assert sorted(cells) == ["a0", "a1", "a2", "a3", "ram"]


def _always_enabled(ff):
    """The flip-flop as Yosys maps one without an enable: ``CEMUX = "1 "``, no CE pin."""
    ff["parameters"]["CEMUX"] = "1 "
    del ff["connections"]["CE"], ff["port_directions"]["CE"]
    return ff


def test_flops_without_an_enable_load_every_cycle_in_the_output_register():
    """A pipeline that never stalls (the folded engine) has read registers without an enable:
    they are absorbed too, with the output register's enable tied high."""
    netlist = _netlist()
    cells = netlist["modules"]["top"]["cells"]
    for k in range(32):
        _always_enabled(cells[f"ff{k}"])
    assert absorb_output_registers(netlist, "top") == 32
    ram = cells["ram"]
    assert ram["connections"]["OCEA"] == ram["connections"]["OCEB"] == ["1"]


def test_flops_with_and_without_an_enable_are_left_alone():
    netlist = _netlist()
    _always_enabled(netlist["modules"]["top"]["cells"]["ff3"])
    before = copy.deepcopy(netlist)
    assert absorb_output_registers(netlist, "top") == 0
    assert netlist == before
