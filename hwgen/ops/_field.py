"""The vocabulary op keys are written in (:class:`Field`), and the limits and wording the op
table and the spec loader share."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

__all__ = ["Field", "divisors", "list_divisors", "shape_text", "INT32_MIN", "INT32_MAX",
           "INT64_MAX", "MAX_PARAM_ELEMENTS", "MAX_TENSOR_ELEMENTS"]

INT32_MIN, INT32_MAX = -(1 << 31), (1 << 31) - 1
INT64_MAX = (1 << 63) - 1
#: refuse parameter tensors larger than this (an FPGA network never has them; a typo does)
MAX_PARAM_ELEMENTS = 1 << 26
#: refuse activations (input or any layer output) with more elements per sample than this:
#: 64 Mi elements, e.g. [64, 1024, 1024], is beyond any streaming accelerator's buffers
MAX_TENSOR_ELEMENTS = 1 << 26


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


def divisors(n: int) -> list[int]:
    """The divisors of ``n`` in ascending order."""
    small = [d for d in range(1, math.isqrt(n) + 1) if n % d == 0]
    return sorted(set(small + [n // d for d in small]))


def list_divisors(n: int) -> str:
    """The divisors of ``n`` as text for a hint, shortened when there are many."""
    divs = divisors(n)
    if len(divs) > 24:
        divs = divs[:12] + ["..."] + divs[-4:]
    return ", ".join(str(d) for d in divs)


def shape_text(shape) -> str:
    """``[2, 3]``: a shape as written in YAML."""
    return "[" + ", ".join(str(d) for d in shape) + "]"


def _num(x):
    return int(x) if float(x).is_integer() else x
