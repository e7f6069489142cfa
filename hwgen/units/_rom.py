"""Per-lane parameter ROMs addressed by a fold counter, and where a ROM's bits are stored.

The storage rule (:func:`rom_plan`): on ECP5, Yosys maps a read-only memory
either to LUT logic or to DP16KD block RAMs (a ROM has no write port, so it
cannot use the TRELLIS_DPR16X4 LUTRAM). In logic a ROM costs about
``width * ceil(depth / 16)`` LUT4 (one LUT4 per 16 words of a bit, plus
PFUMX/L6MUX multiplexers that come with the slices); in block RAM,
``ceil(depth / words) * ceil(width / bits)`` DP16KD for the best of the
512x36 .. 16384x1 shapes. A ROM goes to block RAM when that saves at least
``LUTS_PER_BLOCK_RAM`` LUT4 per DP16KD it takes, else to logic; and a ROM
whose last block RAM would be mostly empty is split: the bits that fill
whole block RAMs go there, the remainder to logic (a 64 x 49 weight ROM:
36 bits in one DP16KD, 13 bits in 52 LUT4, instead of 2 DP16KD or 196
LUT4). Yosys's own choice keeps ROMs of 64 words and fewer in logic, which
is what made sfc_fast's 64-word x 49-bit weight ROMs congest the LFE5U-85F.
"""

from amaranth.hdl import Cat, Const, Shape, ShapeCastable
from amaranth.lib.memory import Memory

__all__ = ["lane_rom", "rom_plan", "block_rams", "logic_luts", "LUTS_PER_BLOCK_RAM"]

#: LUT4 a ROM must save per DP16KD it occupies to go to block RAM
LUTS_PER_BLOCK_RAM = 64
#: DP16KD shapes as (words, bits) (its 18-kbit array as 512 x 36 .. 16384 x 1)
_DP16KD = ((512, 36), (1024, 18), (2048, 9), (4096, 4), (8192, 2), (16384, 1))


def block_rams(depth, width):
    """DP16KD block RAMs a ``depth`` x ``width`` ROM needs in its best shape."""
    if width == 0:
        return 0
    return min(-(-depth // words) * -(-width // bits) for words, bits in _DP16KD)


def logic_luts(depth, width):
    """LUT4 a ``depth`` x ``width`` ROM costs as logic (one LUT4 per 16 words of each bit)."""
    return width * -(-depth // 16)


def rom_plan(depth, width):
    """``[(bits, style), ...]`` from the low bits up: ``"block"`` or ``"logic"`` per part.

    Whole ROM to block RAM if it saves ``LUTS_PER_BLOCK_RAM`` per DP16KD; if
    not, but the bits filling whole 36-bit (or narrower, for deep ROMs) block
    RAM words would, those go to block RAM and the remainder to logic.
    """
    def worth(bits):
        return bits and logic_luts(depth, bits) >= LUTS_PER_BLOCK_RAM * block_rams(depth, bits)

    if worth(width):
        whole = min(((-(-depth // words) * -(-width // bits), bits)
                     for words, bits in _DP16KD), key=lambda pair: pair[0])[1]
        full = (width // whole) * whole
        if full and full < width and not worth(width - full) and worth(full):
            return [(full, "block"), (width - full, "logic")]
        return [(width, "block")]
    return [(width, "logic")]


def lane_rom(m, name, shape, words, *, addr, en, placed=False):
    """``words[addr]`` for one lane: a constant if all words are equal, else a ROM read.

    The ROM is an ``amaranth.lib.memory.Memory`` (``len(words)`` deep,
    initialised with ``words``) added to ``m`` as submodule ``name``, with one
    synchronous read port: the returned value is the word at the ``addr``
    presented on the last clock edge where ``en`` was high, so the caller
    presents the fold of the beat it accepts and uses the word one stage later.
    A constant is valid at every cycle, which fits the same timing, and needs no
    memory at all (per-tensor parameters, or ``channels == pe``).

    With ``placed``, the ROM follows :func:`rom_plan`: each part is a Memory of
    its own with a ``rom_style`` attribute (``name``, ``name_hi``) that Yosys
    obeys; without, Yosys chooses (the behaviour of units that do not opt in).

    Parameters
    ----------
    m : Module          where the ROM and its address/enable logic go
    name : str          submodule name, e.g. ``"threshold_rom_3"``
    shape : Shape or ShapeCastable (e.g. ``ArrayLayout``) of one word
    words : list        one word per fold, in fold order
    addr, en : Value    read address (the fold counter) and read enable
    placed : bool       store by :func:`rom_plan` (block RAM, logic, or split)

    Returns a ``Const`` (a ``data.Const`` for a layout) or the read port's ``data``.
    """
    if all(word == words[0] for word in words):
        if isinstance(shape, ShapeCastable):
            return shape.const(words[0])
        return Const(words[0], Shape.cast(shape))
    if not placed:
        rom = Memory(shape=shape, depth=len(words), init=words)
        m.submodules[name] = rom
        port = rom.read_port(domain="sync")
        m.d.comb += [port.addr.eq(addr), port.en.eq(en)]
        return port.data
    layout = shape
    raw = [Const.cast(layout.const(word) if isinstance(layout, ShapeCastable)
                      else Const(word, Shape.cast(layout))).value for word in words]
    parts, low = [], 0
    for index, (bits, style) in enumerate(rom_plan(len(words), Shape.cast(layout).width)):
        rom = Memory(shape=bits, depth=len(words), init=[(w >> low) & ((1 << bits) - 1)
                                                          for w in raw],
                     attrs={"rom_style": style})
        m.submodules[name if index == 0 else f"{name}_hi"] = rom
        port = rom.read_port(domain="sync")
        m.d.comb += [port.addr.eq(addr), port.en.eq(en)]
        parts.append(port.data)
        low += bits
    data = Cat(*parts)
    if isinstance(layout, ShapeCastable):
        return layout(data)
    return data.as_signed() if Shape.cast(layout).signed else data
