"""Weight stores of the folded matrix-vector engine: where each PE's weight word comes from.

A store holds ``depth`` words of ``SIMD`` weight codes per PE, read at the
address the engine counts (``nf * SF + sf``, plus a head's block in a
MatMul). Its members:

``depth``, ``word_bits``   words per PE (per bank, when double-buffered) and bits per word
``read_register``          the registers the words (and the input slice) pass after the
                           read: 0/False, 1/True (deep memories: a block RAM's
                           clock-to-output is slow) or 2 (the first becomes the block
                           RAM's output register, the second is in the fabric near the lanes)
``weights``                the ``[MH, MW]`` matrix when fixed at generation (exact sums), or None
``rom_bits``, ``ram_bits`` bits held in ROMs / in RAMs written at run time
``build(m, advance, stream)``  adds the memories to ``m`` and returns ``(open, read)``:
                           ``open`` a Value that is high while vectors may be taken (None:
                           always); ``read(issue, addr, addr_last)`` each PE's word at ``addr``
                           one stage later (``issue``: a slice is issued, ``addr_last``: at the
                           last address). Reads are enabled by ``advance``.

A store that picks logic, LUTRAM or block RAM by depth is another class
with these members; the engine does not change (the double-buffered
``StreamedWeights`` is one).
"""

from amaranth.hdl import Cat, Const, Signal, unsigned
from amaranth.lib.memory import Memory

from ._counter import counter, loop_nest
from ._rom import lane_rom, rom_plan
from .popcount import TABLE_ADDRESS_BITS, WeightTable

__all__ = ["StreamedWeights", "WeightRom", "tool_keeps_in_logic"]

#: a ROM deeper than this gets the read register (block RAM territory)
_REGISTERED_DEPTH = 64
#: see :func:`tool_keeps_in_logic`
_PLACED_DEPTH = 32
#: see :func:`tool_keeps_in_logic`
_DEEP_LOGIC_DEPTH = 128
#: ROM bits above which Yosys (0.50, memory_libmap on ECP5) maps a ROM it chooses for itself to
#: DP16KD rather than logic: a ROM bit costs 1/16 in logic, a DP16KD 129 (measured: 168 x 12 and
#: 128 x 16 stay logic, 176 x 12 and 120 x 24 go to block RAM)
_YOSYS_BLOCK_BITS = 129 * 16


def tool_keeps_in_logic(depth, word_bits):
    """True for the ROMs that Yosys keeps in logic where :func:`~._rom.rom_plan` chooses
    better: those of 33 to 64 words (4 LUT4 and 3 multiplexers per bit, where rom_plan
    would put most in block RAM: sfc_fast's 64-word ROMs of 49 and 32 bits on 128 PEs,
    64,503 LUT4, 77 % of the LFE5U-85F, and it did not route; placed: 29,373 LUT4 and 128
    DP16KD), and those of more than 128 words and at most ``_YOSYS_BLOCK_BITS`` bits (a
    LUT4 and four or more multiplexer levels per bit before one read register: cnv_ci's
    fc1, 256 words of 8 bits, was the path at 200 MHz on every seed, 5.3 ns). A store
    given ``placed`` for them costs the read registers of block RAM (``read_register``:
    2) where rom_plan puts them there."""
    return (_PLACED_DEPTH < depth <= _REGISTERED_DEPTH
            or depth > _DEEP_LOGIC_DEPTH and depth * word_bits <= _YOSYS_BLOCK_BITS)


class WeightRom:
    """Per-PE ROMs of a weight matrix fixed at generation (FINN's per-PE weight memories).

    PE ``p``'s word ``nf * SF + sf`` holds the codes of
    ``W[nf * PE + p, sf * SIMD : (sf + 1) * SIMD]``, lane ``j`` in bits
    ``[j * lane_bits, (j + 1) * lane_bits)``. Each ROM is an
    ``amaranth.lib.memory.Memory`` (``weights_{p}``) with a synchronous read
    port, so a vendor tool infers block RAM, LUTRAM or logic by size; with
    one word (NF * SF = 1) the word is a constant and each product folds
    into the datapath.

    Parameters
    ----------
    weights : numpy array [MH, MW]
    pe, simd : int
    codes : callable     a row of weights -> their codes (the lane datapath's ``codes``)
    lane_bits : int      bits per code
    tables : bool        the lane datapath reads weight tables (the compressor popcount's
                         :class:`~.popcount.WeightTable`): a ROM of 2 to ``2 ** TABLE_ADDRESS_BITS`` words
                         is then no memory but its words and a registered address
                         (``weight_addr``), read asynchronously inside the tree's first level,
                         so each of its LUTs takes activation and address bits together
    placed : bool        every other ROM of more than one word is stored where
                         :func:`~._rom.rom_plan` says (block RAM, logic, or the bits filling
                         whole block RAM words there and the rest in logic), through
                         ``rom_style`` attributes that Yosys obeys (:func:`~._rom.lane_rom`);
                         False: the tool chooses (Yosys keeps ROMs of 64 words and fewer in
                         logic; see :func:`tool_keeps_in_logic`)
    """

    #: ``read`` takes a list of per-PE copies of the address as well as one address
    address_per_pe = True

    def __init__(self, weights, *, pe, simd, codes, lane_bits, tables=False, placed=False):
        self._weights, self._pe, self._simd = weights, pe, simd
        self._codes, self._lane_bits = codes, lane_bits
        mh, mw = weights.shape
        self._nf, self._sf = mh // pe, mw // simd
        self._tables, self._placed = bool(tables), bool(placed)

    weights = property(lambda self: self._weights)
    depth = property(lambda self: self._nf * self._sf)
    word_bits = property(lambda self: self._simd * self._lane_bits)

    @property
    def in_block_ram(self):
        """Whether the ROMs (of more than one word) go to DP16KD block RAM: with ``placed``,
        where :func:`~._rom.rom_plan` puts any of a word's bits; else Yosys's own choice, by
        the bits of one ROM (``_YOSYS_BLOCK_BITS``)."""
        if self.depth == 1 or self._tables and self.depth <= 1 << TABLE_ADDRESS_BITS:
            return False
        if self._placed:
            return any(style == "block" for _, style in rom_plan(self.depth, self.word_bits))
        return self.depth > _REGISTERED_DEPTH and self.depth * self.word_bits > _YOSYS_BLOCK_BITS

    @property
    def read_register(self):
        """Registers after the read: 2 in block RAM, where the first becomes the DP16KD's
        output register (hwgen.outreg) and the second is in the fabric (with one register,
        with a reset, in the fabric, the block RAM's 4.1 ns clock-to-output and the route to
        it were one cycle: sfc_balanced's fc2 at 200 MHz, seed 1, 7.16 ns to a register 51
        rows away); else none up to 64 words and 1 above."""
        if self.in_block_ram:
            return 2
        return int(self.depth > _REGISTERED_DEPTH)
    #: weight bits held in the ROMs (0 when one word makes them constants)
    rom_bits = property(lambda self: self._weights.size * self._lane_bits
                        if self.depth > 1 else 0)
    ram_bits = 0

    def words(self, p):
        """PE ``p``'s words in address order."""
        words = []
        for nf in range(self._nf):
            row = self._weights[nf * self._pe + p]
            for sf in range(self._sf):
                codes = self._codes(row[sf * self._simd:(sf + 1) * self._simd])
                words.append(sum(int(code) << (j * self._lane_bits)
                                 for j, code in enumerate(codes)))
        return words

    def build(self, m, advance, stream=None):
        if stream is not None:
            raise TypeError(f"a WeightRom is fixed at generation and reads no stream, "
                            f"not {stream!r}")

        def read(issue, addr, addr_last):
            # ``addr``: one address for every PE, or a list of one (equal) copy per PE, so
            # that logic ROMs do not share one address decode across all PEs
            addresses = addr if isinstance(addr, list) else [addr] * self._pe
            addr = addresses[0]
            word_shape = unsigned(self.word_bits)
            if self._tables and 1 < self.depth <= 1 << TABLE_ADDRESS_BITS:
                # The same cycle as a synchronous read: the address is registered instead of
                # the word.
                address = Signal(range(self.depth), name="weight_addr")
                with m.If(advance):
                    m.d.sync += address.eq(addr)
                return [WeightTable(address, tuple(self.words(p)), self.word_bits)
                        for p in range(self._pe)]
            words = []
            for p in range(self._pe):
                init = self.words(p)
                if self.depth == 1:
                    words.append(Const(init[0], word_shape))
                    continue
                if self._placed:
                    words.append(lane_rom(m, f"weights_{p}", word_shape, init,
                                          addr=addresses[p], en=advance, placed=True))
                    continue
                rom = Memory(shape=word_shape, depth=self.depth, init=init)
                m.submodules[f"weights_{p}"] = rom
                port = rom.read_port(domain="sync")
                m.d.comb += [port.addr.eq(addresses[p]), port.en.eq(advance)]
                words.append(port.data)
            return words

        return None, read


class StreamedWeights:
    """Per-PE RAMs written at run time from a stream ``b`` (MatMul's second operand), two banks.

    Each PE's RAM (``b_ram_{p}``) holds two banks of ``depth = heads * NF *
    SF`` words; word ``h * NF * SF + nf * SF + sf`` of a bank holds
    ``W_h[nf * PE + p, sf * SIMD : (sf + 1) * SIMD]``. The bank is the top
    address bit (bank 1 starts at the power of two at or above ``depth``, so
    no adder sits in front of an address). With ``transpose_b`` a ``b`` beat
    is SIMD elements of one row and head (``lanes = simd``): one whole word
    of one PE's RAM; otherwise a beat is PE elements (``lanes = pe``): one
    lane of the same word in every PE's RAM (lane write enables).

    Double buffering: ``b`` is written into one bank while vectors are
    computed from the other. A bank is *filled* when its last beat is
    written; vectors are taken while the bank being read is filled
    (``open``), and the last slice of the last of ``rows`` vectors per head
    empties it and moves the reads to the other bank (its reads are done by
    then: a RAM read is issued with its slice). ``b.ready`` is low only while
    both banks are filled. So a sample's ``b`` loads while the previous
    sample computes, and a sample takes ``max(beats, rows * depth)`` cycles
    when both streams keep up. The flags ``open`` and ``b.ready`` come
    straight from flip-flops (``empty``, ``full``). Reads are registered once
    more.

    Parameters
    ----------
    pe, simd, nf, sf, heads : int
    rows : int           vectors per head and sample (``rows_a``)
    lane_bits : int      bits of a ``b`` element
    transpose_b : bool   ``W_h[r, d] = b[r, h, d]`` (else ``W_h[d, r]``)
    """

    #: the DP16KD's output register (its clock-to-output alone took 4.4 of MatMul's 5.7 ns),
    #: then one in the fabric: from the block RAM to the lanes is mostly routing
    read_register = 2
    weights = None
    rom_bits = 0
    #: banks per RAM: one is written while the other is read
    banks = 2

    def __init__(self, *, pe, simd, nf, sf, heads, rows, lane_bits, transpose_b):
        self._pe, self._simd, self._nf, self._sf = pe, simd, nf, sf
        self._heads, self._rows, self._lane_bits = heads, rows, lane_bits
        self._transpose_b = transpose_b

    #: words per PE in one bank (the addresses the engine counts)
    depth = property(lambda self: self._heads * self._nf * self._sf)
    word_bits = property(lambda self: self._simd * self._lane_bits)
    #: ``b`` elements per beat: ``simd`` with transpose_b, else ``pe``
    lanes = property(lambda self: self._simd if self._transpose_b else self._pe)
    #: ``b`` beats per sample
    beats = property(lambda self: self.depth * self._pe * self._simd // self.lanes)
    #: bits of the RAMs, both banks
    ram_bits = property(lambda self: self.banks * self.depth * self._pe * self.word_bits)
    #: address bits inside a bank; bank 1 starts at ``2 ** bank_shift``
    bank_shift = property(lambda self: (self.depth - 1).bit_length())

    def build(self, m, advance, stream):
        """The ``b`` writer, the bank flags and the RAMs; ``open`` is "the read bank is filled"."""
        nf, sf, heads, simd, pe = self._nf, self._sf, self._heads, self._simd, self._pe
        # Banks filled: none (empty), one, or both (full); both flags are registers.
        empty = Signal(init=1, name="banks_empty")
        full = Signal(name="banks_full")
        write_bank = Signal(name="write_bank")
        read_bank = Signal(name="read_bank")
        filled, emptied = Signal(name="bank_filled"), Signal(name="bank_emptied")
        with m.If(filled & ~emptied):
            m.d.sync += [empty.eq(0), full.eq(~empty)]
        with m.Elif(emptied & ~filled):
            m.d.sync += [full.eq(0), empty.eq(~full)]
        with m.If(filled):
            m.d.sync += write_bank.eq(~write_bank)
        with m.If(emptied):
            m.d.sync += read_bank.eq(~read_bank)

        take = Signal(name="take_b")
        m.d.comb += [stream.ready.eq(~full), take.eq(stream.valid & ~full)]
        block = nf * sf
        if self._transpose_b:   # row r = bnf * PE + bpe; a beat is one word of PE bpe
            loops = [("bsf", sf, 1), ("bh", heads, block), ("bpe", pe), ("bnf", nf, sf)]
        else:                   # output d = bnf * PE + p, input r = bsf * SIMD + blane
            loops = [("bnf", nf, sf), ("bh", heads, block), ("blane", simd), ("bsf", sf, 1)]
        count, done = loop_nest(m, loops, take)
        m.d.comb += filled.eq(take & done)
        write_addr = self._address(m, count["bsf"][0] + count["bh"][0] + count["bnf"][0],
                                   write_bank, "b_write_addr")

        b = self._lane_bits
        rams = []
        for p in range(pe):
            # A read that meets a write to the same word is never used (a slice is issued only
            # from a filled bank, never the one being written), so Yosys needs no collision
            # logic between the RAM and its read register (no_rw_check).
            ram = Memory(shape=unsigned(simd * b), depth=(1 << self.bank_shift) + self.depth,
                         init=[], attrs={"no_rw_check": 1})
            m.submodules[f"b_ram_{p}"] = ram
            write = ram.write_port(granularity=b) if simd > 1 else ram.write_port()
            if self._transpose_b:
                data_ = stream.payload.as_value()
                lane_en = take & (count["bpe"][0] == p)
                en = lane_en.replicate(simd) if simd > 1 else lane_en
            else:
                data_ = Cat(*[stream.payload.as_value()[p * b:(p + 1) * b]] * simd)
                en = Cat(*[take & (count["blane"][0] == j) for j in range(simd)])
            m.d.comb += [write.addr.eq(write_addr), write.data.eq(data_), write.en.eq(en)]
            rams.append(ram)

        def read(issue, addr, addr_last):
            row_end = issue & addr_last
            _, row_last = counter(m, self._rows, row_end, "row")
            m.d.comb += emptied.eq(row_end & row_last)
            read_addr = self._address(m, addr, read_bank, "b_read_addr")
            words = []
            for ram in rams:
                port = ram.read_port(domain="sync")
                m.d.comb += [port.addr.eq(read_addr), port.en.eq(advance)]
                words.append(port.data)
            return words

        return ~empty, read

    def _address(self, m, addr, bank, name):
        """``addr`` in ``bank``: the bank bit above the ``bank_shift`` address bits."""
        if self.bank_shift == 0:
            return bank
        low = Signal(self.bank_shift, name=name)
        m.d.comb += low.eq(addr)
        return Cat(low, bank)
