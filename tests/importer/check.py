"""Compare an imported network's golden model with qonnx's executor on the original model.

``compare`` runs both on the same hardware integers and checks every entry of
the import's ``checks`` list (each hwgen layer against the ONNX tensor it
stands for) and the top-1 class of every sample.
"""

import json
from pathlib import Path

import numpy as np
import torch

__all__ = ["executor_context", "compare"]


def executor_context(onnx_path, x_float):
    """Every tensor of the cleaned model run by ``qonnx.core.onnx_exec.execute_onnx`` on a batch."""
    from qonnx.core.modelwrapper import ModelWrapper
    from qonnx.core.onnx_exec import execute_onnx
    from qonnx.util.cleanup import cleanup_model
    model = cleanup_model(ModelWrapper(str(onnx_path)), override_inpsize=len(x_float))
    return execute_onnx(model, {model.graph.input[0].name: x_float},
                        return_full_exec_context=True), model.graph.output[0].name


def _channels_view(values, ndim):
    values = np.asarray(values, dtype=np.float64)
    return values.reshape((1, -1) + (1,) * (ndim - 2)) if values.size > 1 else values.reshape(())


def compare(onnx_path, out_dir, name, q, x_float):
    """Counts of equal samples per check and for top-1: ``{"checks": {...}, "top1": (equal, n)}``."""
    from hwgen.spec import load
    from sw_reference.network import build
    spec = load(Path(out_dir) / f"{name}.yaml")
    meta = json.loads((Path(out_dir) / f"{name}.json").read_text())
    golden = build(spec).forward_all(torch.from_numpy(np.asarray(q, dtype=np.int64)))
    context, output = executor_context(onnx_path, x_float)
    n = len(q)
    counts = {}
    for check in meta["checks"]:
        hw = golden[check["layer"]].numpy()
        model = np.asarray(context[check["tensor"]], dtype=np.float64)
        if check["kind"] == "activation":
            v = model / _channels_view(check["scale"], model.ndim)
            levels = np.round(v)
            assert np.all(np.abs(v - levels) < 1e-3), check
            equal = (levels == hw + check["offset"]).reshape(n, -1).all(axis=1)
        else:
            bias = _channels_view(check["bias"], model.ndim)
            a = (model - bias) / _channels_view(check["scale"], model.ndim)
            want = _channels_view(check["sign"], hw.ndim) * hw + _channels_view(check["shift"], hw.ndim)
            # the executor's float32 sums carry rounding error of their own
            equal = (np.abs(a - want) <= 0.5 + 1e-6 * np.abs(want)).reshape(n, -1).all(axis=1)
        counts[check["layer"]] = int(equal.sum())
    out = golden[spec.layers[-1].name].numpy()
    model_top1 = np.argmax(context[output].reshape(n, -1), axis=1)
    if meta["output"]["argmax"]:
        top1 = out.reshape(n)
    else:
        o = meta["output"]
        a = out.reshape(n, -1) * np.asarray(o["sign"]) + np.asarray(o["shift"])
        top1 = np.argmax(a * np.asarray(o["scale"]) + np.asarray(o["offset"]), axis=1)
    counts["top1"] = int((top1 == model_top1).sum())
    return counts
