"""Writing an import: ``<name>.yaml``, ``<name>.npz`` and ``<name>.json``, all or nothing."""

from __future__ import annotations

import io
import json
import os
import tempfile
from pathlib import Path

import numpy as np
import yaml

__all__ = ["write_outputs", "format_table", "yaml_text", "load_check"]


def yaml_text(imported) -> str:
    """The network YAML: a header saying where it came from, then one flow mapping per layer."""
    net = imported.network
    meta = imported.meta
    lines = [f"# {net['name']}: imported by `hwgen import` from {Path(meta['source']).name}",
             f"# input: integers q ({'signed' if meta['input']['signed'] else 'unsigned'} "
             f"{meta['input']['bits']} bits); the model saw float32(q * {meta['input']['scale']!r})",
             "# node mapping and the float tail: see the .json beside this file"]
    body = {k: v for k, v in net.items() if k != "layers"}
    text = yaml.safe_dump(body, sort_keys=False, default_flow_style=None)
    layers = ["layers:"]
    for layer in net["layers"]:
        layers.append("  - " + yaml.safe_dump(layer, sort_keys=False, default_flow_style=True,
                                              width=1 << 16).strip())
    return "\n".join(lines) + "\n" + text + "\n".join(layers) + "\n"


def format_table(imported) -> str:
    """The node mapping as a Markdown table."""
    rows = ["| ONNX nodes | op types | hwgen layer | how |", "|---|---|---|---|"]
    for names, ops, layer, note in imported.table:
        rows.append(f"| {', '.join(names) or '-'} | {', '.join(ops) or '-'} | {layer} | {note} |")
    return "\n".join(rows)


def write_outputs(imported, out_dir) -> list:
    """Write the three files into ``out_dir`` (created if missing); each appears only whole:
    staged as hidden temporary files, then renamed, and removed again if any step fails."""
    out_dir = Path(out_dir)
    if out_dir.exists() and not out_dir.is_dir():
        raise ValueError(f"{out_dir} is a file, not an output folder")
    out_dir.mkdir(parents=True, exist_ok=True)
    name = imported.name
    buffer = io.BytesIO()
    np.savez(buffer, **{k: np.asarray(v, dtype=np.int64) for k, v in imported.arrays.items()})
    contents = {
        f"{name}.yaml": yaml_text(imported).encode(),
        f"{name}.npz": buffer.getvalue(),
        f"{name}.json": (json.dumps(imported.meta, indent=1) + "\n").encode(),
    }
    staged = []
    try:
        for filename, data in contents.items():
            handle, temp = tempfile.mkstemp(prefix=f".{filename}.", dir=out_dir)
            with os.fdopen(handle, "wb") as file:
                file.write(data)
            os.chmod(temp, 0o644)
            staged.append((temp, out_dir / filename))
        for temp, final in staged:
            os.replace(temp, final)
    except BaseException:
        for temp, _ in staged:
            if os.path.exists(temp):
                os.remove(temp)
        raise
    return [final for _, final in staged]


def load_check(imported):
    """The import as hwgen loads it (a :class:`hwgen.spec.NetworkSpec`), from a scratch folder."""
    from hwgen.spec import load
    with tempfile.TemporaryDirectory(prefix="hwgen_import_") as scratch:
        write_outputs(imported, scratch)
        return load(Path(scratch) / f"{imported.name}.yaml")
