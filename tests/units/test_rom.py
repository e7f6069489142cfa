"""Where a ROM's bits are stored (block RAM, logic, split), and that a split ROM reads the same."""

import random

import pytest
from amaranth.hdl import Module, Signal, signed, unsigned
from amaranth.sim import Simulator

from hwgen.units._rom import LUTS_PER_BLOCK_RAM, block_rams, lane_rom, logic_luts, rom_plan


@pytest.mark.parametrize("depth, width, plan", [
    (64, 49, [(36, "block"), (13, "logic")]),     # sfc_fast's fc0 weight ROM: split
    (64, 32, [(32, "block")]),                    # 128 LUT4 saved by one DP16KD
    (8, 32, [(32, "logic")]),                     # 32 LUT4: not worth a DP16KD
    (1024, 49, [(49, "block")]),                  # deep: block RAM, no logic part
    (32, 100, [(72, "block"), (28, "logic")]),
])
def test_rom_plan(depth, width, plan):
    assert rom_plan(depth, width) == plan
    assert sum(bits for bits, _ in plan) == width
    for bits, style in plan:
        saves = logic_luts(depth, bits) >= LUTS_PER_BLOCK_RAM * block_rams(depth, bits)
        assert saves == (style == "block")


def test_block_ram_and_logic_costs():
    assert block_rams(64, 49) == 2 and block_rams(512, 36) == 1 and block_rams(513, 36) == 2
    assert block_rams(16384, 1) == 1 and block_rams(1024, 18) == 1
    assert logic_luts(64, 49) == 196 and logic_luts(16, 4) == 4


@pytest.mark.parametrize("shape", [unsigned(49), signed(49)])
def test_split_rom_reads_every_word(shape):
    """A placed 64 x 49 ROM is two memories (36 + 13 bits) whose reads join to the word."""
    rng = random.Random(3)
    lo = -(1 << 48) if shape.signed else 0
    words = [rng.randrange(lo, lo + (1 << 49)) for _ in range(64)]
    m = Module()
    addr = Signal(6)
    data = lane_rom(m, "rom", shape, words, addr=addr, en=1, placed=True)
    assert set(m._named_submodules) == {"rom", "rom_hi"}
    out = Signal(shape)
    m.d.comb += out.eq(data)

    async def tb(ctx):
        for a in list(range(64)) + [5, 0, 63]:
            ctx.set(addr, a)
            await ctx.tick()
            assert ctx.get(out) == words[a]

    sim = Simulator(m)
    sim.add_clock(1e-8)
    sim.add_testbench(tb)
    sim.run()
