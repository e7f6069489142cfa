"""CreditQueue: slots for a pipeline's depth and result interval, parameter checks.

Its stream behaviour is tested through every unit built on it (Thresholding,
Requant, AddStreams, the MVAU family) under random valid/ready, and proven
by tests/test_formal.py.
"""

import pytest
from amaranth.hdl import unsigned

from hwgen.units._credit import CreditQueue


@pytest.mark.parametrize("stages, interval, slots", [
    (1, 1, 2), (2, 1, 4), (3, 1, 4), (4, 1, 5), (6, 1, 7),     # a result per cycle
    (2, 2, 2), (4, 2, 3), (5, 2, 3), (6, 2, 4), (8, 3, 3),     # an MVAU: one per SF cycles
    (2, 4, 1), (3, 16, 1),                 # a result leaves before the next one is due
])
def test_slots_hold_everything_in_flight(stages, interval, slots):
    """One result on show plus ``stages // interval`` in flight; a power of two up to 4 (and
    at least 2) only when a result may come every cycle."""
    queue = CreditQueue(unsigned(8), stages=stages, interval=interval)
    assert queue.slots == slots
    assert queue.slots >= stages // interval + 1


@pytest.mark.parametrize("stages, interval, slots", [
    (1, 1, 4), (2, 1, 4), (3, 1, 5), (8, 4, 3), (7, 4, 3), (8, 3, 4), (3, 2, 3), (2, 4, 1),
    (3, 4, 2), (4, 16, 1),
])
def test_registered_room_counts_one_more_in_flight(stages, interval, slots):
    """With ``room`` from a flip-flop a departure frees its slot a cycle late: one beat more."""
    queue = CreditQueue(unsigned(8), stages=stages, interval=interval, registered_room=True)
    assert queue.slots == slots
    assert queue.slots >= (stages + 1) // interval + 1


@pytest.mark.parametrize("kwargs, error, message", [
    (dict(stages=2, interval=0), ValueError, "interval must be at least 1, not 0"),
    (dict(stages=2, interval=1.5), TypeError, "interval must be an integer, not 1.5"),
    (dict(stages=0), ValueError, "stages must be at least 1, not 0"),
    (dict(stages=2, registered_room=1), TypeError, "registered_room must be True or False, not 1"),
])
def test_parameter_errors(kwargs, error, message):
    with pytest.raises(error) as info:
        CreditQueue(unsigned(8), **kwargs)
    assert message in str(info.value)
