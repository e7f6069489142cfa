"""Stream put/get for Amaranth's Python simulator, with random stalls.

Every Amaranth-level unit test drives its ``lib.stream`` ports through these
two coroutines, so handshake handling lives in one place::

    async def tb(ctx):
        await stream_put(ctx, dut.i, words, rng=rng, stall=0.3)

``words`` are raw payload integers (see :mod:`sim.packing`).
"""

__all__ = ["stream_put", "stream_get", "simulate_stream", "reset_less_state", "scrambler"]


async def stream_put(ctx, stream, words, *, rng, stall=0.0):
    """Send every word on ``stream``, idling a random cycle with probability ``stall``."""
    payload = stream.payload.as_value() if hasattr(stream.payload, "as_value") else stream.payload
    for word in words:
        while rng.random() < stall:
            ctx.set(stream.valid, 0)
            await ctx.tick()
        ctx.set(stream.valid, 1)
        ctx.set(payload, word)
        await ctx.tick().until(stream.ready)
    ctx.set(stream.valid, 0)


async def stream_get(ctx, stream, count, *, rng, stall=0.0, stable_check=True, stats=None):
    """Receive ``count`` words, dropping ``ready`` a random cycle with probability ``stall``.

    With ``stable_check`` it also asserts the stream rule that a beat shown
    with ``valid`` and not taken stays the same until it is taken; ``stats``
    (a dict) counts those checks under ``"stalled_beats"``.
    """
    payload = stream.payload.as_value() if hasattr(stream.payload, "as_value") else stream.payload
    words = []
    while len(words) < count:
        if rng.random() < stall:
            ctx.set(stream.ready, 0)
            *_, valid, shown = await ctx.tick().sample(stream.valid, payload)
            if stable_check and valid:
                if stats is not None:
                    stats["stalled_beats"] = stats.get("stalled_beats", 0) + 1
                ctx.set(stream.ready, 1)
                *_, still_valid, taken = await ctx.tick().sample(stream.valid, payload)
                assert still_valid, "valid dropped without a handshake"
                assert taken == shown, f"payload changed while stalled: {shown:#x} -> {taken:#x}"
                words.append(taken)
                ctx.set(stream.ready, 0)
            continue
        ctx.set(stream.ready, 1)
        word, = await ctx.tick().sample(payload).until(stream.valid)
        words.append(word)
        ctx.set(stream.ready, 0)
    return words


def reset_less_state(dut):
    """``(fragment, registers, memories)``: ``dut`` elaborated, every signal that a clocked
    statement of it drives and that has no reset, and the data of every memory it writes
    (ROMs, never written, are left out). Simulate ``fragment``: it holds these signals."""
    from amaranth.hdl import Fragment
    from amaranth.hdl._mem import MemoryInstance          # Amaranth 0.5's elaborated Memory
    fragment = Fragment.get(dut, None)
    registers, memories = {}, []

    def walk(part):
        if isinstance(part, MemoryInstance) and part._write_ports:
            memories.append(part._data)
        for domain, statements in part.statements.items():
            if domain != "comb":
                for statement in statements:
                    registers.update((id(s), s) for s in statement._lhs_signals() if s.reset_less)
        for sub, _, _ in part.subfragments:
            walk(sub)
    walk(fragment)
    return fragment, list(registers.values()), memories


def scrambler(registers, memories, seed):
    """A testbench that fills ``registers`` and every word of ``memories`` with random bits
    before the first clock edge: the state after a reset in mid-stream, where registers
    without a reset keep what they held. A unit whose outputs still match reads them only
    behind its valid flags."""
    import random
    rng = random.Random(seed)

    def word(shape):
        value = rng.getrandbits(shape.width)
        return value - (value >> (shape.width - 1) << shape.width) if shape.signed else value

    async def scramble(ctx):
        from amaranth.hdl import Shape, Value
        for signal in registers:
            ctx.set(signal, word(signal.shape()))
        for data in memories:
            shape = Shape.cast(data.shape)
            for row in range(data.depth):
                ctx.set(Value.cast(data[row]), word(shape))
    return scramble


def simulate_stream(dut, words, count, *, stall=0.0, seed=0, stamps=None, stats=None,
                    in_stall=None, scramble=None):
    """Run ``dut`` in Amaranth's simulator; return the ``count`` words it sends on ``o``.

    ``words`` go in through :func:`stream_put` on ``dut.i``; for a unit with
    several input streams (``a``, ``b``: Add, MatMul) pass a dict
    ``{"a": words_a, "b": words_b}`` and each port gets its own producer with
    its own random stalls. Results come out through :func:`stream_get`, both
    sides stalling at random with probability ``stall``. With
    ``stamps=(in_stamps, out_stamps)`` the cycle of every accepted input beat
    (of the first input port) and output beat is appended to those lists;
    ``stats`` (a dict) counts the output beats checked stable while stalled
    (see :func:`stream_get`). ``in_stall`` sets the producers' stall
    probability apart from the consumer's (default: ``stall`` for both).
    ``scramble`` (an int seed): registers without a reset and written memories
    start at random values (:func:`scrambler`), so the outputs must not depend
    on them before the unit's valid flags say they hold data.
    """
    import random
    from amaranth.sim import Simulator

    inputs = words if isinstance(words, dict) else {"i": words}
    first = getattr(dut, next(iter(inputs)))
    received = []

    def producer(port, port_words, port_seed):
        async def put(ctx):
            await stream_put(ctx, getattr(dut, port), port_words, rng=random.Random(port_seed),
                             stall=stall if in_stall is None else in_stall)
        return put

    async def consumer(ctx):
        received.extend(await stream_get(ctx, dut.o, count, rng=random.Random(seed + 1),
                                         stall=stall, stats=stats))

    async def monitor(ctx):
        cycle = 0
        async for _, _, i_valid, i_ready, o_valid, o_ready in ctx.tick().sample(
                first.valid, first.ready, dut.o.valid, dut.o.ready):
            if i_valid and i_ready:
                stamps[0].append(cycle)
            if o_valid and o_ready:
                stamps[1].append(cycle)
            cycle += 1

    toplevel = dut
    if scramble is not None:
        toplevel, registers, memories = reset_less_state(dut)
    sim = Simulator(toplevel)
    sim.add_clock(1e-8)
    if scramble is not None:
        sim.add_testbench(scrambler(registers, memories, scramble))
    for index, (port, port_words) in enumerate(inputs.items()):
        # Port i keeps seed 0's stream (existing tests' stall patterns); others get their own.
        sim.add_testbench(producer(port, port_words, seed + 2 * index))
    sim.add_testbench(consumer)
    if stamps is not None:
        sim.add_testbench(monitor, background=True)
    sim.run()
    return received
