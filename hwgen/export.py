"""Verilog export: deterministic text, written atomically."""

import os
import shutil
import tempfile
from contextlib import contextmanager
from pathlib import Path

from amaranth.back import verilog

__all__ = ["to_verilog", "atomic_directory", "check_output_dir"]


def to_verilog(component, name: str) -> str:
    """Verilog for ``component`` with top module ``name``.

    Source-location attributes are left out: they hold absolute paths, and
    the same network must give byte-identical Verilog on every machine.
    """
    return verilog.convert(component, name=name, emit_src=False)


def check_output_dir(target) -> Path:
    """``target`` resolved, or ValueError if replacing it could destroy a user's files.

    A bundle folder may replace an absent path, an empty folder, or an earlier
    bundle (a folder holding ``manifest.json``); nothing else.
    """
    target = Path(target).resolve()
    if target.exists() and not target.is_dir():
        raise ValueError(f"{target} is a file, not an output folder")
    if target.is_dir() and any(target.iterdir()) and not (target / "manifest.json").exists():
        raise ValueError(f"{target} is a folder that does not hold an hwgen bundle "
                         f"(no manifest.json); refusing to replace it: pass -o a new folder")
    if target == Path(target.anchor):
        raise ValueError(f"{target} cannot be an output folder")
    return target


@contextmanager
def atomic_directory(target):
    """Yield a temporary directory that replaces ``target`` only if the block succeeds.

    On any exception the temporary directory is removed and ``target`` (if it
    existed) is untouched, so a failed run never leaves half-written outputs.
    """
    target = check_output_dir(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{target.name}.", dir=target.parent))
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(staging, 0o777 & ~umask)   # mkdtemp makes it private; outputs are not
    try:
        yield staging
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    backup = None
    if target.exists():
        backup = Path(tempfile.mkdtemp(prefix=f".{target.name}.old.", dir=target.parent))
        os.replace(target, backup / target.name)
    os.replace(staging, target)
    if backup is not None:
        shutil.rmtree(backup, ignore_errors=True)
