"""The integer ViT of ``hwgen demo digits --models vit``: what each integer approximation costs.

On the shipped checkpoint (``examples/digits/vit_digits.float.npz``) it measures the test
accuracy (540 images) of the QAT model with every unit integer (= the exported network's
golden model, checked layer by layer on every image), with one integer unit at a time swapped
back to its float function (I-LayerNorm -> LayerNorm, Shiftmax -> softmax, ShiftGELU -> GELU;
each still quantized to the same 8-bit codes), with all three swapped, and fully float
(weights and activations unquantized too: the demo's *float acc*). With ``--train`` it also
trains the model from scratch as the demo does (seconds on one thread, accuracies), and with
``--hardware`` it runs the demo's row (``--pretrained``, Verilator, backpressure 0.3, all 540
images).

Writes ``results/vit_digits.json`` and prints a table.
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

from hwgen import demo  # noqa: E402
from sw_reference.export import check_vit_export  # noqa: E402

#: (label, units swapped to float)
VARIANTS = (("all integer (golden)", ()), ("LayerNorm float", ("norm",)),
            ("softmax float", ("softmax",)), ("GELU float", ("gelu",)),
            ("all three float", ("norm", "softmax", "gelu")),
            ("fully float (weights, activations too)", ("quant",)))


def ablation(model, spec):
    _, x_test, _, y_test = demo.load_split()
    xf, x_int = spec.encode(x_test)
    check = check_vit_export(model, demo.EXAMPLES / f"{spec.name}.yaml", xf, x_int)
    import torch
    rows = []
    model.eval()
    for label, units in VARIANTS:
        model.set_float_units(units)
        with torch.no_grad():
            pred = model(torch.from_numpy(xf)).argmax(dim=1).numpy()
        rows.append({"variant": label, "float_units": list(units),
                     "accuracy": round(float(np.mean(pred == y_test)), 6),
                     "differ_from_golden": int(np.sum(pred != check.golden_pred))})
    model.set_float_units(())
    golden = float(np.mean(check.golden_pred == y_test))
    return rows, {"golden_accuracy": round(golden, 6), "images": len(y_test),
                  "integer_mismatches": check.integer_mismatches}


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--train", action="store_true", help="also train from scratch (timed)")
    parser.add_argument("--hardware", action="store_true",
                        help="also run the demo row under Verilator (540 images, bp 0.3)")
    parser.add_argument("--out", default=str(ROOT / "benchmarks" / "results" / "vit_digits.json"))
    args = parser.parse_args()
    spec = demo.MODELS["vit"]
    model, _ = demo.load_checkpoint(spec, demo.EXAMPLES / f"{spec.name}.float.npz")
    rows, check = ablation(model, spec)
    data = {"cpus": os.cpu_count(), "model": spec.title, "ablation": rows, **check}
    quiet = lambda message: None  # noqa: E731
    if args.train:
        with tempfile.TemporaryDirectory(prefix="vit_digits_") as work:
            start = time.perf_counter()
            result = demo.run_model(spec, pretrained=False, out_dir=work, hardware=False,
                                    log=quiet)
            data["training"] = {"seconds": round(result.seconds["train"], 1),
                                "wall_s_with_export_check": round(time.perf_counter() - start, 1),
                                "epochs": spec.epochs, "float_epochs": spec.float_epochs,
                                "threads": 1, "float_accuracy": round(result.float_acc, 6),
                                "golden_accuracy": round(result.golden_acc, 6),
                                "integer_mismatches": result.integer_mismatches}
    if args.hardware:
        with tempfile.TemporaryDirectory(prefix="vit_digits_") as work:
            result = demo.run_model(spec, pretrained=True, out_dir=work, backpressure=0.3,
                                    log=quiet)
            data["demo_row"] = demo.format_table([result]).splitlines()[-1]
            data["hardware"] = {"images": len(result.hardware_pred),
                                "mismatches": result.mismatches, "backpressure": 0.3,
                                "accuracy": round(result.hardware_acc, 6),
                                "cycles_per_image": round(result.cycles, 1),
                                "ideal_cycles": result.ideal_cycles,
                                "clock_mhz": result.clock_mhz,
                                "images_per_s": round(result.images_per_second),
                                "layer_cycles": result.layer_cycles,
                                "seconds": round(result.seconds["hardware"], 1)}
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(data, indent=1) + "\n")
    print("| variant | test accuracy | predictions != golden |\n|---|---|---|")
    for r in rows:
        print(f"| {r['variant']} | {100 * r['accuracy']:.2f} % | {r['differ_from_golden']} |")
    print(f"golden {100 * check['golden_accuracy']:.2f} %, integer forward != golden on "
          f"{check['integer_mismatches']} of {check['images']} images")
    for key in ("training", "hardware", "demo_row"):
        if key in data:
            print(f"{key}: {data[key]}")
    print(f"wrote {args.out}")
    ok = check["integer_mismatches"] == 0 and data.get("hardware", {}).get("mismatches", 0) == 0
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
