"""What one operator is: the record every module of the op table defines (``OP``).

An :class:`Op` holds everything hwgen knows about an operator, so that the
spec loader, the golden model, the unit factory, the planner, the manifest,
the fuzzers and the proofs read one place instead of keeping lists of op
names. The op table sits below both the golden model and the hardware: its
modules import neither. The golden factory names a class of
:mod:`sw_reference.modules` (``golden``) and says how to build it
(``golden_args``); the hardware factory receives the unit catalog
(:mod:`hwgen.units`) as an argument.

The inference context
---------------------
``infer(ctx, raw, in_types, in_moments)`` runs inside the spec loader, which
passes itself as ``ctx``. An op reads its layer from ``raw``
(``raw.name``, ``raw.op``, ``raw.attrs``, ``raw.inputs``, ``raw.pe``,
``raw.simd``) and may use, from ``ctx``:

- ``ctx.params``: the parameter source, ``.generated`` (``seed:``) with
  ``.seed``, else ``.get(raw, key, shape, shape_doc, required=True)`` reading
  ``<layer>.<key>`` from the npz; ``.describe(key)`` and ``.note()`` for messages;
- errors, each a :class:`~hwgen.spec.SpecError` naming file, line and YAML path:
  ``ctx.shape_error(raw, message, hint=None, key=None)`` (at ``inputs`` or
  ``key``), ``ctx.param_error(raw, message, hint=None)`` (at the layer),
  ``ctx.need_rank(raw, tensor, ranks, what, hint=None)``;
- wording: ``ctx.who(raw)``, ``ctx.producer(raw, j)``, ``ctx.its_input(raw, j)``,
  ``ctx.pdesc(raw, key)``; ``ctx.check_int32(raw, key, array)``.

It returns ``(out_type, params, moments)``: the exact output
:class:`~hwgen.ops._tensor.TensorType`, the layer's parameters ``{key: int64
array}`` and the estimated output :class:`~hwgen.ops._random.Moments` (which
``seed:`` parameters of later layers are drawn from).

The vocabulary ops are written in lives in this package too, below the spec
loader that reads the table: :class:`~hwgen.ops._field.Field` (a YAML key),
:class:`~hwgen.ops._tensor.TensorType` and the random parameter draws of
``seed:`` networks (:mod:`hwgen.ops._random`); ``hwgen.spec`` re-exports them.
"""

from __future__ import annotations

from dataclasses import dataclass, field, make_dataclass
from typing import Any
from collections.abc import Callable

from ._field import Field

__all__ = ["Op", "FoldDims", "attrs_class", "integer_input"]

_PYTHON_TYPES = {"int": int, "bool": bool, "str": str, "number": float, "choice": str}


@dataclass(frozen=True)
class FoldDims:
    """What ``pe`` and ``simd`` must divide: ``(description, size)`` each, or None when the op
    has nothing to fold that way (then the value must stay 1)."""
    pe: tuple[str, int] | None
    simd: tuple[str, int] | None = None


def attrs_class(name: str, fields: tuple[Field, ...]):
    """A frozen dataclass ``<Name>Attrs`` with one attribute per field, defaults from the fields.

    Fields without a default (required ones, and keys such as ``x0`` that the
    loader resolves) default to None here; the loader always passes every value.
    """
    title = "".join(part.title() for part in name.split("_")) + "Attrs"
    spec = [(f.name, _PYTHON_TYPES[f.kind] | None, field(default=f.default)) for f in fields]
    cls = make_dataclass(title, spec, frozen=True)
    cls.__doc__ = (f"Attributes of a ``{name}`` layer, defaults applied: "
                   + (", ".join(f"``{f.name}``" for f in fields) or "none") + ".")
    return cls


def integer_input(layer, source):
    """NotImplementedError for a unit that reads its elements as integers when ``source`` is
    binary: a -1/+1 element is one bit (1 = +1) in hardware, which such a unit would read as
    0/1 and compute wrong results from."""
    if source.binary:
        raise NotImplementedError(
            f"layer {layer.name!r}: {layer.op} of binary (-1/+1) elements ({source.describe()}) "
            f"has no hardware yet (its unit reads integers, where -1 is bit 0); `hwgen "
            f"reference` runs it in the golden model. Put a layer with integer outputs "
            f"before it, e.g. a dense layer or a threshold with bits >= 2")


def _no_params(attrs) -> bool:
    return False


def _not_foldable(attrs, in_types) -> FoldDims:
    return FoldDims(None, None)


@dataclass(frozen=True, eq=False)
class Op:
    """One operator of the op table.

    Parameters
    ----------
    name : str          the YAML ``op:`` value
    doc : str           what it computes, one line
    fields : tuple of Field     its own YAML keys (besides ``name``, ``op``, ``inputs``,
                        ``pe``, ``simd``, ``activation``), types, ranges and defaults
    infer : callable    ``(ctx, raw, in_types, in_moments) -> (out_type, params, moments)``
                        (see the module docstring)
    golden : str        the class of :mod:`sw_reference.modules` that computes it
    golden_args : callable   ``layer -> {keyword: value}`` building ``golden``
    hardware : callable or None
        ``(layer, source, in_shape, units, flattened_from=None) -> unit or [units]``:
        ``source`` is the TensorType the first unit reads, ``in_shape`` its
        element shape, ``units`` the catalog :mod:`hwgen.units`,
        ``flattened_from`` the [C, H, W] a ``flatten`` before it had (only if
        ``reads_flattened``). None: no unit (``rewires``), or not built yet.
    cycles : callable   ``(layer, units) -> int``, steady-state cycles per sample of the
                        units ``hardware`` made
    fold : callable     ``(attrs, in_types) -> FoldDims``: what ``pe`` and ``simd`` divide
    inputs : int        number of input tensors (``inputs: [a, b]`` when 2)
    one_of : tuple      keys of which exactly one must be given
    resolve_attrs : callable or None
        ``(ctx, m, attrs, path, what)``, run once the keys are checked: derives
        or cross-checks attributes (``x0`` from ``input_scale``, ...) in the dict ``attrs``
    has_params : callable   ``attrs -> bool``: the layer reads an npz (or ``seed:``)
    weight_bits : callable or None   ``attrs -> bits per weight`` (PokeBNN's ACE)
    accumulator : bool  its output may be narrowed by an inline ``activation``
    activation : bool   it may be written as an inline ``activation``
    unrolls : bool      takes ``unroll``/``share``/``share_depth`` (binary MVU ops)
    chains : bool       unrolled, it may join the run of unrolled layers before it (one
                        vector in, one out: a dense layer, not a convolution's windows)
    reads_flattened : bool   its hardware may read a ``flatten`` of a feature map
    rewires : bool      no unit: its output is its input's stream, regrouped (``flatten``)

    Attributes
    ----------
    attrs : type        the frozen dataclass of a layer's attributes, made from ``fields``
                        (``LayerSpec.attrs`` is one; :meth:`make_attrs` builds one)
    """
    name: str
    doc: str
    fields: tuple[Field, ...]
    infer: Callable
    golden: str
    golden_args: Callable
    hardware: Callable | None
    cycles: Callable
    fold: Callable = _not_foldable
    inputs: int = 1
    one_of: tuple[str, ...] = ()
    resolve_attrs: Callable | None = None
    has_params: Callable = _no_params
    weight_bits: Callable | None = None
    accumulator: bool = False
    activation: bool = False
    unrolls: bool = False
    chains: bool = False
    reads_flattened: bool = False
    rewires: bool = False
    attrs: Any = field(init=False, repr=False)

    def __post_init__(self):
        object.__setattr__(self, "attrs", attrs_class(self.name, self.fields))

    @property
    def keys(self) -> tuple[str, ...]:
        """Its own YAML keys, in documentation order."""
        return tuple(f.name for f in self.fields)

    def make_attrs(self, **values):
        """Typed attributes from ``values`` (missing keys take their schema defaults)."""
        return self.attrs(**values)
