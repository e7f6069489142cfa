"""The bad-input corpus (tests/bad_inputs/) through the real command line.

Every case exits 2 with one line ``error: <file>:<line>: <path>: ...`` (no
traceback) and changes no file: no output written, no partial folder left,
and an earlier bundle in ``rtl_out/bad_net/`` stays byte-identical. The
cases, their commands and the fragments each message must hold are listed in
``tests/bad_inputs/cases.yaml``.
"""

import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from hwgen.cli import main

CORPUS = Path(__file__).resolve().parent / "bad_inputs"
CASES = yaml.safe_load((CORPUS / "cases.yaml").read_text())["cases"]
BUNDLE = {"bad_net.v": "module bad_net(); endmodule\n", "manifest.json": '{"name": "bad_net"}\n',
          "verilator_lint.vlt": "`verilator_config\n"}


def snapshot(root):
    """{relative path: bytes (None for a folder)} of everything under ``root``."""
    return {str(p.relative_to(root)): None if p.is_dir() else p.read_bytes()
            for p in sorted(root.rglob("*"))}


@pytest.fixture
def workdir(tmp_path, monkeypatch):
    """A copy of the corpus holding an earlier bundle rtl_out/bad_net/, as the current folder."""
    work = tmp_path / "work"
    shutil.copytree(CORPUS, work, ignore=shutil.ignore_patterns("*.py", "__pycache__"))
    bundle = work / "rtl_out" / "bad_net"
    bundle.mkdir(parents=True)
    for name, text in BUNDLE.items():
        (bundle / name).write_text(text)
    monkeypatch.chdir(work)
    return work


def test_corpus_is_complete():
    """At least 40 cases, unique ids, and every file of the corpus is used by a case."""
    ids = [case["id"] for case in CASES]
    assert len(ids) >= 40 and len(set(ids)) == len(ids)
    used = {arg for case in CASES for arg in case["run"]}
    used |= {f"{stem}.npz" for stem in (Path(a).stem for a in used) if (CORPUS / f"{stem}.npz").exists()}
    files = {p.name for p in CORPUS.iterdir() if p.suffix in (".yaml", ".npz", ".npy")}
    assert files - used - {"cases.yaml", "npz_no_such_file.npz"} == set()


@pytest.mark.parametrize("case", CASES, ids=[case["id"] for case in CASES])
def test_bad_input_exits_2_with_one_line_and_touches_nothing(case, workdir, capsys):
    before = snapshot(workdir)
    code = main(list(case["run"]))
    out, err = capsys.readouterr()
    assert code == 2, (code, out, err)
    assert err.startswith("error: ") and err.endswith("\n") and err.count("\n") == 1, err
    assert "Traceback" not in err + out
    missing = [fragment for fragment in case["expect"] if fragment not in err]
    assert not missing, f"{missing} not in {err!r}"
    assert snapshot(workdir) == before


def test_cli_subprocess_smoke(tmp_path):
    """The installed entry point behaves the same: exit 2, one line on stderr, nothing written."""
    shutil.copytree(CORPUS, tmp_path / "work", ignore=shutil.ignore_patterns("*.py"))
    work = tmp_path / "work"
    before = snapshot(work)
    result = subprocess.run([sys.executable, "-m", "hwgen.cli", "generate", "yaml_bomb.yaml"],
                            cwd=work, capture_output=True, text=True, timeout=120, check=False)
    assert result.returncode == 2, result
    assert result.stderr.startswith("error: yaml_bomb.yaml:5:") and result.stderr.count("\n") == 1
    assert snapshot(work) == before


def test_unused_npz_keys_warn_in_one_line_and_still_build(workdir, capsys):
    """An extra key no layer reads is a warning (a typo shows up as a missing key instead)."""
    import numpy as np
    net = (workdir / "npz_weight_zero.yaml").read_text().replace("npz_weight_zero", "extra")
    (workdir / "extra.yaml").write_text(net)
    with np.load(workdir / "npz_weight_zero.npz") as npz:
        params = {key: npz[key] for key in npz.files}
    params["fc1.weight"] = np.where(params["fc1.weight"] == 0, 1, params["fc1.weight"])
    np.savez(workdir / "extra.npz", **params, **{"fc9.weight": np.ones((2, 2), np.int8)})
    assert main(["reference", "extra.yaml", "--input", "x_wrong_shape.npy", "--output",
                 "y.npy"]) == 2       # the spec loads (with a warning); the input is wrong
    err = capsys.readouterr().err
    warnings = [line for line in err.splitlines() if line.startswith("warning: ")]
    assert len(warnings) == 1 and "fc9.weight" in warnings[0] and "extra.yaml" in warnings[0], err
    assert len(err.splitlines()) == 2, err
