"""Whatever the spec loader accepts, composes: random specs over the op table build into hardware.

:mod:`tests.fuzz.op_specs` draws networks of every op of the table with
random keys, shapes and foldings (``pe``/``simd`` from the divisors the op's
fold rule allows). Every spec ``hwgen.spec.loads`` accepts must compose with
``hwgen.network.build_network``: no exception at all, except a
NotImplementedError for a combination whose hardware is documented as not
built yet, and even that must name the file, line and layer like the
loader's errors. Composing builds Python objects only (nothing is
elaborated), so a hundred specs take seconds.
"""

import pytest
from hypothesis import HealthCheck, assume, event, given, settings
from hypothesis import strategies as st

from hwgen.network import build_network

from .fuzz.op_specs import SOURCE, load_folded, specs

pytestmark = pytest.mark.filterwarnings("ignore:.*created but never used")


@settings(max_examples=300, deadline=None, suppress_health_check=list(HealthCheck))
@given(data=st.data())
def test_every_accepted_spec_composes(data):
    text = data.draw(specs())
    spec = load_folded(data, text)
    assume(spec is not None)
    try:
        build_network(spec)
    except NotImplementedError as error:       # hardware not built yet: say where
        assert str(error).startswith(f"{SOURCE}:"), (text, error)
        event("not built yet")
    else:
        event(f"composed: {' '.join(layer.op for layer in spec.layers)}")
