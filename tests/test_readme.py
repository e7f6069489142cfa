"""The README's set-up commands are the ones CI runs."""

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_ci_runs_the_readme_test_command():
    readme = (ROOT / "README.md").read_text()
    ci = (ROOT / ".ci" / "run").read_text()
    block = re.search(r"# --- README test command.*?\n(.*?)\n# ---", ci, re.S).group(1).strip()
    commands = re.findall(r"```sh\n(.*?)\n```", readme, re.S)
    assert len(commands) == 2, "the README has exactly two set-up commands"
    assert commands[1].strip() == block
    assert "torch==2.13.0" in commands[0] and "torch==2.13.0" in commands[1]
