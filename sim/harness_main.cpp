// Verilator main loop for the fast cosimulation harness (sim/harness.py), with cocotb.
//
// Adapted from cocotb's share/lib/verilator/verilator.cpp (Copyright cocotb
// contributors, Revised BSD License, SPDX-License-Identifier: BSD-3-Clause):
// the same start-up, VPI callback and shut-down sequence, but the harness's
// clock is toggled here, HWGEN_BURST cycles at a time between two rounds of
// VPI callbacks, instead of by a cocotb clock whose every edge is a timed
// callback and a pass through the simulator's event loop. cocotb therefore
// sees the design only between bursts: it waits on levels (attention, the
// acknowledge toggles) and on timers, which end a burst early so that a timer
// fires on the clock cycle it names.

#include <stdio.h>

#include <memory>
#include <string>

#include "Vtop.h"
#include "verilated.h"
#include "verilated_vpi.h"

#ifndef HWGEN_BURST
#define HWGEN_BURST 1024
#endif

static vluint64_t main_time = 0;

double sc_time_stamp() { return main_time; }

extern "C" {
void vlog_startup_routines_bootstrap(void);
}

static inline bool settle_value_callbacks() {
    bool cbs_called, again;
    cbs_called = again = VerilatedVpi::callValueCbs();
    while (again) {
        again = VerilatedVpi::callValueCbs();
    }
    return cbs_called;
}

static void wrap_up() { VerilatedVpi::callCbs(cbEndOfSimulation); }

int main(int argc, char **argv) {
    Verilated::commandArgs(argc, argv);
    std::unique_ptr<Vtop> top(new Vtop(""));
    Verilated::fatalOnVpiError(false);

    // One clock period is 10 ns in the design's time precision.
    vluint64_t period = 10;
    for (int exponent = -9; exponent > Verilated::threadContextp()->timeprecision(); --exponent) {
        period *= 10;
    }

    vlog_startup_routines_bootstrap();
    Verilated::addExitCb([](void *) { wrap_up(); }, nullptr);
    VerilatedVpi::callCbs(cbStartOfSimulation);
    settle_value_callbacks();

    top->clk = 0;
    while (!Verilated::gotFinish()) {
        do {
            do {
                top->eval_step();
                VerilatedVpi::clearEvalNeeded();
                VerilatedVpi::doInertialPuts();
                settle_value_callbacks();
            } while (VerilatedVpi::evalNeeded());
            VerilatedVpi::callCbs(cbReadWriteSynch);
            VerilatedVpi::doInertialPuts();
            settle_value_callbacks();
        } while (VerilatedVpi::evalNeeded());
        top->eval_end_step();
        VerilatedVpi::callCbs(cbReadOnlySynch);

        // Whole clock cycles up to cocotb's next timer, at most a burst; time that is
        // shorter than a cycle passes without an edge.
        const vluint64_t next = VerilatedVpi::cbNextDeadline();
        vluint64_t cycles = HWGEN_BURST;
        if (next != static_cast<vluint64_t>(~0ULL)) {
            const vluint64_t gap = next > main_time ? next - main_time : 0;
            if (gap / period < cycles) cycles = gap / period;
            if (cycles == 0) main_time = next;
        }
        for (vluint64_t cycle = 0; cycle < cycles && !Verilated::gotFinish(); ++cycle) {
            top->clk = 1;
            top->eval();
            top->clk = 0;
            top->eval();
            main_time += period;
        }

        VerilatedVpi::callCbs(cbNextSimTime);
        settle_value_callbacks();
        VerilatedVpi::callTimedCbs();
        settle_value_callbacks();
    }

    top->final();
    wrap_up();
    if (Verilated::threadContextp()->errorCount() > 0) {
        return 1;
    }
    return 0;
}
