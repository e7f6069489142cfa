"""The same YAML and weights give a byte-identical bundle (Verilog, manifest, waivers, constraints, scripts).

tests/test_networks.py checks the Verilog text across PYTHONHASHSEEDs; this
runs the whole ``hwgen generate`` in separate processes with different hash
seeds and compares every file of the bundle, the manifest included.
"""

import os
import subprocess
import sys
from pathlib import Path

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"


def test_bundle_does_not_depend_on_the_hash_seed(tmp_path):
    bundles = []
    for seed in ("1", "4242"):
        out = tmp_path / f"seed{seed}"
        env = dict(os.environ, PYTHONHASHSEED=seed)
        result = subprocess.run([sys.executable, "-m", "hwgen.cli", "generate",
                                 str(EXAMPLES / "requant.yaml"), "-o", str(out)],
                                env=env, capture_output=True, text=True, check=False)
        assert result.returncode == 0, result.stderr
        bundles.append({str(p.relative_to(out)): p.read_bytes()
                        for p in sorted(out.rglob("*")) if p.is_file()})
    assert {"manifest.json", "requant_int16_to_int8.v", "verilator_lint.vlt"} <= set(bundles[0])
    assert sorted(bundles[0]) == sorted(bundles[1])
    for name in bundles[0]:
        assert bundles[0][name] == bundles[1][name], f"{name} differs between hash seeds"
