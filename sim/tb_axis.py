"""cocotb testbench: stream samples through an AXI4-Stream top, record what comes out.

Started by :func:`sim.cosim.run_stream` (never by hand): the job file named by
``HWGEN_SIM_JOB`` holds the input beats per sample of each slave port (by
prefix: ``s_axis``, or ``s_axis_a`` and ``s_axis_b`` of a two-input unit),
the expected output beats and the backpressure. One cocotbext-axi source
drives each slave, one sink drains ``m_axis``, each paused at random with
probability ``backpressure`` from its own generator; a passive monitor stamps
every handshake (of the first slave and of ``m_axis``) with its cycle number.
"""

import json
import os
import random

import cocotb
from cocotb.clock import Clock
from cocotb.triggers import RisingEdge, ReadOnly, with_timeout
from cocotbext.axi import AxiStreamBus, AxiStreamFrame, AxiStreamSink, AxiStreamSource


def random_pauses(rng, probability):
    """cocotbext-axi pause generator: True (pause this cycle) with ``probability``."""
    while True:
        yield rng.random() < probability


async def stamp_handshakes(dut, prefix, in_stamps, out_stamps):
    """Append the cycle number of every accepted beat on slave ``prefix`` and m_axis.

    One coroutine for both sides: each trigger costs a trip through the VPI,
    which dominates simulation speed.
    """
    s_valid, s_ready = getattr(dut, f"{prefix}_tvalid"), getattr(dut, f"{prefix}_tready")
    m_valid, m_ready = dut.m_axis_tvalid, dut.m_axis_tready
    edge, settled = RisingEdge(dut.clk), ReadOnly()
    cycle = 0
    while True:
        await edge
        await settled
        if s_valid.value and s_ready.value:
            in_stamps.append(cycle)
        if m_valid.value and m_ready.value:
            out_stamps.append(cycle)
        cycle += 1


@cocotb.test()
async def stream_job(dut):
    with open(os.environ["HWGEN_SIM_JOB"]) as file:
        job = json.load(file)
    inputs, expected = job["frames"], job.get("expected")    # {slave prefix: frames}
    backpressure, seed = job["backpressure"], job["seed"]
    samples = len(next(iter(inputs.values())))

    cocotb.start_soon(Clock(dut.clk, 10, unit="ns").start())
    dut.rst.value = 1
    for prefix in inputs:
        getattr(dut, f"{prefix}_tvalid").value = 0
    dut.m_axis_tready.value = 0
    for _ in range(3):
        await RisingEdge(dut.clk)
    dut.rst.value = 0

    sources = {prefix: AxiStreamSource(AxiStreamBus.from_prefix(dut, prefix), dut.clk, dut.rst,
                                       byte_lanes=1) for prefix in inputs}
    sink = AxiStreamSink(AxiStreamBus.from_prefix(dut, "m_axis"), dut.clk, dut.rst,
                         byte_lanes=1)
    if backpressure > 0:
        # Source k pauses from seed + 2k (one slave: seed, as always), the sink from seed + 1.
        for index, source in enumerate(sources.values()):
            source.set_pause_generator(random_pauses(random.Random(seed + 2 * index),
                                                     backpressure))
        sink.set_pause_generator(random_pauses(random.Random(seed + 1), backpressure))
    in_stamps, out_stamps = [], []
    cocotb.start_soon(stamp_handshakes(dut, next(iter(inputs)), in_stamps, out_stamps))

    for prefix, source in sources.items():
        for frame in inputs[prefix]:
            await source.send(AxiStreamFrame(frame))
    # Per sample: the latency (first one) or the design's interval, plus every
    # beat waiting on both sides' pauses; doubled, with a floor, so only a hung
    # design times out.
    in_beats = max(len(f) for frames in inputs.values() for f in frames)
    beats = in_beats + max(len(f) for f in (expected or next(iter(inputs.values()))))
    cycles = (job.get("latency_bound", 0) + 2 * job.get("cycles_per_sample", 0) + 4 * beats
              ) / max(1e-3, 1 - backpressure) ** 2
    timeout_ns = 10 * (2000 + 2 * int(cycles))
    received = []
    for _ in range(samples):
        frame = await with_timeout(sink.recv(), timeout_ns, "ns")
        received.append([int(word) for word in frame.tdata])
    for _ in range(4):
        await RisingEdge(dut.clk)

    with open(job["result_path"], "w") as file:
        json.dump({"received": received, "in_stamps": in_stamps, "out_stamps": out_stamps},
                  file)
    if expected is not None:
        bad = [index for index, (got, want) in enumerate(zip(received, expected)) if got != want]
        assert not bad, f"{len(bad)} of {samples} samples differ, first at sample {bad[0]}"
