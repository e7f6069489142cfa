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

An input flip-flop whose synchronous set or reset Yosys took from its data
(a ROM's constants become ``LSR`` logic on its read register, bit by bit) is
given back a LUT4 in front of ``DI`` (``DI & ~LSR``, or ``DI | LSR`` for a
set) when that is all that keeps the tile's input flip-flops from one control
set without an enable or reset, and no flip-flop after the tile has a reset:
the tile's registers reset to 0 on one ``RST0`` only.

A tile's outputs are absorbed when every used ``P`` bit drives exactly one
load, the ``DI`` of a flip-flop with the same control set (the inputs',
when they were absorbed): those flip-flops are removed and their ``Q`` nets
move onto the ``P`` pins, with ``REG_OUTPUT_CLK = "CLK0"``. When each of
those flip-flops in turn drives only the ``DI`` of a second one of the same
control set, both move in: the first is the tile's pipeline register
(``REG_PIPELINE_CLK``), the second its output register. Otherwise the
pipeline register stays off. The tile's latency is exactly the flip-flops'
(one cycle in, one or two out); each register loads while ``CE0`` is high
and is cleared by ``RST0`` on a clock edge, as the flip-flops were.
"""

from itertools import count

from .outreg import cell_nets, clock_enable

__all__ = ["absorb_multiplier_registers"]

_IN_PINS = [f"{x}{i}" for x in "AB" for i in range(18)]
_OUT_PINS = [f"P{i}" for i in range(36)]
_CONSTANTS = ("0", "1", "x", "z")


def absorb_multiplier_registers(netlist, top):
    """Rewrite module ``top`` of a Yosys JSON ``netlist`` (a dict, changed in place); returns
    the number of flip-flops removed (now a MULT18X18D's input, pipeline or output
    registers)."""
    module = netlist["modules"][top]
    cells = module["cells"]
    ports = {b for p in module["ports"].values() for b in p["bits"]}
    drivers, loads = cell_nets(cells)
    removed = 0
    touched = set()
    fresh = count(1 + max((bit for bits in _all_bits(module) for bit in bits
                           if isinstance(bit, int)), default=1))
    for name, dsp in list(cells.items()):
        if dsp["type"] != "MULT18X18D" or not _untouched(dsp):
            continue
        control = _absorb_inputs(name, module, drivers, loads, touched, fresh)
        removed += _absorb_outputs(name, control, cells, drivers, loads, ports)
    # an input flip-flop whose every load is now inside a tile has nothing left to drive
    _, loads = cell_nets(cells)
    for ff in sorted(touched):
        q = cells[ff]["connections"]["Q"][0] if ff in cells else None
        if q is not None and q not in loads and q not in ports:
            del cells[ff]
            removed += 1
    return removed


def _all_bits(module):
    """Every connection bit list of ``module``: its ports', nets' and cells'."""
    yield from (port["bits"] for port in module["ports"].values())
    yield from (net["bits"] for net in module["netnames"].values())
    yield from (bits for cell in module["cells"].values()
                for bits in cell["connections"].values())


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


def _absorb_inputs(tile, module, drivers, loads, touched, fresh):
    """Move the flip-flops driving ``A`` and ``B`` into the tile; returns their control set,
    or None (nothing changed) when a pin is not driven by a flip-flop of one control set
    (after :func:`_reset_into_logic` where that is what differs). ``loads`` follows the pins
    to their new nets; ``fresh`` gives unused net bits."""
    cells = module["cells"]
    dsp = cells[tile]
    conn = dsp["connections"]
    sources = {}
    for pin in _IN_PINS:
        bits = conn.get(pin)
        if not bits or bits[0] in _CONSTANTS:
            continue
        name, out = drivers.get(bits[0], (None, None))
        if name is None or out != "Q":
            return None
        sources[pin] = name
    controls = {name: _control(cells[name]) for name in set(sources.values())}
    resets = set()
    if None in controls.values() or len(set(controls.values())) != 1:
        # one control set once the synchronous sets and resets are logic, or none
        clocks = set()
        for name, control in controls.items():
            if control is not None and control[1:] == (("1",), ("0",)):
                clocks.add(control[0])
                continue
            clock = _sync_reset_clock(cells[name])
            if clock is None:
                return None
            clocks.add(clock)
            resets.add(name)
        if len(clocks) != 1 or _output_resets(dsp, cells, loads):
            return None
        controls = {name: (*clocks, ("1",), ("0",)) for name in controls}
    (control,) = set(controls.values())
    for name in sorted(resets):
        _reset_into_logic(module, name, drivers, loads, next(fresh))
    for pin, name in sources.items():
        loads[conn[pin][0]].remove((tile, pin))
        conn[pin] = list(cells[name]["connections"]["DI"])
        loads.setdefault(conn[pin][0], []).append((tile, pin))
        touched.add(name)
    _set_registers(dsp, control, ("INPUTA", "INPUTB"))
    return control


def _absorb_outputs(tile, control, cells, drivers, loads, ports):
    """Move the flip-flops every used ``P`` bit feeds into the tile's output register, and
    the ones those feed into its pipeline register before it when every bit has one
    (:func:`_second_flops`); returns how many were removed (0: nothing changed).
    ``drivers`` follows the flip-flops' ``Q`` nets to the pins."""
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
    second = _second_flops(flops, own, cells, loads, ports)
    for pin, name in flops.items():
        del loads[conn[pin][0]]
        last = second.get(pin, name)
        if last != name:
            del loads[cells[name]["connections"]["Q"][0]]
            del cells[name]
        conn[pin] = list(cells[last]["connections"]["Q"])
        drivers[conn[pin][0]] = (tile, pin)
        del cells[last]
    _set_registers(dsp, own, ("PIPELINE", "OUTPUT") if second else ("OUTPUT",))
    return len(flops) + len(second)


def _output_resets(dsp, cells, loads):
    """Whether a flip-flop right after one of the tile's ``P`` bits has a reset (then the
    inputs' resets stay on their flip-flops: the tile's registers share ``RST0``)."""
    for pin in _OUT_PINS:
        for name, port in loads.get(dsp["connections"].get(pin, [None])[0], []):
            if port == "DI" and cells[name]["type"] == "TRELLIS_FF" and \
                    cells[name]["connections"].get("LSR", ["0"]) not in (["0"], ["x"]):
                return True
    return False


def _second_flops(flops, control, cells, loads, ports):
    """{pin: flip-flop} of the flip-flop each of ``flops`` ({pin: flip-flop}, the tile's
    output register) feeds as its only load, of the same ``control`` set, or {} unless
    every one of them has one (the tile has one pipeline register for all its bits)."""
    second = {}
    for pin, name in flops.items():
        q = cells[name]["connections"]["Q"][0]
        users = loads.get(q, [])
        if q in ports or len(users) != 1 or users[0][1] != "DI" or users[0][0] in flops.values():
            return {}
        if _control(cells[users[0][0]]) != control:
            return {}
        second[pin] = users[0][0]
    return second


def _sync_reset_clock(ff):
    """The clock of a flip-flop that loads every cycle with a synchronous set or reset on
    ``LSR`` (and nothing else a tile's register cannot do), or None."""
    p, c = ff["parameters"], ff["connections"]
    if ff["type"] != "TRELLIS_FF" or str(p.get("CLKMUX", "CLK")).strip() != "CLK":
        return None
    if str(p.get("GSR", "DISABLED")).strip() != "DISABLED" or clock_enable(ff) != ("1",):
        return None
    if "M" in c and c["M"] not in (["0"], ["x"]):
        return None
    if (c.get("LSR", ["0"]) in (["0"], ["x"]) or str(p.get("LSRMUX", "LSR")).strip() != "LSR"
            or str(p.get("SRMODE", "LSR_OVER_CE")).strip() != "LSR_OVER_CE"):
        return None
    return tuple(c["CLK"])


#: LUT4 INIT (bit 15 first) of ``A & ~B`` and of ``A | B``
_CLEAR, _SET = "0010001000100010", "1110111011101110"


def _reset_into_logic(module, name, drivers, loads, bit):
    """Flip-flop ``name``'s synchronous reset (or set) as a LUT4 in front of its ``DI`` that
    clears (or sets) the data while ``LSR`` is high, on the new net ``bit``; the flip-flop
    then has no reset. ``drivers`` and ``loads`` follow."""
    cells = module["cells"]
    ff = cells[name]
    conn, params = ff["connections"], ff["parameters"]
    data, reset = conn["DI"][0], conn["LSR"][0]
    lut = f"{name}$dsppack_lsr"
    cells[lut] = {
        "hide_name": 1, "type": "LUT4", "attributes": {},
        "parameters": {"INIT": _SET if str(params.get("REGSET")).strip() == "SET" else _CLEAR},
        "port_directions": {"A": "input", "B": "input", "C": "input", "D": "input",
                            "Z": "output"},
        "connections": {"A": [data], "B": [reset], "C": ["0"], "D": ["0"], "Z": [bit]},
    }
    module["netnames"][f"{name}$dsppack_d"] = {"hide_name": 1, "bits": [bit], "attributes": {}}
    for net, pin, new in ((data, "DI", "A"), (reset, "LSR", "B")):
        loads[net].remove((name, pin))
        loads[net].append((lut, new))
    conn["DI"], conn["LSR"] = [bit], ["0"]
    params["REGSET"] = "RESET"
    drivers[bit] = (lut, "Z")
    loads[bit] = [(name, "DI")]


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
