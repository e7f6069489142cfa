"""What a network YAML may contain besides its layers' own keys: the vocabulary and the top level.

The keys of each op, their types, ranges and defaults live with the op, in
the op table (:mod:`hwgen.ops`, one module per op, each a tuple of
:class:`Field`); this module holds the :class:`Field` vocabulary they are
written in, the top-level and common layer keys, and :func:`check_value`,
which the loader runs on every value.

Top level
---------
``name`` (required, ``[a-z_][a-z0-9_]*``, not a Verilog keyword: it becomes the
top module name), ``input`` (``shape``, ``bits``, ``signed``), ``weights`` (npz
path, relative to the YAML file's folder) or ``seed`` (exactly one of them when
any layer has parameters), ``target`` (``clock_mhz``, ``device``, ``io_bits``),
``layers`` (non-empty list).

Every layer
-----------
``name`` (unique identifier, not ``input``), ``op`` (a name of the op table),
``inputs`` (earlier layer names or ``input``; default the previous layer),
``pe`` and ``simd`` (folding, default 1; what each must divide is the op's
``fold`` rule), ``activation`` (inline ``threshold`` or ``requant``: an op with
``activation=True``, only after an op with ``accumulator=True``).

Per op: the op's ``fields``. ``shiftmax`` and ``shiftgelu`` take exactly one of
``x0`` and ``input_scale`` (their ``one_of``). On the binary ops ``unroll: full``
sets ``pe`` to the outputs and ``simd`` to the fan-in (a different value written
there is an error), ``share: mst`` needs ``unroll: full``, and ``share_depth``
needs ``share: mst``.
"""

from __future__ import annotations

import math
import re

# The vocabulary the op table writes its keys in lives with the op table (below this package).
from hwgen.ops._field import (INT32_MAX, INT32_MIN, INT64_MAX, MAX_PARAM_ELEMENTS,
                              MAX_TENSOR_ELEMENTS, Field, _num, divisors, list_divisors,
                              shape_text)

__all__ = ["Field", "LAYER_KEYS", "TOP_KEYS", "INPUT_FIELDS", "TARGET_FIELDS",
           "NETWORK_NAME_RE", "LAYER_NAME_RE", "VERILOG_KEYWORDS", "BadValue", "check_value",
           "describe_value", "divisors", "list_divisors", "shape_text", "INT32_MIN", "INT32_MAX",
           "INT64_MAX", "MAX_PARAM_ELEMENTS", "MAX_TENSOR_ELEMENTS"]

NETWORK_NAME_RE = re.compile(r"[a-z_][a-z0-9_]*\Z")
LAYER_NAME_RE = re.compile(r"[A-Za-z_][A-Za-z0-9_]*\Z")

#: Verilog/SystemVerilog keywords a top module cannot be named (lower-case ones only:
#: network names are lower case)
VERILOG_KEYWORDS = frozenset("""
always and assign automatic begin buf bufif0 bufif1 case casex casez cell cmos config
deassign default defparam design disable edge else end endcase endconfig endfunction
endgenerate endmodule endprimitive endspecify endtable endtask event for force forever
fork function generate genvar highz0 highz1 if ifnone incdir include initial inout input
instance integer join large liblist library localparam macromodule medium module nand
negedge nmos nor noshowcancelled not notif0 notif1 or output parameter pmos posedge
primitive pull0 pull1 pulldown pullup pulsestyle_ondetect pulsestyle_onevent rcmos real
realtime reg release repeat rnmos rpmos rtran rtranif0 rtranif1 scalared showcancelled
signed small specify specparam strong0 strong1 supply0 supply1 table task time tran
tranif0 tranif1 tri tri0 tri1 triand trior trireg unsigned use uwire vectored wait wand
weak0 weak1 while wire wor xnor xor
always_comb always_ff always_latch assert bit break byte class const continue do enum
export extends final import int interface logic longint modport package program property
return shortint static string struct super this type typedef union unique var void
""".split())


#: keys every layer may have
LAYER_KEYS = ("name", "op", "inputs", "pe", "simd", "activation")

TOP_KEYS = ("name", "input", "weights", "seed", "target", "layers")
INPUT_FIELDS = (
    Field("shape", "shape", required=True, doc="[F], [T, C] or [C, H, W] (no batch axis)"),
    Field("bits", "int", required=True, lo=1, hi=32, doc="bits per element (1 = binary -1/+1)"),
    Field("signed", "bool", default=False, doc="signed input"),
)
TARGET_FIELDS = (
    Field("clock_mhz", "number", default=100.0, lo=0, lo_open=True, doc="target clock in MHz"),
    Field("device", "str", default="ecp5-25k", doc="FPGA device, e.g. ecp5-25k"),
    Field("io_bits", "int", default=64, lo=8, multiple_of=8, doc="AXI4-Stream data width"),
)


class BadValue(Exception):
    """``check_value`` rejected a value: ``message`` and an optional ``hint``."""

    def __init__(self, message, hint=None):
        super().__init__(message)
        self.message = message
        self.hint = hint


def describe_value(value) -> str:
    """``value`` as the user wrote it, with its YAML type when that is the problem."""
    if value is None:
        return "an empty value (null)"
    if isinstance(value, bool):
        return f"the boolean {str(value).lower()}"
    if isinstance(value, str):
        return f"the string {value!r}"
    if isinstance(value, float):
        return f"the float {value!r}"
    if isinstance(value, int):
        return f"the integer {value}"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, dict):
        return "a mapping"
    return repr(value)


def _int_hint(value):
    if isinstance(value, str):
        try:
            int(value.strip())
        except ValueError:
            return None
        return "remove the quotes"
    if isinstance(value, float) and value.is_integer():
        return f"write {int(value)} (no decimal point)"
    if isinstance(value, bool):
        return "YAML reads true/false/yes/no/on/off as booleans; write a number"
    return None


def check_value(field: Field, value):
    """Return ``value`` (normalised) if it fits ``field``, else raise :class:`BadValue`."""
    kind = field.kind
    if kind == "int":
        if isinstance(value, bool) or not isinstance(value, int):
            raise BadValue(f"expected {field.expected()}, got {describe_value(value)}",
                           _int_hint(value))
    elif kind == "number":
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            hint = None
            if isinstance(value, str):
                try:
                    float(value)
                    hint = "remove the quotes (YAML 1.1 needs a dot in floats: write 1.0e-3, not 1e-3)"
                except ValueError:
                    pass
            raise BadValue(f"expected {field.expected()}, got {describe_value(value)}", hint)
        if isinstance(value, float) and not math.isfinite(value):
            raise BadValue(f"expected a finite number, got {value!r}")
    elif kind == "bool":
        if not isinstance(value, bool):
            hint = None
            if isinstance(value, str) and value.lower() in ("true", "false", "yes", "no"):
                hint = f"remove the quotes: {value.lower()}"
            elif value in (0, 1):
                hint = f"write {'true' if value else 'false'}"
            raise BadValue(f"expected true or false, got {describe_value(value)}", hint)
        return value
    elif kind == "str":
        if not isinstance(value, str):
            raise BadValue(f"expected a string, got {describe_value(value)}")
        if not value.strip():
            raise BadValue("expected a non-empty string")
        return value
    elif kind == "choice":
        if value not in field.choices or not isinstance(value, str):
            from .errors import did_you_mean
            raise BadValue(f"expected {field.expected()}, got {describe_value(value)}",
                           did_you_mean(value, field.choices))
        return value
    else:  # pragma: no cover - schema bug
        raise AssertionError(kind)

    # numbers: range and multiple
    if field.lo is not None:
        if (value <= field.lo) if field.lo_open else (value < field.lo):
            raise BadValue(f"expected {field.expected()}, got {_num(value)}")
    if field.hi is not None and value > field.hi:
        raise BadValue(f"expected {field.expected()}, got {_num(value)}")
    if field.multiple_of and value % field.multiple_of:
        lower = value - value % field.multiple_of
        upper = lower + field.multiple_of
        options = f"{lower} or {upper}" if lower > 0 else f"{upper}"
        raise BadValue(f"expected {field.expected()}, got {value}", f"use {options}")
    return float(value) if kind == "number" else value
