"""``ruff check`` passes on the whole repository with the rules of pyproject.toml.

The rule set ([tool.ruff.lint]) is pyflakes, pycodestyle's errors, bugbear and
pyupgrade; running it here puts it in the one test command CI runs.
"""

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_ruff_check_passes():
    result = subprocess.run([sys.executable, "-m", "ruff", "check", "--no-cache", "."],
                            cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stdout + result.stderr
