"""Progress bars: drawn on a terminal (or with HWGEN_PROGRESS=1), never in logs.

The step lines stay either way; what a bar adds must not reach a pipe, and
what it replaces (the heartbeat and epoch lines) must still reach one.
"""

import dataclasses
from pathlib import Path

import pytest

from hwgen.progress import bar, bars_shown

SLOW_TOOL = "def main(argv):\n    import time\n    time.sleep(2.5)\n    return 0\n"


@pytest.mark.parametrize("value, shown", [("1", True), ("0", False)])
def test_environment_forces_bars_on_or_off(monkeypatch, value, shown):
    monkeypatch.setenv("HWGEN_PROGRESS", value)
    assert bars_shown() is shown
    assert bar(3, desc="x").disable is not shown


def test_no_bar_on_a_pipe(monkeypatch, capsys):
    monkeypatch.delenv("HWGEN_PROGRESS", raising=False)
    with bar(3, desc="never drawn") as b:
        b.update(3)
    assert "never drawn" not in capsys.readouterr().err


@pytest.mark.parametrize("value", ["1", "0"])
def test_a_running_tool_shows_a_bar_or_heartbeat_lines(monkeypatch, capsys, tmp_path, value):
    from hwgen.synth import _run
    monkeypatch.setenv("HWGEN_PROGRESS", value)
    (tmp_path / "slow_tool.py").write_text(SLOW_TOOL)
    lines = []
    _run("slow_tool", "main", [], tmp_path, tmp_path / "tool.log", "slow tool", lines.append,
         every=1.0)
    err = capsys.readouterr().err
    heartbeats = [line for line in lines if line.endswith(" s") and "done" not in line]
    if value == "1":
        assert "slow tool: 00:0" in err and not heartbeats, (err, lines)
    else:
        assert "slow tool" not in err and heartbeats, (err, lines)
    assert lines[0] == "  slow tool ..." and lines[-1].startswith("  slow tool: done in")


@pytest.mark.parametrize("value", ["1", "0"])
def test_training_shows_epochs_in_a_bar_or_in_lines(monkeypatch, capsys, value):
    from hwgen.demo import MODELS, load_split, train
    monkeypatch.setenv("HWGEN_PROGRESS", value)
    spec = dataclasses.replace(MODELS["binary"], epochs=2)
    x_train, x_test, y_train, y_test = load_split()
    lines = []
    train(spec, x_train[:128], y_train[:128], x_test[:64], y_test[:64], log=lines.append)
    err = capsys.readouterr().err
    if value == "1":
        assert "training:" in err and "/2 [" in err and not lines, (err, lines)
    else:
        assert "training" not in err and lines == [line for line in lines if "epoch   2/2" in line]
        assert lines, lines


def test_the_cosimulation_bar_follows_the_simulators_count(monkeypatch, tmp_path):
    import time

    from sim.fast import _following
    monkeypatch.setenv("HWGEN_PROGRESS", "1")
    progress = tmp_path / "progress"
    with bar(10, desc="cosimulating", unit="sample") as shown:
        with _following(progress, shown, every=0.02):
            time.sleep(0.1)                    # nothing written yet: the bar stays at 0
            assert shown.n == 0
            progress.write_text("6 1")
            time.sleep(0.2)
        assert shown.n == 6 and shown.postfix == "mismatches=1"


def test_hwgen_sim_draws_the_cosimulation_bar(monkeypatch, capsys, tmp_path):
    from hwgen.cli import main
    monkeypatch.setenv("HWGEN_PROGRESS", "1")
    net = Path(__file__).resolve().parent.parent / "examples" / "tiny_bnn.yaml"
    assert main(["sim", str(net), "--count", "50", "-o", str(tmp_path / "out")]) == 0
    captured = capsys.readouterr()
    assert "cosimulating:" in captured.err and "0 mismatches" in captured.out
