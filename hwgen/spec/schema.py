"""What a network YAML may contain: keys, their types, ranges and defaults.

This module is the single source of truth for the YAML schema (DESIGN.md
section 4); the loader checks every value against it and ``LayerSpec.attrs``
holds exactly the op keys below, defaults applied.

Top level
---------
``name`` (required, ``[a-z_][a-z0-9_]*``, not a Verilog keyword: it becomes the
top module name), ``input`` (``shape``, ``bits``, ``signed``), ``weights`` (npz
path, relative to the YAML file's folder) or ``seed`` (exactly one of them when
any layer has parameters), ``target`` (``clock_mhz``, ``device``, ``io_bits``),
``layers`` (non-empty list).

Every layer
-----------
``name`` (unique identifier, not ``input``), ``op`` (one of :data:`OPS`),
``inputs`` (earlier layer names or ``input``; default the previous layer),
``pe`` and ``simd`` (folding, default 1), ``activation`` (inline ``threshold``
or ``requant``, only after an op in :data:`ACCUMULATOR_OPS`).

Per op: see :data:`OP_FIELDS`. ``shiftmax`` and ``shiftgelu`` take exactly one of
``x0`` and ``input_scale`` (:data:`ONE_OF`). On the binary ops ``unroll: full``
sets ``pe`` to the outputs and ``simd`` to the fan-in (a different value written
there is an error), ``share: mst`` needs ``unroll: full``, and ``share_depth``
needs ``share: mst``.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from typing import Any

__all__ = ["OPS", "Field", "OP_FIELDS", "LAYER_KEYS", "ACTIVATION_OPS", "ACCUMULATOR_OPS",
           "PARAM_OPS", "ONE_OF", "N_INPUTS", "TOP_KEYS", "INPUT_FIELDS", "TARGET_FIELDS",
           "NETWORK_NAME_RE", "LAYER_NAME_RE", "VERILOG_KEYWORDS", "BadValue", "check_value",
           "describe_value"]

OPS = ("binary_dense", "binary_conv2d", "dense", "conv2d", "threshold", "requant",
       "maxpool2d", "flatten", "argmax", "add", "matmul", "shiftmax", "shiftgelu", "layernorm")

#: ops whose output is a wide accumulator, so an inline ``activation`` may narrow it
ACCUMULATOR_OPS = ("binary_dense", "binary_conv2d", "dense", "conv2d", "add", "matmul",
                   "shiftgelu", "layernorm")
#: ops allowed as an inline ``activation``
ACTIVATION_OPS = ("threshold", "requant")
#: ops that (may) carry parameters from the npz / seed (layernorm only with ``bias: true``)
PARAM_OPS = ("binary_dense", "binary_conv2d", "dense", "conv2d", "threshold", "requant",
             "add", "layernorm")
#: number of inputs per op (all others: 1)
N_INPUTS = {"add": 2, "matmul": 2}

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


@dataclass(frozen=True)
class Field:
    """One key of a mapping.

    kind: ``"int"`` (a YAML integer, never a boolean), ``"bool"``, ``"str"``,
    ``"number"`` (int or float, finite), ``"choice"`` (one of ``choices``).
    ``lo``/``hi`` bound numbers inclusively; ``lo_open`` makes ``lo`` exclusive.
    ``multiple_of`` requires ints to be a multiple of it.
    """
    name: str
    kind: str
    required: bool = False
    default: Any = None
    lo: float | None = None
    hi: float | None = None
    lo_open: bool = False
    choices: tuple = ()
    multiple_of: int | None = None
    doc: str = ""

    def expected(self) -> str:
        if self.kind == "choice":
            return "one of " + ", ".join(repr(c) for c in self.choices)
        what = {"int": "an integer", "bool": "true or false", "str": "a string",
                "number": "a number"}[self.kind]
        if self.lo is not None and self.hi is not None and not self.lo_open:
            what += f" in {_num(self.lo)}..{_num(self.hi)}"
        elif self.lo is not None:
            what += f" {'>' if self.lo_open else '>='} {_num(self.lo)}"
        elif self.hi is not None:
            what += f" <= {_num(self.hi)}"
        if self.multiple_of:
            what += f", a multiple of {self.multiple_of}"
        return what


def _num(x):
    return int(x) if float(x).is_integer() else x


def _size(name, doc, required=True, default=None):
    return Field(name, "int", required=required, default=default, lo=1, doc=doc)


_KERNEL = (
    _size("kernel_size", "square kernel side k"),
    Field("stride", "int", default=1, lo=1, doc="stride in both directions"),
    Field("padding", "int", default=0, lo=0, doc="zero padding (binary: -1) on each side"),
)
_WEIGHTS = (
    Field("weight_bits", "int", default=8, lo=2, hi=8, doc="signed weight width (ternary: 2)"),
    Field("weight_type", "choice", default="int", choices=("int", "ternary"),
          doc="'ternary': weights in {-1, 0, +1} (BitNet b1.58), no multipliers"),
    Field("bias", "bool", default=False, doc="add an int32 bias per output channel"),
    Field("resource", "choice", default="lut", choices=("lut", "dsp"),
          doc="integer products as 'lut' shift-add logic or 'dsp' registered multipliers "
              "(PE*SIMD DSP blocks); ternary weights never use multipliers, so only 'lut'"),
    Field("pipeline", "int", default=1, lo=0, hi=8,
          doc="register stages inside the product adder tree (0: combinational)"),
)
_PIPELINE = Field("pipeline", "int", default=1, lo=0, hi=8,
                  doc="register stages inside the popcount adder tree (0: combinational)")
#: fully unrolled binary layers (issue #10): weights folded into logic, MST-shared popcounts
_UNROLL = (
    Field("unroll", "choice", default="none", choices=("none", "full"),
          doc="'full': weights become constants in logic, one vector per cycle; "
              "sets pe to the outputs and simd to the fan-in"),
    Field("share", "choice", default="none", choices=("none", "mst"),
          doc="'mst' (needs unroll: full): a channel reuses the result of a channel with "
              "similar weights (minimum spanning tree over Hamming distances)"),
    Field("share_depth", "int", default=2, lo=1, hi=8,
          doc="share: mst only; longest chain of reuse (each link adds one adder stage)"),
)
_X0 = (
    Field("x0", "int", lo=-(1 << 31) + 1, hi=-1, doc="exponent quantum: x0 = floor(-1/scale) < 0"),
    Field("input_scale", "number", lo=0, lo_open=True, doc="input scale; sets x0"),
)

_ROUNDING = Field("rounding", "choice", default="half_up", choices=("half_up", "half_even", "floor"),
                  doc="how the dyadic rescale rounds (DESIGN section 2): 'half_up' (HAWQ-V3), "
                      "'half_even' (ONNX/QONNX ROUND, torch.round) or 'floor' (QONNX FLOOR)")

#: op -> its own keys (besides the common layer keys), in documentation order
OP_FIELDS: dict[str, tuple[Field, ...]] = {
    "binary_dense": (_size("out_features", "output features"), _PIPELINE) + _UNROLL,
    "binary_conv2d": (_size("out_channels", "output channels"),) + _KERNEL + (_PIPELINE,)
    + _UNROLL,
    "dense": (_size("out_features", "output features"),) + _WEIGHTS,
    "conv2d": (_size("out_channels", "output channels"),) + _KERNEL + _WEIGHTS,
    "threshold": (
        Field("bits", "int", required=True, lo=1, hi=4, doc="output bits (1 = binary -1/+1)"),
        Field("per_channel", "bool", default=True, doc="one threshold row per channel"),
    ),
    "requant": (
        Field("bits", "int", required=True, lo=2, hi=32, doc="output bits"),
        Field("signed", "bool", default=True, doc="signed output"),
        Field("per_channel", "bool", default=False, doc="one multiplier/shift per channel"),
        _ROUNDING,
    ),
    "maxpool2d": (_size("kernel_size", "pool window k x k, stride k"),),
    "flatten": (),
    "argmax": (),
    "add": (
        Field("bits", "int", required=True, lo=2, hi=32, doc="output bits"),
        Field("signed", "bool", default=True, doc="signed output"),
        _ROUNDING,
    ),
    "matmul": (
        Field("transpose_b", "bool", default=False, doc="a @ b.T per head (attention QK^T)"),
        Field("heads", "int", default=1, lo=1, doc="heads H: a is [M, H*Ka], b [R, H*Kb]"),
    ),
    "shiftmax": _X0 + (
        Field("out_bits", "int", default=8, lo=2, hi=16, doc="unsigned output bits"),
        Field("heads", "int", default=1, lo=1,
              doc="softmax separately over each of H equal groups of the last axis "
                  "(the heads of a matmul output [M, H*R])"),
    ),
    "shiftgelu": _X0,
    "layernorm": (
        Field("sqrt", "choice", default="exact", choices=("exact", "ivit"),
              doc="'exact': floor(isqrt); 'ivit': 10 Newton steps from 2**16"),
        Field("bias", "bool", default=False, doc="add an int32 bias per channel"),
    ),
}

#: groups of keys of which exactly one must be given
ONE_OF = {"shiftmax": ("x0", "input_scale"), "shiftgelu": ("x0", "input_scale")}

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
