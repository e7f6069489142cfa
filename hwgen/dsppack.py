"""Put the flip-flops around an ECP5 MULT18X18D into its input and output registers.

Yosys 0.70's ``synth_ecp5`` maps a ``*`` onto MULT18X18D tiles with every
internal register off (``REG_*_CLK = "NONE"``): a registered product costs
the flip-flop, routing, the tile's 3.1 ns, routing and the next flip-flop,
about 5.7 ns, so it misses 200 MHz. :func:`absorb_multiplier_registers`
rewrites the flattened Yosys netlist nextpnr reads, as :mod:`hwgen.outreg`
does for block RAM reads; the Verilog that is simulated stays behavioural.

A tile's inputs are absorbed when every non-constant ``A`` and ``B`` pin is
driven by the ``Q`` of a ``TRELLIS_FF`` and all of those flip-flops share one
control set: one clock (``CLKMUX = CLK``, not inverted), one clock enable
or none (``CEMUX = 1``), one synchronous reset to 0 or none (``REGSET =
RESET``; ``SRMODE = LSR_OVER_CE`` when a reset is used; ``LSRMUX = LSR``),
and not both an enable and a reset (the tile's priority between its
``CE`` and ``RST`` is not what this pass can check, so that case is left
alone). The pins then take the flip-flops' ``DI`` nets, the tile gets
``REG_INPUTA_CLK = REG_INPUTB_CLK = "CLK0"`` with the control set on
``CLK0`` / ``CE0`` / ``RST0`` (``RESETMODE = "SYNC"``, ``GSR = "DISABLED"``, as
the flip-flops have: a flip-flop with ``GSR = "ENABLED"`` is left alone), and a
flip-flop that no longer drives anything is
removed (one that also drives other logic stays: the tile holds a copy).

A tile's outputs are absorbed when every used ``P`` bit drives exactly one
load, the ``DI`` of a flip-flop with the same control set (the inputs',
when they were absorbed): those flip-flops are removed and their ``Q`` nets
move onto the ``P`` pins, with ``REG_OUTPUT_CLK = "CLK0"``. The pipeline
register between the multiplier and the output stays off, so the tile's
latency is exactly the flip-flops' (one cycle in, one out); each register
loads while ``CE0`` is high and is cleared by ``RST0`` on a clock edge,
as the flip-flops were.
"""

from .outreg import cell_nets, clock_enable

__all__ = ["absorb_multiplier_registers"]

_IN_PINS = [f"{x}{i}" for x in "AB" for i in range(18)]
_OUT_PINS = [f"P{i}" for i in range(36)]
_CONSTANTS = ("0", "1", "x", "z")


def absorb_multiplier_registers(netlist, top):
    """Rewrite module ``top`` of a Yosys JSON ``netlist`` (a dict, changed in place); returns
    the number of flip-flops removed (now a MULT18X18D's input or output registers)."""
    module = netlist["modules"][top]
    cells = module["cells"]
    ports = {b for p in module["ports"].values() for b in p["bits"]}
    drivers, loads = cell_nets(cells)
    removed = 0
    touched = set()
    for name, dsp in list(cells.items()):
        if dsp["type"] != "MULT18X18D" or not _untouched(dsp):
            continue
        control = _absorb_inputs(name, cells, drivers, loads, touched)
        removed += _absorb_outputs(name, control, cells, drivers, loads, ports)
    # an input flip-flop whose every load is now inside a tile has nothing left to drive
    _, loads = cell_nets(cells)
    for ff in sorted(touched):
        q = cells[ff]["connections"]["Q"][0] if ff in cells else None
        if q is not None and q not in loads and q not in ports:
            del cells[ff]
            removed += 1
    return removed


def _untouched(dsp):
    """A tile as Yosys maps it: every register off, no clock, enable or reset wired, and
    every input besides A and B (SIGNEDA/B, SOURCEA/B, C, the shift inputs) a constant,
    since an input register delays A and B only."""
    params, conn, dirs = dsp["parameters"], dsp["connections"], dsp["port_directions"]
    return (all(str(params.get(f"REG_{r}_CLK", "NONE")).strip() == "NONE"
                for r in ("INPUTA", "INPUTB", "INPUTC", "PIPELINE", "OUTPUT"))
            and all(conn.get(f"{p}{k}", ["0"]) in (["0"], ["x"])
                    for p in ("CLK", "CE", "RST") for k in range(4))
            and all(bit in _CONSTANTS for pin, bits in conn.items()
                    if dirs.get(pin) == "input" and pin not in _IN_PINS for bit in bits))


def _control(ff):
    """(clock, enable, reset) of a flip-flop as connection bit tuples (enable ``("1",)``
    when it loads every cycle, reset ``("0",)`` when it has none), or None when the
    tile's registers cannot do what it does (inverted clock, global set/reset, enable or reset,
    asynchronous reset, reset to 1, an enable together with a reset, a multiplexer)."""
    p, c = ff["parameters"], ff["connections"]
    if ff["type"] != "TRELLIS_FF" or str(p.get("CLKMUX", "CLK")).strip() != "CLK":
        return None
    if str(p.get("GSR", "DISABLED")).strip() != "DISABLED":    # the tile's GSR is off
        return None
    if "M" in c and c["M"] not in (["0"], ["x"]):
        return None
    enable = clock_enable(ff)
    reset = tuple(c.get("LSR", ["0"]))
    if reset not in (("0",), ("x",)):
        if (str(p.get("LSRMUX", "LSR")).strip() != "LSR"
                or str(p.get("SRMODE", "LSR_OVER_CE")).strip() != "LSR_OVER_CE"):
            return None
    else:
        reset = ("0",)
    if enable is None or str(p.get("REGSET", "RESET")).strip() != "RESET":
        return None
    if enable != ("1",) and reset != ("0",):
        return None
    return tuple(c["CLK"]), enable, reset


def _absorb_inputs(tile, cells, drivers, loads, touched):
    """Move the flip-flops driving ``A`` and ``B`` into the tile; returns their control set,
    or None (nothing changed) when a pin is not driven by a flip-flop of one control set.
    ``loads`` follows the pins to their new nets."""
    dsp = cells[tile]
    conn = dsp["connections"]
    sources, controls = {}, set()
    for pin in _IN_PINS:
        bits = conn.get(pin)
        if not bits or bits[0] in _CONSTANTS:
            continue
        name, out = drivers.get(bits[0], (None, None))
        if name is None or out != "Q":
            return None
        control = _control(cells[name])
        if control is None:
            return None
        controls.add(control)
        sources[pin] = name
    if len(controls) != 1:
        return None
    (control,) = controls
    for pin, name in sources.items():
        loads[conn[pin][0]].remove((tile, pin))
        conn[pin] = list(cells[name]["connections"]["DI"])
        loads.setdefault(conn[pin][0], []).append((tile, pin))
        touched.add(name)
    _set_registers(dsp, control, ("INPUTA", "INPUTB"))
    return control


def _absorb_outputs(tile, control, cells, drivers, loads, ports):
    """Move the flip-flops every used ``P`` bit feeds into the tile's output register;
    returns how many were removed (0: nothing changed). ``drivers`` follows the flip-flops'
    ``Q`` nets to the pins."""
    dsp = cells[tile]
    conn = dsp["connections"]
    flops, controls = {}, set()
    for pin in _OUT_PINS:
        bits = conn.get(pin)
        if not bits:
            continue
        users = loads.get(bits[0], [])
        if not users and bits[0] not in ports:
            continue
        if len(users) != 1 or bits[0] in ports or users[0][1] != "DI":
            return 0
        ff = cells[users[0][0]]
        own = _control(ff)
        if own is None:
            return 0
        controls.add(own)
        flops[pin] = users[0][0]
    if not flops or len(controls) != 1 or control not in (None, *controls):
        return 0
    (own,) = controls
    for pin, name in flops.items():
        del loads[conn[pin][0]]
        conn[pin] = list(cells[name]["connections"]["Q"])
        drivers[conn[pin][0]] = (tile, pin)
        del cells[name]
    _set_registers(dsp, own, ("OUTPUT",))
    return len(flops)


def _set_registers(dsp, control, registers):
    """Turn ``registers`` of the tile on, on ``CLK0`` / ``CE0`` / ``RST0`` wired to ``control``."""
    clock, enable, reset = control
    params, conn, dirs = dsp["parameters"], dsp["connections"], dsp["port_directions"]
    for register in registers:
        params[f"REG_{register}_CLK"] = "CLK0"
        params[f"REG_{register}_CE"] = "CE0"
        params[f"REG_{register}_RST"] = "RST0"
    params["RESETMODE"] = "SYNC"
    params["GSR"] = "DISABLED"
    for pin, bits in (("CLK0", clock), ("CE0", enable), ("RST0", reset)):
        conn[pin] = list(bits)
        dirs[pin] = "input"
