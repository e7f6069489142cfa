"""Every example that builds today passes ``verilator --lint-only -Wall`` with the reviewed waivers.

Examples whose ops have no hardware yet are skipped with the NotImplementedError
that names their issue, so each one is linted here automatically once its
unit lands. Every example is linted in CI exactly once: those that a network
test lints in CI while building it for cosimulation (``lint_and_cosimulate`` in
tests/test_networks.py and tests/test_unrolled_networks.py) run here only under
``-m slow``; every other example is linted here.
"""

from pathlib import Path

import pytest

from hwgen.export import to_verilog
from hwgen.network import build_network
from hwgen.spec import load

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"
NAMES = sorted(p.stem for p in EXAMPLES.glob("*.yaml"))


# Linted in CI by lint_and_cosimulate in tests/test_networks.py, tests/test_ivit_network.py
# and tests/test_unrolled_networks.py; every other example is linted here.
LINTED_ELSEWHERE = ("sfc_balanced", "sfc_mixed", "sfc_comb", "sfc_narrow", "lfc", "tiny_bnn",
                    "int8_mlp", "ternary_mlp", "int4_cnn", "cnv_ci", "residual_mlp",
                    "attention_mini", "jsc_m_correlated", "cnv", "ivit_block", "sfc_deep",
                    "sfc_fast", "sfc_unrolled_tail", "jsc_m_mst", "jsc_m_unrolled")


def _param(name):
    if name in LINTED_ELSEWHERE:
        return pytest.param(name, marks=pytest.mark.slow)
    return name


@pytest.mark.filterwarnings("ignore:.*created but never used")
@pytest.mark.parametrize("name", [_param(name) for name in NAMES])
def test_example_lints_clean(name, tmp_path):
    from sim.verilator import lint
    spec = load(EXAMPLES / f"{name}.yaml")
    try:
        design = build_network(spec)
    except NotImplementedError as error:
        pytest.skip(f"no hardware yet: {error}")
    path = tmp_path / f"{spec.name}.v"
    path.write_text(to_verilog(design.top, spec.name))
    result = lint(path, spec.name)
    assert result.returncode == 0 and "%Warning" not in result.stderr, result.stderr[:3000]
