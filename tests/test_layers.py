"""The import layering of pyproject.toml's import-linter contracts holds (``lint-imports``).

The contracts: the command line and the demo on top, then the cosimulation
harness (``sim``), then hwgen's stages in data-flow order down to the op
table, which imports no other part of hwgen; the golden model
(``sw_reference``) never imports hardware code; no import circles between
the modules of any package. Running it here puts it in the one test command
CI runs.
"""

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def test_import_contracts_are_kept():
    pytest.importorskip("importlinter")
    result = subprocess.run(
        [sys.executable, "-c", "import sys; from importlinter.cli import lint_imports; "
                               "sys.exit(lint_imports(no_cache=True, no_logo=True))"],
        cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "0 broken" in result.stdout, result.stdout
