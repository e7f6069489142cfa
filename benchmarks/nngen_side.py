"""The NNgen half of ``nngen_compare.py``: build an integer MLP with NNgen, write its Verilog.

Runs in NNgen's own venv (never imports hwgen)::

    /tmp/venv-nngen-tool/bin/python benchmarks/nngen_side.py CONFIG.json PARAMS.npz OUT_DIR [--sim]

``CONFIG.json`` (written by ``nngen_compare.py``) names the network, the
input, and per dense layer its output features, NNgen parallelism
(``par_ich``, ``par_och``), accumulator width and whether a per-channel
requant (bias, scale, rounding right shift, clip, ReLU) follows; ``argmax``
ends the network. ``PARAMS.npz`` holds ``<layer>.weight`` / ``.bias`` /
``.scale`` / ``.shift`` as integers and ``inputs`` (``[N, features]``).

Writes ``OUT_DIR/<top>.v`` (NNgen's ``to_verilog``: the accelerator with its
AXI4 master, AXI4-Lite slave and control FSM) and ``OUT_DIR/nngen_side.json``:
NNgen's software model (``ng.eval``) on every input, and with ``--sim`` the
cycles of one inference from NNgen's own RTL testbench style (veriloggen's
AXI memory model + AXI-Lite control thread, Icarus Verilog), with the
hardware's output checked against ``ng.eval``.
"""

import argparse
import json
import math
import re
import shutil
import subprocess
import sys
from pathlib import Path

import nngen as ng
import numpy as np
import veriloggen as vg
import veriloggen.thread as vthread
from veriloggen.types import axi

CHUNK = 64                      # NNgen's off-chip RAM chunk (offchipram_chunk_bytes)
MEM_WORDS = 1 << 16             # 32-bit words of the simulated DRAM (256 KiB; the net needs ~7 KiB)


def dtype(bits, signed=True):
    return ng.dtype_int(bits, signed=signed)


def build(config, params):
    """(input placeholder, [matmul operators], output operator) of the network in ``config``."""
    first = config["input"]
    act = dtype(first["bits"], first["signed"])
    x = placeholder = ng.placeholder(act, shape=(1, first["features"]), name="input_layer")
    matmuls = []
    fan_in = first["features"]
    for layer in config["layers"]:
        name, out = layer["name"], layer["out_features"]
        w = ng.variable(dtype(layer["weight_bits"]), shape=(out, fan_in), name=f"{name}_w")
        w.set_value(params[f"{name}.weight"])
        b = ng.variable(dtype(layer["bias_bits"]), shape=(out,), name=f"{name}_b")
        b.set_value(params[f"{name}.bias"])
        kwargs = {}
        if layer["requant"]:
            scale = ng.variable(dtype(layer["scale_bits"]), shape=(out,), name=f"{name}_scale")
            scale.set_value(params[f"{name}.scale"])
            shift = ng.variable(dtype(8, False), shape=(out,), name=f"{name}_shift")
            shift.set_value(params[f"{name}.shift"])
            kwargs = {"scale": scale, "rshift_out": shift, "act_func": ng.relu}
        out_type = dtype(layer["out_bits"], layer["out_signed"])
        x = ng.matmul(x, w, bias=b, transposed_b=True, dtype=out_type,
                      sum_dtype=dtype(layer["sum_bits"]), name=name, **kwargs)
        x.attribute(par_ich=layer["par_ich"], par_och=layer["par_och"])
        matmuls.append(x)
        fan_in = out
    if config.get("argmax"):
        x = ng.argmax(x, axis=-1, dtype=dtype(config["argmax_bits"]), name="top1")
    return placeholder, matmuls, x


def evaluate(output, inputs):
    """NNgen's software model (``ng.eval``) of ``output`` on each row of ``inputs``."""
    rows = []
    for row in inputs:
        value = ng.eval([output], input_layer=row.reshape(1, -1).astype(np.int64))[0]
        rows.append(np.asarray(value).reshape(-1).astype(np.int64).tolist())
    return rows


MEMORIES = {
    # veriloggen's AxiMemoryModel defaults, as NNgen's own tests and examples run
    "default": {"read_delay": 10, "write_delay": 10, "sleep_interval": 16, "keep_sleep": 4},
    # no read/write delay, never stalls: what NNgen's control and datapath need at best
    "ideal": {"read_delay": 0, "write_delay": 0, "sleep_interval": 0, "keep_sleep": 0},
}


def simulate(config, placeholder, outputs, verilog_top, work, first_input, memory_model):
    """Cycles of one inference in NNgen's testbench style and what the hardware wrote.

    The DRAM model holds the input, NNgen's packed parameters
    (``export_ndarray``) and room for the outputs; an AXI4-Lite thread sets
    the base address, starts the accelerator and polls ``busy``, counting
    cycles from start to idle; then it prints every output word.
    """
    axi_bits = config["axi_datawidth"]
    first = config["input"]
    param_data = ng.export_ndarray(outputs, CHUNK)
    variable_addr = math.ceil((placeholder.addr + placeholder.memory_size) / CHUNK) * CHUNK
    tmp_addr = math.ceil((variable_addr + len(param_data)) / CHUNK) * CHUNK
    mem = np.zeros([MEM_WORDS], dtype=np.int64) + 100
    axi.set_memory(mem, first_input.reshape(1, -1), 32, first["bits"], placeholder.addr,
                   max(math.ceil(axi_bits / first["bits"]), config["layers"][0]["par_ich"]))
    axi.set_memory(mem, param_data, 32, 8, variable_addr)

    m = vg.Module("test")
    m.copy_params(verilog_top)
    ports = m.copy_sim_ports(verilog_top)
    clk, resetn = ports["CLK"], ports["RESETN"]
    rst = m.Wire("RST")
    rst.assign(vg.Not(resetn))
    memory = axi.AxiMemoryModel(m, "memory", clk, rst, datawidth=axi_bits,
                                memimg=mem, memimg_name=str(work / "memimg.out"),
                                memimg_datawidth=32, mem_addrwidth=18,
                                **MEMORIES[memory_model])
    memory.connect(ports, "maxi")
    saxi = vthread.AXIMLite(m, "_saxi", clk, rst, noio=True)
    saxi.connect(ports, "saxi")
    counter = m.Reg("time_counter", 32, initval=0)
    vg.Seq(m, "seq", clk, rst)(counter.inc())
    scores, label = outputs
    scores_addr, scores_bits = scores.addr, scores.dtype.width
    scores_count = int(np.prod(scores.shape))
    label_addr, label_bits = label.addr, label.dtype.width

    def ctrl():      # compiled to an FSM by veriloggen.thread: a Python subset, %-formats only
        for _ in range(20):
            pass
        ng.sim.set_global_addrs(saxi, tmp_addr)
        start_time = counter.value
        ng.sim.start(saxi)
        ng.sim.wait(saxi)
        end_time = counter.value
        print("# execution cycles: %d" % (end_time - start_time))  # noqa: UP031
        for i in range(scores_count):
            value = memory.read_word(i, scores_addr, scores_bits)
            print("# out 0 %d %d" % (i, value))  # noqa: UP031
        value = memory.read_word(0, label_addr, label_bits)
        print("# out 1 0 %d" % value)  # noqa: UP031
        vthread.finish()

    vthread.Thread(m, "th_ctrl", clk, rst, ctrl).start()
    m.Instance(verilog_top, "uut", params=m.connect_params(verilog_top),
               ports=m.connect_ports(verilog_top))
    vg.simulation.setup_clock(m, clk, hperiod=5)
    init = vg.simulation.setup_reset(m, resetn, m.make_reset(), period=100, polarity="low")
    init.add(vg.Delay(2_000_000), vg.Systask("finish"))
    sim = vg.simulation.Simulator(m, sim="iverilog")
    text = sim.run(outputfile=str(work / "nngen_tb.out"))
    cycles = re.search(r"# execution cycles:\s*(\d+)", text)
    got = [[0] * scores_count, [0]]
    for k, i, value in re.findall(r"# out (\d+)\s+(\d+)\s+(-?\d+)", text):
        width = outputs[int(k)].dtype.width
        value = int(value) & ((1 << width) - 1)
        if outputs[int(k)].dtype.signed and value >> (width - 1):
            value -= 1 << width
        got[int(k)][int(i)] = value
    return {"simulator": _iverilog_version(),
            "cycles": int(cycles.group(1)) if cycles else None,
            "outputs": got,
            "memory_model": {"name": memory_model, **MEMORIES[memory_model]},
            "log_tail": text.strip().splitlines()[-6:]}


def _iverilog_version():
    head = subprocess.run(["iverilog", "-V"], check=False, capture_output=True,
                          text=True).stdout
    return head.splitlines()[0] if head else "?"


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("config", type=Path)
    parser.add_argument("params", type=Path)
    parser.add_argument("out", type=Path)
    parser.add_argument("--sim", action="store_true", help="run NNgen's RTL testbench (iverilog)")
    args = parser.parse_args(argv)
    config = json.loads(args.config.read_text())
    with np.load(args.params) as npz:
        params = {key: npz[key] for key in npz.files}
    args.out.mkdir(parents=True, exist_ok=True)
    placeholder, matmuls, output = build(config, params)
    outputs = [matmuls[-1], output]          # class scores and top-1 index, both in DRAM
    top = config["top"]
    verilog_top = ng.to_veriloggen(outputs, top, silent=True,
                                   config={"maxi_datawidth": config["axi_datawidth"]})
    verilog_path = args.out / f"{top}.v"
    verilog_path.write_text(verilog_top.to_verilog())
    result = {"top": top, "verilog": str(verilog_path.resolve()), "nngen": ng.__version__,
              "operators": [str(op) for op in matmuls + [output]],
              "eval": [evaluate(out, params["inputs"]) for out in outputs]}
    if args.sim:
        if shutil.which("iverilog") is None:
            result["sim"] = {"error": "iverilog not found (apt-get install iverilog)"}
        else:
            result["sim"] = {}
            for memory_model in MEMORIES:
                work = (args.out / f"sim_{memory_model}").resolve()
                work.mkdir(exist_ok=True)
                result["sim"][memory_model] = simulate(config, placeholder, outputs,
                                                       verilog_top, work, params["inputs"][0],
                                                       memory_model)
    (args.out / "nngen_side.json").write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps({k: v for k, v in result.items() if k != "eval"}, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
