"""Write the corpus's .npz weight files and .npy input files (deterministic; run from anywhere).

    python tests/bad_inputs/make_arrays.py

Each array file is bad in one way, described next to it; ``cases.yaml``
says which command reads it and what the error must name. The YAML networks
that point at the .npz files (``npz_*.yaml``) are written here too, since
each one differs from the template only in its file name.
"""

import io
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
RNG = np.random.default_rng(0)

BINARY_NET = """\
# Binary MLP reading its weights from {npz}.
name: bad_net
input: {{shape: [16], bits: 1}}
weights: {npz}
target: {{io_bits: 8}}
layers:
  - name: fc1
    op: binary_dense
    out_features: 8
    pe: 2
    simd: 4
    activation: {{op: threshold, bits: 1}}
  - {{name: fc2, op: binary_dense, out_features: 4, pe: 4, simd: 8}}
  - {{name: top1, op: argmax}}
"""
THRESHOLD_NET = """\
# 2-bit thresholds per channel from {npz}.
name: bad_net
input: {{shape: [8], bits: 8, signed: true}}
weights: {npz}
layers:
  - name: act
    op: threshold
    bits: 2
    pe: 2
"""
REQUANT_NET = """\
# Per-channel requant, int16 -> int8, parameters from {npz}.
name: bad_net
input: {{shape: [8], bits: 16, signed: true}}
weights: {npz}
layers:
  - name: rq
    op: requant
    bits: 8
    per_channel: true
    pe: 2
"""


def binary_params():
    pm1 = np.array([-1, 1], np.int8)
    return {"fc1.weight": RNG.choice(pm1, (8, 16)), "fc1.act.thresholds": np.zeros((8, 1), np.int64),
            "fc2.weight": RNG.choice(pm1, (4, 8))}


def threshold_params():
    return {"act.thresholds": np.sort(RNG.integers(-100, 100, (8, 3)), axis=1)}


def requant_params():
    return {"rq.multiplier": np.full(8, 1 << 20, np.int64), "rq.shift": np.full(8, 24, np.int64),
            "rq.zero_point": np.zeros(8, np.int64)}


def changed(params, **changes):
    """``params`` with keys replaced (``key=value``) or removed (``key=None``); dots as __."""
    params = dict(params)
    for key, value in changes.items():
        key = key.replace("__", ".")
        if value is None:
            params.pop(key)
        else:
            params[key] = value
    return params


def with_entry(array, index, value):
    array = array.copy()
    array[index] = value
    return array


def npz_cases():
    b, t, r = binary_params(), threshold_params(), requant_params()
    fc1 = b["fc1.weight"]
    unsorted = t["act.thresholds"].copy()
    unsorted[5] = [30, 10, 20]
    return {
        # binary weights that are not -1/+1
        "npz_weight_zero": (BINARY_NET, changed(b, fc1__weight=with_entry(fc1, (3, 7), 0))),
        "npz_weight_two": (BINARY_NET, changed(b, fc2__weight=with_entry(b["fc2.weight"], (1, 2), 2))),
        "npz_weight_float": (BINARY_NET, changed(b, fc1__weight=fc1.astype(np.float32))),
        "npz_weight_bool": (BINARY_NET, changed(b, fc1__weight=fc1 > 0)),
        "npz_weight_uint64_huge": (BINARY_NET, changed(
            b, fc2__weight=np.full((4, 8), np.iinfo(np.uint64).max, np.uint64))),
        "npz_weight_transposed": (BINARY_NET, changed(b, fc1__weight=fc1.T.copy())),
        # keys: one missing; one misspelled (so the right one is missing and an extra one is there)
        "npz_missing_key": (BINARY_NET, changed(b, fc2__weight=None)),
        "npz_misspelled_key": (BINARY_NET, changed(b, fc1__weight=None, fc1__weights=fc1)),
        # thresholds
        "npz_thresholds_unsorted": (THRESHOLD_NET, {"act.thresholds": unsorted}),
        "npz_thresholds_wrong_shape": (THRESHOLD_NET, {"act.thresholds": t["act.thresholds"][:, :2]}),
        # requant scales: NaN (a float), zero, too large, shift out of range, zero point
        "npz_multiplier_nan": (REQUANT_NET, changed(
            r, rq__multiplier=with_entry(r["rq.multiplier"].astype(np.float64), 2, np.nan))),
        "npz_multiplier_inf": (REQUANT_NET, changed(
            r, rq__multiplier=with_entry(r["rq.multiplier"].astype(np.float64), 0, np.inf))),
        "npz_multiplier_zero": (REQUANT_NET, changed(r, rq__multiplier=with_entry(
            r["rq.multiplier"], 4, 0))),
        "npz_multiplier_too_big": (REQUANT_NET, changed(r, rq__multiplier=with_entry(
            r["rq.multiplier"], 7, 1 << 31))),
        "npz_shift_64": (REQUANT_NET, changed(r, rq__shift=with_entry(r["rq.shift"], 1, 64))),
        "npz_zero_point_out_of_range": (REQUANT_NET, changed(
            r, rq__zero_point=with_entry(r["rq.zero_point"], 3, 200))),
        # pickled objects are never loaded
        "npz_pickled_object": (REQUANT_NET, changed(
            r, rq__shift=np.array([24] * 7 + [None], dtype=object))),
    }


def npy_cases():
    ok = RNG.choice(np.array([-1, 1], np.int64), (4, 16))
    truncated = io.BytesIO()
    np.save(truncated, ok)
    npz = io.BytesIO()
    np.savez(npz, x=ok)
    return {
        "x_wrong_shape": ok[:, :15].copy(),
        "x_no_batch_axis": ok[0].copy(),
        "x_scalar": np.array(1, np.int64),
        "x_zero_in_binary": with_entry(ok, (2, 9), 0),
        "x_float": ok.astype(np.float64),
        "x_bool": ok > 0,
        "x_empty": np.zeros((0, 16), np.int64),
        "x_object": np.array([[1] * 16, [-1] * 16], dtype=object),
        "x_truncated": truncated.getvalue()[:len(truncated.getvalue()) // 2],
        "x_is_npz": npz.getvalue(),
        "x_text": b"1 -1 1 -1\n",
        "x_int8_out_of_range": with_entry(RNG.integers(-128, 128, (3, 8)), (1, 4), 300),
        "x_uint64_huge": np.full((2, 8), np.iinfo(np.uint64).max, np.uint64),
    }


def main():
    for name, (template, params) in npz_cases().items():
        (HERE / f"{name}.yaml").write_text(template.format(npz=f"{name}.npz"))
        np.savez(HERE / f"{name}.npz", **params)
    (HERE / "npz_not_a_zip.yaml").write_text(BINARY_NET.format(npz="npz_not_a_zip.npz"))
    (HERE / "npz_not_a_zip.npz").write_bytes(b"this is not a zip archive\n" * 4)
    (HERE / "npz_empty_file.yaml").write_text(BINARY_NET.format(npz="npz_empty_file.npz"))
    (HERE / "npz_empty_file.npz").write_bytes(b"")
    (HERE / "npz_file_missing.yaml").write_text(BINARY_NET.format(npz="npz_no_such_file.npz"))
    for name, value in npy_cases().items():
        path = HERE / f"{name}.npy"
        if isinstance(value, bytes):
            path.write_bytes(value)
        else:
            np.save(path, value, allow_pickle=value.dtype == object)


if __name__ == "__main__":
    main()
