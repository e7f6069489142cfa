"""The op table: every op follows CONTRIBUTING.md's recipe, and nothing else names ops.

Each op is a module ``hwgen/ops/<op>.py`` defining ``OP`` and registered in
``hwgen.ops`` in one line; its golden factory names a class of
``sw_reference.modules``; it has a hardware factory unless it only rewires
the stream; its typed attributes are made from its fields with the fields'
defaults. Outside the op table no module of hwgen, sw_reference or sim holds
an op name in quotes.
"""

import dataclasses
import importlib
import re
from pathlib import Path

import pytest

import sw_reference.modules
from hwgen.ops import OPS
from hwgen.spec.schema import LAYER_KEYS

ROOT = Path(__file__).resolve().parent.parent


@pytest.mark.parametrize("name", sorted(OPS))
def test_op_follows_the_recipe(name):
    op = OPS[name]
    module = importlib.import_module(f"hwgen.ops.{name}")
    assert module.OP is op                                      # hwgen/ops/<op>.py, one OP
    assert isinstance(getattr(sw_reference.modules, op.golden), type)
    assert (op.hardware is None) == op.rewires
    assert op.inputs in (1, 2) and not (op.activation and op.inputs != 1)
    keys = op.keys
    assert len(set(keys)) == len(keys) and not set(keys) & set(LAYER_KEYS)
    assert set(op.one_of) <= set(keys)
    defaults = op.make_attrs()
    assert dataclasses.is_dataclass(defaults)
    for field in op.fields:                                     # defaults only in the fields
        assert getattr(defaults, field.name) == field.default
    with pytest.raises(dataclasses.FrozenInstanceError):
        setattr(defaults, keys[0] if keys else "x", 0)


def test_ops_are_registered_in_documentation_order():
    modules = sorted(p.stem for p in (ROOT / "hwgen" / "ops").glob("*.py")
                     if not p.stem.startswith("_"))
    assert sorted(OPS) == modules


def test_no_op_names_outside_the_op_table():
    """The issue's check: grep -rnE '"(binary_dense|shiftmax|layernorm)"' hwgen sw_reference sim
    finds op names only in the op table (code that writes YAML uses hwgen.ops.names)."""
    pattern = re.compile(r'"(binary_dense|shiftmax|layernorm)"')
    found = []
    for folder in ("hwgen", "sw_reference", "sim"):
        for path in (ROOT / folder).rglob("*.py"):
            if path.is_relative_to(ROOT / "hwgen" / "ops"):
                continue
            for number, line in enumerate(path.read_text().splitlines(), 1):
                if pattern.search(line):
                    found.append(f"{path.relative_to(ROOT)}:{number}: {line.strip()}")
    assert not found, "\n".join(found)


def test_rounding_modes_agree_with_the_golden_model():
    from hwgen.ops._dyadic import ROUNDING
    from sw_reference.ops import ROUNDING_MODES
    assert ROUNDING.choices == ROUNDING_MODES
