"""YAML -> plain values with line numbers."""

import pytest
import yaml
from hypothesis import given, settings, strategies as st

from hwgen.spec import SpecError
from hwgen.spec.yamlsrc import Map, Seq, line_of, parse


def test_lines_of_keys_and_items():
    doc = parse("a: 1\nb:\n  - x\n  -\n    - 2\n    - 3\nc: {d: [4,\n  5]}\n")
    assert isinstance(doc, Map) and doc == {"a": 1, "b": ["x", [2, 3]], "c": {"d": [4, 5]}}
    assert doc.key_lines == {"a": 1, "b": 2, "c": 7}
    assert doc["b"].item_lines == [3, 5] and isinstance(doc["b"], Seq)
    assert doc["b"][1].item_lines == [5, 6]
    assert doc["c"]["d"].item_lines == [7, 8]
    assert line_of(doc, "c") == 7 and line_of(doc["b"], 1) == 5 and line_of(doc, "zz") == doc.line


def test_merge_keys_and_duplicates():
    doc = parse("base: &b {x: 1, y: 2}\nm: {<<: *b, y: 3}\n")
    assert doc["m"] == {"x": 1, "y": 3}
    assert doc["m"].key_lines == {"x": 1, "y": 2}
    with pytest.raises(SpecError) as info:
        parse("m:\n  x: 1\n  y: 2\n  x: 3\n", "f.yaml")
    assert (info.value.line, info.value.path) == (4, "m.x")
    assert "first given on line 2" in info.value.message


def test_errors_have_lines():
    with pytest.raises(SpecError) as info:
        parse("a: 1\nb: [1, 2\nc: 3\n", "f.yaml")
    assert info.value.line is not None and info.value.file == "f.yaml"
    with pytest.raises(SpecError, match="unsupported YAML tag|cannot read this value") as info:
        parse("a: !!python/tuple [1, 2]\n")
    assert info.value.line == 1
    with pytest.raises(SpecError, match="recursive alias"):
        parse("a: &x [1, *x]\n")
    assert parse("") is None and parse("# only a comment\n") is None


scalars = st.one_of(st.integers(-2**40, 2**40), st.booleans(), st.none(),
                    st.text("abcxyz_", min_size=1, max_size=6),
                    st.floats(allow_nan=False, allow_infinity=False, width=32))
values = st.recursive(scalars, lambda inner: st.one_of(
    st.lists(inner, max_size=4),
    st.dictionaries(st.text("abkey_", min_size=1, max_size=5), inner, max_size=4)), max_leaves=12)


@settings(max_examples=60, deadline=None)
@given(values, st.booleans())
def test_same_values_as_pyyaml(value, flow):
    text = yaml.safe_dump({"root": value}, default_flow_style=flow)
    assert parse(text) == yaml.safe_load(text)


def test_alias_chains_deeper_than_the_limit_are_refused():
    """Each anchor holds the previous one: shallow text, deep values once expanded."""
    from hwgen.spec import SpecError
    from hwgen.spec.yamlsrc import MAX_DEPTH, parse
    lines = ["a0: &a0 [1]"] + [f"a{i}: &a{i} [*a{i - 1}]" for i in range(1, MAX_DEPTH + 2)]
    try:
        parse("\n".join(lines) + "\n", "deep.yaml")
    except SpecError as error:
        assert error.file == "deep.yaml" and "nested more than" in error.message
    else:
        raise AssertionError("an alias chain deeper than MAX_DEPTH was accepted")
