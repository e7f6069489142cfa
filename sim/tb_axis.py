"""cocotb testbench: stream samples through an AXI4-Stream top, record what comes out.

Started by :func:`sim.cosim.run_stream` (never by hand): the job file named by
``HWGEN_SIM_JOB`` holds the input beats per sample, the expected output beats
and the backpressure. One cocotbext-axi source drives ``s_axis``, one sink
drains ``m_axis``, each paused at random with probability ``backpressure``;
a passive monitor stamps every handshake with its cycle number.
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


async def stamp_handshakes(dut, in_stamps, out_stamps):
    """Append the cycle number of every accepted beat on s_axis and m_axis.

    One coroutine for both sides: each trigger costs a trip through the VPI,
    which dominates simulation speed.
    """
    s_valid, s_ready = dut.s_axis_tvalid, dut.s_axis_tready
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
    frames, expected = job["frames"], job.get("expected")
    backpressure, seed = job["backpressure"], job["seed"]

    cocotb.start_soon(Clock(dut.clk, 10, unit="ns").start())
    dut.rst.value = 1
    dut.s_axis_tvalid.value = 0
    dut.m_axis_tready.value = 0
    for _ in range(3):
        await RisingEdge(dut.clk)
    dut.rst.value = 0

    source = AxiStreamSource(AxiStreamBus.from_prefix(dut, "s_axis"), dut.clk, dut.rst,
                             byte_lanes=1)
    sink = AxiStreamSink(AxiStreamBus.from_prefix(dut, "m_axis"), dut.clk, dut.rst,
                         byte_lanes=1)
    if backpressure > 0:
        source.set_pause_generator(random_pauses(random.Random(seed), backpressure))
        sink.set_pause_generator(random_pauses(random.Random(seed + 1), backpressure))
    in_stamps, out_stamps = [], []
    cocotb.start_soon(stamp_handshakes(dut, in_stamps, out_stamps))

    for frame in frames:
        await source.send(AxiStreamFrame(frame))
    # Per sample: the latency (first one) or the design's interval, plus every
    # beat waiting on both sides' pauses; doubled, with a floor, so only a hung
    # design times out.
    beats = max(len(f) for f in frames) + max(len(f) for f in (expected or frames))
    cycles = (job.get("latency_bound", 0) + 2 * job.get("cycles_per_sample", 0) + 4 * beats
              ) / max(1e-3, 1 - backpressure) ** 2
    timeout_ns = 10 * (2000 + 2 * int(cycles))
    received = []
    for _ in frames:
        frame = await with_timeout(sink.recv(), timeout_ns, "ns")
        received.append([int(word) for word in frame.tdata])
    for _ in range(4):
        await RisingEdge(dut.clk)

    with open(job["result_path"], "w") as file:
        json.dump({"received": received, "in_stamps": in_stamps, "out_stamps": out_stamps},
                  file)
    if expected is not None:
        bad = [index for index, (got, want) in enumerate(zip(received, expected)) if got != want]
        assert not bad, f"{len(bad)} of {len(frames)} samples differ, first at sample {bad[0]}"
