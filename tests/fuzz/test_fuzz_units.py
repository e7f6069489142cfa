"""Property tests: random valid units under Amaranth's simulator, bit-exact against sw_reference.

Every unit of the catalog (``hwgen.units.UNITS``, checked below) has a
factory in :mod:`tests.fuzz.unit_factories`, which draws a unit (sizes,
foldings, pipeline depth, parameters including their extremes) and input
vectors (edges first); the unit runs them under random stalls on both
streams, with the stream rules checked on every stall (``simulate_stream``:
valid never drops without a handshake, payload stable while stalled).
CI replays a fixed sequence (the "ci" profile in tests/conftest.py); local
runs explore new cases. A failure found here becomes a fixed regression
test below the property.
"""

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from .unit_factories import FACTORIES, run_amaranth

pytestmark = pytest.mark.filterwarnings("ignore:.*created but never used")

EXAMPLES = 25          # per unit in CI; `pytest -m slow` runs 300 more per unit
#: units whose simulation is slow get fewer cases in CI (ShiftGELU: about 2 s each)
FEWER = {"ShiftGELU": 8}


def test_every_unit_has_a_factory():
    """Every unit of the catalog is fuzzed: a new unit without a factory fails here."""
    from hwgen.units import UNITS
    assert sorted(FACTORIES) == sorted(UNITS)


def check(name, data):
    case = FACTORIES[name](data.draw)
    stall = data.draw(st.sampled_from([0.0, 0.3, 0.7]), label="stall")
    seed = data.draw(st.integers(0, 2**16), label="stall seed")
    got = run_amaranth(case, stall=stall, seed=seed)
    assert got.tolist() == case.want.tolist(), f"{case!r}\ngot {got.tolist()}"


@pytest.mark.parametrize("name", sorted(FACTORIES))
def test_unit_matches_golden(name):
    @settings(max_examples=FEWER.get(name, EXAMPLES), deadline=None,
              suppress_health_check=list(HealthCheck))
    @given(data=st.data())
    def run(data):
        check(name, data)
    run()


@pytest.mark.slow
@pytest.mark.parametrize("name", sorted(FACTORIES))
@settings(max_examples=300, deadline=None, suppress_health_check=list(HealthCheck))
@given(data=st.data())
def test_unit_matches_golden_many(name, data):
    check(name, data)
