"""hwgen.importer.fit: thresholds and dyadic fits reproduce tabulated step functions exactly."""

import numpy as np
import pytest

from hwgen.importer import fit


def test_thresholds_first_reaching_inputs_and_out_of_range_sentinels():
    # f on x = -3..4; levels -1..1 (base -1 -> hardware 0..2), one unused level
    values = np.array([-1, -1, 0, 0, 0, 1, 1, 1])
    assert fit.thresholds(values, -3, -1, 3) == [-1, 2, 5]
    # a constant channel: always-met levels below the range, never-met above it
    assert fit.thresholds(np.zeros(5, np.int64), 10, -1, 3) == [9, 15, 15]


@pytest.mark.parametrize("rounding", ["half_up", "half_even", "floor"])
def test_fit_dyadic_is_exact_on_random_affine_maps(rounding):
    rng = np.random.default_rng(7)
    rounders = {"half_up": lambda v: np.floor(v + 0.5), "half_even": np.round, "floor": np.floor}
    for _ in range(60):
        ratio = float(rng.uniform(1e-3, 4))
        offset = int(rng.integers(-40, 40))
        x = np.arange(-500, 500)
        f = np.clip(rounders[rounding]((x + offset) * ratio), -128, 127).astype(np.int64)
        steps = fit.steps_of_table(f, -500)
        found = fit.fit_dyadic(steps, rounding, -128, 127, candidates=[(offset, 0)], ratio=ratio)
        assert found is not None, (ratio, offset)
        np.testing.assert_array_equal(fit.dyadic_apply(x, *found, -128, 127, rounding), f)


def test_fit_dyadic_refuses_what_no_requant_can_do():
    """FINN's ``2x - 1`` then ROUND: ties on both sides of 0 round to even, so
    ``round((q - 8) * 127/8)`` needs the offset before rounding; a zero point after it cannot."""
    q = np.arange(32)
    f = np.clip(np.round((q - 8) * 127 / 8), -127, 127).astype(np.int64)
    steps = fit.steps_of_table(f, 0)
    assert fit.fit_dyadic(steps, "half_even", -128, 127, candidates=[(0, -127)]) is None
    found = fit.fit_dyadic(steps, "half_even", -128, 127, candidates=[(-8, 0)], ratio=127 / 8)
    assert found is not None
    np.testing.assert_array_equal(fit.dyadic_apply(q, *found, -128, 127, "half_even"), f)


def test_float_ties_flags_only_steps_at_a_half_way_point():
    x = np.arange(0, 100)
    f = np.round(x * 0.1).astype(np.int64)          # ties at x = 5, 15, ... (0.5, 1.5, ...)
    steps = fit.steps_of_table(f, 0)
    loose = fit.float_ties(steps, 0.1, 0.0, "half_even")
    assert loose and loose <= set(steps.at)
    assert fit.float_ties(steps, 0.1, 0.37, "half_even") == set()
