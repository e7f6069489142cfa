"""cocotb test of the fast path: drive :mod:`sim.harness` by memory halves, compare with golden.

Started by :func:`sim.fast.run_fast` (never by hand) with the job file named
by ``HWGEN_FAST_JOB``. The clock toggles in the simulator (cocotb's GPI
clock), the harness makes every per-cycle decision, and this test wakes only
when the harness raises ``attention``: to load the next input half, dump a
full output half, or finish. It acts at falling edges, so every load or dump
it requests happens at the rising edge in between, whatever the order of
cocotb's writes. Writes ``result.json``, ``got.npy``, ``want.npy`` and
``ends.npy`` into the work folder.
"""

import json
import os
import time

import cocotb
from cocotb.clock import Clock
from cocotb.triggers import FallingEdge, RisingEdge

from sim.fast import Collector, Feeder, Job
from sim.harness import IN_FILE, OUT_FILE
from sim.packing import hex_to_nibbles


@cocotb.test()
async def memory_stream_job(dut):
    started, cpu_started = time.perf_counter(), time.process_time()
    job = Job(os.environ["HWGEN_FAST_JOB"])
    got, want, ends = job.outputs()
    feeder, collector = Feeder(job, want), Collector(job, got, want, ends)
    layout, half = job.layout, job.half
    in_file, out_file = job.folder / IN_FILE, job.folder / OUT_FILE

    dut.rst.value = 1
    dut.in_load.value = 0
    dut.out_dump.value = 0
    dut.in_seed.value, dut.out_seed.value = job.in_seed, job.out_seed
    dut.in_threshold.value, dut.out_threshold.value = job.in_threshold, job.out_threshold
    dut.in_total.value = job.count * layout["in_beats"]
    dut.out_total.value = job.count * layout["out_beats"]
    dut.idle_limit.value = job.idle_limit
    falling = FallingEdge(dut.clk)
    for _ in range(3):
        await falling               # reset clears the harness's counters
    while dut.need_in.value:        # fill both input halves, still in reset
        in_file.write_bytes(feeder.next_half())
        dut.in_load.value = 1
        await falling               # the harness loads at the rising edge before it
    dut.in_load.value = 0
    dut.rst.value = 0
    setup_seconds = time.perf_counter() - started
    run_started, run_cpu_started = time.perf_counter(), time.process_time()

    dumped = 0                      # output beats read back so far
    while True:
        if not dut.attention.value:
            await RisingEdge(dut.attention)
            await falling
        if dut.hung.value:
            break
        load, done = bool(dut.need_in.value), bool(dut.done.value)
        out_got = int(dut.out_got.value)
        dump = bool(dut.out_half.value) or (done and out_got > dumped)
        if load:
            in_file.write_bytes(feeder.next_half())
            dut.in_load.value = 1
        if dump:
            dut.out_dump.value = 1
        await falling               # a load / dump happens at the rising edge before it
        dut.in_load.value = 0
        dut.out_dump.value = 0
        if dump:
            count = min(half, out_got - dumped)
            nibbles = hex_to_nibbles(out_file.read_bytes(), 17 + layout["out_digits"])
            collector.add(nibbles[:count])
            dumped += count
        if done and dumped == out_got:
            break

    # A few more cycles: a design that emits more beats than it should is caught here.
    for _ in range(16):
        await falling
    run_seconds = time.perf_counter() - run_started
    run_cpu_seconds = time.process_time() - run_cpu_started
    report = {
        "hung": bool(dut.hung.value), "samples_out": collector.samples,
        "mismatches": collector.mismatches, "first_mismatches": collector.first_mismatches,
        "tlast_errors": collector.tlast_errors, "extra_beats": int(dut.out_extra.value),
        "in_first": int(dut.in_first.value), "cycles": int(dut.cycle.value),
        "in_pauses": int(dut.in_pauses.value), "out_pauses": int(dut.out_pauses.value),
        "golden_seconds": round(feeder.golden_seconds, 3),
        "pack_seconds": round(feeder.pack_seconds + collector.unpack_seconds, 3),
        "setup_seconds": round(setup_seconds, 3),
        "run_seconds": round(run_seconds, 3), "run_cpu_seconds": round(run_cpu_seconds, 3),
        "seconds": round(time.perf_counter() - started, 3),
        "cpu_seconds": round(time.process_time() - cpu_started, 3),
    }
    feeder.close()
    for array in (got, ends) if job.golden_given else (got, want, ends):
        array.flush()
    (job.folder / "result.json").write_text(json.dumps(report))
    assert not report["hung"], f"no output beat for {job.idle_limit} cycles"
    assert collector.samples == job.count, f"{collector.samples} of {job.count} samples came out"
    assert report["tlast_errors"] == 0, f"{report['tlast_errors']} output beats with a wrong tlast"
    assert report["extra_beats"] == 0, f"{report['extra_beats']} output beats too many"
    assert collector.mismatches == 0, (f"{collector.mismatches} of {job.count} samples differ, "
                                       f"first at {collector.first_mismatches[:3]}")
