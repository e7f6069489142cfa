"""Per-lane parameter ROMs addressed by a fold counter (shared by Requant, Thresholding, ...)."""

from amaranth.hdl import Const, Shape, ShapeCastable
from amaranth.lib.memory import Memory

__all__ = ["lane_rom"]


def lane_rom(m, name, shape, words, *, addr, en):
    """``words[addr]`` for one lane: a constant if all words are equal, else a ROM read.

    The ROM is an ``amaranth.lib.memory.Memory`` (``len(words)`` deep,
    initialised with ``words``) added to ``m`` as submodule ``name``, with one
    synchronous read port: the returned value is the word at the ``addr``
    presented on the last clock edge where ``en`` was high, so the caller
    presents the fold of the beat it accepts and uses the word one stage later.
    A constant is valid at every cycle, which fits the same timing, and needs no
    memory at all (per-tensor parameters, or ``channels == pe``).

    Parameters
    ----------
    m : Module          where the ROM and its address/enable logic go
    name : str          submodule name, e.g. ``"threshold_rom_3"``
    shape : Shape or ShapeCastable (e.g. ``ArrayLayout``) of one word
    words : list        one word per fold, in fold order
    addr, en : Value    read address (the fold counter) and read enable

    Returns a ``Const`` (a ``data.Const`` for a layout) or the read port's ``data``.
    """
    if all(word == words[0] for word in words):
        if isinstance(shape, ShapeCastable):
            return shape.const(words[0])
        return Const(words[0], Shape.cast(shape))
    rom = Memory(shape=shape, depth=len(words), init=words)
    m.submodules[name] = rom
    port = rom.read_port(domain="sync")
    m.d.comb += [port.addr.eq(addr), port.en.eq(en)]
    return port.data
