"""Hypothesis strategy of random network specs drawn from the op table (every op, every key).

A spec is an input type and 1..3 layers, each of an op drawn from
:data:`hwgen.ops.OPS`, its keys drawn from the op's own fields (each
``Field``'s kind, range and choices; sizes kept small), two-input ops reading
the input and the previous layer, accumulator ops sometimes with an inline
activation. ``seed:`` gives the parameters. Nothing here names an op: a new
op of the table is drawn as soon as it is registered.

:func:`specs` yields the YAML text, every layer fully folded;
:func:`fold_choices` then gives, for a loaded spec, the divisors of what each
layer's fold rule says ``pe`` and ``simd`` divide, to draw a folding from and
reload with ``folds=``. Most drawn specs are invalid in some way (shapes that
do not fit the op); the caller ``assume``s the loader accepts them.
"""

from hypothesis import strategies as st

from hwgen.ops import OPS
from hwgen.spec import SpecError, loads

__all__ = ["draw_value", "spec_text", "specs", "fold_choices", "load_folded", "SOURCE"]

#: the file name drawn specs are loaded as (errors must name it)
SOURCE = "fuzz.yaml"

#: sizes drawn for input dimensions and unbounded sizes (out_features, kernel_size, heads, ...)
SIZES = (1, 2, 3, 4, 6, 8)
#: span drawn for other unbounded integers
SMALL = 6


def draw_value(draw, field, label):
    """A value for ``field`` (kind, range, choices), small where it is unbounded."""
    if field.kind == "bool":
        return draw(st.booleans(), label=label)
    if field.kind == "choice":
        return draw(st.sampled_from(field.choices), label=label)
    if field.kind == "int" and field.hi is None and field.lo == 1:
        return draw(st.sampled_from(SIZES), label=label)   # a size: like the input's dims
    if field.kind == "int":
        lo = int(field.lo) if field.lo is not None else -SMALL
        hi = int(field.hi) if field.hi is not None else lo + SMALL
        if hi - lo > 40:                       # x0: a few tens below -1; others from lo up
            lo, hi = (hi - 40, hi) if hi < 0 else (lo, lo + 40)
        return draw(st.integers(lo, hi), label=label)
    if field.kind == "number":
        return draw(st.sampled_from([0.05, 0.1, 0.3, 1.0]), label=label)
    return draw(st.text(min_size=1, max_size=4), label=label)


def _attrs(draw, op, prefix):
    values = {}
    chosen = draw(st.sampled_from(op.one_of), label=f"{prefix} one of") if op.one_of else None
    for field in op.fields:
        if field.name in op.one_of and field.name != chosen:
            continue
        if field.required or field.name == chosen or draw(st.booleans(), label=f"{prefix} "
                                                          f"{field.name}?"):
            values[field.name] = draw_value(draw, field, f"{prefix} {field.name}")
    return values


def _flow(values):
    def text(v):
        if isinstance(v, bool):
            return "true" if v else "false"
        return str(v)
    return "{" + ", ".join(f"{k}: {text(v)}" for k, v in values.items()) + "}"


def spec_text(input_, layers, name="fuzz_spec"):
    """Network YAML with ``seed: 0`` from an input mapping and a list of layer mappings."""
    lines = [f"name: {name}", f"input: {_flow(input_)}", "seed: 0", "layers:"]
    return "\n".join(lines + [f"  - {_flow(layer)}" for layer in layers]) + "\n"


@st.composite
def specs(draw, max_layers=3):
    """YAML text of a random network over the op table (every layer fully folded)."""
    rank = draw(st.integers(1, 3), label="input rank")
    shape = [draw(st.sampled_from(SIZES), label="dim") for _ in range(rank)]
    bits = draw(st.sampled_from([1, 2, 4, 8]), label="input bits")
    input_ = {"shape": "[" + ", ".join(map(str, shape)) + "]", "bits": bits}
    if bits > 1:
        input_["signed"] = draw(st.booleans(), label="input signed")
    names = list(OPS)
    layers, previous = [], "input"
    for index in range(draw(st.integers(1, max_layers), label="layers")):
        op = OPS[draw(st.sampled_from(names), label="op")]
        layer = {"name": f"l{index}", "op": op.name, **_attrs(draw, op, op.name)}
        if op.inputs == 2:
            layer["inputs"] = f"[input, {previous}]" if previous != "input" else "[input, input]"
        if op.accumulator and draw(st.booleans(), label="activation?"):
            act = OPS[draw(st.sampled_from([n for n in names if OPS[n].activation]),
                           label="activation")]
            layer["activation"] = _flow({"op": act.name, **_attrs(draw, act, act.name)})
        layers.append(layer)
        previous = layer["name"]
    return spec_text(input_, layers)


def fold_choices(spec):
    """{layer name: ([pe options], [simd options])}: the divisors each fold rule allows."""
    def divisors(dim):
        return [d for d in range(1, dim[1] + 1) if dim[1] % d == 0] if dim else [1]
    choices = {}
    for layer in spec.layers:
        op = OPS[layer.op]
        if op.unrolls and layer.attrs.unroll != "none":
            continue                       # unroll: full sets pe and simd itself
        dims = op.fold(layer.attrs, layer.in_types)
        choices[layer.name] = (divisors(dims.pe), divisors(dims.simd))
    return choices


def load_folded(data, text):
    """The spec of ``text`` with a drawn folding, or None when the loader rejects it."""
    try:
        spec = loads(text, source=SOURCE)
    except SpecError:
        return None
    folds = {name: (data.draw(st.sampled_from(pes), label=f"{name} pe"),
                    data.draw(st.sampled_from(simds), label=f"{name} simd"))
             for name, (pes, simds) in fold_choices(spec).items()}
    try:
        return loads(text, source=SOURCE, folds=folds)
    except SpecError:                # an inline activation folds by its own rule
        return None
