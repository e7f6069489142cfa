"""The ECP5 carry cell ``CCU2C`` with logic in its LUT4s: an Instance, and its twin for simulation.

A ``CCU2C`` is two halves of a carry chain. Half ``k`` has a LUT4 ``F`` of its
pins ``A, B, C, D`` (``INITk``, index ``A + 2B + 4C + 8D``) and, with
``INJECT1_k = "NO"``, computes::

    S    = F ^ CIN
    COUT = F ? CIN : G          G = F(A, B, 0, 0)   (the LUT2 of INITk[3:0])

(Yosys's model, ``techlibs/ecp5/ccu2c_sim.vh``; half 0's ``COUT`` is half 1's
``CIN``). So ``F`` is the propagate of a full adder ``u + v + CIN`` when
``F = u ^ v`` and ``G = u`` wherever ``u = v``: ``u`` and ``v`` may be functions
of the pins (an XOR of an activation and a weight bit, for one), which then cost
no LUT of their own. :func:`half_init` builds such tables.

:func:`ccu2c` emits the cell as an ``Instance`` (what Yosys maps and nextpnr
places) or, inside :func:`simulation_twins`, as the same function in Amaranth
logic (Amaranth's simulator cannot run an Instance). Verilator runs the Instance
with :data:`VERILOG_MODEL`, which :func:`with_models` appends to a design that
instantiates the cell (``sim.verilator`` does so for every build and lint).
"""

import re
from contextlib import contextmanager
from contextvars import ContextVar

from amaranth.hdl import Cat, Const, Instance, Mux, Signal

__all__ = ["CELL", "VERILOG_MODEL", "ccu2c", "half_init", "half_outputs", "instantiates_cell",
           "simulation_twins", "with_models"]

#: the cell's name in Verilog (Yosys's and nextpnr-ecp5's)
CELL = "CCU2C"

_TWINS = ContextVar("hwgen_ccu2c_twins", default=False)


@contextmanager
def simulation_twins(enabled=True):
    """Within this block :func:`ccu2c` builds the behavioural twin (``enabled``) or the
    Instance (``enabled=False``). Wrap the call that builds the cells: a direct call of a
    tree builder, or the construction of the simulator or the Verilog conversion of a
    component, which elaborates it."""
    token = _TWINS.set(bool(enabled))
    try:
        yield
    finally:
        _TWINS.reset(token)


def half_init(propagate, generate, tied="D"):
    """The 16-bit ``INIT`` of a half whose pin ``tied`` (``"C"`` or ``"D"``) is tied high:
    ``propagate(a, b, p)`` of pins ``A``, ``B`` and the other of ``C``, ``D`` in the entries
    with ``tied`` = 1 (the LUT4's output), ``generate(a, b)`` in ``INIT[3:0]`` (the LUT2 read
    when the propagate is 0). With ``tied`` always 1 the two are independent."""
    if tied not in ("C", "D"):
        raise ValueError(f"tied must be 'C' or 'D', not {tied!r}")
    init = 0
    for index in range(16):
        a, b, c, d = (index >> k & 1 for k in range(4))
        high, free = (d, c) if tied == "D" else (c, d)
        bit = propagate(a, b, free) if high else (generate(a, b) if not free else 0)
        init |= (bit & 1) << index
    return init


def half_outputs(init, pins, cin):
    """``(S, COUT)`` of one half with table ``init``, pin values ``(A, B, C, D)`` and carry in
    ``cin`` (0/1 ints): the cell's function, for checks and tests."""
    a, b, c, d = pins
    f = init >> (a | b << 1 | c << 2 | d << 3) & 1
    g = init >> (a | b << 1) & 1
    return f ^ cin, cin if f else g


def ccu2c(m, halves, cin, name):
    """One cell in ``m``: ``halves`` is two ``(init, (A, B, C, D))`` pairs (pins are 1-bit
    Values or ints), ``cin`` the carry in; returns the Signals ``(S0, S1, COUT)``."""
    if len(halves) != 2:
        raise ValueError(f"a CCU2C has two halves, not {len(halves)}")
    s = [Signal(name=f"{name}_s{k}") for k in range(2)]
    cout = Signal(name=f"{name}_cout")
    pins = [[Const(p, 1) if isinstance(p, int) else p for p in pin_set] for _, pin_set in halves]
    if _TWINS.get():
        carry = cin
        for k, (init, _) in enumerate(halves):
            f = Const(init, 16).bit_select(Cat(*pins[k]), 1)
            g = Const(init & 0xF, 4).bit_select(Cat(*pins[k][:2]), 1)
            nxt = Signal(name=f"{name}_c{k + 1}")
            m.d.comb += [s[k].eq(f ^ carry), nxt.eq(Mux(f, carry, g))]
            carry = nxt
        m.d.comb += cout.eq(carry)
        return s[0], s[1], cout
    ports = {f"i_{pin}{k}": pins[k][j] for k in range(2) for j, pin in enumerate("ABCD")}
    m.submodules[name] = Instance(
        CELL, p_INIT0=Const(halves[0][0], 16), p_INIT1=Const(halves[1][0], 16),
        p_INJECT1_0="NO", p_INJECT1_1="NO", i_CIN=cin, o_S0=s[0], o_S1=s[1], o_COUT=cout,
        **ports)
    return s[0], s[1], cout


#: a Verilog model of the cell for simulators (not for synthesis: Yosys has its own), the
#: function of Yosys's ``ccu2c_sim.vh`` with both INJECT1 settings
VERILOG_MODEL = """\
// hwgen: simulation model of the ECP5 CCU2C carry cell (Yosys's ccu2c_sim.vh semantics)
module CCU2C (
    input  wire CIN,
    input  wire A0, B0, C0, D0, A1, B1, C1, D1,
    output wire S0, S1,
    output wire COUT
);
    parameter [15:0] INIT0 = 16'h0000;
    parameter [15:0] INIT1 = 16'h0000;
    parameter INJECT1_0 = "YES";
    parameter INJECT1_1 = "YES";
    wire f0 = INIT0[{D0, C0, B0, A0}];
    wire g0 = (INJECT1_0 == "YES") ? 1'b0 : INIT0[{2'b00, B0, A0}];
    wire c0 = (INJECT1_0 == "YES") ? 1'b0 : CIN;
    wire cout0 = (~f0 & g0) | (f0 & CIN);
    wire f1 = INIT1[{D1, C1, B1, A1}];
    wire g1 = (INJECT1_1 == "YES") ? 1'b0 : INIT1[{2'b00, B1, A1}];
    wire c1 = (INJECT1_1 == "YES") ? 1'b0 : cout0;
    assign S0 = f0 ^ c0;
    assign S1 = f1 ^ c1;
    assign COUT = (~f1 & g1) | (f1 & cout0);
endmodule
"""

_INSTANTIATED = re.compile(rf"^\s*{CELL}\s+#?\(?", re.MULTILINE)


def instantiates_cell(verilog_text):
    """True when ``verilog_text`` instantiates the cell (then Yosys must read its ECP5 cell
    library before ``hierarchy -check``: :func:`hwgen.toolchain.yosys_script`)."""
    return bool(_INSTANTIATED.search(verilog_text))


def with_models(verilog_text):
    """``verilog_text`` with :data:`VERILOG_MODEL` appended when it instantiates the cell and
    does not define it; otherwise unchanged."""
    if instantiates_cell(verilog_text) and f"module {CELL}" not in verilog_text:
        return verilog_text + "\n" + VERILOG_MODEL
    return verilog_text
