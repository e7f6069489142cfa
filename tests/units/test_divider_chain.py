"""DividerChain (long division in chunks, one iterative divider each) against ``divmod``.

Exhaustive on 6-bit dividends / 4-bit divisors and constant dividends for
every chunk size, LayerNorm's ``(2**31 - 1) // k`` (``k >= 64``, 25
quotient bits) on the divisor edges, random 32-bit dividends under random
stalls, the interval and latency without stalls, and Verilator cosim under
30 % pauses on both AXI4-Stream sides.
"""

import random

import numpy as np
import pytest

from hwgen.units._divider_chain import DividerChain, per_row_divider
from hwgen.units.divider import Divider
from sim.amaranth_streams import simulate_stream

from .test_divider import check, pairs_exhaustive, pairs_random, words_of

Q31 = (1 << 31) - 1


def test_chunk_must_be_positive():
    with pytest.raises(ValueError, match="chunk must be an int >= 1, not 0"):
        DividerChain(dividend_bits=8, divisor_bits=4, chunk=0)


@pytest.mark.parametrize("quotient_bits, chunk, chunks", [(25, 14, [13, 12]), (31, 14, [11, 10, 10]),
                                                          (6, 1, [1] * 6), (6, 6, [6])])
def test_chunks_are_even(quotient_bits, chunk, chunks):
    unit = DividerChain(dividend_bits=31, divisor_bits=17, quotient_bits=quotient_bits,
                        dividend=Q31, chunk=chunk)
    assert unit.chunks == chunks
    assert (unit.latency, unit.interval) == (quotient_bits + len(chunks), max(chunks) + 2)


def test_per_row_divider_picks_what_keeps_up():
    divider = dict(dividend_bits=31, divisor_bits=17, quotient_bits=25, dividend=Q31)
    assert type(per_row_divider(27, **divider)) is Divider
    chain = per_row_divider(16, **divider)
    assert isinstance(chain, DividerChain) and chain.interval <= 16
    assert per_row_divider(2, **divider).pipelined


@pytest.mark.parametrize("chunk", [1, 2, 4])
def test_exhaustive_6_by_4(chunk):
    pairs = pairs_exhaustive(6, 4)
    dut = DividerChain(dividend_bits=6, divisor_bits=4, chunk=chunk)
    received = simulate_stream(dut, words_of(pairs, 6), len(pairs), stall=0.2, seed=3)
    check(received, pairs, 6, 4)


@pytest.mark.parametrize("constant", [63, 45, 32])
def test_constant_dividend_exhaustive(constant):
    pairs = [(constant, b) for b in range(1, 64)]
    dut = DividerChain(dividend_bits=6, divisor_bits=6, dividend=constant, chunk=2)
    received = simulate_stream(dut, [b for _, b in pairs], len(pairs), stall=0.2, seed=3)
    check(received, pairs, 6, 6)


def test_layernorm_factor_division():
    """(2**31 - 1) // k for 17-bit k >= 64 (25 quotient bits): edges and random divisors."""
    rng = random.Random(6)
    divisors = {64, 65, 127, 128, 129, 46341, (1 << 17) - 1, 1 << 16}
    divisors |= {(1 << k) + d for k in range(6, 17) for d in (-1, 0, 1) if (1 << k) + d >= 64}
    divisors |= {rng.randrange(64, 1 << 17) for _ in range(100)}
    pairs = [(Q31, b) for b in sorted(divisors)]
    dut = DividerChain(dividend_bits=31, divisor_bits=17, quotient_bits=25, dividend=Q31,
                       chunk=14)
    received = simulate_stream(dut, [b for _, b in pairs], len(pairs), stall=0.3, seed=8)
    check([(w & ((1 << 25) - 1)) | (w >> 25) << 31 for w in received], pairs, 31, 17)


def test_random_32_by_31_with_stalls():
    pairs = pairs_random(32, 31, 150, seed=3)
    dut = DividerChain(dividend_bits=32, divisor_bits=31, chunk=10)
    received = simulate_stream(dut, words_of(pairs, 32), len(pairs), stall=0.4, seed=8,
                               scramble=1)
    check(received, pairs, 32, 31)


def test_back_to_back_interval():
    """Without stalls a division leaves every ``interval`` cycles, ``latency`` after its input."""
    pairs = pairs_random(12, 7, 20, seed=1)
    dut = DividerChain(dividend_bits=12, divisor_bits=7, chunk=5)
    stamps = ([], [])
    received = simulate_stream(dut, words_of(pairs, 12), len(pairs), stamps=stamps)
    check(received, pairs, 12, 7)
    ins, outs = stamps
    assert outs[0] - ins[0] == dut.latency
    assert np.all(np.diff(outs) <= dut.interval), np.diff(outs)


def test_verilator_cosim():
    """32-bit dividends, 31-bit divisors under 30% random pauses on both AXI4-Stream sides."""
    from sim.cosim import cosimulate_unit
    pairs = pairs_random(32, 31, 300, seed=5)
    unit = DividerChain(dividend_bits=32, divisor_bits=31, chunk=11)
    result = cosimulate_unit(unit, "divider_chain_top", [[w] for w in words_of(pairs, 32)],
                             out_beats=1, backpressure=0.3, seed=7)
    check([words[0] for words in result.received], pairs, 32, 31)
    assert result.passed
