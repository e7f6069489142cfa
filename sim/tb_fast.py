"""cocotb test of the fast path: drive :mod:`sim.harness` by memory halves, compare with golden.

Started by :func:`sim.fast.run_fast` (never by hand) with the job file named
by ``HWGEN_FAST_JOB``. The harness's clock runs in the simulator's main loop
(``sim/harness_main.cpp``) a burst of cycles at a time and the harness makes
every per-cycle decision; this test wakes only when the harness raises
``attention`` (checked after each burst): to load the next input half, dump
a full output half, or finish. A load or dump is requested by toggling
``in_req``/``out_req`` and done at the next clock edge, which toggles
``in_ack``/``out_ack``. Writes ``result.json``, ``got.npy``, ``ends.npy``
(and ``want.npy`` when the golden outputs are computed here) into the work
folder.
"""

import json
import os
import time

import cocotb
from cocotb.triggers import RisingEdge, Timer

from sim.fast import Collector, Feeder, Job
from sim.harness import IN_FILE, OUT_FILE
from sim.packing import hex_to_nibbles

CYCLE_NS = 10       # the clock period of sim/harness_main.cpp


async def cycles(count):
    await Timer(CYCLE_NS * count, unit="ns")


async def acknowledged(ack, request):
    """Wait until the harness's ``ack`` equals ``request`` (it follows at the next edge)."""
    for _ in range(100):
        if int(ack.value) == request:
            return
        await cycles(1)
    raise RuntimeError("the harness did not acknowledge a request within 100 cycles")


@cocotb.test()
async def memory_stream_job(dut):
    started, cpu_started = time.perf_counter(), time.process_time()
    job = Job(os.environ["HWGEN_FAST_JOB"])
    got, want, ends = job.outputs()
    feeder, collector = Feeder(job, want), Collector(job, got, want, ends)
    layout, half = job.layout, job.half
    in_file, out_file = job.folder / IN_FILE, job.folder / OUT_FILE

    dut.rst.value = 1
    dut.in_req.value = dut.out_req.value = in_req = out_req = 0
    dut.in_seed.value, dut.out_seed.value = job.in_seed, job.out_seed
    dut.in_threshold.value, dut.out_threshold.value = job.in_threshold, job.out_threshold
    dut.in_total.value = job.count * layout["in_beats"]
    dut.out_total.value = job.count * layout["out_beats"]
    dut.idle_limit.value = job.idle_limit
    await cycles(3)                 # reset clears the harness's counters
    while dut.need_in.value:        # fill both input halves, still in reset
        in_file.write_bytes(feeder.next_half())
        in_req ^= 1
        dut.in_req.value = in_req
        await acknowledged(dut.in_ack, in_req)
    dut.rst.value = 0
    setup_seconds = time.perf_counter() - started
    run_started, run_cpu_started = time.perf_counter(), time.process_time()
    run_thread_started = time.thread_time()     # this thread runs the simulator too

    dumped = 0                      # output beats read back so far
    while True:
        if not dut.attention.value:
            await RisingEdge(dut.attention)
        if dut.hung.value:
            break
        load, done = bool(dut.need_in.value), bool(dut.done.value)
        out_got = int(dut.out_got.value)
        dump = bool(dut.out_half.value) or (done and out_got > dumped)
        if load:
            in_file.write_bytes(feeder.next_half())
            in_req ^= 1
            dut.in_req.value = in_req
        if dump:
            out_req ^= 1
            dut.out_req.value = out_req
        if load:
            await acknowledged(dut.in_ack, in_req)
        if dump:
            await acknowledged(dut.out_ack, out_req)
            count = min(half, out_got - dumped)
            nibbles = hex_to_nibbles(out_file.read_bytes(), 17 + layout["out_digits"])
            collector.add(nibbles[:count])
            dumped += count
        if done and dumped == out_got:
            break

    # More cycles: a design that emits more beats than it should is caught here.
    await cycles(256)
    run_seconds = time.perf_counter() - run_started
    run_cpu_seconds = time.process_time() - run_cpu_started
    run_thread_seconds = time.thread_time() - run_thread_started
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
        "run_thread_cpu_seconds": round(run_thread_seconds, 3),
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
