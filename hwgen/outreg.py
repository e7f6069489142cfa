"""Put the flip-flops right after an ECP5 block RAM's read port into its output register.

Yosys 0.70 maps every inferred DP16KD with ``REGMODE = NOREG`` (its memory
mapper cannot absorb a register after the read port), so a block RAM read
costs the RAM's slow clock-to-output (about 4.4 ns on ``ecp5-85k-8``) plus
routing in series with whatever follows; the DP16KD's own output register
(``REGMODE = OUTREG``) gives about 1 ns. :func:`absorb_output_registers`
rewrites the flattened Yosys netlist nextpnr reads: a DP16KD read port whose
every used data output drives exactly one ``TRELLIS_FF`` (data input only)
that has no set/reset, the RAM's read clock (both not inverted) and one
clock enable shared by all of them (or none: ``CEMUX = 1``, a register that
loads every cycle, as in a pipeline that never stalls), gets ``REGMODE = OUTREG`` with that
enable on ``OCE``, and the flip-flops are removed. The registered RAM then
behaves exactly as the RAM followed by the flip-flops (the output register
loads while ``OCE`` is high, holds otherwise, starts at 0 like the
flip-flops' ``REGSET = RESET``); any other port is left alone.

In the 36-bit pseudo-dual-port mode (``DATA_WIDTH_A = 36``, Yosys's map of
a ``$__PDPW16KD_``; nextpnr's ``is_pdp``; or a 36-bit read) port A only
writes and port B reads: the read data leave on DOA and DOB, all of them in
the read clock's domain (CLKB; nextpnr's timing model, and its own
conversion of a PDPW16KD, whose single REGMODE sets both REGMODE_A and
REGMODE_B and whose OCER becomes OCEB). So both output registers are set,
both OCEA and OCEB get the enable, and only CLKB must be the flip-flops'
clock: the write clock CLKA may be anything (a ROM's is tied low, as in
sfc_balanced's fc0, whose 49-bit words are 36 + 13 bits wide).
"""

__all__ = ["absorb_output_registers"]

_PINS = 18


def _read_groups(cell):
    """[(port letters, read clock's letter, data pins)] of the read ports of a DP16KD."""
    params = cell["parameters"]
    if 36 in (_width(params.get("DATA_WIDTH_A", "0")), _width(params.get("DATA_WIDTH_B", "0"))):
        return [("AB", "B", [f"DO{x}{i}" for x in "AB" for i in range(_PINS)])]
    return [(x, x, [f"DO{x}{i}" for i in range(_PINS)]) for x in "AB"]


def _width(param):
    return int(param, 2) if set(str(param).strip()) <= {"0", "1"} else int(param)


def absorb_output_registers(netlist, top):
    """Rewrite module ``top`` of a Yosys JSON ``netlist`` (a dict, changed in place); returns
    the number of flip-flops moved into DP16KD output registers."""
    cells = netlist["modules"][top]["cells"]
    ports = {b for p in netlist["modules"][top]["ports"].values() for b in p["bits"]}
    _, loads = cell_nets(cells)
    moved = 0
    for ram in list(cells.values()):
        if ram["type"] != "DP16KD":
            continue
        for letters, read, pins in _read_groups(ram):
            flops = _flops(ram, letters, read, pins, cells, loads, ports)
            if not flops:
                continue
            enable = list(clock_enable(cells[next(iter(flops.values()))]))
            for pin, ff in flops.items():
                ram["connections"][pin] = cells[ff]["connections"]["Q"]
                del cells[ff]
            for x in letters:
                ram["parameters"][f"REGMODE_{x}"] = "OUTREG"
                ram["connections"][f"OCE{x}"] = enable
            moved += len(flops)
    return moved


def _flops(ram, letters, read, pins, cells, loads, ports):
    """{data pin: flip-flop} when every used pin of the group feeds one absorbable flip-flop,
    else {}."""
    conn, params = ram["connections"], ram["parameters"]
    if (params.get(f"CLK{read}MUX", f"CLK{read}") != f"CLK{read}"
            or any(params.get(f"REGMODE_{x}", "NOREG") != "NOREG"
                   or conn.get(f"RST{x}") != ["0"] for x in letters)):
        return {}
    clock = tuple(conn.get(f"CLK{read}", ()))
    flops, enables = {}, set()
    for pin in pins:
        bits = conn.get(pin)
        if not bits:
            continue
        (bit,) = bits
        users = loads.get(bit, [])
        if not users and bit not in ports:
            continue
        if len(users) != 1 or bit in ports or users[0][1] != "DI":
            return {}
        ff = cells[users[0][0]]
        p, c = ff["parameters"], ff["connections"]
        if (ff["type"] != "TRELLIS_FF" or tuple(c["CLK"]) != clock
                or p.get("CLKMUX", "CLK") != "CLK" or c.get("LSR", ["0"]) != ["0"]
                or p.get("REGSET", "RESET") != "RESET" or clock_enable(ff) is None
                or "M" in c and c["M"] not in (["0"], ["x"])):
            return {}
        enables.add(clock_enable(ff))
        flops[pin] = users[0][0]
    return flops if len(enables) == 1 else {}


def cell_nets(cells):
    """({bit: (cell, pin)} of cell outputs, {bit: [(cell, pin)]} of cell inputs) of a
    flattened Yosys netlist's ``cells`` (also used by :mod:`hwgen.dsppack`)."""
    drivers, loads = {}, {}
    for name, cell in cells.items():
        for pin, bits in cell["connections"].items():
            direction = cell["port_directions"].get(pin)
            for bit in bits:
                if direction == "output":
                    drivers[bit] = (name, pin)
                elif direction == "input":
                    loads.setdefault(bit, []).append((name, pin))
    return drivers, loads


def clock_enable(ff):
    """A flip-flop's clock enable as connection bits: its ``CE`` net, ``("1",)`` when it loads
    every cycle (``CEMUX = 1``; Yosys pads the string), None when inverted or unknown."""
    mux = str(ff["parameters"].get("CEMUX", "CE")).strip()
    if mux == "CE":
        return tuple(ff["connections"]["CE"])
    return ("1",) if mux == "1" else None
