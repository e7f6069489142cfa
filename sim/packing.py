"""Element <-> word packing shared by every testbench: :func:`hwgen.layout.pack` and
:func:`~hwgen.layout.unpack` (docs/design/numbers.md), re-exported here; hwgen owns them because
its own layout code packs words, and hwgen never imports sim. The same packing on whole
arrays and hex text for the memory-backed fast testbench lives here."""

import numpy as np

from hwgen.layout import pack, unpack

__all__ = ["pack", "unpack", "beats_to_bits", "bits_to_beats", "bits_to_hex", "hex_to_nibbles",
           "nibbles_to_bits", "nibbles_to_uint64"]


# --- the same packing on whole arrays, for the memory-backed fast testbench ------------------

def beats_to_bits(flat, per_beat: int, bits: int):
    """[N, E] elements in stream order -> [N * beats, per_beat * bits] uint8 bits, LSB first.

    Vectorised :func:`pack` of every beat of every sample: ``beats =
    ceil(E / per_beat)``; lanes past a sample's last element are 0 bits, as
    :func:`pack` leaves them.
    """
    flat = np.asarray(flat)
    samples, size = flat.shape
    beats = -(-size // per_beat)
    lanes = np.zeros((samples, beats * per_beat), dtype=np.uint8 if bits == 1 else np.int64)
    if bits == 1:
        if flat.size and not ((flat == 1) | (flat == -1)).all():
            raise ValueError("binary elements must be -1 or +1")
        lanes[:, :size] = flat > 0
        return lanes.reshape(samples * beats, per_beat)
    lanes[:, :size] = flat.astype(np.int64) & ((1 << bits) - 1)
    bit_planes = ((lanes[..., None] >> np.arange(bits, dtype=np.int64)) & 1).astype(np.uint8)
    return bit_planes.reshape(samples * beats, per_beat * bits)


def bits_to_beats(word_bits, per_beat: int, bits: int, signed: bool, size: int):
    """Inverse of :func:`beats_to_bits`: [N * beats, >= per_beat * bits] -> [N, size] int64."""
    word_bits = np.asarray(word_bits, dtype=np.int64)[:, :per_beat * bits]
    beats = -(-size // per_beat)
    lanes = word_bits.reshape(-1, beats * per_beat, bits)
    values = (lanes << np.arange(bits, dtype=np.int64)).sum(axis=-1)
    if bits == 1:
        values = 2 * values - 1
    elif signed:
        values = np.where(values >> (bits - 1) != 0, values - (1 << bits), values)
    return values[:, :size]


_HEX_PAIRS = np.array([list(f"{byte:02x}".encode()) for byte in range(256)], dtype=np.uint8)


def bits_to_hex(word_bits, digits: int) -> bytes:
    """[M, W] bits (LSB first) -> M lines of ``digits`` lowercase hex digits, for ``$readmemh``."""
    word_bits = np.asarray(word_bits, dtype=np.uint8)
    count, nbytes = len(word_bits), -(-digits // 2)
    padded = np.zeros((count, 8 * nbytes), dtype=np.uint8)
    padded[:, :word_bits.shape[1]] = word_bits
    octets = np.packbits(padded, axis=1, bitorder="little")[:, ::-1]    # most significant first
    text = _HEX_PAIRS[octets].reshape(count, 2 * nbytes)[:, 2 * nbytes - digits:]
    lines = np.empty((count, digits + 1), dtype=np.uint8)
    lines[:, :digits], lines[:, digits] = text, ord("\n")
    return lines.tobytes()


_NIBBLE = np.full(256, 255, dtype=np.uint8)
for _value, _char in enumerate(b"0123456789abcdef"):
    _NIBBLE[_char] = _NIBBLE[ord(chr(_char).upper())] = _value


def hex_to_nibbles(text: bytes, digits: int):
    """Lines of ``digits`` hex digits (as ``$writememh`` writes them) -> [M, digits] uint8, MSB first.

    Raises ValueError on a line of another length or a character that is not
    a hex digit (an ``x`` or ``z`` bit included).
    """
    raw = np.frombuffer(text, dtype=np.uint8)
    if len(raw) % (digits + 1) == 0 and (raw[digits::digits + 1] == ord("\n")).all():
        chars = raw.reshape(-1, digits + 1)[:, :digits]            # the usual layout, fast
    else:
        lines = [line.strip() for line in text.splitlines()]
        lines = [line for line in lines if line and not line.startswith(b"//")]
        bad = [line for line in lines if len(line) != digits]
        if bad:
            raise ValueError(f"expected lines of {digits} hex digits, not {bad[0][:80]!r}")
        chars = np.frombuffer(b"".join(lines), dtype=np.uint8).reshape(len(lines), digits)
    nibbles = _NIBBLE[chars]
    if (nibbles == 255).any():
        row = int(np.argwhere(nibbles == 255)[0][0])
        raise ValueError(f"not a hex word: {bytes(chars[row])!r}")
    return nibbles


def nibbles_to_bits(nibbles):
    """[M, D] nibbles, MSB first -> [M, 4 * D] uint8 bits, LSB first."""
    reversed_ = np.asarray(nibbles, dtype=np.uint8)[:, ::-1]
    return ((reversed_[..., None] >> np.arange(4, dtype=np.uint8)) & 1).reshape(len(reversed_), -1)


def nibbles_to_uint64(nibbles):
    """[M, D <= 16] nibbles, MSB first -> [M] uint64 values."""
    nibbles = np.asarray(nibbles, dtype=np.uint64)
    weights = np.uint64(16) ** np.arange(nibbles.shape[1] - 1, -1, -1, dtype=np.uint64)
    return (nibbles * weights).sum(axis=1, dtype=np.uint64)
