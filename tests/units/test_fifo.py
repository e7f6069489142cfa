"""StreamFIFO: every beat in order under random stalls, full rate, the latency it states and
its parameter checks, for each of its three builds (output register, registered write, and
the block-RAM read behind a credit queue)."""

import numpy as np
import pytest
from amaranth.hdl import signed, unsigned
from amaranth.lib import data

from hwgen.units.fifo import LUTRAM_DEPTH, StreamFIFO
from sim.amaranth_streams import simulate_stream

pytestmark = pytest.mark.filterwarnings("ignore:.*created but never used")

LAYOUT = data.ArrayLayout(signed(5), 2)

#: (depth, keywords): the three builds at small and deep depths
BUILDS = {
    "register_4": (4, {}),
    "register_20": (20, {}),
    "registered_write_5": (5, dict(registered_write=True)),
    "block_ram_3": (3, dict(block_ram=True)),
    "block_ram_6": (6, dict(block_ram=True)),
    "block_ram_deep": (LUTRAM_DEPTH + 3, {}),
}


def _words(count, seed):
    return np.random.default_rng(seed).integers(0, 1 << 10, count).tolist()


@pytest.mark.parametrize("name", sorted(BUILDS))
@pytest.mark.parametrize("stall", [0.0, 0.3, 0.6])
def test_every_beat_in_order_under_stalls(name, stall):
    """Nothing lost or repeated with random valid and ready (``stream_get`` also checks that
    a beat on show stays while not taken), with registers without a reset and the memories
    starting at random bits."""
    depth, keywords = BUILDS[name]
    words = _words(90, depth)
    got = simulate_stream(StreamFIFO(LAYOUT, depth=depth, **keywords), words, len(words),
                          stall=stall, seed=depth, scramble=depth)
    assert got == words


@pytest.mark.parametrize("name", sorted(BUILDS))
def test_full_rate_and_stated_latency(name):
    """Without stalls a beat per cycle in and out, the first ``latency`` cycles after it
    went in (what the composer and the manifest count)."""
    depth, keywords = BUILDS[name]
    dut = StreamFIFO(LAYOUT, depth=depth, **keywords)
    ins, outs = [], []
    words = _words(40, 1)
    assert simulate_stream(dut, words, len(words), stamps=(ins, outs)) == words
    assert np.diff(ins).tolist() == [1] * 39
    assert np.diff(outs).tolist() == [1] * 39
    assert outs[0] - ins[0] == dut.latency


def test_block_ram_is_the_default_above_lutram_depth():
    """Deeper than ``LUTRAM_DEPTH`` the read goes through the credit queue; its ``o.payload``
    is that queue's LUTRAM read (one level for the composer) and ``o.ready`` reaches its
    pointer and count only."""
    deep = StreamFIFO(LAYOUT, depth=LUTRAM_DEPTH + 1)
    shallow = StreamFIFO(LAYOUT, depth=LUTRAM_DEPTH)
    assert (deep.block_ram, deep.latency, deep.payload_levels) == (True, 4, 1)
    assert (shallow.block_ram, shallow.latency, shallow.payload_levels) == (False, 2, 0)
    assert deep.ready_fanout < shallow.ready_fanout


@pytest.mark.parametrize("keywords, error, message", [
    (dict(depth=0), ValueError, "depth must be at least 1, not 0"),
    (dict(depth=4, registered_write=1), TypeError, "registered_write must be True or False"),
    (dict(depth=LUTRAM_DEPTH + 1, registered_write=True), ValueError,
     "registered_write needs a LUTRAM of at most 64 beats"),
    (dict(depth=4, block_ram="yes"), TypeError,
     "block_ram must be True, False or None, not 'yes'"),
    (dict(depth=4, block_ram=True, registered_write=True), ValueError,
     "block_ram reads a synchronous memory, registered_write an asynchronous one"),
])
def test_parameter_errors(keywords, error, message):
    with pytest.raises(error, match=message.replace("(", r"\(").replace(")", r"\)")):
        StreamFIFO(data.ArrayLayout(unsigned(3), 2), **keywords)
