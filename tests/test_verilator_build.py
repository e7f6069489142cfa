"""Verilator builds: lint in the build, quick builds chosen by run length, the cache pruned
least recently used first."""

import os

import pytest

from sim.verilator import QUICK_BUILD_CYCLES, build, prune_cache, quick_build_pays

GB = 1_000_000_000


def fake_build(folder, name, size, used):
    """A cached build of ``size`` bytes whose stamp says it was last used at ``used``."""
    entry = folder / name
    entry.mkdir()
    (entry / "Vtop.o").write_bytes(b"\0" * size)
    stamp = entry / "hwgen.built"
    stamp.write_text(name)
    os.utime(stamp, (used, used))
    return entry


@pytest.fixture
def cache(tmp_path, monkeypatch):
    monkeypatch.setenv("HWGEN_CACHE_LIMIT_GB", str(2500 / GB))     # 2,500 bytes
    return tmp_path


def test_least_recently_used_builds_go_first_until_under_the_limit(cache):
    now = 1_000_000.0
    old, older, recent = (fake_build(cache, n, 1000, now - age)
                          for n, age in (("old", 7200), ("older", 9000), ("recent", 100)))
    assert prune_cache(cache, now=now) == [older]
    assert old.exists() and recent.exists() and not older.exists()


def test_builds_in_use_the_kept_build_and_the_runtime_stay(cache):
    now = 1_000_000.0
    in_use = [fake_build(cache, f"hot{i}", 1000, now - 60) for i in range(3)]
    keep = fake_build(cache, "keep", 1000, now - 9000)
    runtime = cache / "runtime-abc"
    runtime.mkdir()
    (runtime / "verilated.o").write_bytes(b"\0" * 5000)
    assert prune_cache(cache, keep=keep, now=now) == []
    assert all(p.exists() for p in [*in_use, keep, runtime])


def test_under_the_limit_nothing_is_deleted(cache):
    now = 1_000_000.0
    builds = [fake_build(cache, f"b{i}", 1000, now - 9000 - i) for i in range(2)]
    assert prune_cache(cache, now=now) == []
    assert all(p.exists() for p in builds)


def test_quick_builds_for_runs_under_the_bound():
    assert quick_build_pays(QUICK_BUILD_CYCLES - 1)
    assert not quick_build_pays(QUICK_BUILD_CYCLES)


PROBE = """\
module lint_probe(input wire clk, input wire [3:0] a, output reg [3:0] y);
  always @(posedge clk) y <= a;
endmodule
"""


def test_a_build_with_lint_keeps_verilators_warnings(tmp_path, monkeypatch):
    """The same -Wall check as sim.verilator.lint, in the build's own parse: a blocking
    assignment in a clocked block (not waived) is reported; the same module without it
    builds with an empty lint.log."""
    monkeypatch.setenv("HWGEN_CACHE", str(tmp_path))
    dirty = build(PROBE.replace("y <= a", "y = a"), "lint_probe", quick=True, lint=True,
                  log=lambda *a: None)
    assert "%Warning-BLKSEQ" in (dirty / "lint.log").read_text()
    clean = build(PROBE, "lint_probe", quick=True, lint=True, log=lambda *a: None)
    assert (clean / "lint.log").read_text() == ""
