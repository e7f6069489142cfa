"""The YAML reference page, generated from the schema that the loader checks against.

``schema_tables()`` is the one place that knows where the schema lives (each
op's keys in its module of the op table ``hwgen.ops``, the top-level keys in
``hwgen.spec.schema``); everything else here only formats what it returns. What the schema
does not say (a one-line meaning per op, its npz keys, the meaning of the
top-level and common layer keys) is written in ``OP_NOTES``, ``TOP_NOTES`` and
``LAYER_NOTES`` below; ``tests/test_docs.py`` fails when one of them misses a
key the schema has or names one it does not.

    python docs/gen_yaml_reference.py      # print the page as Markdown
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["OpEntry", "SchemaTables", "schema_tables", "render"]


@dataclass(frozen=True)
class OpEntry:
    """One op: its own keys (``Field`` objects) and what the schema says about it."""
    name: str
    fields: tuple
    n_inputs: int
    params: bool          # takes parameters from the npz or ``seed``
    accumulator: bool     # may carry an inline ``activation``
    one_of: tuple         # keys of which exactly one must be given


@dataclass(frozen=True)
class SchemaTables:
    top_keys: tuple
    input_fields: tuple
    target_fields: tuple
    layer_keys: tuple
    activation_ops: tuple
    ops: tuple            # of OpEntry, in documentation order


def schema_tables() -> SchemaTables:
    """Every op and its fields, plus the top-level, ``input``, ``target`` and common layer
    keys, read from the op table (``hwgen.ops.OPS``: each op's fields, inputs and flags) and
    the spec's top-level schema. Nothing else in the docs reads them."""
    from hwgen.ops import OPS
    from hwgen.spec import schema as s

    def takes_params(op):
        # with every boolean key true: layernorm reads its bias only with bias: true
        return bool(op.has_params(op.make_attrs(**{f.name: True for f in op.fields
                                                   if f.kind == "bool"})))
    ops = tuple(OpEntry(op.name, op.fields, op.inputs, takes_params(op), op.accumulator,
                        op.one_of) for op in OPS.values())
    activations = tuple(op.name for op in OPS.values() if op.activation)
    return SchemaTables(tuple(s.TOP_KEYS), tuple(s.INPUT_FIELDS), tuple(s.TARGET_FIELDS),
                        tuple(s.LAYER_KEYS), activations, ops)


#: what the schema's key tuples do not carry: the meaning of each top-level key
TOP_NOTES = {
    "name": ("string `[a-z_][a-z0-9_]*`, not a Verilog keyword", "required",
             "the Verilog top module's name, and the default output folder `rtl_out/<name>/`"),
    "input": ("mapping, see [input](#input)", "required", "shape and number format of one sample"),
    "weights": ("string (path)", "-",
                "`.npz` file of integer parameters, relative to the YAML file's folder "
                "(keys: [parameters](#parameters-npz-keys))"),
    "seed": ("integer >= 0", "-",
             "instead of `weights`: random valid parameters drawn from this seed; a network "
             "whose layers take parameters gives exactly one of `weights` and `seed`"),
    "target": ("mapping, see [target](#target)", "all defaults", "clock, device and stream width"),
    "layers": ("non-empty list of layers", "required",
               "run in order; each one is a mapping of the [common keys](#every-layer) and "
               "its op's keys"),
}

#: the meaning of the keys every layer may have
LAYER_NOTES = {
    "name": ("identifier `[A-Za-z_][A-Za-z0-9_]*`, unique, not `input`", "required",
             "names the layer in errors, reports, npz keys (`<name>.weight`) and `inputs`"),
    "op": ("one of the ops below", "required", "what the layer computes"),
    "inputs": ("list of layer names (or `input`)", "the previous layer",
               "the tensors this layer reads; two for `add` and `matmul` (residuals, attention)"),
    "pe": ("integer >= 1", "1",
           "processing elements: output channels computed in parallel; must divide them"),
    "simd": ("integer >= 1", "1",
             "input elements consumed per cycle; must divide the fan-in (1 for ops without one)"),
    "activation": ("mapping with `op: threshold` or `op: requant` and that op's keys", "none",
                   "an activation fused into the layer; parameters under `<name>.act.*`"),
}

#: per op: what it computes (the exact integer semantics are on the Design pages) and the
#: npz keys it reads
OP_NOTES = {
    "binary_dense": ("XNOR-popcount fully connected layer on -1/+1 inputs and weights: "
                     "`2 * popcount(xnor(x, w)) - K`.", "`weight` [out, in] of -1/+1"),
    "binary_conv2d": ("XNOR-popcount convolution over a k x k x C window; padding pads -1.",
                      "`weight` [out, C, k, k] of -1/+1"),
    "dense": ("integer (or ternary) fully connected layer: exact multiply-accumulate, "
              "optional int32 bias.", "`weight` [out, in], `bias` [out] (with `bias: true`)"),
    "conv2d": ("integer (or ternary) convolution, as `dense` per output pixel.",
               "`weight` [out, C, k, k], `bias` [out] (with `bias: true`)"),
    "threshold": ("multi-threshold activation: `y = sum_j [x >= T[c, j]]`, thresholds sorted "
                  "ascending; 1 bit means -1/+1.",
                  "`thresholds` [channels (or 1), 2**bits - 1], sorted per row"),
    "requant": ("dyadic rescale `clamp(round(x * m / 2**s) + zp, lo, hi)`, per tensor or per "
                "channel.", "`multiplier`, `shift`, optional `zero_point` ([1] or [channels])"),
    "maxpool2d": ("k x k max-pooling with stride k (an OR on binary data).", "none"),
    "flatten": ("PyTorch `flatten` of a feature map (no hardware: the next dense layer's "
                "columns are permuted).", "none"),
    "argmax": ("index of the largest element of the last axis (top-1 class).", "none"),
    "add": ("residual add: each of the two inputs dyadic-rescaled, summed with the zero "
            "point, clamped.", "`multiplier` [2], `shift` [2], optional `zero_point` [1]"),
    "add_const": ("adds one int32 constant per element of the sample (a transformer's "
                  "position term); the sum is exact and wide (narrow it with an inline "
                  "`requant`).", "`values` [the input's shape]"),
    "matmul": ("activation x activation product per head (attention's QK^T and AV).", "none"),
    "shiftmax": ("I-ViT integer softmax over the last axis (shifts and one division).", "none"),
    "shiftgelu": ("I-ViT integer GELU, `x * sigmoid(1.702 x)` with the shift-based "
                  "exponent.", "none"),
    "layernorm": ("I-BERT/I-ViT integer LayerNorm over the last axis: integer mean, "
                  "variance and square root.", "`bias` [C] (with `bias: true`)"),
}

_KINDS = {"int": "integer", "bool": "true / false", "str": "string", "number": "number",
          "shape": "list of integers >= 1"}


def field_type(field) -> str:
    """A field's type and range in words (``Field.expected`` minus its article)."""
    if field.kind == "choice":
        return "one of " + ", ".join(f"`{c}`" for c in field.choices)
    if field.kind not in ("int", "number", "bool", "str"):
        return _KINDS.get(field.kind, field.kind)
    text = field.expected()
    for article in ("an ", "a "):
        if text.startswith(article):
            text = text[len(article):]
    return text


def field_default(field) -> str:
    if field.required:
        return "required"
    if field.default is None:
        return "-"
    if isinstance(field.default, bool):
        return f"`{str(field.default).lower()}`"
    return f"`{field.default}`"


def _cell(text) -> str:
    return str(text).replace("|", "\\|").replace("\n", " ")


def _table(rows) -> list[str]:
    lines = ["| key | type | default | meaning |", "|---|---|---|---|"]
    lines += ["| " + " | ".join(_cell(c) for c in row) + " |" for row in rows]
    return lines + [""]


def _field_rows(fields):
    return [(f"`{f.name}`", field_type(f), field_default(f), f.doc) for f in fields]


def render(tables: SchemaTables | None = None) -> str:
    """The YAML reference as MyST Markdown (headings start at level 2)."""
    t = tables or schema_tables()
    out = ["## Top level", "", "A network file is one YAML mapping with these keys.", ""]
    out += _table([(f"`{key}`", *TOP_NOTES[key][:2], TOP_NOTES[key][2]) for key in t.top_keys])
    out += ["## input", "", "The network input: one sample, without a batch axis.", ""]
    out += _table(_field_rows(t.input_fields))
    out += ["## target", "", "Where the design goes; every key has a default.", ""]
    out += _table(_field_rows(t.target_fields))
    out += ["## Every layer", "", "Keys every layer may have, whatever its op.", ""]
    out += _table([(f"`{key}`", *LAYER_NOTES[key]) for key in t.layer_keys])
    acts = " or ".join(f"`{op}`" for op in t.activation_ops)
    out += [f"An inline `activation` is {acts} with that op's keys (below); it is allowed "
            "after the ops marked *takes `activation`*.", ""]
    out += ["## Operators", "",
            f"{len(t.ops)} ops. Each lists its own keys, next to the common ones above.", ""]
    for op in t.ops:
        summary, npz = OP_NOTES[op.name]
        facts = [f"{op.n_inputs} input{'s' if op.n_inputs > 1 else ''}"]
        if op.accumulator:
            facts.append("takes `activation`")
        facts.append("parameters: " + (npz if op.params else "none"))
        out += [f"### {op.name}", "", summary, "", "*" + "; ".join(facts) + ".*", ""]
        if op.one_of:
            out += ["Give exactly one of " + " and ".join(f"`{k}`" for k in op.one_of) + ".", ""]
        out += _table(_field_rows(op.fields)) if op.fields else ["No keys of its own.", ""]
    out += ["## Parameters (npz keys)", "",
            "`weights:` names an `.npz` file (`numpy.savez`) whose keys are `<layer>.<name>`, "
            "for example `fc1.weight`, `fc1.thresholds`; an inline activation's are "
            "`<layer>.act.<name>`. Values are integers: binary weights are int8 -1/+1. Each "
            "op above lists the keys it reads; a missing key, a wrong shape or a value outside "
            "its declared bits is an error naming the key, and a key no layer reads is a "
            "warning.", ""]
    return "\n".join(out)


if __name__ == "__main__":
    print(render())
