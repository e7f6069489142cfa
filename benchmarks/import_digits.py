"""``hwgen import`` on Brevitas models trained on digits: golden model vs qonnx's executor.

For every model of ``tests/importer/zoo.py`` (FINN's FC at W1A1, W1A2, W2A2,
an int8 MLP with per-channel float weight scales, a power-of-two-scale MLP,
a binary CNN, FINN's CNV on 3x32x32) it trains briefly (CNV: BatchNorm
statistics only), exports with Brevitas ``export_qonnx`` in both forms
(dynamo: Gemm; TorchScript: MatMul), imports, and counts on every test image
(540) the samples whose golden top-1 and every hwgen layer's output equal
``qonnx.core.onnx_exec.execute_onnx`` on the original model. With
``--sim KEY,...`` it also cosimulates those imports under Verilator
(``hwgen sim``, 30 % backpressure) on all test images. *float32 ties*
counts the reachable accumulators whose requant step follows the exact value
where the model's float32 arithmetic lands within rounding of a half-way
point (``float_ties`` in the import's .json).

Writes ``results/import_digits.json`` and prints a table.
"""

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from hwgen.importer import import_model, write_outputs  # noqa: E402
from tests.importer import zoo  # noqa: E402
from tests.importer.check import compare  # noqa: E402


def _float_accuracy(key):
    import torch
    model = zoo.trained(key)
    _, x_test, _, y_test = zoo.digits()
    with torch.no_grad():
        logits = model(torch.from_numpy(zoo.float_input(zoo.shaped(key, x_test))))
    return float((logits.argmax(1).numpy() == y_test).mean())


def measure(key, form, work, count, sim_backpressure=None):
    path = zoo.export(key, work / f"{key}_{form}.onnx", dynamo=form == "dyn")
    argmax = key != "int8_mlp"
    start = time.perf_counter()
    imported = import_model(path, input_bits=zoo.INPUT_BITS, input_scale=zoo.INPUT_SCALE,
                            argmax=argmax, name=f"{key}_{form}")
    seconds = time.perf_counter() - start
    out = work / f"{key}_{form}"
    write_outputs(imported, out)
    q = zoo.shaped(key, zoo.digits()[1])[:count]
    counts = compare(path, out, imported.name, q, zoo.float_input(q))
    record = {"model": key, "form": form, "images": len(q), "import_s": round(seconds, 2),
              "argmax": argmax, "top1_equal": counts.pop("top1"),
              "layers_equal": counts, "layers": len(imported.network["layers"]),
              "float_ties": imported.meta["float_ties"]}
    if sim_backpressure is not None:
        from hwgen.cli import main
        x = work / f"{key}_x.npy"
        np.save(x, q.astype(np.int64))
        hw = work / f"{key}_{form}_hw.npy"
        code = main(["sim", str(out / f"{imported.name}.yaml"), "--input", str(x),
                     "--output", str(hw), "--backpressure", str(sim_backpressure),
                     "-o", str(work / f"{key}_{form}_rtl")])
        from hwgen.spec import load
        from sw_reference.network import run
        golden = run(load(out / f"{imported.name}.yaml"), q.astype(np.int64))
        got = np.load(hw)
        record["sim"] = {"exit": code, "backpressure": sim_backpressure, "samples": len(got),
                         "mismatches": int((golden != got).reshape(len(got), -1).any(1).sum())}
    return record


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", default=",".join(zoo.MODELS))
    parser.add_argument("--forms", default="dyn,ts")
    parser.add_argument("--count", type=int, default=None, help="test images (default all 540)")
    parser.add_argument("--sim", default="", help="comma-separated models to cosimulate (dyn form)")
    parser.add_argument("--out", default=str(ROOT / "benchmarks" / "results" / "import_digits.json"))
    args = parser.parse_args()
    sims = {k for k in args.sim.split(",") if k}
    records = []
    with tempfile.TemporaryDirectory(prefix="import_digits_") as scratch:
        work = Path(scratch)
        for key in args.models.split(","):
            accuracy = _float_accuracy(key)
            for form in args.forms.split(","):
                print(f"... {key} ({form})", flush=True)
                record = measure(key, form, work, args.count,
                                 0.3 if key in sims and form == "dyn" else None)
                record["float_accuracy"] = round(accuracy, 4)
                records.append(record)
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps({"cpus": os.cpu_count(), "records": records},
                                         indent=1) + "\n")
    print("| model | export | layers | images | top-1 = executor | every layer = executor "
          "| float32 ties | float acc | hwgen sim (bp 0.3) |")
    print("|---|---|---|---|---|---|---|---|---|")
    for r in records:
        layers = min(r["layers_equal"].values())
        sim = r.get("sim")
        sim_text = (f"{sim['samples']} samples, exit {sim['exit']}"
                    + (f", {sim['mismatches']} mismatches" if "mismatches" in sim else "")
                    if sim else "-")
        print(f"| {r['model']} | {'Gemm (dynamo)' if r['form'] == 'dyn' else 'MatMul (TorchScript)'} "
              f"| {r['layers']} | {r['images']} | {r['top1_equal']}/{r['images']} "
              f"| {layers}/{r['images']} | {sum(r['float_ties'].values())} "
              f"| {100 * r['float_accuracy']:.1f} % | {sim_text} |")
    print(f"wrote {args.out}")
    ok = all(r["top1_equal"] == r["images"] and min(r["layers_equal"].values()) == r["images"]
             and (r.get("sim") is None or r["sim"]["exit"] == 0) for r in records)
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
